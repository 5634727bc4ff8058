/**
 * The audit log in PostgreSQL: the same hash chain as the SQLite registry's
 * (registry/audit.ts; one definition of a row's hash, `auditHash` of
 * @keyquorum/protocol), so the same rows appended with the same clock hash
 * byte-identically on either backend.
 *
 * One chain however many coordinators write: an append runs in a transaction that
 * first locks the one-row `audit_head` (`SELECT … FOR UPDATE`), reads the head from it,
 * writes row head+1 and moves the head. A second writer's append waits on that row
 * lock until the first commits (or rolls back), then reads the new head: two appends
 * never get the same seq or the same predecessor. The caller runs `append` in a
 * transaction (store/postgres.ts).
 */
import { AUDIT_GENESIS as GENESIS, auditChainStep, auditHash, type AuditChainRow, type AuditPosition } from '@keyquorum/protocol';
import { toChainRow, toEntry, type AuditEntry, type AuditEventType, type AuditEvents, type AuditPage, type AuditRow, type AuditVerification } from '../registry/audit.ts';
import type { Queryable } from './pg-sql.ts';


/** Rows read per query while verifying the whole chain. */
const VERIFY_BATCH = 1000;

export class PgAuditLog {
  constructor(
    private readonly db: Queryable,
    private readonly now: () => number,
  ) {}

  /** Appends one row chained to the head; the caller runs it in a transaction (the head stays locked until it ends). */
  async append<E extends AuditEventType>(event: E, keyId: string | null, data: AuditEvents[E]): Promise<AuditEntry> {
    const head = (await this.db.query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE')).rows[0]!;
    const seq = head.seq + 1;
    const row = { seq, ts: this.now(), event, keyId, data: JSON.stringify(data) };
    const hash = auditHash(head.hash, row);
    await this.db.query('INSERT INTO audit (seq, ts, event, key_id, data, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7)', [seq, row.ts, event, keyId, row.data, head.hash, hash]);
    await this.db.query('UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1', [seq, hash]);
    return { seq, ts: row.ts, event, keyId, data, prevHash: head.hash, hash };
  }

  /** Every row, or the rows of `keyId`, oldest first. */
  async list(keyId?: string): Promise<AuditEntry[]> {
    const res = keyId === undefined
      ? await this.db.query<AuditRow>('SELECT * FROM audit ORDER BY seq')
      : await this.db.query<AuditRow>('SELECT * FROM audit WHERE key_id = $1 ORDER BY seq', [keyId]);
    return res.rows.map(toEntry);
  }

  /** Rows with seq above `after` (of `keyId` when given), oldest first, at most `limit`, each re-hashed. */
  async page(q: { keyId?: string | undefined; after: number; limit: number }): Promise<AuditPage> {
    const res = q.keyId === undefined
      ? await this.db.query<AuditRow>('SELECT * FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2', [q.after, q.limit + 1])
      : await this.db.query<AuditRow>('SELECT * FROM audit WHERE key_id = $1 AND seq > $2 ORDER BY seq LIMIT $3', [q.keyId, q.after, q.limit + 1]);
    const more = res.rows.length > q.limit;
    const shown = res.rows.slice(0, q.limit);
    const page: AuditPage = { entries: shown.map(toEntry), next: more ? shown.at(-1)!.seq : null };
    // As registry/audit.ts: every row answered is checked against its contents and its predecessor's stored hash.
    for (const r of shown) {
      const before = r.seq === 1 ? GENESIS : await this.hashAt(r.seq - 1);
      if (r.prev_hash !== before) page.broken = { seq: r.seq, reason: 'prev_hash does not match the previous row' };
      else if (auditHash(r.prev_hash, { seq: r.seq, ts: r.ts, event: r.event, keyId: r.key_id, data: r.data }) !== r.hash) page.broken = { seq: r.seq, reason: 'hash does not match the row' };
      if (page.broken !== undefined) break;
    }
    return page;
  }

  /** The stored hash of row `seq` (GENESIS at 0), undefined if there is none. */
  async hashAt(seq: number): Promise<string | undefined> {
    if (seq === 0) return GENESIS;
    return (await this.db.query<{ hash: string }>('SELECT hash FROM audit WHERE seq = $1', [seq])).rows[0]?.hash;
  }

  /** The last row's (seq, hash); (0, GENESIS) for an empty log. Read from the rows, not from `audit_head`, so a deleted tail shows. */
  async head(): Promise<AuditPosition> {
    return (await this.db.query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1')).rows[0] ?? { seq: 0, hash: GENESIS };
  }

  /** Up to `limit` rows after `after`, oldest first, in the chain's form (`data` as hashed). */
  async chainRows(after: number, limit: number): Promise<AuditChainRow[]> {
    return (await this.db.query<AuditRow>('SELECT * FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2', [after, limit])).rows.map(toChainRow);
  }

  /** The rows of `events`, oldest first. */
  async ofEvents(events: readonly AuditEventType[]): Promise<AuditEntry[]> {
    return (await this.db.query<AuditRow>('SELECT * FROM audit WHERE event = ANY($1) ORDER BY seq', [events])).rows.map(toEntry);
  }

  /** Recomputes the whole chain from the first row, a batch of rows per query. */
  async verify(): Promise<AuditVerification> {
    const state = { seq: 0, hash: GENESIS };
    for (;;) {
      const rows = await this.chainRows(state.seq, VERIFY_BATCH);
      for (const r of rows) {
        const broken = auditChainStep(state, r);
        if (broken !== undefined) return { ok: false, seq: r.seq, reason: broken.reason };
      }
      if (rows.length < VERIFY_BATCH) return { ok: true, count: state.seq, head: state.hash };
    }
  }
}
