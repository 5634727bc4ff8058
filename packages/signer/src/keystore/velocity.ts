/**
 * The velocity ledger (docs/governance.md "Sign rules"): one row per sign request
 * this signer admitted for a key, keyed by the request's id, so that every attempt of
 * one request counts once, with its derivation path and this signer's clock when it
 * admitted it. It is written in the transaction that consumes the request's replay
 * entry, before anything of the signature leaves the signer, so the counts survive a
 * restart of this signer and a restart or replacement of the coordinator. Rows older
 * than the key's retention (its policy's longest window) are pruned on each write.
 * Methods run inside the caller's transaction.
 */
import { type StoreContext, blob } from './database.ts';

export interface VelocityEntry {
  keyId: string;
  requestId: Uint8Array;
  /** Canonical derivation path ('m' for the root key). */
  path: string;
  at: number;
  /** Rows of this key older than `at - retainMs` are pruned. */
  retainMs: number;
}

function prepare({ db }: StoreContext) {
  return {
    add: db.prepare<[string, Buffer, string, number]>('INSERT OR IGNORE INTO velocity_ledger (key_id, request_id, path, at) VALUES (?, ?, ?, ?)'),
    prune: db.prepare<[string, number]>('DELETE FROM velocity_ledger WHERE key_id = ? AND at < ?'),
    countKey: db.prepare<[string, number, Buffer], number>('SELECT count(*) FROM velocity_ledger WHERE key_id = ? AND at > ? AND request_id <> ?').pluck(),
    countPath: db.prepare<[string, number, string, Buffer], number>('SELECT count(*) FROM velocity_ledger WHERE key_id = ? AND at > ? AND path = ? AND request_id <> ?').pluck(),
  };
}

export class VelocityLedger {
  readonly #sql: ReturnType<typeof prepare>;

  constructor(ctx: StoreContext) {
    this.#sql = prepare(ctx);
  }

  /** Counts the request once (a second attempt of it adds nothing) and prunes the key's old rows. */
  record(e: VelocityEntry): void {
    this.#sql.add.run(e.keyId, blob(e.requestId), e.path, e.at);
    this.#sql.prune.run(e.keyId, e.at - e.retainMs);
  }

  /** Requests of the key admitted after `sinceMs` (on `path` only, if given), other than `exclude`. */
  count(keyId: string, sinceMs: number, exclude: Uint8Array, path?: string): number {
    return path === undefined ? this.#sql.countKey.get(keyId, sinceMs, blob(exclude))! : this.#sql.countPath.get(keyId, sinceMs, path, blob(exclude))!;
  }
}
