/**
 * `CoordinatorStore`: everything the coordinator keeps durably, behind one async
 * interface (docs/ha.md section 1), so that the embedded SQLite file (store/sqlite.ts)
 * and a shared PostgreSQL database can back it alike. Every method returns a Promise;
 * the row types below are the one place callers and backends import them from.
 *
 * Decisions:
 * - Governance (policies, pending operations, approved requests, the velocity count)
 *   is flattened into the interface: `store.policy(keyId)`, `store.addOperation(o)`, …
 *   (there is no `governance` sub-object).
 * - `transaction(fn)` runs `fn(tx)` as one atomic unit: every write made through `tx`
 *   commits together or, if `fn` throws (rejects), none does. Inside `fn`, use only `tx`
 *   (never the store itself: a backend may serialise the two, and the SQLite one refuses
 *   a call on the store from inside its own transaction), and await nothing but `tx`'s
 *   methods: no network, no timers, no session rounds, since the transaction holds the
 *   write lock (SQLite) or a connection and row locks (PostgreSQL) until `fn` settles.
 *   `tx.transaction(g)` runs `g(tx)` inline, in the same transaction. A `tx` used after
 *   its transaction settled throws.
 * - Calls from outside a transaction never see or interleave with an open one's writes:
 *   SQLite (one connection) queues them behind it; PostgreSQL runs them on other
 *   connections, where the open transaction is invisible until it commits.
 * - Methods that read and then write (append, checkAndRemember, admitApproved,
 *   setOperationState, acknowledgeEpoch, unban, …) are atomic on their own; one that
 *   needs several of them atomic together uses `transaction`.
 * - `append` keeps the audit chain linear: the read of the head and the write of the
 *   next row are atomic against every other writer (of this process or another).
 * - `start()` does nothing (a backend is returned open by its `open`); `stop()` waits
 *   for an open transaction, then closes; idempotent.
 */
import type { PublicKeyPackage } from '@keyquorum/crypto';
import type { ApiErrorJson, Approval, AuditChainRow, AuditCheckpoint, AuditPosition, KeySuiteId, ParticipantRef, PendingOperationState, Startable } from '@keyquorum/protocol';
import type { Attestation } from '../registry/attestations.ts';
import type { AuditEntry, AuditEventType, AuditEvents, AuditPage, AuditVerification } from '../registry/audit.ts';
import type { Ban } from '../registry/bans.ts';
import type { StoredCheckpoint } from '../registry/checkpoints.ts';
import type { PendingCommit, SignerEpoch } from '../registry/commits.ts';
import type { PendingOperation, PolicyRecord } from '../registry/governance.ts';
import type { KeyUsage } from '../registry/key-states.ts';
import type { KeyState, RegistryKey } from '../registry/keys.ts';

export type { Attestation } from '../registry/attestations.ts';
export type { AuditEntry, AuditEventType, AuditEvents, AuditPage, AuditValue, AuditVerification } from '../registry/audit.ts';
export type { Ban } from '../registry/bans.ts';
export type { StoredCheckpoint } from '../registry/checkpoints.ts';
export type { PendingCommit, SignerEpoch } from '../registry/commits.ts';
export type { PendingOperation, PolicyRecord } from '../registry/governance.ts';
export type { KeyUsage } from '../registry/key-states.ts';
export type { KeyState, RegistryKey } from '../registry/keys.ts';

/** Options every backend's `open` takes. */
export interface StoreOptions {
  now?: () => number;
  /** Replay window for client request nonces; default 60 s. */
  replayWindowMs?: number;
  /** Audit rows verified between two yields to the event loop; default AUDIT_VERIFY_CHUNK_ROWS. */
  auditChunkRows?: number;
}

export interface CoordinatorStore extends Startable {
  start(): Promise<void>;
  /** Waits for an open transaction, then closes; idempotent. */
  stop(): Promise<void>;
  /** Runs `fn(tx)` atomically (see the header: only `tx`'s methods inside, nothing else awaited). */
  transaction<T>(fn: (tx: CoordinatorStore) => Promise<T>): Promise<T>;
  /** True when the store accepts a write now (readiness probes). */
  writable(): Promise<boolean>;

  // ---- keys ----
  /** KEY_EXISTS if a key with that id exists. */
  insertPendingKey(k: { id: string; suite: KeySuiteId; threshold: number; participants: ParticipantRef[] }): Promise<void>;
  /** Records a pending key's DKG session id (hex) as soon as it is derived. */
  setKeySession(id: string, sessionId: string): Promise<void>;
  deleteKey(id: string): Promise<void>;
  getKey(id: string): Promise<RegistryKey | undefined>;
  listKeys(): Promise<RegistryKey[]>;
  /** Records a key's (new) public package and epoch and makes it active. */
  setKeyMaterial(id: string, pkg: PublicKeyPackage, epoch: number, participants?: ParticipantRef[]): Promise<void>;
  setState(id: string, state: KeyState): Promise<void>;
  /** The key's usage state record; undefined for a key that never left 'active'. */
  keyUsage(id: string): Promise<KeyUsage | undefined>;
  setKeyUsage(u: Omit<KeyUsage, 'updatedAt'>): Promise<void>;
  /** Keys whose destruction is scheduled, soonest first. */
  scheduledDestructions(): Promise<KeyUsage[]>;

