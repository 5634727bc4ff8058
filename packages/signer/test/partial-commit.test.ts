/**
 * Issue 10, finding 3: "A coordinator can destroy keys with t > (n+1)/2". A lying
 * coordinator runs a refresh to its end, delivers the COMMIT to t - 1 signers only
 * (they activate epoch e + 1 and wipe epoch e), then tells the others to drop their
 * pending e + 1 share: with a second, authorised refresh START, and with a bare ABORT.
 * Had they dropped it, no t signers would share an epoch: the key would be gone for
 * good. Here none drops it: the START is refused PENDING_UNRESOLVED (carrying the
 * signer's own CONFIRM), the ABORT is ignored without a VETO; then an honest
 * coordinator resolves the session (RESOLVE -> every participant's CONFIRM -> COMMIT)
 * and the key signs under its original public key, every signer at one epoch.
 * The same for a reshare, where old holders leaving the key must also keep their old
 * share until the reshare is committed, and a leaver's VETO (it holds no share of the
 * session, truthfully) must not make the members drop theirs.
 * Real signer daemons over real WebSockets; the FakeCoordinator plays both coordinators.
 */
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import { equalBytes } from '@noble/curves/utils.js';
import { aggregate, verifySignature, type PublicKeyPackage } from '@keyquorum/crypto';
import {
  ECDSA_SUITE,
  KEY_ROUND,
  SIGN_ROUND,
  decodeBody,
  encodeEnvelope,
  fromWirePublicKey,
  type Envelope,
  type ParticipantRef,
  type SignCommitmentBody,
  type SignShareBody,
} from '@keyquorum/protocol';
import type { Cluster } from './helpers/cluster.ts';
import { dkgStart, refreshStart, refs, runKeySession, runSign, gather } from './helpers/drive.ts';
import { ecdsaSign } from './helpers/ecdsa-drive.ts';
import { useFakeCluster } from './helpers/fake-cluster.ts';
import { runReshare, reshareStart } from './helpers/reshare-drive.ts';
import { askResolve, nextAbort, resolve } from './helpers/resolve-drive.ts';
import { snapshot } from './helpers/state.ts';
import { signRequest } from './helpers/drive.ts';

const fake = useFakeCluster();

const KEY = 'victim';

function frostSign(pkg: PublicKeyPackage, participants: ParticipantRef[], message: Uint8Array, signed: { commitments: Envelope[]; shares: Envelope[] }): Uint8Array {
  const idOf = (e: Envelope) => participants.find((p) => p.signer === e.header.from)!.index;
  const commitments = signed.commitments.map((e) => ({ id: idOf(e), ...decodeBody<SignCommitmentBody>('sign', SIGN_ROUND.COMMITMENT, pkg.suite, e.payload) }));
  const shares = signed.shares.map((e) => ({ id: idOf(e), share: decodeBody<SignShareBody>('sign', SIGN_ROUND.SHARE, pkg.suite, e.payload).share }));
  return aggregate(pkg, { message, commitments }, shares);
}

const sharesOf = (cl: Cluster, id: string) => snapshot(cl.signers.find((s) => s.id === id)!.dataDir).shares.map((r) => r.split('|').slice(0, 3).join('|'));

