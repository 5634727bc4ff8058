/**
 * This signer's side of the coordinator's audit log (docs/cluster-protocol.md "Audit
 * checkpoints"): one row (`audit_checkpoint`, id 1) holding the last checkpoint it
 * cosigned (seq, hash), whether it found the coordinator's log inconsistent with that
 * checkpoint (and why), and how many operation STARTs it reserved since that checkpoint.
 * The reservation is an upper bound written in blocks before the operations it covers
 * start (sessions/checkpoint.ts), so after a restart the signer resumes counting from
 * it: conservative, never below the true count. No secret. Methods run inside the
 * caller's transaction.
 */
import { aUint } from './assert.ts';
import type { StoreContext } from './database.ts';
import { SignerError } from '../errors.ts';

/** This signer's record of the coordinator's audit log. */
export interface AuditCheckpointRecord {
  /** The last checkpoint it cosigned; undefined before the first (trust on first use). */
  last: { seq: number; hash: string; cosignedAt: number } | undefined;
  /** Set when a checkpoint did not extend `last` (a rewritten or forked log); cleared by one that does. */
  inconsistent: { at: number; reason: string } | undefined;
  /** Operation STARTs reserved since `last` (an upper bound of those started). */
  opsReserved: number;
}

/** One durable change (`Keystore.recordAudit`), its fields validated first. */
export type AuditChange = { cosigned: { seq: number; hash: string } } | { inconsistent: string } | { reserve: number };

/** Longest inconsistency reason kept. */
const REASON_MAX_LENGTH = 1024;

interface Row {
  seq: number | null;
  hash: string | null;
  cosigned_at: number | null;
  inconsistent_at: number | null;
  inconsistent_reason: string | null;
  ops_reserved: number;
}

function prepare({ db }: StoreContext) {
  return {
    get: db.prepare<[], Row>('SELECT seq, hash, cosigned_at, inconsistent_at, inconsistent_reason, ops_reserved FROM audit_checkpoint WHERE id = 1'),
    cosign: db.prepare<[number, string, number]>(
      `INSERT INTO audit_checkpoint (id, seq, hash, cosigned_at, inconsistent_at, inconsistent_reason, ops_reserved) VALUES (1, ?, ?, ?, NULL, NULL, 0)
       ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, cosigned_at = excluded.cosigned_at, inconsistent_at = NULL, inconsistent_reason = NULL, ops_reserved = 0`,
    ),
    inconsistent: db.prepare<[number, string]>(
      `INSERT INTO audit_checkpoint (id, inconsistent_at, inconsistent_reason, ops_reserved) VALUES (1, ?, ?, 0)
       ON CONFLICT (id) DO UPDATE SET inconsistent_at = excluded.inconsistent_at, inconsistent_reason = excluded.inconsistent_reason`,
    ),
    reserve: db.prepare<[number]>(
      `INSERT INTO audit_checkpoint (id, ops_reserved) VALUES (1, ?)
       ON CONFLICT (id) DO UPDATE SET ops_reserved = max(ops_reserved, excluded.ops_reserved)`,
    ),
  };
}

export class AuditCheckpoints {
  readonly #sql: ReturnType<typeof prepare>;

  constructor(ctx: StoreContext) {
    this.#sql = prepare(ctx);
  }

  get(): AuditCheckpointRecord {
    const r = this.#sql.get.get();
    return {
      last: r?.seq == null || r.hash === null ? undefined : { seq: r.seq, hash: r.hash, cosignedAt: r.cosigned_at ?? 0 },
      inconsistent: r?.inconsistent_at == null ? undefined : { at: r.inconsistent_at, reason: r.inconsistent_reason ?? '' },
      opsReserved: r?.ops_reserved ?? 0,
    };
  }

  apply(change: AuditChange, at: number): void {
    if ('cosigned' in change) {
      const { seq, hash } = change.cosigned;
      aUint(seq, 'seq');
      if (typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash)) throw new SignerError('BAD_FIELD', { field: 'hash', message: 'expected 32 bytes of lowercase hex' });
      return this.cosign(seq, hash, at);
    }
    if ('inconsistent' in change) {
      if (typeof change.inconsistent !== 'string') throw new SignerError('BAD_FIELD', { field: 'reason', message: 'expected a string' });
      return this.markInconsistent(change.inconsistent, at);
    }
    this.reserve(aUint(change.reserve, 'reserve'));
  }

  /** Records a cosigned checkpoint: clears any inconsistency and the operation count. */
  cosign(seq: number, hash: string, at: number): void {
    this.#sql.cosign.run(seq, hash, at);
  }

  /** Records that the coordinator's log is inconsistent with the last checkpoint cosigned. */
  markInconsistent(reason: string, at: number): void {
    this.#sql.inconsistent.run(at, reason.slice(0, REASON_MAX_LENGTH));
  }

  /** Raises the reservation of operation STARTs to `total` (never lowers it). */
  reserve(total: number): void {
    this.#sql.reserve.run(total);
  }
}
