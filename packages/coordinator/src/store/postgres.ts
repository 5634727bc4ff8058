/**
 * `PostgresStore`: the `CoordinatorStore` (store/types.ts) over a shared PostgreSQL
 * database through a `pg.Pool`, for several coordinator processes (docs/ha.md §1). Its
 * parts: keys and signer records (postgres-keys.ts), the audit chain
 * (postgres-audit.ts), governance (postgres-governance.ts), the schema and its numbered
 * migrations (postgres-schema.ts), the leader lease and fencing (lease.ts).
 *
 * - A call outside a transaction runs on any pooled connection; one that reads then
 *   writes (append, checkAndRemember, acknowledgeEpoch, addAttestation,
 *   addPendingCommit, admitApproved, recordSignUse) runs in a transaction of its own.
 * - `transaction(fn)` checks out one client, BEGIN, runs `fn(tx)` with `tx` bound to
 *   that client, COMMIT, or ROLLBACK if `fn` throws; `tx.transaction(g)` runs inline.
 *   Isolation is PostgreSQL's READ COMMITTED; where a decision reads a row another
 *   coordinator may write, the row is locked (`FOR UPDATE` of the audit head, `FOR SHARE`
 *   of a key or of the leader row) or the decision is one statement (`ON CONFLICT DO
 *   NOTHING`, `UPDATE … WHERE state = $from`, `DELETE … RETURNING`).
 * - `fencedTransaction(fence, fn)` is `transaction` that first checks the leader lease
 *   is still `fence` (lease.ts `checkFence`): a deposed leader's write fails NOT_LEADER
 *   and lands nothing. `setFence(fence)` makes every call and transaction fenced (the
 *   leader's store, leadership.ts).
 * - Text orderings use the "C" collation, so lists come out in SQLite's (binary)
 *   order whatever the database's default collation.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';
import type { PublicKeyPackage } from '@keyquorum/crypto';
import type { ApiErrorJson, Approval, AuditChainRow, AuditCheckpoint, AuditPosition, KeySuiteId, ParticipantRef, PendingOperationState } from '@keyquorum/protocol';
import { AUDIT_VERIFY_CHUNK_ROWS } from '../constants.ts';
import { CoordinatorError } from '../errors.ts';
import { AuditChainVerifier } from '../registry/audit.ts';
import { checkFence, LeaderLease, type Fence } from './lease.ts';
import { PG_TYPES, type Queryable } from './pg-sql.ts';
import { PgAuditLog } from './postgres-audit.ts';
import { PgGovernance } from './postgres-governance.ts';
import { PgKeys, PgSignerRecords } from './postgres-keys.ts';
import { migratePostgres } from './postgres-schema.ts';
import type {
  Attestation, AuditEntry, AuditEventType, AuditEvents, AuditPage, AuditVerification, Ban, CoordinatorStore, KeyState, KeyUsage,
  PendingCommit, PendingOperation, PolicyRecord, RegistryKey, SignerEpoch, StoreOptions, StoredCheckpoint,
} from './types.ts';

export interface PostgresStoreOptions extends StoreOptions {
  /** Connections in the pool; default 10. */
  maxConnections?: number;
}

/** The parts bound to one Queryable: the pool, or a transaction's client. */
class Parts {
  readonly keys: PgKeys;
  readonly signers: PgSignerRecords;
  readonly log: PgAuditLog;
  readonly governance: PgGovernance;
  constructor(readonly db: Queryable, readonly now: () => number) {
    this.keys = new PgKeys(db, now);
    this.signers = new PgSignerRecords(db, now);
    this.log = new PgAuditLog(db, now);
    this.governance = new PgGovernance(db, now);
  }
}

interface Shared {
  pool: pg.Pool;
  /** Marks a transaction's async context, so the store itself refuses calls from inside it. */
  inTx: AsyncLocalStorage<TxState>;
  now: () => number;
  replayWindowMs: number;
  ended: boolean;
  /** Once set (`setFence`), every call outside a transaction and every transaction is fenced. */
  fence: Fence | undefined;
  lease: LeaderLease;
}

/** An open transaction's handle state. */
interface TxState {
  open: boolean;
}

export class PostgresStore implements CoordinatorStore {
  readonly #s: Shared;
  readonly #p: Parts;
  readonly #tx: TxState | undefined;
  readonly #chain: AuditChainVerifier | undefined;
  /** The leader lease in this database (lease.ts). */
  readonly lease: LeaderLease;

  private constructor(s: Shared, db: Queryable, tx: TxState | undefined, chunkRows: number) {
    this.#s = s;
    this.#p = new Parts(db, s.now);
    this.#tx = tx;
    this.#chain = tx === undefined ? new AuditChainVerifier(this, { chunkRows }) : undefined;
    this.lease = s.lease;
  }

