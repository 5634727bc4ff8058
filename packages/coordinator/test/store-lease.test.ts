/**
 * The leader lease and its fencing token (store/lease.ts; docs/ha.md §2) on a real
 * PostgreSQL server: each coordinator is its own PostgresStore (its own pool, as two
 * processes would be). One holder at a time; a renewal keeps the token; a take-over
 * after expiry or release increments it; a deposed leader's fenced write fails
 * NOT_LEADER and lands nothing, and a take-over waits for a fenced write in flight.
 */
import { afterEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { POSTGRES_UNAVAILABLE, usePostgres } from '../../../test/support/postgres.ts';
import { CoordinatorError } from '../src/errors.ts';
import { PostgresStore } from '../src/store/postgres.ts';
import type { LeaseState } from '../src/store/lease.ts';

const participants = [
  { signer: 's1', index: 1 },
  { signer: 's2', index: 2 },
];
const LONG = 600_000;
const SHORT = 3_000;

/** Polls `fn` until `done` holds of its answer (or fails after `ms`). */
async function until<T>(fn: () => Promise<T>, done: (v: T) => boolean, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(`leader lease on PostgreSQL${POSTGRES_UNAVAILABLE === undefined ? '' : ` (skipped: ${POSTGRES_UNAVAILABLE})`}`, () => {
  const postgres = usePostgres();
  const stores: PostgresStore[] = [];
  /** Two coordinators over one fresh database. */
  const two = async () => {
    const url = await postgres.freshDatabase();
    const a = await PostgresStore.open(url);
    const b = await PostgresStore.open(url);
    stores.push(a, b);
    return { a, b, url };
  };
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.stop();
  });

  it('of two coordinators racing for a free lease, exactly one leads; the other is told who does', async () => {
    for (let round = 0; round < 5; round++) {
      const { a, b } = await two();
      const [ra, rb] = await Promise.all([a.lease.acquireOrRenew('a', LONG), b.lease.acquireOrRenew('b', LONG)]);
      const [winner, loser] = ra.leader ? [ra, rb] : [rb, ra];
      expect([ra.leader, rb.leader].filter(Boolean)).toHaveLength(1);
      expect(winner).toMatchObject({ token: 1 });
      expect(loser).toMatchObject({ leader: false, holder: winner.holder, token: 1 });
      expect(await a.lease.acquireOrRenew(loser.holder === 'a' ? 'b' : 'a', LONG)).toMatchObject({ leader: false, holder: winner.holder });
    }
  });

  it('a renewal keeps the token; a take-over after expiry increments it, and the old holder then follows', async () => {
    const { a, b } = await two();
    const first = await a.lease.acquireOrRenew('a', LONG);
    expect(first).toMatchObject({ leader: true, holder: 'a', token: 1 });
    expect(await a.lease.acquireOrRenew('a', LONG)).toMatchObject({ leader: true, holder: 'a', token: 1 });
    expect(await b.lease.acquireOrRenew('b', LONG)).toMatchObject({ leader: false, holder: 'a', token: 1 });
    // A lease of 1 ms runs out at once, by the database's clock; b takes over with the next token.
    expect(await a.lease.acquireOrRenew('a', 1)).toMatchObject({ leader: true, token: 1 });
    const taken = await until(() => b.lease.acquireOrRenew('b', LONG), (s: LeaseState) => s.leader);
    expect(taken).toMatchObject({ holder: 'b', token: 2 });
    expect(await a.lease.acquireOrRenew('a', LONG)).toMatchObject({ leader: false, holder: 'b', token: 2 });
    expect(await b.lease.acquireOrRenew('b', LONG)).toMatchObject({ leader: true, token: 2 });
    expect(await a.lease.current()).toMatchObject({ holder: 'b', token: 2 });
  });

  it('a release lets the other take the lease at once with a new token; releasing a lease one does not hold does nothing', async () => {
    const { a, b } = await two();
    await a.lease.acquireOrRenew('a', LONG);
    expect(await b.lease.release('b')).toBe(false);
    expect(await b.lease.acquireOrRenew('b', LONG)).toMatchObject({ leader: false, holder: 'a' });
    expect(await a.lease.release('a')).toBe(true);
    expect(await a.lease.current()).toMatchObject({ holder: null, token: 1 });
    expect(await b.lease.acquireOrRenew('b', LONG)).toMatchObject({ leader: true, holder: 'b', token: 2 });
    await b.lease.release('b');
    expect(await b.lease.acquireOrRenew('b', LONG)).toMatchObject({ leader: true, holder: 'b', token: 3 });
  });

  it("a deposed leader's fenced write fails NOT_LEADER and lands nothing; the new leader's lands", async () => {
    const { a, b } = await two();
    const old = await a.lease.acquireOrRenew('a', LONG);
    await a.fencedTransaction({ holder: 'a', token: old.token }, (tx) => tx.insertPendingKey({ id: 'before', suite: 'frost-ed25519', threshold: 2, participants }));
    expect(await a.getKey('before')).toBeDefined();
    // Renewed for 1 ms: it runs out at once and b takes over.
    await a.lease.acquireOrRenew('a', 1);
    const now = await until(() => b.lease.acquireOrRenew('b', LONG), (s: LeaseState) => s.leader);

    const late = await a
      .fencedTransaction({ holder: 'a', token: old.token }, async (tx) => {
        await tx.insertPendingKey({ id: 'late', suite: 'frost-ed25519', threshold: 2, participants });
        await tx.append('key.pending', 'late', { suite: 'frost-ed25519', threshold: 2, signers: ['s1', 's2'] });
      })
      .catch((e: unknown) => e);
    expect(late).toBeInstanceOf(CoordinatorError);
    expect(late).toMatchObject({ code: 'NOT_LEADER' });
    expect(await a.getKey('late')).toBeUndefined();
    expect(await a.audit()).toEqual([]);
    // The new holder with the old token is refused too: the token, not only the name, is checked.
    expect(await b.fencedTransaction({ holder: 'b', token: old.token }, async () => 'ran').catch((e: CoordinatorError) => e.code)).toBe('NOT_LEADER');
    expect(await b.fencedTransaction({ holder: 'b', token: now.token }, async (tx) => (await tx.append('key.pending', 'k', { suite: 'frost-ed25519', threshold: 2, signers: ['s1'] })).seq)).toBe(1);
  });

  it('a take-over waits for a fenced write in flight, which lands before the new token exists', async () => {
    const { a, b, url } = await two();
    // Long enough for the fenced transaction below to begin (its check needs an unexpired lease), short enough to run out while it is open.
    const old = await a.lease.acquireOrRenew('a', SHORT);
    const watcher = new pg.Client({ connectionString: url });
    await watcher.connect();
    try {
      let takeover: Promise<LeaseState> | undefined;
      await a.fencedTransaction({ holder: 'a', token: old.token }, async (tx) => {
        // Once the lease runs out, b's take-over must wait on the leader row this write holds.
        takeover = until(() => b.lease.acquireOrRenew('b', LONG), (s: LeaseState) => s.leader);
        await until(
          async () => (await watcher.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE leader%'")).rows[0].n as number,
          (n) => n === 1,
        );
        await tx.insertPendingKey({ id: 'in-flight', suite: 'frost-ed25519', threshold: 2, participants });
      });
      expect(await takeover).toMatchObject({ holder: 'b', token: 2 });
      expect(await b.getKey('in-flight')).toBeDefined();
    } finally {
      await watcher.end();
    }
  });

  it('a holder whose lease ran out writes nothing, even when nobody took over', async () => {
    const { a } = await two();
    const lease = await a.lease.acquireOrRenew('a', 1);
    await until(async () => (await a.lease.current()).expiresAt, (e) => e < Date.now() - 50);
    const late = await a.fencedTransaction({ holder: 'a', token: lease.token }, (tx) => tx.insertPendingKey({ id: 'expired', suite: 'frost-ed25519', threshold: 2, participants })).catch((e: unknown) => e);
    expect(late).toMatchObject({ code: 'NOT_LEADER' });
    expect(await a.getKey('expired')).toBeUndefined();
    expect(await a.lease.current()).toMatchObject({ holder: 'a', token: lease.token });
    // Renewed (no take-over: the same token), it writes again.
    expect(await a.lease.acquireOrRenew('a', LONG)).toMatchObject({ leader: true, token: lease.token });
    await a.fencedTransaction({ holder: 'a', token: lease.token }, (tx) => tx.insertPendingKey({ id: 'renewed', suite: 'frost-ed25519', threshold: 2, participants }));
    expect(await a.getKey('renewed')).toBeDefined();
  });

  it('setFence fences every call of the store: once deposed, a plain write (and a read) fails NOT_LEADER and lands nothing', async () => {
    const { a, b } = await two();
    const lease = await a.lease.acquireOrRenew('a', 1);
    expect(await a.lease.acquireOrRenew('a', LONG)).toMatchObject({ leader: true });
    a.setFence({ holder: 'a', token: lease.token });
    await a.insertPendingKey({ id: 'fenced', suite: 'frost-ed25519', threshold: 2, participants });
    await a.append('key.pending', 'fenced', { suite: 'frost-ed25519', threshold: 2, signers: ['s1', 's2'] });
    await a.transaction((tx) => tx.setState('fenced', 'active'));
    expect(await b.getKey('fenced')).toMatchObject({ state: 'active' });
    await a.lease.release('a');
    await b.lease.acquireOrRenew('b', LONG);
    for (const write of [
      () => a.insertPendingKey({ id: 'deposed', suite: 'frost-ed25519', threshold: 2, participants }),
      () => a.append('key.pending', 'deposed', { suite: 'frost-ed25519', threshold: 2, signers: ['s1', 's2'] }),
      () => a.transaction((tx) => tx.setState('fenced', 'retired')),
      () => a.checkAndRemember('aa', 'bb', Date.now()),
      () => a.getKey('fenced'),
    ]) {
      expect(await write().then(() => 'ran', (e: CoordinatorError) => e.code)).toBe('NOT_LEADER');
    }
    expect(await b.getKey('deposed')).toBeUndefined();
    expect(await b.getKey('fenced')).toMatchObject({ state: 'active' });
    expect((await b.audit()).map((e) => e.keyId)).toEqual(['fenced']);
    expect(await a.writable()).toBe(false);
    expect(await b.writable()).toBe(true);
  });

  it('refuses a bad holder or lease length with BAD_CONFIG', async () => {
    const { a } = await two();
    for (const [holder, ms] of [['', 1000], ['a', 0], ['a', 1.5], ['x'.repeat(257), 1000]] as const) {
      expect(await a.lease.acquireOrRenew(holder, ms).then(() => 'ok', (e: CoordinatorError) => e.code)).toBe('BAD_CONFIG');
    }
  });
});
