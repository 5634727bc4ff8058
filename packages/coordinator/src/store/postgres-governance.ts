/**
 * The governance records (docs/governance.md; registry/governance.ts has the SQLite
 * side and what each table holds) in PostgreSQL: key policies by version, operations
 * waiting for approvals, approved requests honoured once, the velocity count. Each
 * write that must not race another coordinator is one statement that decides by
 * itself: a state move is `UPDATE … WHERE state = $from` (one caller wins), an
 * admission is `INSERT … ON CONFLICT DO NOTHING` (one caller gets the row).
 */
import {
  encodeBody,
  type ApiErrorJson,
  type Approval,
  type PendingOperationState,
} from '@keyquorum/protocol';
import { defined, toOp, toPolicy, type OpRow, type PolicyRow, type PendingOperation, type PolicyRecord } from '../registry/governance.ts';
import { blob, type Queryable } from './pg-sql.ts';


export class PgGovernance {
  constructor(
    private readonly db: Queryable,
    private readonly now: () => number,
  ) {}

  // ---- policies ----

  /** The key's current policy record (the latest version only: it is read for every signature); undefined for a key that has the default policy. */
  async policy(keyId: string): Promise<PolicyRecord | undefined> {
    const res = await this.db.query<PolicyRow>('SELECT * FROM policies WHERE key_id = $1 ORDER BY version DESC LIMIT 1', [keyId]);
    return res.rows.length === 0 ? undefined : toPolicy(res.rows[0]!);
  }

  /** Every policy the key had, oldest first. */
  async policyHistory(keyId: string): Promise<PolicyRecord[]> {
    const res = await this.db.query<PolicyRow>('SELECT * FROM policies WHERE key_id = $1 ORDER BY version', [keyId]);
    return res.rows.map(toPolicy);
  }

  async addPolicy(p: Omit<PolicyRecord, 'setAt' | 'policy'>): Promise<void> {
    await this.db.query('INSERT INTO policies (key_id, version, text, digest, set_at, client_key, approvers) VALUES ($1, $2, $3, $4, $5, $6, $7)', [p.keyId, p.version, p.text, p.digest, this.now(), p.clientKey, JSON.stringify(p.approvers)]);
  }

  // ---- pending operations ----

  async addOperation(o: Omit<PendingOperation, 'createdAt' | 'updatedAt' | 'state'>): Promise<void> {
    const { approvals: _a, ...request } = o.request;
    const at = this.now();
    await this.db.query(
      'INSERT INTO pending_operations (id, key_id, op, action, state, required, request, params, approvals, expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)',
      [o.id, o.keyId, o.op, o.action, 'pending', o.required, blob(encodeBody(request)), blob(encodeBody(defined(o.params))), blob(encodeBody(o.approvals)), o.expiresAt, at, at],
    );
  }

  async operation(id: string): Promise<PendingOperation | undefined> {
    const r = (await this.db.query<OpRow>('SELECT * FROM pending_operations WHERE id = $1', [id])).rows[0];
    return r === undefined ? undefined : toOp(r);
  }

  /** Newest first; optionally only those in `state`. */
  async operations(state?: PendingOperationState): Promise<PendingOperation[]> {
    const res = state === undefined
      ? await this.db.query<OpRow>('SELECT * FROM pending_operations ORDER BY created_at DESC, id COLLATE "C"')
      : await this.db.query<OpRow>('SELECT * FROM pending_operations WHERE state = $1 ORDER BY created_at DESC, id COLLATE "C"', [state]);
    return res.rows.map(toOp);
  }

  async setApprovals(id: string, approvals: readonly Approval[]): Promise<void> {
    await this.db.query('UPDATE pending_operations SET approvals = $1, updated_at = $2 WHERE id = $3', [blob(encodeBody(approvals)), this.now(), id]);
  }

  /** Moves an operation to `state`; only from `from` (false when it was not there: another caller got it first). */
  async setOperationState(id: string, from: PendingOperationState, state: PendingOperationState, out: { result?: Record<string, unknown>; error?: ApiErrorJson } = {}): Promise<boolean> {
    const res = await this.db.query('UPDATE pending_operations SET state = $1, result = $2, error = $3, updated_at = $4 WHERE id = $5 AND state = $6', [
      state,
      out.result === undefined ? null : JSON.stringify(out.result),
      out.error === undefined ? null : JSON.stringify(out.error),
      this.now(),
      id,
      from,
    ]);
    return res.rowCount === 1;
  }

  // ---- approved requests (honoured once, until their deadline) ----

  /** Remembers (client key, nonce) until `expiresAt`; false if it was let through already. Run in a transaction. */
  async admitApproved(clientKeyHex: string, nonceHex: string, expiresAt: number): Promise<boolean> {
    await this.db.query('DELETE FROM approved_requests WHERE expires_at < $1', [this.now()]);
    const res = await this.db.query('INSERT INTO approved_requests (client_key, nonce, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [clientKeyHex, nonceHex, expiresAt]);
    return res.rowCount === 1;
  }

  // ---- the coordinator's velocity count ----

  /** Records a sign request (once per request id) and forgets uses older than `keepMs`. */
  async recordSignUse(keyId: string, requestId: string, path: string, keepMs: number): Promise<void> {
    const at = this.now();
    await this.db.query('DELETE FROM sign_uses WHERE at < $1', [at - keepMs]);
    await this.db.query('INSERT INTO sign_uses (key_id, request_id, path, at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [keyId, requestId, path, at]);
  }

  /** Sign requests of `keyId` (of `path`, if given) since `since`, other than `exceptRequest`. */
  async signUses(keyId: string, since: number, path: string | undefined, exceptRequest: string): Promise<number> {
    const sql = `SELECT COUNT(*) AS n FROM sign_uses WHERE key_id = $1 AND at >= $2 AND request_id != $3${path === undefined ? '' : ' AND path = $4'}`;
    const args: (string | number)[] = [keyId, since, exceptRequest, ...(path === undefined ? [] : [path])];
    return (await this.db.query<{ n: number }>(sql, args)).rows[0]!.n;
  }

  /** When the key's current shares were made: its last DKG, refresh or reshare (audit), else `fallback`. */
  async epochSince(keyId: string, fallback: number): Promise<number> {
    const res = await this.db.query<{ ts: number | null }>("SELECT MAX(ts) AS ts FROM audit WHERE key_id = $1 AND event IN ('key.created', 'key.refreshed', 'key.reshared')", [keyId]);
    return res.rows[0]?.ts ?? fallback;
  }
}
