/**
 * Per-key bans of signers caught cheating (a culprit of an invalid signature share,
 * or any culprit of an ecdsa-secp256k1 session): a banned signer is left out of the
 * key's quorums until an operator lifts the ban. Durable when the registry
 * transaction commits.
 */
import type Database from 'better-sqlite3';

/** A signer banned from sessions of a key (caught cheating), until an admin clears it. */
export interface Ban {
  signer: string;
  reason: string;
  /** ms since the Unix epoch. */
  at: number;
}

export class BanStore {
  constructor(
    private readonly db: Database.Database,
    private readonly now: () => number,
  ) {}

  /** Bans `signer` for `keyId`; a signer already banned keeps its first ban. */
  add(keyId: string, signer: string, reason: string): void {
    this.db.prepare('INSERT OR IGNORE INTO bans (key_id, signer, reason, created_at) VALUES (?, ?, ?, ?)').run(keyId, signer, reason, this.now());
  }

  signers(keyId: string): string[] {
    return this.db.prepare<[string], string>('SELECT signer FROM bans WHERE key_id = ? ORDER BY signer').pluck().all(keyId);
  }

  /** The bans of `keyId` with their reasons, by signer. */
  list(keyId: string): Ban[] {
    return this.db
      .prepare<[string], { signer: string; reason: string; created_at: number }>('SELECT signer, reason, created_at FROM bans WHERE key_id = ? ORDER BY signer')
      .all(keyId)
      .map((r) => ({ signer: r.signer, reason: r.reason, at: r.created_at }));
  }

  /** Lifts the ban of `signer` for `keyId`; the caller runs it in a transaction. */
  remove(keyId: string, signer: string): Ban | undefined {
    const ban = this.list(keyId).find((b) => b.signer === signer);
    if (ban !== undefined) this.db.prepare('DELETE FROM bans WHERE key_id = ? AND signer = ?').run(keyId, signer);
    return ban;
  }
}
