/**
 * The leader lease of several coordinators over one PostgreSQL database (docs/ha.md
 * §2): the one row `leader(id = 1, holder, token, expires_at)`. A coordinator takes or
 * renews it with one statement,
 *   UPDATE leader SET … WHERE expires_at < now() OR holder = $me RETURNING token,
 * so of two coordinators racing for an expired lease exactly one gets it (the second
 * one's UPDATE waits on the row, then re-checks the condition against the new row and
 * matches nothing). The fencing token increments on every change of holder (a take-over,
 * or a take after a release), never on a renewal. Expiry is the database's clock
 * (`now()`), so the coordinators' clocks do not matter.
 *
 * Fencing: `checkFence` runs first in every write transaction of a leader
 * (PostgresStore.fencedTransaction, and every call once `setFence` is given): `SELECT …
 * FOR SHARE` of the leader row where the holder and token are still the caller's and
 * the lease has not expired, else NOT_LEADER. The share lock holds until
 * the transaction ends, so a take-over (an UPDATE of that row) waits for a fenced write
 * in flight to commit, and a write that starts after the take-over sees the new holder:
 * a deposed leader's late write fails instead of landing.
 */
import { CoordinatorError } from '../errors.ts';
import type { Queryable } from './pg-sql.ts';

/** What a coordinator learns from a take or renewal: whether it leads, and the lease as it now stands. */
export interface LeaseState {
  leader: boolean;
  /** The holder now; null when nobody holds it (never taken, or released). */
  holder: string | null;
  /** The fencing token of the current holder (0 before anyone took the lease). */
  token: number;
  /** When the lease runs out, ms since the epoch, by the database's clock (0 when released or never taken). */
  expiresAt: number;
}

/** A leader's claim, checked by every fenced write. */
export interface Fence {
  holder: string;
  token: number;
}

interface LeaderRow {
  holder: string | null;
  token: number;
  expires_ms: number;
}

const COLUMNS = 'holder, token, (extract(epoch FROM expires_at) * 1000)::float8 AS expires_ms';

const toState = (r: LeaderRow, leader: boolean): LeaseState => ({ leader, holder: r.holder, token: r.token, expiresAt: Number.isFinite(r.expires_ms) ? Math.floor(r.expires_ms) : 0 });

function checkHolder(holder: string): string {
  if (typeof holder !== 'string' || holder.length === 0 || holder.length > 256) throw new CoordinatorError('BAD_CONFIG', { field: 'holder', message: 'a lease holder is a non-empty string of at most 256 characters' });
  return holder;
}

export class LeaderLease {
  constructor(private readonly db: Queryable) {}

  /**
   * Takes the lease if it ran out (or was released), or renews it if `holder` holds it,
   * for `leaseMs` from the database's now; otherwise leaves it and says who holds it.
   */
  async acquireOrRenew(holder: string, leaseMs: number): Promise<LeaseState> {
    checkHolder(holder);
    if (!Number.isSafeInteger(leaseMs) || leaseMs <= 0) throw new CoordinatorError('BAD_CONFIG', { field: 'leaseMs', message: 'the lease is a positive whole number of ms' });
    const taken = await this.db.query<LeaderRow>(
      `UPDATE leader
          SET token = CASE WHEN holder IS NOT DISTINCT FROM $1 THEN token ELSE token + 1 END,
              holder = $1,
              expires_at = now() + $2::bigint * interval '1 millisecond'
        WHERE id = 1 AND (expires_at < now() OR holder = $1)
        RETURNING ${COLUMNS}`,
      [holder, leaseMs],
    );
    if (taken.rows[0] !== undefined) return toState(taken.rows[0], true);
    return { leader: false, ...(await this.current()) };
  }

  /** Gives the lease up at once if `holder` holds it (the next taker gets a new token); false if it did not. */
  async release(holder: string): Promise<boolean> {
    checkHolder(holder);
    const res = await this.db.query("UPDATE leader SET holder = NULL, expires_at = '-infinity' WHERE id = 1 AND holder = $1", [holder]);
    return res.rowCount === 1;
  }

  /** The lease as it stands. */
  async current(): Promise<Omit<LeaseState, 'leader'>> {
    const { holder, token, expiresAt } = toState((await this.db.query<LeaderRow>(`SELECT ${COLUMNS} FROM leader WHERE id = 1`)).rows[0]!, false);
    return { holder, token, expiresAt };
  }
}

/**
 * The first statement of a fenced write transaction, on its client: NOT_LEADER unless
 * `fence` is still the lease's holder and token and the lease has not run out by the
 * database's clock (a leader that could not renew in time writes nothing more, even
 * when nobody has taken over yet). The leader row stays share-locked
 * until the transaction ends, so no take-over commits while the write is in flight.
 */
export async function checkFence(tx: Queryable, fence: Fence): Promise<void> {
  const res = await tx.query('SELECT token FROM leader WHERE id = 1 AND holder = $1 AND token = $2 AND expires_at > now() FOR SHARE', [fence.holder, fence.token]);
  if (res.rowCount !== 1) throw new CoordinatorError('NOT_LEADER', { message: `${fence.holder} no longer holds an unexpired leader lease with token ${fence.token}` });
}
