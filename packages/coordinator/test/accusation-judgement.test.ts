/**
 * How the signing driver weighs an ecdsa-secp256k1 accusation it cannot check
 * (sessions/signing.ts `judge`, ARCHITECTURE.md "No accusation is taken on faith"): an
 * accusation between two quorum members only keeps that pair apart, the accuser stays
 * usable (it may be the honest one), and an accusation of a signer outside the attempt
 * is no accusation at all. Each test kills a change of `judge` no other test noticed
 * (docs/mutation.md). Real coordinator and signer daemons in this process
 * (ecdsa-cluster.ts); s2 lies through a LyingLink that re-seals its frames with its
 * own key. The signers make no presignatures (noncePool 0): every attempt is the full
 * protocol, so which quorum is asked is the subject.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { ECDSA_SIGN_ROUND, encodeBody, type AbortBody } from '@keyquorum/protocol';
import { isSignRound, startEcdsaCluster, type EcdsaCluster } from './ecdsa-cluster.ts';

/** What s2 says: the truth, a round-2 message its recipient cannot open, or an ABORT accusing `accuse` instead of its contribution. */
const lie: { mode: 'none' | 'garble-r2' | 'accuse'; accuse?: string } = { mode: 'none' };

let c: EcdsaCluster;

beforeAll(async () => {
  c = await startEcdsaCluster({
    name: 'accusations',
    liar: 's2',
    signer: { noncePool: 0 },
    rewrite: (e) => {
      if (lie.mode === 'garble-r2' && isSignRound(e, ECDSA_SIGN_ROUND.R2)) {
        const payload = e.payload.slice();
        payload[payload.length - 1]! ^= 1;
        return payload;
      }
      if (lie.mode === 'accuse' && isSignRound(e, ECDSA_SIGN_ROUND.CONTRIBUTION)) {
        const abort: AbortBody = { reason: `PEER_MISBEHAVED: ${lie.accuse} sent an invalid message`, culprits: [lie.accuse!] };
        return { header: { ...e.header, round: ECDSA_SIGN_ROUND.ABORT }, payload: encodeBody(abort) };
      }
      return undefined;
    },
  });
}, 120_000);
afterAll(async () => c?.stop());

beforeEach(async () => {
  lie.mode = 'none';
  // The attempt memory is the coordinator process's: each case starts from none.
  await c.restartCoordinator();
});

const failedSince = async (n: number) => (await c.events('key.sign_attempt_failed')).slice(n).map((e) => e.data);

describe('ecdsa-secp256k1: accusations the coordinator cannot check', () => {
  it('an honest signer that accuses the liar is not left out: the pair is kept apart and a quorum without the liar signs', async () => {
    lie.mode = 'garble-r2';
    const before = (await c.events('key.sign_attempt_failed')).length;
    const { message, out, error, signed } = await c.sign('pay the merchant (garbled round 2)');
    expect(error).toBeUndefined();
    expect(secp256k1.verify(out!.signature, message, c.publicKey, { prehash: false })).toBe(true);
    expect(signed[0]!.data.quorum).not.toContain('s2');
    const failed = await failedSince(before);
    expect(failed.length).toBeGreaterThan(0);
    // Only honest signers accused, only the liar was accused; nobody is banned on an accusation.
    for (const f of failed) expect(f).toMatchObject({ reason: 'abort', culprits: ['s2'], banned: false, reportedBy: [expect.not.stringMatching(/^s2$/)] });
    expect(await c.coordinator.bans(c.keyId)).toEqual([]);
  });

  it('an ABORT accusing its own sender is a refusal, not a conflict: the sender is left out of the request', async () => {
    lie.mode = 'accuse';
    lie.accuse = 's2';
    const before = (await c.events('key.sign_attempt_failed')).length;
    const { error, signed } = await c.sign('pay the merchant (accusing itself)');
    expect(error).toBeUndefined();
    expect((await failedSince(before))[0]).toMatchObject({ reason: 'abort', culprits: ['s2'], reportedBy: ['s2'], excluded: ['s2'] });
    expect(signed[0]!.data.quorum).toEqual(['s1', 's3']);
  });

  // Last: it stops s1.
  it('an ABORT accusing a signer outside the attempt is no accusation: the accuser is left out, and the accused still signs with it later', async () => {
    lie.mode = 'accuse';
    lie.accuse = 's3';
    const before = (await c.events('key.sign_attempt_failed')).length;
    const first = await c.sign('pay the merchant (accusing an outsider)');
    expect(first.error).toBeUndefined();
    const failed = await failedSince(before);
    expect(failed[0]).toMatchObject({ reason: 'abort', quorum: ['s1', 's2'], culprits: ['s3'], reportedBy: ['s2'], excluded: ['s2'] });
    expect(first.signed[0]!.data.quorum).toEqual(['s1', 's3']);
    // s2 tells the truth again and s1 goes away: only s2 and s3 can sign, which a believed accusation would keep apart.
    lie.mode = 'none';
    await c.daemons.get('s1')!.stop();
    const second = await c.sign('pay the merchant (s1 away)');
    expect(second.error).toBeUndefined();
    expect(secp256k1.verify(second.out!.signature, second.message, c.publicKey, { prehash: false })).toBe(true);
    expect(second.signed[0]!.data.quorum).toEqual(['s2', 's3']);
  });
});
