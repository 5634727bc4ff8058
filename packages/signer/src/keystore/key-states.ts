/**
 * Key states as this signer records them (NIST SP 800-57 Part 1 §5.3; protocol
 * key-states.ts): one `key_states` row per key that left 'active' at least once (a
 * key without a row is 'active'), and `key_state_history`, every transition applied,
 * in order. The row keeps the last transition's request id and timestamp (a later
 * request must not be older), the state a destruction schedule left (`previous`, for
 * its cancellation) and, while scheduled, this signer's own deadline (`not_before`,
 * its clock at the schedule plus the delay). Rows are never
 * deleted, so a compromised mark outlives the key's shares. Methods run inside the
 * caller's transaction.
 */
import type { UsageState } from '@keyquorum/protocol';
import { type StoreContext, blob } from './database.ts';

export interface KeyStateRecord {
  keyId: string;
  state: UsageState;
  /** The state a destruction schedule left; undefined unless destroy-scheduled. */
  previous: UsageState | undefined;
  /** `clientRequestId` and timestamp of the last transition applied. */
  requestId: Uint8Array;
  requestTimestamp: number;
  /** While destroy-scheduled: this signer's clock reading before which it wipes nothing. */
  notBefore: number | undefined;
  updatedAt: number;
}

export interface KeyStateChange {
  keyId: string;
  transition: string;
  from: UsageState;
  to: UsageState;
  at: number;
  requestId: Uint8Array;
}

interface Row {
  key_id: string;
  state: UsageState;
  previous: UsageState | null;
  request_id: Uint8Array;
  request_ts: number;
  not_before: number | null;
  updated_at: number;
}

function prepare({ db }: StoreContext) {
  return {
    get: db.prepare<[string], Row>('SELECT * FROM key_states WHERE key_id = ?'),
    put: db.prepare<[string, string, string | null, Buffer, number, number | null, number]>(
      `INSERT INTO key_states (key_id, state, previous, request_id, request_ts, not_before, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (key_id) DO UPDATE SET state = excluded.state, previous = excluded.previous, request_id = excluded.request_id, request_ts = excluded.request_ts,
         not_before = excluded.not_before, updated_at = excluded.updated_at`,
    ),
    log: db.prepare<[string, string, string, string, Buffer, number]>(
      'INSERT INTO key_state_history (key_id, transition, from_state, to_state, request_id, at) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    seen: db.prepare<[string, Buffer], number>('SELECT 1 FROM key_state_history WHERE key_id = ? AND request_id = ?').pluck(),
    history: db.prepare<[string], { transition: string; from_state: UsageState; to_state: UsageState; request_id: Uint8Array; at: number }>(
      'SELECT transition, from_state, to_state, request_id, at FROM key_state_history WHERE key_id = ? ORDER BY seq',
    ),
  };
}

export class KeyStates {
  readonly #sql: ReturnType<typeof prepare>;

  constructor(ctx: StoreContext) {
    this.#sql = prepare(ctx);
  }

  get(keyId: string): KeyStateRecord | undefined {
    const r = this.#sql.get.get(keyId);
    if (r === undefined) return undefined;
    return {
      keyId: r.key_id,
      state: r.state,
      previous: r.previous ?? undefined,
      requestId: new Uint8Array(r.request_id),
      requestTimestamp: r.request_ts,
      notBefore: r.not_before ?? undefined,
      updatedAt: r.updated_at,
    };
  }

  /** Whether a transition with this request id was applied to the key. */
  applied(keyId: string, requestId: Uint8Array): boolean {
    return this.#sql.seen.get(keyId, blob(requestId)) !== undefined;
  }

  /** Records the new state and appends the change to the history. */
  record(next: KeyStateRecord, change: KeyStateChange): void {
    this.#sql.put.run(next.keyId, next.state, next.previous ?? null, blob(next.requestId), next.requestTimestamp, next.notBefore ?? null, next.updatedAt);
    this.#sql.log.run(change.keyId, change.transition, change.from, change.to, blob(change.requestId), change.at);
  }

  history(keyId: string): KeyStateChange[] {
    return this.#sql.history.all(keyId).map((r) => ({ keyId, transition: r.transition, from: r.from_state, to: r.to_state, requestId: new Uint8Array(r.request_id), at: r.at }));
  }
}
