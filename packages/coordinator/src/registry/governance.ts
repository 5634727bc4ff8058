/**
 * The coordinator's governance records (docs/governance.md), all in the registry file:
 * - `policies`: every policy a key had, by version (the highest is the current one):
 *   its canonical text, digest, when it was set, by which client and with which
 *   approvers. This is the coordinator's copy, for early refusal and for showing it;
 *   each signer keeps and enforces its own.
 * - `pending_operations`: operations waiting for approvals (id = hex clientRequestId),
 *   with the request, the route parameters (msgpack), the approvals recorded so far,
 *   the approval deadline, and once run, its result or error. Durable: they survive a
 *   restart.
 * - `approved_requests`: the (client key, nonce) of every approval-needing request the
 *   coordinator let through, remembered until its approval deadline, so it is honoured
 *   once.
 * - `sign_uses`: the coordinator's own velocity count, one row per sign request (all
 *   attempts of a request count once), pruned past the longest window in use.
 */
import type Database from 'better-sqlite3';
import {
  decode,
  encodeBody,
  parseApprovals,
  parseClientRequest,
  policyFromText,
  type ApiErrorJson,
  type Approval,
  type ApprovalAction,
  type ClientRequest,
  type KeyPolicy,
  type Operation,
  type PendingOperationState,
} from '@keyquorum/protocol';

export interface PolicyRecord {
  keyId: string;
  version: number;
  policy: KeyPolicy;
  /** Canonical text (`policyToText`). */
  text: string;
  digest: string;
  setAt: number;
  clientKey: string;
  approvers: string[];
}

export interface PendingOperation {
  /** Hex clientRequestId of the request. */
  id: string;
  keyId: string;
  op: Operation;
  action: ApprovalAction;
  state: PendingOperationState;
  required: number;
  /** The request as the client signed it, without approvals. */
  request: ClientRequest;
  /** The route parameters without `request`, bytes as Uint8Array. */
  params: Record<string, unknown>;
  approvals: Approval[];
  expiresAt: number;
  createdAt: number;
  updatedAt: number;
  result?: Record<string, unknown>;
  error?: ApiErrorJson;
}

/** A `policies` row as both backends read it. */
export interface PolicyRow { key_id: string; version: number; text: string; digest: string; set_at: number; client_key: string; approvers: string }
/** A `pending_operations` row as both backends read it. */
export interface OpRow {
  id: string; key_id: string; op: Operation; action: ApprovalAction; state: PendingOperationState; required: number;
  request: Uint8Array; params: Uint8Array; approvals: Uint8Array; expires_at: number; created_at: number; updated_at: number;
  result: string | null; error: string | null;
}

export const GOVERNANCE_LAYOUT = `
CREATE TABLE IF NOT EXISTS policies (
  key_id TEXT NOT NULL,
  version INTEGER NOT NULL CHECK (version >= 1),
  text TEXT NOT NULL,
  digest TEXT NOT NULL,
  set_at INTEGER NOT NULL,
  client_key TEXT NOT NULL,
  approvers TEXT NOT NULL,
  PRIMARY KEY (key_id, version)
);
CREATE TABLE IF NOT EXISTS pending_operations (
  id TEXT PRIMARY KEY,
  key_id TEXT NOT NULL,
  op TEXT NOT NULL,
  action TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'expired')),
  required INTEGER NOT NULL,
  request BLOB NOT NULL,
  params BLOB NOT NULL,
  approvals BLOB NOT NULL,
  expires_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  result TEXT,
  error TEXT
);
CREATE TABLE IF NOT EXISTS approved_requests (
  client_key TEXT NOT NULL,
  nonce TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (client_key, nonce)
);
CREATE TABLE IF NOT EXISTS sign_uses (
  key_id TEXT NOT NULL,
  request_id TEXT NOT NULL,
  path TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (key_id, request_id)
);
`;

/** msgpack has no undefined: absent fields are left out. */
export const defined = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

export function toPolicy(r: PolicyRow): PolicyRecord {
  return { keyId: r.key_id, version: r.version, policy: policyFromText(r.text), text: r.text, digest: r.digest, setAt: r.set_at, clientKey: r.client_key, approvers: JSON.parse(r.approvers) as string[] };
}

export function toOp(r: OpRow): PendingOperation {
  const op: PendingOperation = {
    id: r.id, keyId: r.key_id, op: r.op, action: r.action, state: r.state, required: r.required,
    request: parseClientRequest(decode(new Uint8Array(r.request)), 'request'),
    params: decode(new Uint8Array(r.params)) as Record<string, unknown>,
    approvals: parseApprovals(decode(new Uint8Array(r.approvals)), 'approvals'),
    expiresAt: r.expires_at, createdAt: r.created_at, updatedAt: r.updated_at,
  };
  if (r.result !== null) op.result = JSON.parse(r.result) as Record<string, unknown>;
  if (r.error !== null) op.error = JSON.parse(r.error) as ApiErrorJson;
  return op;
}

export class GovernanceStore {
  constructor(
    private readonly db: Database.Database,
    private readonly now: () => number,
  ) {}

  // ---- policies ----

