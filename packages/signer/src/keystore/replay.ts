/**
 * The replay window of client requests: each (client key, request nonce) pair is
 * remembered durably, so a request replayed after a restart is still refused. Pairs
 * older than the window are forgotten; the caller refuses such requests by timestamp.
 * Methods run inside the caller's transaction.
 */
import type { StoreContext } from './database.ts';

function prepare(ctx: StoreContext) {
  return {
    remember: ctx.db.prepare<[string, string, number]>('INSERT OR IGNORE INTO requests (client_key, nonce, timestamp) VALUES (?, ?, ?)'),
    prune: ctx.db.prepare<[number]>('DELETE FROM requests WHERE timestamp < ?'),
  };
}

export class ReplayWindow {
  readonly #sql: ReturnType<typeof prepare>;

  constructor(ctx: StoreContext) {
    this.#sql = prepare(ctx);
  }

  /** Records the pair (lowercase hex); false if it was seen before. */
  remember(clientKey: string, nonce: string, timestampMs: number): boolean {
    return this.#sql.remember.run(clientKey, nonce, timestampMs).changes === 1;
  }

  /** Forgets the pairs stamped before `beforeMs`; returns how many. */
  prune(beforeMs: number): number {
    return this.#sql.prune.run(beforeMs).changes;
  }
}
