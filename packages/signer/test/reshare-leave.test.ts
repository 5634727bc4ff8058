/**
 * Old holders that leave a key by reshare without dealing (docs/cluster-protocol.md
 * "Reshare"): such a signer never sees the session, only its COMMIT, and wipes its
 * share only when that COMMIT carries a CONFIRM from every new member for its key at
 * the next epoch. A new member whose own CONFIRM is withheld must not take a COMMIT
 * padded with a colluding peer's CONFIRM as a reason to leave.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  COORDINATOR_ID,
  KEY_ROUND,
  PROTOCOL_VERSION,
  reshareDigest,
  sealEnvelope,
  signClientRequest,
  type Envelope,
} from '@keyquorum/protocol';
import { adminClient } from './helpers/cluster.ts';
import { SessionAborted, dkgStart, gather, refs, runKeySession, runSign } from './helpers/drive.ts';
import { useFakeCluster } from './helpers/fake-cluster.ts';

const fake = useFakeCluster();

const one = (m: Map<string, Envelope[]>) => [...m.values()].map((l) => l[0]!);
const abortOf = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as SessionAborted);

describe('reshare: leaving without dealing', () => {
  it('a non-dealer leaver wipes only on a COMMIT with every new member; a member never leaves on a padded COMMIT', async () => {
    const { c, cl } = await fake.start(['s1', 's2', 's3', 's4']);
    const suite = 'frost-ed25519';
    const oldRefs = refs(['s1', 's2', 's3']);
    const dkg = await runKeySession(c, 'dkg', suite, oldRefs, dkgStart('k1', suite, 2, oldRefs));
    // s1, s2 deal; s1, s2, s4 receive; s3 takes no part and leaves.
    const newRefs = refs(['s1', 's2', 's4']);
    const request = signClientRequest(adminClient, { op: 'reshare', keyId: 'k1', digest: reshareDigest({ keyId: 'k1', groupKey: dkg.publicKey.groupKey, newThreshold: 2, signers: ['s1', 's2', 's4'] }) });
    const start = { keyId: 'k1', epoch: 0, oldPublicKey: dkg.publicKey, oldParticipants: oldRefs, dealers: oldRefs.slice(0, 2), newParticipants: newRefs, newThreshold: 2, request };
    const session = ['s1', 's2', 's4'];
    const proposalId = randomBytes(32);
    for (const id of session) c.send(id, { kind: 'reshare', suite, sessionId: proposalId, round: KEY_ROUND.START }, start);
    const contributions = one(await gather(c, session, 'reshare', KEY_ROUND.CONTRIBUTION));
    for (const id of session) c.send(id, { kind: 'reshare', suite, sessionId: proposalId, round: KEY_ROUND.CONTRIBUTIONS }, { envelopes: contributions });
    const r1 = one(await gather(c, ['s1', 's2'], 'reshare', KEY_ROUND.R1));
    const sessionId = r1[0]!.header.sessionId;
    for (const id of session) c.send(id, { kind: 'reshare', suite, sessionId, round: KEY_ROUND.R1_DELIVER }, { envelopes: r1 });
    const r2 = [...(await gather(c, ['s1', 's2'], 'reshare', KEY_ROUND.R2, 2)).values()].flat();
    for (const id of session) c.send(id, { kind: 'reshare', suite, sessionId, round: KEY_ROUND.R2_DELIVER }, { envelopes: r2.filter((e) => e.header.to === id) });
    const confirms = one(await gather(c, session, 'reshare', KEY_ROUND.CONFIRM));
    const [c1, c2, c4] = confirms;
    const commit = (to: string, envelopes: Envelope[]) => c.send(to, { kind: 'reshare', suite, sessionId, round: KEY_ROUND.COMMIT }, { envelopes });
    const wiped = (id: string) => cl.logs.get(id)!.some((l) => l.msg === 'left the key after reshare; old share wiped');

    // s3: a COMMIT missing a new member's CONFIRM changes nothing.
    commit('s3', [c1!, c2!]);
    expect((await abortOf(gather(c, ['s3'], 'reshare', KEY_ROUND.ACK)))?.body.reason).toMatch(/^BAD_TRANSCRIPT/);
    expect(wiped('s3')).toBe(false);

    // A member's own CONFIRM withheld, padded with one that s3 (colluding) signs for the same body:
    // s2, an old holder that stays, must not wipe; s4 holds no old share to leave with.
    const forged = sealEnvelope(cl.signers.find((s) => s.id === 's3')!.identity, { ...c2!.header, from: 's3', v: PROTOCOL_VERSION, to: COORDINATOR_ID }, c2!.payload);
    commit('s2', [c1!, c4!, forged]);
    expect((await abortOf(gather(c, ['s2'], 'reshare', KEY_ROUND.ACK)))?.body.reason).toMatch(/^BAD_TRANSCRIPT: .*CONFIRM is missing/);
    commit('s4', [c1!, c2!, forged]);
    expect((await abortOf(gather(c, ['s4'], 'reshare', KEY_ROUND.ACK)))?.body.reason).toMatch(/^WRONG_KEY_STATE/);
    expect(wiped('s2') || wiped('s4')).toBe(false);

    // The real COMMIT: members activate, s3 leaves; a re-sent COMMIT is ACKed again.
    for (const id of [...session, 's3']) commit(id, confirms);
    await gather(c, [...session, 's3'], 'reshare', KEY_ROUND.ACK);
    expect(wiped('s3')).toBe(true);
    commit('s3', confirms);
    await gather(c, ['s3'], 'reshare', KEY_ROUND.ACK);

    const message = new Uint8Array(32).fill(1);
    await runSign(c, suite, ['s1', 's4'], { keyId: 'k1', epoch: 1, message });
    const refused = await abortOf(runSign(c, suite, ['s3'], { keyId: 'k1', epoch: 0, message }));
    expect(refused?.body.reason).toMatch(/^WRONG_KEY_STATE/);
  });
});