describe('a coordinator that partially commits a refresh cannot make the other signers drop their new share', () => {
  it.each([
    ['2-of-2', 'frost-ed25519', ['s1', 's2'], 2],
    ['3-of-3', 'frost-secp256k1', ['s1', 's2', 's3'], 3],
    ['3-of-4', 'frost-secp256k1-tr', ['s1', 's2', 's3', 's4'], 3],
    ['2-of-2', ECDSA_SUITE, ['s1', 's2'], 2],
  ] as const)('%s %s: a second refresh START and a bare ABORT are refused, then an honest coordinator commits it and the key signs', async (_name, suite, idList, t) => {
    const ids = [...idList];
    const { c, cl } = await fake.start(ids, { patienceMs: 120_000 });
    const participants = refs(ids);
    const dkg = await runKeySession(c, 'dkg', suite, participants, dkgStart(KEY, suite, t, participants));
    const refresh = await runKeySession(c, 'refresh', suite, participants, refreshStart(KEY, 0, participants), { noCommit: true });
    const committed = ids.slice(0, t - 1);
    const rest = ids.slice(t - 1);
    for (const id of committed) c.send(id, { kind: 'refresh', suite, sessionId: refresh.sessionId, round: KEY_ROUND.COMMIT }, { envelopes: refresh.confirms });
    await gather(c, committed, 'refresh', KEY_ROUND.ACK);
    for (const id of committed) expect(sharesOf(cl, id)).toEqual([`${KEY}|1|active`]);

    // The lie: a bare ABORT (it also ends the live, confirmed session), then a new authorised refresh START (a new
    // epoch would overwrite the pending one); twice.
    const confirmOf = (id: string) => refresh.confirms.find((e) => e.header.from === id)!;
    for (const attempt of ['abort', 'start', 'abort', 'start'] as const) {
      if (attempt === 'abort') {
        for (const id of rest) c.send(id, { kind: 'refresh', suite, sessionId: refresh.sessionId, round: KEY_ROUND.ABORT }, { reason: 'aborted (a lie)' });
        continue;
      }
      const proposal = randomBytes(32);
      const start = refreshStart(KEY, 0, participants);
      for (const id of rest) c.send(id, { kind: 'refresh', suite, sessionId: proposal, round: KEY_ROUND.START }, start);
      for (const id of rest) {
        const body = await nextAbort(c, id, 'refresh', suite);
        expect(body.reason).toMatch(/^PENDING_UNRESOLVED/);
        // The refusal carries the signer's own CONFIRM of the unresolved session, byte for byte.
        expect(body.envelopes).toHaveLength(1);
        expect(equalBytes(encodeEnvelope(body.envelopes![0]!), encodeEnvelope(confirmOf(id)))).toBe(true);
      }
    }
    for (const id of rest) expect(sharesOf(cl, id)).toEqual([`${KEY}|0|active`, `${KEY}|1|pending`]);
    expect(rest.flatMap((id) => c.pending(id)).filter((e) => e.header.round === KEY_ROUND.CONTRIBUTION)).toEqual([]);

    // The honest coordinator: every participant confirms the session again (those that activated it too), then COMMIT.
    const answers = await askResolve(c, ids, { kind: 'refresh', suite, sessionId: refresh.sessionId, keyId: KEY, epoch: 1 });
    for (const id of ids) {
      expect(answers.get(id)!.header.round).toBe(KEY_ROUND.CONFIRM);
      expect(equalBytes(encodeEnvelope(answers.get(id)!), encodeEnvelope(confirmOf(id)))).toBe(true);
    }
    expect(await resolve(c, ids, { kind: 'refresh', suite, sessionId: refresh.sessionId, keyId: KEY, epoch: 1 })).toBe('committed');
    for (const id of ids) expect(sharesOf(cl, id)).toEqual([`${KEY}|1|active`]);

    // A quorum holding the previously pending shares signs at epoch 1 under the original public key.
    const quorum = participants.slice(ids.length - t);
    const message = sha256(utf8ToBytes('after the partial commit'));
    if (suite === ECDSA_SUITE) {
      const start = { keyId: KEY, epoch: 1, message, request: signRequest({ keyId: KEY, epoch: 1, message }) };
      await expect(ecdsaSign(c, quorum, dkg.publicKey.groupKey, start)).resolves.toHaveLength(64);
    } else {
      const original = fromWirePublicKey(dkg.publicKey);
      const signed = await runSign(c, suite, quorum.map((p) => p.signer), { keyId: KEY, epoch: 1, message });
      expect(verifySignature(original, message, frostSign(fromWirePublicKey(refresh.publicKey), participants, message, signed))).toBe(true);
      // And the key's sessions are unblocked: the next refresh runs to epoch 2.
      const next = await runKeySession(c, 'refresh', suite, participants, refreshStart(KEY, 1, participants));
      expect(next.epoch).toBe(2);
      expect(equalBytes(fromWirePublicKey(next.publicKey).groupKey, original.groupKey)).toBe(true);
    }
  }, 600_000);
});

