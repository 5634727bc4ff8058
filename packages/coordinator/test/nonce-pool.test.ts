/**
 * The coordinator's side of the FROST nonce pool (docs/cluster-protocol.md "Nonce
 * pool") against in-process signers speaking the real protocol (fake-signer.ts): a
 * key's first signature finds no pooled commitment and takes two rounds, and makes the
 * coordinator ask every participant for a pool; then a signature is one round trip
 * (each signer receives one POOLED and no START: frames counted at the signers, rounds
 * at the coordinator). A signer refusing its pooled commitment (NONCE_UNKNOWN) sends
 * the attempt back to two rounds with the same quorum, nobody left out or banned.
 * OFFERs failing the coordinator's checks (a signature not the signer's, another epoch
 * than the registry's) are answered with an ERROR and never pooled.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schnorr } from '@noble/curves/secp256k1.js';
import { createKeyDigest, signDigest } from '@keyquorum/protocol';
import { eventually, startCluster, type Cluster } from './helpers.ts';

const IDS = ['s1', 's2', 's3'];
const SUITE = 'frost-secp256k1-tr';
const KEY = 'pool-1';
const POOL = 4;

describe('nonce pool at the coordinator', () => {
  let c: Cluster;
  const pooled = async () => Number(/^keyquorum_pooled_commitments (\d+)$/m.exec(await c.coordinator.metrics.registry.metrics())?.[1]);
  const until = async (check: (n: number) => boolean) => {
    const deadline = Date.now() + 30_000;
    while (!check(await pooled())) {
      if (Date.now() > deadline) throw new Error(`pool stuck at ${await pooled()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const rounds = async () => {
    const text = await c.coordinator.metrics.registry.metrics();
    const count = (round: string) => Number(new RegExp(`^keyquorum_round_duration_seconds_count\\{kind="sign",round="${round}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    return { commitment: count('commitment'), share: count('share') };
  };
  /** Signs a fresh message, checks it (BIP340), and returns the rounds the coordinator collected and the STARTs / POOLEDs the signers answered. */
  const signOnce = async () => {
    const [r0, starts0, pooled0] = [await rounds(), c.signers.map((s) => s.signStarts), c.signers.map((s) => s.pooledSigns)];
    const message = crypto.getRandomValues(new Uint8Array(32));
    const epoch = (await c.coordinator.getKey(KEY)).epoch;
    const out = await c.coordinator.sign({ request: c.request('sign', KEY, signDigest({ keyId: KEY, epoch, message })), keyId: KEY, message });
    expect(schnorr.verify(out.signature, message, out.publicKey)).toBe(true);
    const r1 = await rounds();
    const sum = (now: number[], before: number[]) => now.reduce((a, n, i) => a + n - before[i]!, 0);
    return { commitment: r1.commitment - r0.commitment, share: r1.share - r0.share, starts: sum(c.signers.map((s) => s.signStarts), starts0), pooledSigns: sum(c.signers.map((s) => s.pooledSigns), pooled0) };
  };

  beforeAll(async () => {
    c = await startCluster(IDS);
    for (const s of c.signers) s.poolSize = POOL;
    await c.coordinator.createKey({ request: c.request('createKey', KEY, createKeyDigest({ keyId: KEY, suite: SUITE, threshold: 2, signers: IDS })), keyId: KEY, suite: SUITE, threshold: 2, signers: IDS });
  }, 120_000);
  afterAll(async () => c?.stop());

  it('the first signature takes two rounds and fills the pools; the next ones take one round trip', async () => {
    expect(await pooled()).toBe(0);
    expect(await signOnce()).toEqual({ commitment: 1, share: 1, starts: 2, pooledSigns: 0 });
    await until((n) => n === IDS.length * POOL);
    expect(await signOnce()).toEqual({ commitment: 0, share: 1, starts: 0, pooledSigns: 2 });
    // Each used commitment left the pool.
    expect(await pooled()).toBe(IDS.length * POOL - 2);
  });

  it('a signer refusing its pooled commitment (NONCE_UNKNOWN) sends the attempt back to two rounds, nobody excluded', async () => {
    await until((n) => n >= IDS.length * POOL - 2);
    for (const s of c.signers) s.forgetPool = true;
    try {
      const got = await signOnce();
      expect(got).toEqual({ commitment: 1, share: 1, starts: 2, pooledSigns: 0 });
      // One attempt of signing.ts: the fallback is inside it, with the same quorum.
      expect((await c.coordinator.audit(KEY)).filter((e) => e.event === 'key.signed').at(-1)?.data).toMatchObject({ attempts: 1 });
      expect((await c.coordinator.audit(KEY)).filter((e) => e.event === 'key.sign_attempt_failed')).toEqual([]);
    } finally {
      for (const s of c.signers) s.forgetPool = false;
    }
  });

  it('refuses (ERROR) and never pools an OFFER not signed by its signer, or for another epoch', async () => {
    const s3 = c.signers[2]!;
    const before = await pooled();
    const errors = s3.errors.length;
    s3.offer(SUITE, KEY, 1);
    s3.misbehave = { forge: { kind: 'sign', round: 5, how: 'corrupt' } };
    s3.offer(SUITE, KEY, 0);
    s3.misbehave = {};
    await eventually(() => s3.errors.length === errors + 2, 10_000);
    expect(s3.errors.slice(errors).map((e) => e.code).sort()).toEqual(['BAD_SIGNATURE', 'WRONG_SESSION']);
    expect(await pooled()).toBe(before);
  });
});
