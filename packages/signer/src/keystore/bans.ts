/**
 * Per key, the peers this signer caught cheating (ecdsa-secp256k1: the pairwise OT
 * state is reused across sessions, so a caught peer gets no further session of the
 * key) until an operator clears the ban. Bans hold no secret: `readPeerBans` lists
 * them without the KEK. Methods run inside the caller's transaction.
 */
import type Database from 'better-sqlite3';
import type { StoreContext } from './database.ts';
import type { PeerBan } from './types.ts';

/** Longest ban reason kept, in UTF-16 code units. */
const REASON_MAX_LENGTH = 512;

function prepare(ctx: StoreContext) {
  const { db } = ctx;
  return {
    insert: db.prepare<[string, string, string, number]>('INSERT OR IGNORE INTO peer_bans (key_id, peer, reason, banned_at) VALUES (?, ?, ?, ?)'),
    peers: db.prepare<[string], string>('SELECT peer FROM peer_bans WHERE key_id = ? ORDER BY peer').pluck(),
    clear: db.prepare<[string, string]>('DELETE FROM peer_bans WHERE key_id = ? AND peer = ?'),
  };
}

export class PeerBans {
  readonly #sql: ReturnType<typeof prepare>;

  constructor(ctx: StoreContext) {
    this.#sql = prepare(ctx);
  }

  /** Bans `peer` from sessions of `keyId`; false if it already was. */
  ban(keyId: string, peer: string, reason: string, bannedAt: number): boolean {
    return this.#sql.insert.run(keyId, peer, reason.slice(0, REASON_MAX_LENGTH), bannedAt).changes === 1;
  }

  /** The peers banned from sessions of `keyId`, sorted. */
  peers(keyId: string): string[] {
    return this.#sql.peers.all(keyId);
  }

  /** Lifts a ban; false if there was none. */
  clear(keyId: string, peer: string): boolean {
    return this.#sql.clear.run(keyId, peer).changes === 1;
  }

  /** Every ban of the keystore (all keys), from a read-only connection. */
  static readAll(db: Database.Database): PeerBan[] {
    // A file stamped version 1 by a build from before peer bans has no table: no bans.
    if (db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'peer_bans'").get() === undefined) return [];
    return db
      .prepare<[], { key_id: string; peer: string; reason: string; banned_at: number }>('SELECT key_id, peer, reason, banned_at FROM peer_bans ORDER BY key_id, peer')
      .all()
      .map((r) => ({ keyId: r.key_id, peer: r.peer, reason: r.reason, bannedAt: r.banned_at }));
  }
}