  /** Connects to `connectionString` and migrates the database to the current schema; BAD_CONFIG if it is newer or cannot be opened. */
  static async open(connectionString: string, opts: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const pool = new pg.Pool({ connectionString, max: opts.maxConnections ?? 10, types: PG_TYPES });
    // An idle connection that drops is reported to the next query that needs one; without
    // a listener, the pool's 'error' event would end the process.
    pool.on('error', () => undefined);
    const where = describe(connectionString);
    try {
      await migratePostgres(pool, where);
    } catch (e) {
      await pool.end();
      if (e instanceof CoordinatorError) throw e;
      throw new CoordinatorError('BAD_CONFIG', { field: 'database', message: `cannot open ${where}: ${(e as Error).message}`, cause: e });
    }
    const shared: Shared = { pool, inTx: new AsyncLocalStorage(), now: opts.now ?? Date.now, replayWindowMs: opts.replayWindowMs ?? 60_000, ended: false, fence: undefined, lease: new LeaderLease(pool) };
    return new PostgresStore(shared, pool, undefined, opts.auditChunkRows ?? AUDIT_VERIFY_CHUNK_ROWS);
  }

  /**
   * Runs `fn` on this handle's parts. Refused: a handle whose transaction ended, and the
   * store itself called from inside its own open transaction (as SqliteStore refuses it):
   * on another connection, such a call could wait for ever on a row lock that
   * transaction holds.
   */
  #run<T>(fn: (p: Parts) => Promise<T>): Promise<T> {
    const refused = this.#refused();
    if (refused !== undefined) return Promise.reject(refused);
    if (this.#tx === undefined && this.#s.fence !== undefined) return this.#begin(this.#s.fence, (tx) => fn(tx.#p));
    return fn(this.#p);
  }

  #refused(): Error | undefined {
    if (this.#tx !== undefined) return this.#tx.open ? undefined : new Error('PostgresStore: transaction handle used after its transaction ended');
    if (this.#s.inTx.getStore()?.open === true) return new Error('PostgresStore: the store was called inside its own transaction; use the transaction handle');
    return undefined;
  }

  /** Runs `fn` atomically: inline in this handle's transaction, else in one of its own. */
  #atomic<T>(fn: (p: Parts) => Promise<T>): Promise<T> {
    if (this.#tx !== undefined) return this.#run(fn);
    return this.#begin(this.#s.fence, (tx) => fn(tx.#p));
  }

  async #begin<T>(fence: Fence | undefined, fn: (tx: PostgresStore) => Promise<T>): Promise<T> {
    const refused = this.#refused();
    if (refused !== undefined) throw refused;
    const client = await this.#s.pool.connect();
    const state: TxState = { open: true };
    let discard: Error | undefined;
    try {
      await client.query('BEGIN');
      if (fence !== undefined) await checkFence(client, fence);
      const out = await this.#s.inTx.run(state, () => fn(new PostgresStore(this.#s, client, state, 0)));
      await client.query('COMMIT');
      return out;
    } catch (e) {
      await client.query('ROLLBACK').catch((r: unknown) => (discard = r instanceof Error ? r : new Error(String(r))));
      throw e;
    } finally {
      state.open = false;
      // A client whose ROLLBACK failed is in an unknown state: discarded, not pooled again.
      client.release(discard);
    }
  }

  async start(): Promise<void> {}

  /** Ends the pool once every checked-out client is back (an open transaction finishes first); idempotent. */
  async stop(): Promise<void> {
    if (this.#tx !== undefined || this.#s.ended) return;
    this.#s.ended = true;
    await this.#s.pool.end();
  }

  transaction<T>(fn: (tx: CoordinatorStore) => Promise<T>): Promise<T> {
    if (this.#tx !== undefined) return this.#run(() => fn(this));
    return this.#begin(this.#s.fence, fn);
  }

  /**
   * From now on every call of this store (reads too: one code path, no write missed)
   * and every transaction is fenced by `fence`: it runs in a transaction that first
   * checks the lease (lease.ts `checkFence`), so once this coordinator is deposed or its
   * lease has run out, each fails NOT_LEADER and writes nothing. Set by the leader
   * (leadership.ts); the lease itself (`lease`) is never fenced.
   */
  setFence(fence: Fence): void {
    if (this.#tx !== undefined) throw new Error('PostgresStore: setFence on a transaction handle');
    this.#s.fence = { ...fence };
  }

  /** `transaction`, refused with NOT_LEADER (nothing written) unless `fence` still holds the leader lease. */
  fencedTransaction<T>(fence: Fence, fn: (tx: CoordinatorStore) => Promise<T>): Promise<T> {
    if (this.#tx !== undefined) return Promise.reject(new Error('PostgresStore: a fenced transaction cannot run inside another transaction'));
    return this.#begin(fence, fn);
  }

  async writable(): Promise<boolean> {
    try {
      const r = await this.#run((p) => p.db.query<{ ro: string; recovery: boolean }>("SELECT current_setting('transaction_read_only') AS ro, pg_is_in_recovery() AS recovery"));
      return r.rows[0]!.ro === 'off' && !r.rows[0]!.recovery;
    } catch {
      return false;
    }
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
    return this.#run((p) => p.keys.usage(id));
  }
  setKeyUsage(u: Omit<KeyUsage, 'updatedAt'>): Promise<void> {
    return this.#run((p) => p.keys.putUsage(u));
  }
  scheduledDestructions(): Promise<KeyUsage[]> {
    return this.#run((p) => p.keys.scheduled());
  }

  // ---- pending commits and signer epochs ----

  addPendingCommit(c: Omit<PendingCommit, 'seq'>): Promise<void> {
    return this.#atomic((p) => p.signers.addCommit(c));
  }
  pendingCommits(signer?: string): Promise<PendingCommit[]> {
    return this.#run((p) => p.signers.commits(signer));
  }
  unacknowledged(keyId: string): Promise<string[]> {
    return this.#run((p) => p.signers.unacknowledged(keyId));
  }
  findPendingCommit(signer: string, sessionId: string): Promise<PendingCommit | undefined> {
    return this.#run((p) => p.signers.findCommit(signer, sessionId));
  }
  removePendingCommit(seq: number): Promise<void> {
    return this.#run((p) => p.signers.removeCommit(seq));
  }
  acknowledgeEpoch(keyId: string, signer: string, epoch: number): Promise<void> {
    return this.#atomic((p) => p.signers.acknowledge(keyId, signer, epoch));
  }
  signerEpochs(): Promise<SignerEpoch[]> {
    return this.#run((p) => p.signers.epochs());
  }

  // ---- attestations ----

  addAttestation(a: Omit<Attestation, 'receivedAt'>): Promise<void> {
    return this.#atomic(async (p) => {
      await p.signers.addAttestation(a);
      await p.signers.forget(a.keyId, a.signer);
    });
  }
  attestations(keyId: string): Promise<Attestation[]> {
    return this.#run((p) => p.signers.attestations(keyId));
  }

  // ---- bans ----

  ban(keyId: string, signer: string, reason: string): Promise<void> {
    return this.#run((p) => p.signers.ban(keyId, signer, reason));
  }
  async bannedSigners(keyId: string): Promise<string[]> {
    return (await this.bans(keyId)).map((b) => b.signer);
  }
  bans(keyId: string): Promise<Ban[]> {
    return this.#run((p) => p.signers.bans(keyId));
  }
  unban(keyId: string, signer: string): Promise<Ban | undefined> {
    return this.#run((p) => p.signers.unban(keyId, signer));
  }

  // ---- client replay window ----

  /** Forgets entries older than the window, then remembers (client key, nonce): false if already seen (by any coordinator) or too old. */
  checkAndRemember(clientKeyHex: string, nonceHex: string, timestamp: number): Promise<boolean> {
    return this.#atomic(async (p) => {
      const horizon = p.now() - this.#s.replayWindowMs;
      await p.db.query('DELETE FROM replay WHERE ts < $1', [horizon]);
      if (timestamp < horizon) return false;
      const res = await p.db.query('INSERT INTO replay (client_key, nonce, ts) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [clientKeyHex, nonceHex, timestamp]);
      return res.rowCount === 1;
    });
  }

  // ---- audit ----

  append<E extends AuditEventType>(event: E, keyId: string | null, data: AuditEvents[E]): Promise<AuditEntry> {
    return this.#atomic((p) => p.log.append(event, keyId, data));
  }
  audit(keyId?: string): Promise<AuditEntry[]> {
    return this.#run((p) => p.log.list(keyId));
  }
  auditPage(q: { keyId?: string | undefined; after: number; limit: number }): Promise<AuditPage> {
    return this.#run(async (p) => {
      const page = await p.log.page(q);
      if (q.keyId === undefined) page.checkpoints = await p.signers.checkpointsBetween(q.after, page.next ?? Number.MAX_SAFE_INTEGER);
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
    return this.#run((p) => p.signers.addCheckpoint(c));
  }
  checkpoints(): Promise<StoredCheckpoint[]> {
    return this.#run((p) => p.signers.checkpoints());
  }
  lastCheckpoint(signer?: string): Promise<StoredCheckpoint | undefined> {
    return this.#run((p) => p.signers.lastCheckpoint(signer));
  }
  verifyAudit(): Promise<AuditVerification> {
    return this.#run((p) => p.log.verify());
  }
  /** Chunked, from the last verified position; on a transaction handle, the whole chain as the transaction sees it. */
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
    return this.#atomic((p) => p.governance.admitApproved(clientKeyHex, nonceHex, expiresAt));
  }
  recordSignUse(keyId: string, requestId: string, path: string, keepMs: number): Promise<void> {
    return this.#atomic((p) => p.governance.recordSignUse(keyId, requestId, path, keepMs));
  }
  signUses(keyId: string, since: number, path: string | undefined, exceptRequest: string): Promise<number> {
    return this.#run((p) => p.governance.signUses(keyId, since, path, exceptRequest));
  }
  epochSince(keyId: string, fallback: number): Promise<number> {
    return this.#run((p) => p.governance.epochSince(keyId, fallback));
  }
}

/** The database a connection string names, without its password (for error messages). */
function describe(connectionString: string): string {
  try {
    const u = new URL(connectionString);
    return `PostgreSQL database ${u.pathname.slice(1) || '(default)'} at ${u.hostname}:${u.port || '5432'}`;
  } catch {
    return 'the PostgreSQL database';
  }
}
