/**
 * Two-phase commit bookkeeping (docs/cluster-protocol.md, "Key sessions" and
 * "Retirement"): the COMMIT frames each signer still has to acknowledge, re-sent
 * verbatim when it reconnects, and the epoch of the share each signer holds per key
 * (its last acknowledged commit). Durable when the registry transaction commits.
 */
import type Database from 'better-sqlite3';
import type { KeyStore } from './keys.ts';

/** A COMMIT (key sessions) or retire COMMIT a signer has not acknowledged yet. */
export interface PendingCommit {
  seq: number;
  signer: string;
  keyId: string;
  kind: string;
  epoch: number;
  /** Hex of the session id the ACK / ATTEST will carry. */
  sessionId: string;
  /** The encoded COMMIT envelope, re-sent verbatim when the signer reconnects. */
  frame: Uint8Array;
}

/** The epoch of the share `signer` holds of `keyId`: the last commit it acknowledged. */
export interface SignerEpoch {
  signer: string;
  keyId: string;
  epoch: number;
}

interface CommitRow {
  seq: number;
  signer: string;
  key_id: string;
  kind: string;
  epoch: number;
  session_id: string;
  frame: Uint8Array;
}

export class PendingCommits {
  constructor(
    private readonly db: Database.Database,
    private readonly now: () => number,
  ) {}

  add(c: Omit<PendingCommit, 'seq'>): void {
    this.db
      .prepare('INSERT OR REPLACE INTO pending_commits (signer, key_id, kind, epoch, session_id, frame, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(c.signer, c.keyId, c.kind, c.epoch, c.sessionId, c.frame, this.now());
  }

  /** What `signer` (or every signer) still has to acknowledge, oldest first. */
  list(signer?: string): PendingCommit[] {
    const rows =
      signer === undefined
        ? this.db.prepare<[], CommitRow>('SELECT * FROM pending_commits ORDER BY seq').all()
        : this.db.prepare<[string], CommitRow>('SELECT * FROM pending_commits WHERE signer = ? ORDER BY seq').all(signer);
    return rows.map((r) => ({ seq: r.seq, signer: r.signer, keyId: r.key_id, kind: r.kind, epoch: r.epoch, sessionId: r.session_id, frame: new Uint8Array(r.frame) }));
  }

  /** Signers that have not acknowledged some commit of `keyId` (a queued key state transition is no commit of an epoch). */
  unacknowledged(keyId: string): string[] {
    return this.db.prepare<[string], string>("SELECT DISTINCT signer FROM pending_commits WHERE key_id = ? AND kind NOT IN ('state', 'policy') ORDER BY signer").pluck().all(keyId);
  }

  find(signer: string, sessionId: string): PendingCommit | undefined {
    return this.list(signer).find((c) => c.sessionId === sessionId);
  }

  remove(seq: number): void {
    this.db.prepare('DELETE FROM pending_commits WHERE seq = ?').run(seq);
  }
}

export class SignerEpochs {
  constructor(
    private readonly db: Database.Database,
    private readonly now: () => number,
    private readonly keys: KeyStore,
  ) {}

  /**
   * `signer` acknowledged the commit of `epoch` of `keyId`: it now holds that epoch's
   * share if it is one of the key's participants, and no share if it is not (it
   * left the key by reshare and wiped its old share).
   */
  acknowledge(keyId: string, signer: string, epoch: number): void {
    const holder = this.keys.get(keyId)?.participants.some((p) => p.signer === signer) ?? false;
    if (holder) this.db.prepare('INSERT OR REPLACE INTO signer_epochs (key_id, signer, epoch, acked_at) VALUES (?, ?, ?, ?)').run(keyId, signer, epoch, this.now());
    else this.forget(keyId, signer);
  }

  /** `signer` holds no share of `keyId` (it attested destruction, or left the key). */
  forget(keyId: string, signer: string): void {
    this.db.prepare('DELETE FROM signer_epochs WHERE key_id = ? AND signer = ?').run(keyId, signer);
  }

  list(): SignerEpoch[] {
    return this.db
      .prepare<[], { signer: string; key_id: string; epoch: number }>('SELECT signer, key_id, epoch FROM signer_epochs ORDER BY signer, key_id')
      .all()
      .map((r) => ({ signer: r.signer, keyId: r.key_id, epoch: r.epoch }));
  }
}
