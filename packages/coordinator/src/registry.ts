/**
 * The coordinator's registry: one SQLite file (better-sqlite3, WAL, synchronous=FULL,
 * mode 0600) holding the stores under registry/: keys (keys.ts), the COMMIT frames
 * each signer still has to acknowledge and the epoch each signer holds per key
 * (commits.ts), retirement attestations (attestations.ts), per-key bans (bans.ts), the
 * client replay window (replay.ts) and the hash-chained audit log (audit.ts). The
 * schema is numbered migrations (schema.ts), applied when the file is opened.
 *
 * `Registry` is the front the engine and coordinator call: each method is one store's,
 * and a change that spans stores runs in one transaction. It is a `Startable` part of
 * the coordinator, opened by `Registry.open` and closed by `stop()`.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { PublicKeyPackage } from '@keyquorum/crypto';
import type { AuditChainRow, AuditCheckpoint, AuditPosition, KeySuiteId, ParticipantRef, ReplayGuard, Startable } from '@keyquorum/protocol';
import { AUDIT_VERIFY_CHUNK_ROWS, REGISTRY_FILE, SECRET_FILE_MODE } from './constants.ts';
import { AttestationStore, type Attestation } from './registry/attestations.ts';
import { AuditChainVerifier, AuditLog, type AuditEntry, type AuditEventType, type AuditEvents, type AuditPage, type AuditVerification } from './registry/audit.ts';
import { BanStore, type Ban } from './registry/bans.ts';
import { CheckpointStore, type StoredCheckpoint } from './registry/checkpoints.ts';
import { GovernanceStore } from './registry/governance.ts';
import { PendingCommits, SignerEpochs, type PendingCommit, type SignerEpoch } from './registry/commits.ts';
import { KeyStore, type RegistryKey, type KeyState } from './registry/keys.ts';
import { KeyUsageStore, type KeyUsage } from './registry/key-states.ts';
import { ReplayWindow } from './registry/replay.ts';
import { migrate } from './registry/schema.ts';

export type { Attestation } from './registry/attestations.ts';
export { auditHash, type AuditEntry, type AuditPage, type AuditEvents, type AuditEventType, type AuditValue, type AuditVerification } from './registry/audit.ts';
export type { Ban } from './registry/bans.ts';
export type { StoredCheckpoint } from './registry/checkpoints.ts';
export type { PendingCommit, SignerEpoch } from './registry/commits.ts';
export { toKeyView, type RegistryKey, type KeyState } from './registry/keys.ts';
export type { KeyUsage } from './registry/key-states.ts';
export type { PendingOperation, PolicyRecord } from './registry/governance.ts';

export interface RegistryOptions {
  now?: () => number;
  /** Replay window for client request nonces; default 60 s. */
  replayWindowMs?: number;
  /** Audit rows verified between two yields to the event loop; default AUDIT_VERIFY_CHUNK_ROWS. */
  auditChunkRows?: number;
}

export class Registry implements ReplayGuard, Startable {
  readonly file: string;
  private readonly db: Database.Database;
  private readonly keys: KeyStore;
  private readonly usage: KeyUsageStore;
  private readonly commits: PendingCommits;
  private readonly epochs: SignerEpochs;
  private readonly attested: AttestationStore;
  private readonly banned: BanStore;
  private readonly replay: ReplayWindow;
  private readonly log: AuditLog;
  private readonly cosigned: CheckpointStore;
  private readonly chain: AuditChainVerifier;
  /** Key policies, operations waiting for approvals, approved requests, the velocity count (registry/governance.ts). */
  readonly governance: GovernanceStore;

