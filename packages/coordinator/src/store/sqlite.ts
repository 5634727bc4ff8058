/**
 * `SqliteStore`: the `CoordinatorStore` over one SQLite file (better-sqlite3, WAL,
 * synchronous=FULL, mode 0600), the embedded default. The stores under registry/ are
 * its synchronous parts: keys (keys.ts), key usage states (key-states.ts), the COMMIT
 * frames each signer still has to acknowledge and the epoch each signer holds per key
 * (commits.ts), retirement attestations (attestations.ts), per-key bans (bans.ts), the
 * client replay window (replay.ts), the hash-chained audit log (audit.ts), its
 * cosigned checkpoints (checkpoints.ts) and governance (governance.ts). The schema is
 * numbered migrations (schema.ts), applied when the file is opened.
 *
 * One connection, so one gate: every call on the store waits its turn in a FIFO queue
 * (`Gate`), and `transaction(fn)` holds the gate from BEGIN IMMEDIATE to COMMIT (ROLLBACK
 * if `fn` throws) while `fn` runs its calls on the transaction handle, which skip the
 * queue. A call from outside therefore waits until the transaction settles and never
 * sees or joins its writes. A call on the store itself from inside its own transaction
 * would wait for ever; it is refused instead (an AsyncLocalStorage marks the
 * transaction's async context). Each method runs its SQL synchronously once admitted.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { PublicKeyPackage } from '@keyquorum/crypto';
import type { ApiErrorJson, Approval, AuditChainRow, AuditCheckpoint, AuditPosition, KeySuiteId, ParticipantRef, PendingOperationState } from '@keyquorum/protocol';
import { AUDIT_VERIFY_CHUNK_ROWS, REGISTRY_FILE, SECRET_FILE_MODE } from '../constants.ts';
import { AttestationStore } from '../registry/attestations.ts';
import { AuditChainVerifier, AuditLog } from '../registry/audit.ts';
import { BanStore } from '../registry/bans.ts';
import { CheckpointStore } from '../registry/checkpoints.ts';
import { PendingCommits, SignerEpochs } from '../registry/commits.ts';
import { GovernanceStore } from '../registry/governance.ts';
import { KeyUsageStore } from '../registry/key-states.ts';
import { KeyStore } from '../registry/keys.ts';
import { ReplayWindow } from '../registry/replay.ts';
import { migrate } from '../registry/schema.ts';
import type {
  Attestation, AuditEntry, AuditEventType, AuditEvents, AuditPage, AuditVerification, Ban, CoordinatorStore, KeyState, KeyUsage,
  PendingCommit, PendingOperation, PolicyRecord, RegistryKey, SignerEpoch, StoreOptions, StoredCheckpoint,
} from './types.ts';

/** The synchronous parts over the one connection. */
class Parts {
  readonly keys: KeyStore;
  readonly usage: KeyUsageStore;
  readonly commits: PendingCommits;
  readonly epochs: SignerEpochs;
  readonly attested: AttestationStore;
  readonly banned: BanStore;
  readonly replay: ReplayWindow;
  readonly log: AuditLog;
  readonly cosigned: CheckpointStore;
  readonly governance: GovernanceStore;

  constructor(readonly db: Database.Database, now: () => number, opts: StoreOptions) {
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
  }

  /** Runs `fn` atomically (a savepoint when inside an open transaction). */
  atomic<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }
}

/** An open transaction's marker: its handle works while `open`. */
interface TxToken {
  open: boolean;
}

/** The FIFO queue every call on the store passes (async mutex). */
class Gate {
  #tail: Promise<unknown> = Promise.resolve();
  readonly inTx = new AsyncLocalStorage<TxToken>();

