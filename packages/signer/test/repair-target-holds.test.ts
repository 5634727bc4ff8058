/**
 * A repair START whose target still holds the key active (docs/cluster-protocol.md
 * "Share repair"): the target refuses it at START (WRONG_KEY_STATE naming `target`),
 * before any delta reaches it, and its share is unchanged and still signs. A real
 * signer daemon; the test plays the coordinator (sessions/authorise.ts `repairShare`,
 * docs/mutation.md).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KEY_ROUND, repairDigest, signClientRequest, type WirePublicKey, type ParticipantRef } from '@keyquorum/protocol';
import { adminClient } from './helpers/cluster.ts';
import { SessionAborted, dkgStart, gather, refs, runKeySession, runSign } from './helpers/drive.ts';
import { useFakeCluster } from './helpers/fake-cluster.ts';

const SUITE = 'frost-ed25519';
const KEY = 'k1';

const fake = useFakeCluster();

function repairStart(publicKey: WirePublicKey, participants: ParticipantRef[]) {
  const target = participants[2]!;
  const request = signClientRequest(adminClient, { op: 'repair', keyId: KEY, digest: repairDigest({ keyId: KEY, target: target.signer }) });
  return { keyId: KEY, epoch: 0, publicKey, participants, target, helpers: participants.slice(0, 2), request };
}

describe('a repair target that still holds the key', () => {
  it('refuses the START (WRONG_KEY_STATE, field target) and keeps signing with its share', async () => {
    const { c } = await fake.start(['s1', 's2', 's3']);
    const participants = refs(['s1', 's2', 's3']);
    const dkg = await runKeySession(c, 'dkg', SUITE, participants, dkgStart(KEY, SUITE, 2, participants));
    const proposalId = randomBytes(32);
    c.send('s3', { kind: 'repair', suite: SUITE, sessionId: proposalId, round: KEY_ROUND.START }, repairStart(dkg.publicKey, participants));
    const e = await gather(c, ['s3'], 'repair', KEY_ROUND.CONTRIBUTION).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(SessionAborted);
    expect((e as SessionAborted).signer).toBe('s3');
    expect((e as SessionAborted).body.reason).toMatch(/^WRONG_KEY_STATE/);
    expect((e as SessionAborted).body.reason).toContain('nothing to repair');
    // Its share is untouched: s3 still signs with s1.
    const signed = await runSign(c, SUITE, ['s1', 's3'], { keyId: KEY, epoch: 0, message: new Uint8Array(32).fill(5) });
    expect(signed.shares.map((e) => e.header.from).sort()).toEqual(['s1', 's3']);
  }, 120_000);
});
