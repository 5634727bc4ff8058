/**
 * Signer cosignatures of the audit log (docs/cluster-protocol.md "Audit checkpoints";
 * protocol audit-checkpoint.ts): each row is one signer's signed statement that the log
 * has hash `hash` at row `seq`, as that signer checked it (sessions/checkpoints.ts).
 * They are not audit rows (a cosignature of the head would otherwise move the head):
 * they sit beside the chain and go into every export. Durable once written.
 */
import type Database from 'better-sqlite3';
import type { AuditCheckpoint } from '@keyquorum/protocol';

/** A cosignature as stored: the statement, the signature, and when it arrived. */
export interface StoredCheckpoint extends AuditCheckpoint {
  at: number;
}

interface Row {
  seq: number;
  hash: string;
  signer: string;
  sig: string;
  at: number;
}

const toCheckpoint = (r: Row): StoredCheckpoint => ({ signer: r.signer, seq: r.seq, hash: r.hash, sig: r.sig, at: r.at });

export class CheckpointStore {
  constructor(
    private readonly db: Database.Database,
    private readonly now: () => number,
  ) {}

  /** Records a cosignature (a signer cosigning the same seq again replaces its row). */
  add(c: AuditCheckpoint): void {
    this.db
      .prepare('INSERT OR REPLACE INTO audit_checkpoints (seq, hash, signer, sig, at) VALUES (?, ?, ?, ?, ?)')
      .run(c.seq, c.hash, c.signer, c.sig, this.now());
  }

  /** Every cosignature, by seq then signer. */
  list(): StoredCheckpoint[] {
    return this.db.prepare<[], Row>('SELECT * FROM audit_checkpoints ORDER BY seq, signer').all().map(toCheckpoint);
  }

  /** The cosignatures of seqs in (after, upTo], by seq then signer. */
  between(after: number, upTo: number): AuditCheckpoint[] {
    return this.db
      .prepare<[number, number], Row>('SELECT * FROM audit_checkpoints WHERE seq > ? AND seq <= ? ORDER BY seq, signer')
      .all(after, upTo)
      .map((r) => ({ signer: r.signer, seq: r.seq, hash: r.hash, sig: r.sig }));
  }

  /** The highest cosignature of `signer`, or of any signer. */
  last(signer?: string): StoredCheckpoint | undefined {
    const r =
      signer === undefined
        ? this.db.prepare<[], Row>('SELECT * FROM audit_checkpoints ORDER BY seq DESC, at DESC LIMIT 1').get()
        : this.db.prepare<[string], Row>('SELECT * FROM audit_checkpoints WHERE signer = ? ORDER BY seq DESC, at DESC LIMIT 1').get(signer);
    return r === undefined ? undefined : toCheckpoint(r);
  }
}
