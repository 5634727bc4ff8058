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
 * Real signer daemons over real WebSockets; the FakeCoordinator plays both coordinators.
 */
import { afterEach, describe, expect, it } from 'vitest';
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
import { removeTempDirs, startCluster, type Cluster } from './helpers/cluster.ts';
import { dkgStart, refreshStart, refs, runKeySession, runSign, gather } from './helpers/drive.ts';
import { ecdsaSign } from './helpers/ecdsa-drive.ts';
import { FakeCoordinator } from './helpers/fake-coordinator.ts';
import { askResolve, nextAbort, resolve } from './helpers/resolve-drive.ts';
import { patient, snapshot } from './helpers/state.ts';
import { signRequest } from './helpers/drive.ts';

let coordinator: FakeCoordinator | undefined;
let cluster: Cluster | undefined;

afterEach(async () => {
  await cluster?.stop();
  await coordinator?.close();
  cluster = undefined;
  coordinator = undefined;
  removeTempDirs();
});

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
    coordinator = patient(await FakeCoordinator.start(), 120_000);
    cluster = await startCluster(coordinator, ids);
    const c = coordinator;
    const participants = refs(ids);
    const dkg = await runKeySession(c, 'dkg', suite, participants, dkgStart(KEY, suite, t, participants));
    const refresh = await runKeySession(c, 'refresh', suite, participants, refreshStart(KEY, 0, participants), { noCommit: true });
    const committed = ids.slice(0, t - 1);
    const rest = ids.slice(t - 1);
    for (const id of committed) c.send(id, { kind: 'refresh', suite, sessionId: refresh.sessionId, round: KEY_ROUND.COMMIT }, { envelopes: refresh.confirms });
    await gather(c, committed, 'refresh', KEY_ROUND.ACK);
    for (const id of committed) expect(sharesOf(cluster, id)).toEqual([`${KEY}|1|active`]);

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
    for (const id of rest) expect(sharesOf(cluster, id)).toEqual([`${KEY}|0|active`, `${KEY}|1|pending`]);
    expect(rest.flatMap((id) => c.pending(id)).filter((e) => e.header.round === KEY_ROUND.CONTRIBUTION)).toEqual([]);

    // The honest coordinator: every participant confirms the session again (those that activated it too), then COMMIT.
    const answers = await askResolve(c, ids, { kind: 'refresh', suite, sessionId: refresh.sessionId, keyId: KEY, epoch: 1 });
    for (const id of ids) {
      expect(answers.get(id)!.header.round).toBe(KEY_ROUND.CONFIRM);
      expect(equalBytes(encodeEnvelope(answers.get(id)!), encodeEnvelope(confirmOf(id)))).toBe(true);
    }
    expect(await resolve(c, ids, { kind: 'refresh', suite, sessionId: refresh.sessionId, keyId: KEY, epoch: 1 })).toBe('committed');
    for (const id of ids) expect(sharesOf(cluster, id)).toEqual([`${KEY}|1|active`]);

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