describe('a coordinator that partially commits a reshare cannot make members drop their new share, nor leavers vouch against it', () => {
  it('2-of-4 -> 3-of-3 frost-ed25519: the COMMIT reaches one member and one leaver; lies are refused; an honest coordinator resolves it among the new members and the key signs at the new epoch', async () => {
    const suite = 'frost-ed25519';
    const { c, cl } = await fake.start(['s1', 's2', 's3', 's4', 's5'], { patienceMs: 120_000 });
    const oldRefs = refs(['s1', 's2', 's3', 's4']);
    const dkg = await runKeySession(c, 'dkg', suite, oldRefs, dkgStart(KEY, suite, 2, oldRefs));
    // s1, s2 deal; s2, s3, s5 are the new members (3-of-3); s1 (a dealer) and s4 (no part in it) leave.
    const newRefs: ParticipantRef[] = [{ signer: 's2', index: 1 }, { signer: 's3', index: 2 }, { signer: 's5', index: 3 }];
    const members = newRefs.map((p) => p.signer);
    const leavers = ['s1', 's4'];
    const params = { keyId: KEY, suite, epoch: 0, oldPublicKey: dkg.publicKey, oldParticipants: oldRefs, dealers: oldRefs.slice(0, 2), newParticipants: newRefs, newThreshold: 3 };
    const reshare = await runReshare(c, params);
    const session = { kind: 'reshare', suite, sessionId: reshare.sessionId, keyId: KEY, epoch: 1 };
    const frame = (round: number) => ({ kind: 'reshare', suite, sessionId: reshare.sessionId, round });
    const confirmOf = (id: string) => reshare.confirms.find((e) => e.header.from === id)!;

    // The liar: COMMIT to s2 (a member) and s4 (a leaver) only. s2 activates epoch 1 and wipes epoch 0; s4 leaves.
    for (const id of ['s2', 's4']) c.send(id, frame(KEY_ROUND.COMMIT), { envelopes: reshare.confirms });
    await gather(c, ['s2', 's4'], 'reshare', KEY_ROUND.ACK);
    const before = { s1: [`${KEY}|0|active`], s2: [`${KEY}|1|active`], s3: [`${KEY}|0|active`, `${KEY}|1|pending`], s4: [], s5: [`${KEY}|1|pending`] };
    const expectShares = (want: Record<string, string[]>) => {
      for (const [id, rows] of Object.entries(want)) expect(sharesOf(cl, id), id).toEqual(rows);
    };
    expectShares(before);

    // Lie 1: a bare ABORT to everyone the COMMIT missed.
    for (const id of ['s1', 's3', 's5']) c.send(id, frame(KEY_ROUND.ABORT), { reason: 'aborted (a lie)' });
    // Lie 2: a new, authorised reshare START to the members left pending: refused, naming the session (CONFIRM and member refs).
    const proposal = randomBytes(32);
    const again = reshareStart({ ...params, dealers: [oldRefs[0]!, oldRefs[2]!] });
    for (const id of ['s3', 's5']) c.send(id, { kind: 'reshare', suite, sessionId: proposal, round: KEY_ROUND.START }, again);
    for (const id of ['s3', 's5']) {
      const body = await nextAbort(c, id, 'reshare', suite);
      expect(body.reason).toMatch(/^PENDING_UNRESOLVED/);
      expect(equalBytes(encodeEnvelope(body.envelopes![0]!), encodeEnvelope(confirmOf(id)))).toBe(true);
      expect(body.participants).toEqual(newRefs);
    }
    // Lie 3: RESOLVE naming other refs (two members' indices swapped): a member refuses to vouch for them.
    const swapped = [{ signer: 's2', index: 2 }, { signer: 's3', index: 1 }, { signer: 's5', index: 3 }];
    c.send('s3', frame(KEY_ROUND.RESOLVE), { keyId: KEY, epoch: 1, participants: swapped });
    expect((await nextAbort(c, 's3', 'reshare', suite)).reason).toMatch(/^BAD_PARTICIPANTS/);
    // Lie 4: a leaver asked with the members named is no one to veto: refused, no VETO.
    c.send('s1', frame(KEY_ROUND.RESOLVE), { keyId: KEY, epoch: 1, participants: newRefs });
    expect((await nextAbort(c, 's1', 'reshare', suite)).reason).toMatch(/^BAD_PARTICIPANTS/);
    // Lie 5: a leaver asked without the members vetoes (truthfully: it holds no share of the session and never will);
    // that VETO proves nothing about the members' CONFIRMs, and the members refuse it.
    const [leaverVeto] = (await askResolve(c, ['s1'], session)).values();
    expect(leaverVeto!.header.round).toBe(KEY_ROUND.VETO);
    for (const id of ['s3', 's5']) {
      c.send(id, frame(KEY_ROUND.ABORT), { reason: 'vetoed (by a leaver)', envelopes: [leaverVeto] });
      expect((await nextAbort(c, id, 'reshare', suite)).reason).toMatch(/^BAD_VETO/);
    }
    expectShares(before);
    expect(['s3', 's5'].flatMap((id) => c.pending(id)).filter((e) => e.header.round === KEY_ROUND.CONTRIBUTION)).toEqual([]);

    // The honest coordinator: RESOLVE naming the members to the members only; each confirms again (s2, which activated, too).
    const named = { ...session, participants: newRefs };
    const answers = await askResolve(c, members, named);
    for (const id of members) expect(equalBytes(encodeEnvelope(answers.get(id)!), encodeEnvelope(confirmOf(id)))).toBe(true);
    // Every member's CONFIRM: COMMIT to the members and the leavers. s1 leaves now (its earlier VETO notwithstanding), s4 ACKs again.
    expect(await resolve(c, members, named, leavers)).toBe('committed');
    expectShares({ s1: [], s2: [`${KEY}|1|active`], s3: [`${KEY}|1|active`], s4: [], s5: [`${KEY}|1|active`] });
    for (const id of leavers) expect(snapshot(cl.signers.find((x) => x.id === id)!.dataDir).retired).toEqual([KEY]);

    // The new members sign at epoch 1 under the original public key, and the key's sessions are unblocked.
    const message = sha256(utf8ToBytes('after the partial reshare'));
    const signed = await runSign(c, suite, members, { keyId: KEY, epoch: 1, message });
    expect(verifySignature(fromWirePublicKey(dkg.publicKey), message, frostSign(fromWirePublicKey(reshare.publicKey), newRefs, message, signed))).toBe(true);
    const next = await runKeySession(c, 'refresh', suite, newRefs, refreshStart(KEY, 1, newRefs));
    expect(next.epoch).toBe(2);
  }, 600_000);
});
