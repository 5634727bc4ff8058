/**
 * A signer run with `noncePool: 0` keeps no presignatures: an ecdsa-secp256k1 POOLED
 * (sign with a presignature, one round trip) from a coordinator that ignores this is a
 * bad request, refused WRONG_SUITE with nothing changed (sessions/start.ts
 * `startPresigned`), not a crash. Through the real protocol: a real signer daemon, the
 * test playing the coordinator.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import { ECDSA_SIGN_ROUND } from '@keyquorum/protocol';
import { SessionAborted, gather, signRequest } from './helpers/drive.ts';
import { useFakeCluster } from './helpers/fake-cluster.ts';
import { snapshot } from './helpers/state.ts';

const fake = useFakeCluster();

describe('a signer without a presignature pool (noncePool 0)', () => {
  it('refuses an ecdsa POOLED as WRONG_SUITE (no presignature pool here), not INTERNAL, and changes nothing', async () => {
    const { c, cl } = await fake.start(['s1', 's2'], { extra: { noncePool: 0 } });
    const dataDir = cl.signers.find((s) => s.id === 's1')!.dataDir;
    const before = snapshot(dataDir);
    const start = { keyId: 'k1', epoch: 0, message: sha256(utf8ToBytes('pay from a pool that is not there')) };
    c.send('s1', { kind: 'sign', suite: 'ecdsa-secp256k1', sessionId: randomBytes(32), round: ECDSA_SIGN_ROUND.POOLED }, { start: { ...start, request: signRequest(start) }, presignature: randomBytes(32) });
    const e = await gather(c, ['s1'], 'sign', ECDSA_SIGN_ROUND.SHARE).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(SessionAborted);
    expect((e as SessionAborted).body.reason).toMatch(/^WRONG_SUITE.*no presignature pool here/);
    expect(snapshot(dataDir)).toEqual(before);
  }, 60_000);
});