  /** The key's current policy record (the latest version only: it is read for every signature); undefined for a key that has the default policy. */
  policy(keyId: string): PolicyRecord | undefined {
    const row = this.db.prepare<[string], PolicyRow>('SELECT * FROM policies WHERE key_id = ? ORDER BY version DESC LIMIT 1').get(keyId);
    return row === undefined ? undefined : toPolicy(row);
  }

  /** Every policy the key had, oldest first. */
  policyHistory(keyId: string): PolicyRecord[] {
    return this.db
      .prepare<[string], PolicyRow>('SELECT * FROM policies WHERE key_id = ? ORDER BY version')
      .all(keyId)
      .map(toPolicy);
  }

  addPolicy(p: Omit<PolicyRecord, 'setAt' | 'policy'>): void {
    this.db.prepare('INSERT INTO policies (key_id, version, text, digest, set_at, client_key, approvers) VALUES (?, ?, ?, ?, ?, ?, ?)').run(p.keyId, p.version, p.text, p.digest, this.now(), p.clientKey, JSON.stringify(p.approvers));
  }

  // ---- pending operations ----

  addOperation(o: Omit<PendingOperation, 'createdAt' | 'updatedAt' | 'state'>): void {
    const { approvals: _a, ...request } = o.request;
    const at = this.now();
    this.db
      .prepare('INSERT INTO pending_operations (id, key_id, op, action, state, required, request, params, approvals, expires_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(o.id, o.keyId, o.op, o.action, 'pending', o.required, encodeBody(request), encodeBody(defined(o.params)), encodeBody(o.approvals), o.expiresAt, at, at);
  }

  operation(id: string): PendingOperation | undefined {
    const r = this.db.prepare<[string], OpRow>('SELECT * FROM pending_operations WHERE id = ?').get(id);
    return r === undefined ? undefined : toOp(r);
  }

  /** Newest first; optionally only those in `state`. */
  operations(state?: PendingOperationState): PendingOperation[] {
    const rows = state === undefined
      ? this.db.prepare<[], OpRow>('SELECT * FROM pending_operations ORDER BY created_at DESC, id').all()
      : this.db.prepare<[string], OpRow>('SELECT * FROM pending_operations WHERE state = ? ORDER BY created_at DESC, id').all(state);
    return rows.map(toOp);
  }

  setApprovals(id: string, approvals: readonly Approval[]): void {
    this.db.prepare('UPDATE pending_operations SET approvals = ?, updated_at = ? WHERE id = ?').run(encodeBody(approvals), this.now(), id);
  }

  /** Moves an operation to `state`; only from `from` (false when it was not there: another caller got it first). */
  setOperationState(id: string, from: PendingOperationState, state: PendingOperationState, out: { result?: Record<string, unknown>; error?: ApiErrorJson } = {}): boolean {
    return this.db
      .prepare('UPDATE pending_operations SET state = ?, result = ?, error = ?, updated_at = ? WHERE id = ? AND state = ?')
      .run(state, out.result === undefined ? null : JSON.stringify(out.result), out.error === undefined ? null : JSON.stringify(out.error), this.now(), id, from).changes === 1;
  }

  // ---- approved requests (honoured once, until their deadline) ----

  /** Remembers (client key, nonce) until `expiresAt`; false if it was let through already. */
  admitApproved(clientKeyHex: string, nonceHex: string, expiresAt: number): boolean {
    this.db.prepare('DELETE FROM approved_requests WHERE expires_at < ?').run(this.now());
    return this.db.prepare('INSERT OR IGNORE INTO approved_requests (client_key, nonce, expires_at) VALUES (?, ?, ?)').run(clientKeyHex, nonceHex, expiresAt).changes === 1;
  }

  // ---- the coordinator's velocity count ----

  /** Records a sign request (once per request id) and forgets uses older than `keepMs`. */
  recordSignUse(keyId: string, requestId: string, path: string, keepMs: number): void {
    const at = this.now();
    this.db.prepare('DELETE FROM sign_uses WHERE at < ?').run(at - keepMs);
    this.db.prepare('INSERT OR IGNORE INTO sign_uses (key_id, request_id, path, at) VALUES (?, ?, ?, ?)').run(keyId, requestId, path, at);
  }

  /** Sign requests of `keyId` (of `path`, if given) since `since`, other than `exceptRequest`. */
  signUses(keyId: string, since: number, path: string | undefined, exceptRequest: string): number {
    const sql = `SELECT COUNT(*) FROM sign_uses WHERE key_id = ? AND at >= ? AND request_id != ?${path === undefined ? '' : ' AND path = ?'}`;
    const args: (string | number)[] = [keyId, since, exceptRequest, ...(path === undefined ? [] : [path])];
    return this.db.prepare<(string | number)[], number>(sql).pluck().get(...args)!;
  }

  /** When the key's current shares were made: its last DKG, refresh or reshare (audit), else `fallback`. */
  epochSince(keyId: string, fallback: number): number {
    const ts = this.db.prepare<[string], number | null>("SELECT MAX(ts) FROM audit WHERE key_id = ? AND event IN ('key.created', 'key.refreshed', 'key.reshared')").pluck().get(keyId);
    return ts ?? fallback;
  }
}
