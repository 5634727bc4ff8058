/**
 * Reshare across real daemons (docs/cluster-protocol.md "Key sessions"): a 2-of-3 key
 * on s1..s3 moves to s2, s3, s4 with dealers s1 and s2. New members sign for the same
 * group key; the leaving dealer wipes its share at COMMIT and can no longer sign.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import { equalBytes } from '@noble/curves/utils.js';
import {
  KEY_ROUND,
  SIGN_ROUND,
  decodeBody,
  fromWirePublicKey,
  reshareDigest,
  signClientRequest,
  type ConfirmBody,
  type Envelope,
  type SignCommitmentBody,
  type SignShareBody,
  type WirePublicKey,
} from '@keyquorum/protocol';
import { aggregate, verifySignature } from '@keyquorum/crypto';
import { adminClient } from './helpers/cluster.ts';
import { SessionAborted, dkgStart, gather, refs, runKeySession, runSign } from './helpers/drive.ts';
import { useFakeCluster } from './helpers/fake-cluster.ts';

const fake = useFakeCluster();

const one = (m: Map<string, Envelope[]>) => [...m.values()].map((l) => l[0]!);

describe('reshare', () => {
  it('moves a 2-of-3 key to a new set keeping the group key; the leaving dealer wipes its share; a new member that holds another key joins all the same', async () => {
    const { c } = await fake.start(['s1', 's2', 's3', 's4']);
    const suite = 'frost-secp256k1-tr';
    const oldRefs = refs(['s1', 's2', 's3']);
    const dkg = await runKeySession(c, 'dkg', suite, oldRefs, dkgStart('k1', suite, 2, oldRefs));
    // s4 holds k-other active before it joins k1: what it holds of k1 is looked up by key
    // id (a lookup ignoring it took k-other for a share of k1 and refused the reshare).
    const otherRefs = refs(['s2', 's3', 's4']);
    await runKeySession(c, 'dkg', suite, otherRefs, dkgStart('k-other', suite, 2, otherRefs));
    const newRefs = refs(['s2', 's3', 's4']);
    const dealers = oldRefs.slice(0, 2);
    const request = signClientRequest(adminClient, { op: 'reshare', keyId: 'k1', digest: reshareDigest({ keyId: 'k1', groupKey: dkg.publicKey.groupKey, newThreshold: 2, signers: ['s2', 's3', 's4'] }) });
    const start = { keyId: 'k1', epoch: 0, oldPublicKey: dkg.publicKey, oldParticipants: oldRefs, dealers, newParticipants: newRefs, newThreshold: 2, request };

    const all = ['s1', 's2', 's3', 's4'];
    const proposalId = randomBytes(32);
    for (const id of all) c.send(id, { kind: 'reshare', suite, sessionId: proposalId, round: KEY_ROUND.START }, start);
    const contributions = one(await gather(c, all, 'reshare', KEY_ROUND.CONTRIBUTION));
    for (const id of all) c.send(id, { kind: 'reshare', suite, sessionId: proposalId, round: KEY_ROUND.CONTRIBUTIONS }, { envelopes: contributions });
    const r1 = one(await gather(c, ['s1', 's2'], 'reshare', KEY_ROUND.R1));
    const sessionId = r1[0]!.header.sessionId;
    for (const id of all) c.send(id, { kind: 'reshare', suite, sessionId, round: KEY_ROUND.R1_DELIVER }, { envelopes: r1 });
    const r2 = [...(await gather(c, ['s1'], 'reshare', KEY_ROUND.R2, 3)).values(), ...(await gather(c, ['s2'], 'reshare', KEY_ROUND.R2, 2)).values()].flat();
    for (const id of ['s2', 's3', 's4']) c.send(id, { kind: 'reshare', suite, sessionId, round: KEY_ROUND.R2_DELIVER }, { envelopes: r2.filter((e) => e.header.to === id) });
    const confirms = one(await gather(c, ['s2', 's3', 's4'], 'reshare', KEY_ROUND.CONFIRM));
    const confirmed = confirms.map((e) => decodeBody<ConfirmBody>('reshare', KEY_ROUND.CONFIRM, suite, e.payload));
    expect(confirmed.every((b) => b.epoch === 1 && equalBytes(b.publicKey.groupKey, dkg.publicKey.groupKey))).toBe(true);
    for (const id of all) c.send(id, { kind: 'reshare', suite, sessionId, round: KEY_ROUND.COMMIT }, { envelopes: confirms });
    await gather(c, all, 'reshare', KEY_ROUND.ACK);

    const newKey: WirePublicKey = confirmed[0]!.publicKey;
    const pkg = fromWirePublicKey(newKey);
    const message = sha256(utf8ToBytes('after reshare'));
    const target = { taproot: {} };
    const signed = await runSign(c, suite, ['s3', 's4'], { keyId: 'k1', epoch: 1, message, ...target });
    const idOf = (e: Envelope) => newRefs.find((p) => p.signer === e.header.from)!.index;
    const commitments = signed.commitments.map((e) => ({ id: idOf(e), ...decodeBody<SignCommitmentBody>('sign', SIGN_ROUND.COMMITMENT, suite, e.payload) }));
    const shares = signed.shares.map((e) => ({ id: idOf(e), share: decodeBody<SignShareBody>('sign', SIGN_ROUND.SHARE, suite, e.payload).share }));
    const signature = aggregate(pkg, { message, commitments }, shares, target);
    expect(verifySignature(fromWirePublicKey(dkg.publicKey), message, signature, target)).toBe(true);

    for (const epoch of [0, 1]) {
      const e = await runSign(c, suite, ['s1'], { keyId: 'k1', epoch, message }).then(
        () => undefined,
        (err: unknown) => err as SessionAborted,
      );
      expect(e?.body.reason).toMatch(/^WRONG_KEY_STATE/);
    }
  });
});