  // ---- pending commits and the epoch each signer holds ----
  addPendingCommit(c: Omit<PendingCommit, 'seq'>): Promise<void>;
  /** What `signer` (every signer without one) still has to acknowledge, oldest first. */
  pendingCommits(signer?: string): Promise<PendingCommit[]>;
  /** Signers that have not acknowledged some commit of `keyId`. */
  unacknowledged(keyId: string): Promise<string[]>;
  findPendingCommit(signer: string, sessionId: string): Promise<PendingCommit | undefined>;
  removePendingCommit(seq: number): Promise<void>;
  /** `signer` acknowledged `epoch` of `keyId`: it holds that epoch's share if a participant, none if not. */
  acknowledgeEpoch(keyId: string, signer: string, epoch: number): Promise<void>;
  signerEpochs(): Promise<SignerEpoch[]>;

  // ---- attestations ----
  /** Records a destruction attestation; the signer no longer holds a share of the key. */
  addAttestation(a: Omit<Attestation, 'receivedAt'>): Promise<void>;
  attestations(keyId: string): Promise<Attestation[]>;

  // ---- bans ----
  ban(keyId: string, signer: string, reason: string): Promise<void>;
  bannedSigners(keyId: string): Promise<string[]>;
  /** The bans of `keyId` with their reasons, by signer. */
  bans(keyId: string): Promise<Ban[]>;
  /** Lifts the ban of `signer` for `keyId`; the lifted ban, or undefined if there was none. */
  unban(keyId: string, signer: string): Promise<Ban | undefined>;

  // ---- client replay window ----
  /** Remembers (client key, nonce) until its timestamp falls out of the window; false if already seen. */
  checkAndRemember(clientKeyHex: string, nonceHex: string, timestamp: number): Promise<boolean>;

  // ---- audit ----
  /** Appends one hash-chained audit row; returns it. */
  append<E extends AuditEventType>(event: E, keyId: string | null, data: AuditEvents[E]): Promise<AuditEntry>;
  /** Every row, or the rows of `keyId`, oldest first. */
  audit(keyId?: string): Promise<AuditEntry[]>;
  /** One page of the log (rows after `after`, at most `limit`), each row checked, with the cosignatures of its seqs (whole-log pages). */
  auditPage(q: { keyId?: string | undefined; after: number; limit: number }): Promise<AuditPage>;
  /** The last row's (seq, hash); (0, genesis) for an empty log. */
  auditHead(): Promise<AuditPosition>;
  /** The stored hash of row `seq` (the genesis hash at 0); undefined if there is none. */
  auditHashAt(seq: number): Promise<string | undefined>;
  /** Up to `limit` rows after `after`, as stored and hashed (`data` as written). */
  auditRows(after: number, limit: number): Promise<AuditChainRow[]>;
  addCheckpoint(c: AuditCheckpoint): Promise<void>;
  /** Every cosignature, by seq then signer. */
  checkpoints(): Promise<StoredCheckpoint[]>;
  /** The highest cosignature of `signer` (of any signer without one). */
  lastCheckpoint(signer?: string): Promise<StoredCheckpoint | undefined>;
  /** Recomputes the whole chain from the first row in one go (tests and tools). */
  verifyAudit(): Promise<AuditVerification>;
  /** Verifies from the last verified position to the head in chunks, yielding to the event loop between them. */
  verifyAuditChain(): Promise<AuditVerification>;

  // ---- governance (docs/governance.md) ----
  /** The key's current policy record; undefined for a key that has the default policy. */
  policy(keyId: string): Promise<PolicyRecord | undefined>;
  /** Every policy the key had, oldest first. */
  policyHistory(keyId: string): Promise<PolicyRecord[]>;
  addPolicy(p: Omit<PolicyRecord, 'setAt' | 'policy'>): Promise<void>;
  addOperation(o: Omit<PendingOperation, 'createdAt' | 'updatedAt' | 'state'>): Promise<void>;
  operation(id: string): Promise<PendingOperation | undefined>;
  /** Newest first; optionally only those in `state`. */
  operations(state?: PendingOperationState): Promise<PendingOperation[]>;
  setApprovals(id: string, approvals: readonly Approval[]): Promise<void>;
  /** Moves an operation to `state`, only from `from`; false when it was not there (another caller got it first). */
  setOperationState(id: string, from: PendingOperationState, state: PendingOperationState, out?: { result?: Record<string, unknown>; error?: ApiErrorJson }): Promise<boolean>;
  /** Remembers (client key, nonce) until `expiresAt`; false if it was let through already. */
  admitApproved(clientKeyHex: string, nonceHex: string, expiresAt: number): Promise<boolean>;
  /** Records a sign request (once per request id) and forgets uses older than `keepMs`. */
  recordSignUse(keyId: string, requestId: string, path: string, keepMs: number): Promise<void>;
  /** Sign requests of `keyId` (of `path`, if given) since `since`, other than `exceptRequest`. */
  signUses(keyId: string, since: number, path: string | undefined, exceptRequest: string): Promise<number>;
  /** When the key's current shares were made: its last DKG, refresh or reshare (audit), else `fallback`. */
  epochSince(keyId: string, fallback: number): Promise<number>;
}
