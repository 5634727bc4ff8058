/**
 * The coordinator's record of each key's usage state (protocol key-states.ts; NIST SP
 * 800-57 Part 1 §5.3): one `key_states` row per key that left 'active' at least once,
 * beside its `keys` row (whose lifecycle state stays pending/active/retired, so key
 * sessions of a suspended key work as before). While a destruction is scheduled the row
 * keeps the state it left (`previous`), when the coordinator runs it (`destroy_at`, its
 * clock), the delay and the admin's encoded schedule request, which authorises the
 * wipe at every signer. This is the coordinator's copy, for early refusal: each signer
 * keeps and enforces its own.
 */
import type Database from 'better-sqlite3';
import { decode, encodeBody, parseClientRequest, type ClientRequest, type UsageState } from '@keyquorum/protocol';

export interface KeyUsage {
  keyId: string;
  state: UsageState;
  previous: UsageState | undefined;
  /** While destroy-scheduled: the schedule's delay, the coordinator's deadline and the request. */
  schedule: { afterMs: number; destroyAt: number; request: ClientRequest } | undefined;
  updatedAt: number;
}

/** A `key_states` row as both backends read it. */
export interface UsageRow {
  key_id: string;
  state: UsageState;
  previous: UsageState | null;
  after_ms: number | null;
  destroy_at: number | null;
  schedule: Uint8Array | null;
  updated_at: number;
}

export function toUsage(r: UsageRow): KeyUsage {
  const schedule = r.schedule === null || r.after_ms === null || r.destroy_at === null
    ? undefined
    : { afterMs: r.after_ms, destroyAt: r.destroy_at, request: parseClientRequest(decode(new Uint8Array(r.schedule)), 'schedule') };
  return { keyId: r.key_id, state: r.state, previous: r.previous ?? undefined, schedule, updatedAt: r.updated_at };
}

export class KeyUsageStore {
  constructor(
    private readonly db: Database.Database,
    private readonly now: () => number,
  ) {}

  get(keyId: string): KeyUsage | undefined {
    const r = this.db.prepare<[string], UsageRow>('SELECT * FROM key_states WHERE key_id = ?').get(keyId);
    return r === undefined ? undefined : toUsage(r);
  }

  put(u: Omit<KeyUsage, 'updatedAt'>): void {
    const s = u.schedule;
    this.db
      .prepare(
        `INSERT INTO key_states (key_id, state, previous, after_ms, destroy_at, schedule, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (key_id) DO UPDATE SET state = excluded.state, previous = excluded.previous, after_ms = excluded.after_ms,
           destroy_at = excluded.destroy_at, schedule = excluded.schedule, updated_at = excluded.updated_at`,
      )
      .run(u.keyId, u.state, u.previous ?? null, s?.afterMs ?? null, s?.destroyAt ?? null, s === undefined ? null : encodeBody(s.request), this.now());
  }

  /** Keys whose destruction is scheduled, soonest first. */
  scheduled(): KeyUsage[] {
    return this.db.prepare<[], UsageRow>("SELECT * FROM key_states WHERE state = 'destroy-scheduled' ORDER BY destroy_at").all().map(toUsage);
  }
}