  run<T>(fn: () => T | Promise<T>): Promise<T> {
    if (this.inTx.getStore()?.open === true) {
      return Promise.reject(new Error('SqliteStore: the store was called inside its own transaction; use the transaction handle'));
    }
    const result = this.#tail.then(fn);
    this.#tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

export class SqliteStore implements CoordinatorStore {
  readonly file: string;
  readonly #p: Parts;
  readonly #gate: Gate;
  /** Set on a transaction handle, undefined on the store. */
  readonly #tx: TxToken | undefined;
  /** The store's own (a transaction handle has none: it verifies the whole chain). */
  readonly #chain: AuditChainVerifier | undefined;
  /** The connection (tests that tamper with rows reach it through a cast; nothing here uses it but through the parts). */
  private readonly db: Database.Database;

  private constructor(file: string, parts: Parts, gate: Gate, tx: TxToken | undefined, opts: StoreOptions) {
    this.file = file;
    this.#p = parts;
    this.#gate = gate;
    this.#tx = tx;
    this.db = parts.db;
    this.#chain = tx === undefined ? new AuditChainVerifier(this, { chunkRows: opts.auditChunkRows ?? AUDIT_VERIFY_CHUNK_ROWS }) : undefined;
  }

  /**
   * Opens (creating if needed) `<dataDir>/registry.db`, mode 0600, and migrates it to
   * the current schema; BAD_CONFIG if the file was written by a newer coordinator.
   * Synchronous underneath; async for the interface's sake.
   */
  static async open(dataDir: string, opts: StoreOptions = {}): Promise<SqliteStore> {
    return SqliteStore.openSync(dataDir, opts);
  }

  /** `open`, synchronously (tools and fixtures that cannot await). */
  static openSync(dataDir: string, opts: StoreOptions = {}): SqliteStore {
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
      return new SqliteStore(file, new Parts(db, now, opts), new Gate(), undefined, opts);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  /** Runs `fn` on the parts: at once on a transaction handle, else in the gate's turn. */
  #run<T>(fn: (p: Parts) => T): Promise<T> {
    const tx = this.#tx;
    if (tx === undefined) return this.#gate.run(() => fn(this.#p));
    if (!tx.open) return Promise.reject(new Error('SqliteStore: transaction handle used after its transaction ended'));
    try {
      return Promise.resolve(fn(this.#p));
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  /** Nothing to start: `open` returns it open (a `StartStack` adopts it). */
  async start(): Promise<void> {}

  async stop(): Promise<void> {
    if (this.#tx !== undefined) return;
    await this.#gate.run(() => {
      if (this.#p.db.open) this.#p.db.close();
    });
  }

  transaction<T>(fn: (tx: CoordinatorStore) => Promise<T>): Promise<T> {
    if (this.#tx !== undefined) {
      if (!this.#tx.open) return Promise.reject(new Error('SqliteStore: transaction handle used after its transaction ended'));
      return fn(this);
    }
    return this.#gate.run(async () => {
      const db = this.#p.db;
      const token: TxToken = { open: true };
      const handle = new SqliteStore(this.file, this.#p, this.#gate, token, {});
      db.prepare('BEGIN IMMEDIATE').run();
      try {
        const out = await this.#gate.inTx.run(token, () => fn(handle));
        db.prepare('COMMIT').run();
        return out;
      } catch (e) {
        if (db.inTransaction) db.prepare('ROLLBACK').run();
        throw e;
      } finally {
        token.open = false;
      }
    });
  }

  writable(): Promise<boolean> {
    if (this.#tx !== undefined) return Promise.resolve(this.#tx.open);
    return this.#gate.run(() => {
      try {
        this.#p.db.prepare('BEGIN IMMEDIATE').run();
        this.#p.db.prepare('ROLLBACK').run();
        return true;
      } catch {
        return false;
      }
    });
  }

  // ---- keys ----

  insertPendingKey(k: { id: string; suite: KeySuiteId; threshold: number; participants: ParticipantRef[] }): Promise<void> {
    return this.#run((p) => p.keys.insertPending(k));
  }
  setKeySession(id: string, sessionId: string): Promise<void> {
    return this.#run((p) => p.keys.setSessionId(id, sessionId));
  }
  deleteKey(id: string): Promise<void> {
    return this.#run((p) => p.keys.delete(id));
  }
  getKey(id: string): Promise<RegistryKey | undefined> {
    return this.#run((p) => p.keys.get(id));
  }
  listKeys(): Promise<RegistryKey[]> {
    return this.#run((p) => p.keys.list());
  }
  setKeyMaterial(id: string, pkg: PublicKeyPackage, epoch: number, participants?: ParticipantRef[]): Promise<void> {
    return this.#run((p) => p.keys.setMaterial(id, pkg, epoch, participants));
  }
  setState(id: string, state: KeyState): Promise<void> {
    return this.#run((p) => p.keys.setState(id, state));
  }
  keyUsage(id: string): Promise<KeyUsage | undefined> {
    return this.#run((p) => p.usage.get(id));
  }
  setKeyUsage(u: Omit<KeyUsage, 'updatedAt'>): Promise<void> {
    return this.#run((p) => p.usage.put(u));
  }
  scheduledDestructions(): Promise<KeyUsage[]> {
    return this.#run((p) => p.usage.scheduled());
  }

  // ---- pending commits and signer epochs ----

  addPendingCommit(c: Omit<PendingCommit, 'seq'>): Promise<void> {
    return this.#run((p) => p.commits.add(c));
  }
  pendingCommits(signer?: string): Promise<PendingCommit[]> {
    return this.#run((p) => p.commits.list(signer));
  }
  unacknowledged(keyId: string): Promise<string[]> {
    return this.#run((p) => p.commits.unacknowledged(keyId));
  }
  findPendingCommit(signer: string, sessionId: string): Promise<PendingCommit | undefined> {
    return this.#run((p) => p.commits.find(signer, sessionId));
  }
  removePendingCommit(seq: number): Promise<void> {
    return this.#run((p) => p.commits.remove(seq));
  }
  acknowledgeEpoch(keyId: string, signer: string, epoch: number): Promise<void> {
    return this.#run((p) => p.atomic(() => p.epochs.acknowledge(keyId, signer, epoch)));
  }
  signerEpochs(): Promise<SignerEpoch[]> {
    return this.#run((p) => p.epochs.list());
  }

  // ---- attestations ----

  addAttestation(a: Omit<Attestation, 'receivedAt'>): Promise<void> {
    return this.#run((p) =>
      p.atomic(() => {
        p.attested.add(a);
        p.epochs.forget(a.keyId, a.signer);
      }),
    );
  }
  attestations(keyId: string): Promise<Attestation[]> {
    return this.#run((p) => p.attested.list(keyId));
  }

  // ---- bans ----

  ban(keyId: string, signer: string, reason: string): Promise<void> {
    return this.#run((p) => p.banned.add(keyId, signer, reason));
  }
  bannedSigners(keyId: string): Promise<string[]> {
    return this.#run((p) => p.banned.signers(keyId));
  }
  bans(keyId: string): Promise<Ban[]> {
    return this.#run((p) => p.banned.list(keyId));
  }
  unban(keyId: string, signer: string): Promise<Ban | undefined> {
    return this.#run((p) => p.atomic(() => p.banned.remove(keyId, signer)));
  }

  // ---- client replay window ----

  checkAndRemember(clientKeyHex: string, nonceHex: string, timestamp: number): Promise<boolean> {
    return this.#run((p) => p.atomic(() => p.replay.checkAndRemember(clientKeyHex, nonceHex, timestamp)));
  }

  // ---- audit ----

  append<E extends AuditEventType>(event: E, keyId: string | null, data: AuditEvents[E]): Promise<AuditEntry> {
    return this.#run((p) => p.atomic(() => p.log.append(event, keyId, data)));
  }
  audit(keyId?: string): Promise<AuditEntry[]> {
    return this.#run((p) => p.log.list(keyId));
  }
  auditPage(q: { keyId?: string | undefined; after: number; limit: number }): Promise<AuditPage> {
    return this.#run((p) => {
      const page = p.log.page(q);
      if (q.keyId === undefined) page.checkpoints = p.cosigned.between(q.after, page.next ?? Number.MAX_SAFE_INTEGER);
      return page;
    });
  }
  auditHead(): Promise<AuditPosition> {
    return this.#run((p) => p.log.head());
  }
  auditHashAt(seq: number): Promise<string | undefined> {
    return this.#run((p) => p.log.hashAt(seq));
  }
  auditRows(after: number, limit: number): Promise<AuditChainRow[]> {
    return this.#run((p) => p.log.chainRows(after, limit));
  }
  addCheckpoint(c: AuditCheckpoint): Promise<void> {
    return this.#run((p) => p.atomic(() => p.cosigned.add(c)));
  }
  checkpoints(): Promise<StoredCheckpoint[]> {
    return this.#run((p) => p.cosigned.list());
  }
  lastCheckpoint(signer?: string): Promise<StoredCheckpoint | undefined> {
    return this.#run((p) => p.cosigned.last(signer));
  }
  verifyAudit(): Promise<AuditVerification> {
    return this.#run((p) => p.log.verify());
  }
  verifyAuditChain(): Promise<AuditVerification> {
    return this.#chain?.verify() ?? this.verifyAudit();
  }

  // ---- governance ----

  policy(keyId: string): Promise<PolicyRecord | undefined> {
    return this.#run((p) => p.governance.policy(keyId));
  }
  policyHistory(keyId: string): Promise<PolicyRecord[]> {
    return this.#run((p) => p.governance.policyHistory(keyId));
  }
  addPolicy(r: Omit<PolicyRecord, 'setAt' | 'policy'>): Promise<void> {
    return this.#run((p) => p.governance.addPolicy(r));
  }
  addOperation(o: Omit<PendingOperation, 'createdAt' | 'updatedAt' | 'state'>): Promise<void> {
    return this.#run((p) => p.governance.addOperation(o));
  }
  operation(id: string): Promise<PendingOperation | undefined> {
    return this.#run((p) => p.governance.operation(id));
  }
  operations(state?: PendingOperationState): Promise<PendingOperation[]> {
    return this.#run((p) => p.governance.operations(state));
  }
  setApprovals(id: string, approvals: readonly Approval[]): Promise<void> {
    return this.#run((p) => p.governance.setApprovals(id, approvals));
  }
  setOperationState(id: string, from: PendingOperationState, state: PendingOperationState, out: { result?: Record<string, unknown>; error?: ApiErrorJson } = {}): Promise<boolean> {
    return this.#run((p) => p.governance.setOperationState(id, from, state, out));
  }
  admitApproved(clientKeyHex: string, nonceHex: string, expiresAt: number): Promise<boolean> {
    return this.#run((p) => p.atomic(() => p.governance.admitApproved(clientKeyHex, nonceHex, expiresAt)));
  }
  recordSignUse(keyId: string, requestId: string, path: string, keepMs: number): Promise<void> {
    return this.#run((p) => p.atomic(() => p.governance.recordSignUse(keyId, requestId, path, keepMs)));
  }
  signUses(keyId: string, since: number, path: string | undefined, exceptRequest: string): Promise<number> {
    return this.#run((p) => p.governance.signUses(keyId, since, path, exceptRequest));
  }
  epochSince(keyId: string, fallback: number): Promise<number> {
    return this.#run((p) => p.governance.epochSince(keyId, fallback));
  }
}
