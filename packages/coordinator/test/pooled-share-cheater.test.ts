/**
 * A signer that sends an invalid signature share in a one-round-trip (pooled) FROST
 * attempt (sessions/frost-attempt.ts) is judged like one in the two-round protocol:
 * named, banned and left out of the retry. Only a pool miss (NONCE_UNKNOWN, ...) sends
 * an attempt back to two rounds with the same quorum; a cheater must not get that
 * second try, nor a START. In-process coordinator and signers speaking the real
 * protocol (fake-signer.ts); the cheater's SHARE is replaced on its way out, signed by
 * its own identity as any frame it sends.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schnorr } from '@noble/curves/secp256k1.js';
import { SIGN_ROUND, createKeyDigest, signDigest } from '@keyquorum/protocol';
import { eventually, startCluster, type Cluster } from './helpers.ts';

const IDS = ['s1', 's2', 's3'];
const SUITE = 'frost-secp256k1-tr';
const KEY = 'pooled-cheat';
const POOL = 2;

type Send = (kind: string, suite: string, sessionId: Uint8Array, round: number, to: string, body: unknown) => void;

describe('a cheater in a pooled FROST attempt', () => {
  let c: Cluster;
  const pooled = async () => Number(/^keyquorum_pooled_commitments (\d+)$/m.exec(await c.coordinator.metrics.registry.metrics())?.[1]);
  const sign = async (message: Uint8Array) => {
    const epoch = (await c.coordinator.getKey(KEY)).epoch;
    return c.coordinator.sign({ request: c.request('sign', KEY, signDigest({ keyId: KEY, epoch, message })), keyId: KEY, message });
  };

  beforeAll(async () => {
    c = await startCluster(IDS);
    for (const s of c.signers) s.poolSize = POOL;
    await c.coordinator.createKey({ request: c.request('createKey', KEY, createKeyDigest({ keyId: KEY, suite: SUITE, threshold: 2, signers: IDS })), keyId: KEY, suite: SUITE, threshold: 2, signers: IDS });
  }, 120_000);
  afterAll(async () => c?.stop());

  it('is named and banned on the pooled attempt itself, gets no START (no two-round retry), and the next quorum signs', async () => {
    // The first signature takes two rounds and asks every signer for a pool.
    const first = new Uint8Array(32).fill(1);
    expect(schnorr.verify((await sign(first)).signature, first, (await c.coordinator.getKey(KEY)).publicKey!)).toBe(true);
    await eventually(async () => (await pooled()) === IDS.length * POOL, 30_000);

    const cheater = c.signers[0]!;
    const raw = cheater as unknown as { send: Send };
    const send = raw.send.bind(cheater);
    raw.send = (kind, suite, sessionId, round, to, body) =>
      send(kind, suite, sessionId, round, to, kind === 'sign' && round === SIGN_ROUND.SHARE ? { share: new Uint8Array(32).fill(1) } : body);
    const [starts, pooledSigns] = [cheater.signStarts, c.signers.map((s) => s.pooledSigns)];

    const message = new Uint8Array(32).fill(2);
    const out = await sign(message);
    expect(schnorr.verify(out.signature, message, out.publicKey)).toBe(true);
    const audit = await c.coordinator.audit(KEY);
    const failed = audit.filter((e) => e.event === 'key.sign_attempt_failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.data).toMatchObject({ attempt: 1, reason: 'invalid-share', culprits: ['s1'], banned: true });
    expect(audit.filter((e) => e.event === 'key.signed').at(-1)?.data).toMatchObject({ attempts: 2, quorum: ['s2', 's3'] });
    // The cheater answered the pooled attempt and was never sent a START of the two rounds.
    expect(cheater.pooledSigns).toBe(pooledSigns[0]! + 1);
    expect(cheater.signStarts).toBe(starts);
  });
});
