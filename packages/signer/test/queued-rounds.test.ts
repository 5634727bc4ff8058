/**
 * A key-session frame that arrives while the previous round still runs on the crypto
 * worker waits its turn (packages/signer/src/sessions/contributed.ts `handle`), instead
 * of being refused WRONG_ROUND. The case seen under load: a reshare member that deals
 * nothing gets R2_DELIVER as soon as the dealers' R2 are in, possibly while its own R1
 * checks still run, refused it and never CONFIRMed. Here the fake coordinator makes
 * that order certain: the dealers get R1_DELIVER first and their R2 are gathered, then
 * each non-dealing member gets R1_DELIVER and R2_DELIVER back to back, before it has
 * answered anything (its R1 checks run on a worker thread: `cryptoWorkers: 1`). Each must CONFIRM, and the COMMIT must be ACKed.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CONTROL_ROUND, KEY_ROUND, decodeBody, reshareDigest, signClientRequest, type ConfirmBody, type Envelope, type ErrorBody } from '@keyquorum/protocol';
import { adminClient } from './helpers/cluster.ts';
import { dkgStart, gather, refs, runKeySession } from './helpers/drive.ts';
import { useFakeCluster } from './helpers/fake-cluster.ts';

const fake = useFakeCluster();

const one = (m: Map<string, Envelope[]>) => [...m.values()].map((l) => l[0]!);

describe('a key-session round delivered while the previous one still runs', () => {
  it('reshare members that deal nothing get R1_DELIVER and R2_DELIVER back to back: both answer with their CONFIRM, not WRONG_ROUND', async () => {
    const { c, cl } = await fake.start(['s1', 's2', 's3', 's4'], { extra: { cryptoWorkers: 1 } });
    for (const d of cl.daemons.values()) expect(d.options.cryptoWorkers).toBeGreaterThan(0);
    const suite = 'frost-ed25519';
    const oldRefs = refs(['s1', 's2', 's3']);
    const dkg = await runKeySession(c, 'dkg', suite, oldRefs, dkgStart('k1', suite, 2, oldRefs));
    const newRefs = refs(['s1', 's3', 's4']);
    const dealers = oldRefs.slice(0, 2);
    const request = signClientRequest(adminClient, { op: 'reshare', keyId: 'k1', digest: reshareDigest({ keyId: 'k1', groupKey: dkg.publicKey.groupKey, newThreshold: 2, signers: ['s1', 's3', 's4'] }) });
    const start = { keyId: 'k1', epoch: 0, oldPublicKey: dkg.publicKey, oldParticipants: oldRefs, dealers, newParticipants: newRefs, newThreshold: 2, request };

    const all = ['s1', 's2', 's3', 's4'];
    const proposalId = randomBytes(32);
    for (const id of all) c.send(id, { kind: 'reshare', suite, sessionId: proposalId, round: KEY_ROUND.START }, start);
    const contributions = one(await gather(c, all, 'reshare', KEY_ROUND.CONTRIBUTION));
    for (const id of all) c.send(id, { kind: 'reshare', suite, sessionId: proposalId, round: KEY_ROUND.CONTRIBUTIONS }, { envelopes: contributions });
    const r1 = one(await gather(c, ['s1', 's2'], 'reshare', KEY_ROUND.R1));
    const sessionId = r1[0]!.header.sessionId;
    // The dealers first: their R2 (one per other new member) are all in before s3 and s4 hear of R1.
    for (const id of ['s1', 's2']) c.send(id, { kind: 'reshare', suite, sessionId, round: KEY_ROUND.R1_DELIVER }, { envelopes: r1 });
    const r2 = [...(await gather(c, ['s1'], 'reshare', KEY_ROUND.R2, 2)).values(), ...(await gather(c, ['s2'], 'reshare', KEY_ROUND.R2, 3)).values()].flat();
    // s1 deals and is a member: its R1 round is over, so its R2_DELIVER comes in order.
    c.send('s1', { kind: 'reshare', suite, sessionId, round: KEY_ROUND.R2_DELIVER }, { envelopes: r2.filter((e) => e.header.to === 's1') });
    // s3 and s4 deal nothing: R2_DELIVER goes out right behind R1_DELIVER, before either answered.
    for (const id of ['s3', 's4']) {
      c.send(id, { kind: 'reshare', suite, sessionId, round: KEY_ROUND.R1_DELIVER }, { envelopes: r1 });
      c.send(id, { kind: 'reshare', suite, sessionId, round: KEY_ROUND.R2_DELIVER }, { envelopes: r2.filter((e) => e.header.to === id) });
    }

    const members = ['s1', 's3', 's4'];
    const confirms: Envelope[] = [];
    for (const id of members) {
      // The member's answer: a CONFIRM, or its refusal (an ERROR, as WRONG_ROUND is sent, or an ABORT).
      const answer = await c.next(id, (e) => (e.header.kind === 'reshare' && (e.header.round === KEY_ROUND.CONFIRM || e.header.round === KEY_ROUND.ABORT)) || (e.header.kind === 'control' && e.header.round === CONTROL_ROUND.ERROR), 120_000);
      const refusal = answer.header.round === CONTROL_ROUND.ERROR && answer.header.kind === 'control' ? decodeBody<ErrorBody>('control', CONTROL_ROUND.ERROR, 'none', answer.payload) : undefined;
      expect(refusal, `${id} refused: ${refusal?.code} ${refusal?.message}`).toBeUndefined();
      expect(answer.header.round, `${id} answered reshare round ${answer.header.round}`).toBe(KEY_ROUND.CONFIRM);
      expect(decodeBody<ConfirmBody>('reshare', KEY_ROUND.CONFIRM, suite, answer.payload).epoch).toBe(1);
      confirms.push(answer);
    }
    for (const id of all) c.send(id, { kind: 'reshare', suite, sessionId, round: KEY_ROUND.COMMIT }, { envelopes: confirms });
    await gather(c, all, 'reshare', KEY_ROUND.ACK);
    for (const id of members) expect(c.pending(id).filter((e) => e.header.kind === 'control' && e.header.round === CONTROL_ROUND.ERROR)).toEqual([]);
  }, 180_000);
});