  private constructor(file: string, db: Database.Database, now: () => number, opts: RegistryOptions) {
    this.file = file;
    this.db = db;
    this.keys = new KeyStore(db, now);
    this.usage = new KeyUsageStore(db, now);
    this.commits = new PendingCommits(db, now);
    this.epochs = new SignerEpochs(db, now, this.keys);
    this.attested = new AttestationStore(db, now);
    this.banned = new BanStore(db, now);
    this.replay = new ReplayWindow(db, now, opts.replayWindowMs ?? 60_000);
    this.log = new AuditLog(db, now);
    this.governance = new GovernanceStore(db, now);
    this.cosigned = new CheckpointStore(db, now);
    this.chain = new AuditChainVerifier({ auditHashAt: async (seq) => this.log.hashAt(seq), auditRows: async (after, limit) => this.log.chainRows(after, limit) }, { chunkRows: opts.auditChunkRows ?? AUDIT_VERIFY_CHUNK_ROWS });
  }

  /**
   * Opens (creating if needed) `<dataDir>/registry.db`, mode 0600, and migrates it to
   * the current schema; BAD_CONFIG if the file was written by a newer coordinator.
   */
  static open(dataDir: string, opts: RegistryOptions = {}): Registry {
    const file = path.join(dataDir, REGISTRY_FILE);
    fs.closeSync(fs.openSync(file, 'a', SECRET_FILE_MODE));
    fs.chmodSync(file, SECRET_FILE_MODE);
    const db = new Database(file);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('busy_timeout = 5000');
      const now = opts.now ?? Date.now;
      migrate(db, file, now);
      return new Registry(file, db, now, opts);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  /** Nothing to start: `Registry.open` returns it open (a `StartStack` adopts it). */
  start(): void {}

  /** Closes the database; idempotent. */
  stop(): void {
    if (this.db.open) this.db.close();
  }

  /** Runs `fn` in one write transaction. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /** True when the database accepts a write (for readiness probes). */
  writable(): boolean {
    try {
      this.db.prepare('BEGIN IMMEDIATE').run();
      this.db.prepare('ROLLBACK').run();
      return true;
    } catch {
      return false;
    }
  }

  // ---- keys ----

  /** KEY_EXISTS if a key with that id exists. */
  insertPendingKey(k: { id: string; suite: KeySuiteId; threshold: number; participants: ParticipantRef[] }): void {
    this.keys.insertPending(k);
  }

  /** Records a pending key's DKG session id (hex) as soon as it is derived. */
  setKeySession(id: string, sessionId: string): void {
    this.keys.setSessionId(id, sessionId);
  }

  deleteKey(id: string): void {
    this.keys.delete(id);
  }

  getKey(id: string): RegistryKey | undefined {
    return this.keys.get(id);
  }

  listKeys(): RegistryKey[] {
    return this.keys.list();
  }

  /** Records a key's (new) public package and epoch and makes it active. */
  setKeyMaterial(id: string, pkg: PublicKeyPackage, epoch: number, participants?: ParticipantRef[]): void {
    this.keys.setMaterial(id, pkg, epoch, participants);
  }

  setState(id: string, state: KeyState): void {
    this.keys.setState(id, state);
  }

  /** The key's usage state record; undefined for a key that never left 'active'. */
  keyUsage(id: string): KeyUsage | undefined {
    return this.usage.get(id);
  }

  setKeyUsage(u: Omit<KeyUsage, 'updatedAt'>): void {
    this.usage.put(u);
  }

  /** Keys whose destruction is scheduled, soonest first. */
  scheduledDestructions(): KeyUsage[] {
    return this.usage.scheduled();
  }

  // ---- pending commits and the epoch each signer holds ----

  addPendingCommit(c: Omit<PendingCommit, 'seq'>): void {
    this.commits.add(c);
  }

  /** What `signer` still has to acknowledge, oldest first. */
  pendingCommits(signer?: string): PendingCommit[] {
    return this.commits.list(signer);
  }

  /** Signers that have not acknowledged some commit of `keyId`. */
  unacknowledged(keyId: string): string[] {
    return this.commits.unacknowledged(keyId);
  }

  findPendingCommit(signer: string, sessionId: string): PendingCommit | undefined {
    return this.commits.find(signer, sessionId);
  }

  removePendingCommit(seq: number): void {
    this.commits.remove(seq);
  }

  /**
   * `signer` acknowledged the commit of `epoch` of `keyId`: it now holds that epoch's
   * share if it is one of the key's participants, and no share if it is not (it
   * left the key by reshare and wiped its old share).
   */
  acknowledgeEpoch(keyId: string, signer: string, epoch: number): void {
    this.transaction(() => this.epochs.acknowledge(keyId, signer, epoch));
  }

  signerEpochs(): SignerEpoch[] {
    return this.epochs.list();
  }

  // ---- attestations ----

  /** Records a destruction attestation; the signer no longer holds a share of the key. */
  addAttestation(a: Omit<Attestation, 'receivedAt'>): void {
    this.transaction(() => {
      this.attested.add(a);
      this.epochs.forget(a.keyId, a.signer);
    });
  }

  attestations(keyId: string): Attestation[] {
    return this.attested.list(keyId);
  }

  // ---- bans ----

  ban(keyId: string, signer: string, reason: string): void {
    this.banned.add(keyId, signer, reason);
  }

  bannedSigners(keyId: string): string[] {
    return this.banned.signers(keyId);
  }

  /** The bans of `keyId` with their reasons, by signer. */
  bans(keyId: string): Ban[] {
    return this.banned.list(keyId);
  }

  /** Lifts the ban of `signer` for `keyId`; the lifted ban, or undefined if there was none. */
  unban(keyId: string, signer: string): Ban | undefined {
    return this.transaction(() => this.banned.remove(keyId, signer));
  }

  // ---- client replay window (protocol ReplayGuard) ----

  /** Remembers (client key, nonce) until its timestamp falls out of the window; false if already seen. */
  checkAndRemember(clientKeyHex: string, nonceHex: string, timestamp: number): boolean {
    return this.transaction(() => this.replay.checkAndRemember(clientKeyHex, nonceHex, timestamp));
  }

  // ---- audit ----

  /** Appends one hash-chained audit row; returns it. */
  append<E extends AuditEventType>(event: E, keyId: string | null, data: AuditEvents[E]): AuditEntry {
    return this.transaction(() => this.log.append(event, keyId, data));
  }

  audit(keyId?: string): AuditEntry[] {
    return this.log.list(keyId);
  }

  /** One page of the log (rows after `after`, at most `limit`), each row checked, with the cosignatures of its seqs (whole-log pages). */
  auditPage(q: { keyId?: string | undefined; after: number; limit: number }): AuditPage {
    const page = this.log.page(q);
    if (q.keyId === undefined) page.checkpoints = this.cosigned.between(q.after, page.next ?? Number.MAX_SAFE_INTEGER);
    return page;
  }

  /** The last row's (seq, hash); (0, genesis) for an empty log. */
  auditHead(): AuditPosition {
    return this.log.head();
  }

  /** The stored hash of row `seq` (the genesis hash at 0); undefined if there is none. */
  auditHashAt(seq: number): string | undefined {
    return this.log.hashAt(seq);
  }

  /** Up to `limit` rows after `after`, as stored and hashed (`data` as written). */
  auditRows(after: number, limit: number): AuditChainRow[] {
    return this.log.chainRows(after, limit);
  }

  // ---- audit checkpoints (the signers' cosignatures) ----

  addCheckpoint(c: AuditCheckpoint): void {
    this.transaction(() => this.cosigned.add(c));
  }

  /** Every cosignature, by seq then signer. */
  checkpoints(): StoredCheckpoint[] {
    return this.cosigned.list();
  }

  /** The highest cosignature of `signer` (of any signer without one). */
  lastCheckpoint(signer?: string): StoredCheckpoint | undefined {
    return this.cosigned.last(signer);
  }

  /** Recomputes the whole chain from the first row, synchronously (tests and tools). */
  verifyAudit(): AuditVerification {
    return this.log.verify();
  }

  /** Verifies the chain from the last checkpoint to the head in chunks, yielding to the event loop between them. */
  verifyAuditChain(): Promise<AuditVerification> {
    return this.chain.verify();
  }
}
