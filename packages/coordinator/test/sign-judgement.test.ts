/**
 * How the signing driver judges a failed attempt (sessions/signing.ts, ARCHITECTURE.md
 * "No accusation is taken on faith"), each case a check that no other test noticed when
 * it was removed (docs/mutation.md, coordinator `signing.ts` by hand): a ban holds for
 * the next request, a signed message the coordinator's own check refuses bans its
 * sender, the request's error names the proven cheater, a refusing signer is not asked
 * again within the request, and a disconnected signer is never asked. A real
 * coordinator over real WebSockets; the signers are fake-signer.ts fixtures that talk
 * the real protocol (FROST), each lie one `misbehave` flag.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schnorr } from '@noble/curves/secp256k1.js';
import { createKeyDigest, signDigest } from '@keyquorum/protocol';
import { REGISTRY_FILE } from '../src/constants.ts';
import { CoordinatorError } from '../src/index.ts';
import { startCluster, type Cluster } from './helpers.ts';

const SUITE = 'frost-secp256k1-tr';
let c: Cluster;
let n = 0;

async function createKey(signers: string[], threshold = 2): Promise<{ keyId: string; publicKey: Uint8Array }> {
  const keyId = `judged-${++n}`;
  const request = c.request('createKey', keyId, createKeyDigest({ keyId, suite: SUITE, threshold, signers }));
  const key = await c.coordinator.createKey({ request, keyId, suite: SUITE, threshold, signers });
  return { keyId, publicKey: key.publicKey! };
}

async function sign(keyId: string, fill: number) {
  const message = new Uint8Array(32).fill(fill);
  const epoch = (await c.coordinator.getKey(keyId)).epoch;
  const request = c.request('sign', keyId, signDigest({ keyId, epoch, message }));
  return { message, out: await c.coordinator.sign({ request, keyId, message }) };
}

const events = async (keyId: string, event: string) => (await c.coordinator.audit(keyId)).filter((e) => e.event === event);
const signer = (id: string) => c.signers.find((s) => s.id === id)!;
const banned = async (keyId: string) => (await c.coordinator.bans(keyId)).map((b) => b.signer);
/** The last signature's audit row: its attempts and quorum. */
const lastSigned = async (keyId: string) => (await events(keyId, 'key.signed')).at(-1)!.data;

beforeAll(async () => {
  c = await startCluster(['s1', 's2', 's3', 's4']);
}, 60_000);
afterAll(async () => c?.stop());

describe('the signing driver judges each failed attempt', () => {
  it('a signer banned by one request is not asked by the next: the ban is read from the registry at every request', async () => {
    const { keyId, publicKey } = await createKey(['s1', 's2', 's3']);
    signer('s1').misbehave = { badShare: true };
    try {
      const first = await sign(keyId, 1);
      expect(schnorr.verify(first.out.signature, first.message, publicKey)).toBe(true);
      expect(await lastSigned(keyId)).toMatchObject({ attempts: 2 });
      expect(await banned(keyId)).toEqual(['s1']);
      const asked = signer('s1').signStarts;
      const second = await sign(keyId, 2);
      expect(schnorr.verify(second.out.signature, second.message, publicKey)).toBe(true);
      expect(await lastSigned(keyId)).toMatchObject({ attempts: 1, quorum: ['s2', 's3'] });
      expect(signer('s1').signStarts).toBe(asked);
      expect(await events(keyId, 'key.sign_attempt_failed')).toHaveLength(1);
    } finally {
      signer('s1').misbehave = {};
    }
  });

  it("a signer whose signed commitment fails the coordinator's own check is banned for the key (not only left out)", async () => {
    const { keyId, publicKey } = await createKey(['s1', 's2', 's3']);
    signer('s1').misbehave = { badCommitment: true };
    try {
      const { message, out } = await sign(keyId, 3);
      expect(schnorr.verify(out.signature, message, publicKey)).toBe(true);
      expect(await lastSigned(keyId)).toMatchObject({ attempts: 2, quorum: ['s2', 's3'] });
      expect((await events(keyId, 'key.sign_attempt_failed'))[0]!.data).toMatchObject({ reason: 'invalid', culprits: ['s1'], banned: true });
      expect(await banned(keyId)).toEqual(['s1']);
    } finally {
      signer('s1').misbehave = {};
    }
  });

  it('a request that runs out of quorums names the proven cheater in its error (culprits)', async () => {
    const { keyId } = await createKey(['s1', 's2'], 2);
    signer('s1').misbehave = { badShare: true };
    try {
      const err = await sign(keyId, 4).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CoordinatorError);
      // A 2-of-2 key has one quorum: the budget is spent after it.
      expect(err).toMatchObject({ code: 'SESSION_FAILED', culprits: ['s1'] });
    } finally {
      signer('s1').misbehave = {};
    }
  });

  it('a signer that refused (an ABORT accusing nobody) is not asked again within the request: every signer refusing a 2-of-3 costs two attempts, not three', async () => {
    const { keyId } = await createKey(['s1', 's2', 's3']);
    for (const id of ['s1', 's2', 's3']) signer(id).misbehave = { refuseSign: true };
    try {
      const err = await sign(keyId, 5).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'NOT_ENOUGH_SIGNERS' });
      const failed = await events(keyId, 'key.sign_attempt_failed');
      expect(failed.map((e) => e.data.reason)).toEqual(['abort', 'abort']);
      expect(new Set(failed.map((e) => (e.data.excluded as string[]).join(','))).size).toBe(2);
      expect(await banned(keyId)).toEqual([]);
    } finally {
      for (const id of ['s1', 's2', 's3']) signer(id).misbehave = {};
    }
  });

  it("a signature whose audit row cannot be written is not returned, and no other quorum is asked (no audit write, no operation)", async () => {
    const { keyId } = await createKey(['s1', 's2', 's3']);
    // Another process holds the registry's write lock from the moment s1 gets its SIGN: the coordinator's
    // `key.signed` append waits out its busy timeout and fails (a real SQLITE_BUSY, not a mock).
    const lock = new Database(path.join(c.dataDir, REGISTRY_FILE));
    let locked = false;
    signer('s1').misbehave = {
      onSign: () => {
        if (locked) return;
        locked = true;
        lock.exec('BEGIN EXCLUSIVE');
      },
    };
    const before = c.signers.reduce((n, s) => n + s.signStarts, 0);
    try {
      const err = await sign(keyId, 7).catch((e: unknown) => e);
      expect(locked).toBe(true);
      expect(err).toBeInstanceOf(CoordinatorError);
      expect((err as CoordinatorError).message).toMatch(/signing failed: database is locked/);
      // One quorum asked (two STARTs), not every quorum in turn.
      expect(c.signers.reduce((n, s) => n + s.signStarts, 0) - before).toBe(2);
    } finally {
      if (locked) lock.exec('ROLLBACK');
      lock.close();
      signer('s1').misbehave = {};
    }
    expect(await events(keyId, 'key.signed')).toHaveLength(0);
  }, 60_000);

  // Last: it disconnects s1.
  it('a disconnected signer is never asked: the others sign at the first attempt, no failed attempt audited', async () => {
    const { keyId, publicKey } = await createKey(['s1', 's2', 's3']);
    await signer('s1').close();
    const { message, out } = await sign(keyId, 6);
    expect(schnorr.verify(out.signature, message, publicKey)).toBe(true);
    expect(await lastSigned(keyId)).toMatchObject({ attempts: 1, quorum: ['s2', 's3'] });
    expect(await events(keyId, 'key.sign_attempt_failed')).toHaveLength(0);
  });
});
