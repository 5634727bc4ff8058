/**
 * Three real signer daemons (real SQLite keystores, real sockets on 127.0.0.1)
 * driven by a minimal coordinator through the whole key lifecycle of
 * docs/cluster-protocol.md: DKG, signing with different quorums, refresh, signing at
 * the new epoch only, a COMMIT re-sent after a restart, retirement with attestations.
 */
import { describe, expect, it } from 'vitest';
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import { equalBytes } from '@noble/curves/utils.js';
import {
  KEY_ROUND,
  RETIRE_ROUND,
  SIGN_ROUND,
  decodeBody,
  fromWirePublicKey,
  generateIdentity,
  openEnvelope,
  signClientRequest,
  signDigest,
  type Envelope,
  type ParticipantRef,
  type RetireAttestBody,
  type SignCommitmentBody,
  type SignShareBody,
} from '@keyquorum/protocol';
import { aggregate, verifySignature, type PublicKeyPackage, type SigningTarget } from '@keyquorum/crypto';
import { MAX_ATTEMPTS_PER_REQUEST, SignerDaemon } from '../src/index.ts';
import { ENV, captureLog, optionsFor, type Cluster } from './helpers/cluster.ts';
import { SessionAborted, dkgStart, gather, refreshStart, refs, runKeySession, runRetire, runSign, signRequest, type SignParams } from './helpers/drive.ts';
import type { FakeCoordinator } from './helpers/fake-coordinator.ts';
import { useFakeCluster } from './helpers/fake-cluster.ts';

const fake = useFakeCluster();

const IDS = ['s1', 's2', 's3'];

async function setup(): Promise<{ c: FakeCoordinator; cl: Cluster; participants: ParticipantRef[] }> {
  const { c, cl } = await fake.start(IDS);
  return { c, cl, participants: refs(IDS) };
}

/** What the coordinator does with a quorum's COMMITMENT and SHARE envelopes. */
function aggregateSigned(pkg: PublicKeyPackage, participants: ParticipantRef[], message: Uint8Array, signed: { commitments: Envelope[]; shares: Envelope[] }, target?: SigningTarget): Uint8Array {
  const idOf = (e: Envelope) => participants.find((p) => p.signer === e.header.from)!.index;
  const commitments = signed.commitments.map((e) => ({ id: idOf(e), ...decodeBody<SignCommitmentBody>('sign', SIGN_ROUND.COMMITMENT, pkg.suite, e.payload) }));
  const shares = signed.shares.map((e) => ({ id: idOf(e), share: decodeBody<SignShareBody>('sign', SIGN_ROUND.SHARE, pkg.suite, e.payload).share }));
  return aggregate(pkg, { message, commitments }, shares, target);
}

async function expectAbort(p: Promise<unknown>, code: string): Promise<SessionAborted> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(SessionAborted);
  expect((e as SessionAborted).body.reason).toMatch(new RegExp(`^${code}`));
  return e as SessionAborted;
}

describe.each([
  ['frost-secp256k1-tr', { taproot: {} }],
  ['frost-ed25519', undefined],
  ['frost-secp256k1', { path: 'm/0/7' }],
] as const)('%s', (suite, target) => {
  it('runs DKG, signs with two quorums, refreshes, signs at the new epoch only, and retires with attestations', async () => {
    const { c, participants } = await setup();
    const dkg = await runKeySession(c, 'dkg', suite, participants, dkgStart('k1', suite, 2, participants));
    expect(dkg.epoch).toBe(0);
    const pkg = fromWirePublicKey(dkg.publicKey);
    const message = sha256(utf8ToBytes('pay 1 BTC'));
    const params: SignParams = { keyId: 'k1', epoch: 0, message, ...target };

    for (const quorum of [['s1', 's3'], ['s2', 's3'], ['s1', 's2', 's3']]) {
      const signed = await runSign(c, suite, quorum, params);
      expect(verifySignature(pkg, message, aggregateSigned(pkg, participants, message, signed, target), target)).toBe(true);
    }

    const refreshed = await runKeySession(c, 'refresh', suite, participants, refreshStart('k1', 0, participants));
    expect(refreshed.epoch).toBe(1);
    const pkg1 = fromWirePublicKey(refreshed.publicKey);
    expect(equalBytes(pkg1.groupKey, pkg.groupKey)).toBe(true);
    expect(equalBytes(pkg1.verifyingShares[1]!, pkg.verifyingShares[1]!)).toBe(false);

    const signed1 = await runSign(c, suite, ['s1', 's2'], { ...params, epoch: 1 });
    expect(verifySignature(pkg, message, aggregateSigned(pkg1, participants, message, signed1, target), target)).toBe(true);
    await expectAbort(runSign(c, suite, ['s1', 's2'], params), 'WRONG_KEY_STATE');

    const attests = await runRetire(c, suite, 'k1', 1, ['s1', 's2'], IDS);
    for (const a of attests) {
      const signer = fake.cl.signers.find((s) => s.id === a.header.from)!;
      openEnvelope(a, signer.identity.publicKey);
      const body = decodeBody<RetireAttestBody>('retire', RETIRE_ROUND.ATTEST, suite, a.payload);
      const index = participants.find((p) => p.signer === signer.id)!.index;
      expect(body).toMatchObject({ keyId: 'k1', epoch: 1 });
      expect(equalBytes(body.verifyingShare, pkg1.verifyingShares[index]!)).toBe(true);
    }
    await expectAbort(runSign(c, suite, ['s1', 's2'], { ...params, epoch: 1 }), 'WRONG_KEY_STATE');
  });
});

describe('two-phase commit across restarts', () => {
  it('a signer down when COMMIT was sent activates the new epoch from the COMMIT re-sent after it restarts', async () => {
    const { c, cl, participants } = await setup();
    const suite = 'frost-ed25519';
    await runKeySession(c, 'dkg', suite, participants, dkgStart('k1', suite, 2, participants));
    const refresh = await runKeySession(c, 'refresh', suite, participants, refreshStart('k1', 0, participants), { noCommit: true });
    for (const id of ['s1', 's2']) c.send(id, { kind: 'refresh', suite, sessionId: refresh.sessionId, round: KEY_ROUND.COMMIT }, { envelopes: refresh.confirms });
    await gather(c, ['s1', 's2'], 'refresh', KEY_ROUND.ACK);

    await cl.daemons.get('s3')!.stop();
    const s3 = cl.signers.find((s) => s.id === 's3')!;
    const restarted = new SignerDaemon(optionsFor(s3, cl.signers, c), { env: ENV, log: captureLog().log });
    fake.extra.push(restarted);
    await restarted.start();
    await c.waitFor('s3');
    // The pending epoch is not usable before its COMMIT.
    const message = sha256(utf8ToBytes('after commit'));
    await expectAbort(runSign(c, suite, ['s3'], { keyId: 'k1', epoch: 1, message }), 'WRONG_KEY_STATE');
    c.send('s3', { kind: 'refresh', suite, sessionId: refresh.sessionId, round: KEY_ROUND.COMMIT }, { envelopes: refresh.confirms });
    await gather(c, ['s3'], 'refresh', KEY_ROUND.ACK);
    // A second copy of the COMMIT (lost ACK) is ACKed again without change.
    c.send('s3', { kind: 'refresh', suite, sessionId: refresh.sessionId, round: KEY_ROUND.COMMIT }, { envelopes: refresh.confirms });
    await gather(c, ['s3'], 'refresh', KEY_ROUND.ACK);

    const pkg = fromWirePublicKey(refresh.publicKey);
    const signed = await runSign(c, suite, ['s2', 's3'], { keyId: 'k1', epoch: 1, message });
    expect(verifySignature(pkg, message, aggregateSigned(pkg, participants, message, signed))).toBe(true);
  });

  it('COMMIT whose CONFIRMs disagree is refused and the key stays pending (not signable)', async () => {
    const { c, participants } = await setup();
    const suite = 'frost-secp256k1';
    const first = await runKeySession(c, 'dkg', suite, participants, dkgStart('k1', suite, 2, participants), { noCommit: true });
    const other = await runKeySession(c, 'dkg', suite, participants, dkgStart('k2', suite, 2, participants), { noCommit: true });
    const mixed = [first.confirms[0]!, first.confirms[1]!, other.confirms[2]!];
    c.send('s1', { kind: 'dkg', suite, sessionId: first.sessionId, round: KEY_ROUND.COMMIT }, { envelopes: mixed });
    await expectAbort(gather(c, ['s1'], 'dkg', KEY_ROUND.ACK), 'BAD_TRANSCRIPT');
    await expectAbort(runSign(c, suite, ['s1', 's2'], { keyId: 'k1', epoch: 0, message: new Uint8Array(32) }), 'WRONG_KEY_STATE');
  });
});

describe('client requests', () => {
  it('accepts one sign request for at most MAX_ATTEMPTS_PER_REQUEST (10) STARTs (retries with other quorums), then refuses it as a replay', async () => {
    expect(MAX_ATTEMPTS_PER_REQUEST).toBe(10);
    const { c, participants } = await setup();
    const suite = 'frost-ed25519';
    await runKeySession(c, 'dkg', suite, participants, dkgStart('k1', suite, 2, participants));
    const params = { keyId: 'k1', epoch: 0, message: sha256(utf8ToBytes('once')) };
    const request = signRequest(params);
    for (let attempt = 0; attempt < MAX_ATTEMPTS_PER_REQUEST; attempt++) await runSign(c, suite, ['s1', 's2'], params, request);
    await expectAbort(runSign(c, suite, ['s1', 's2'], params, request), 'REPLAY');
  });

  it('refuses a request signed by an untrusted client, or authorising another message', async () => {
    const { c, participants } = await setup();
    const suite = 'frost-ed25519';
    await runKeySession(c, 'dkg', suite, participants, dkgStart('k1', suite, 2, participants));
    const params = { keyId: 'k1', epoch: 0, message: sha256(utf8ToBytes('a')) };
    const stranger = signClientRequest(generateIdentity(), { op: 'sign', keyId: 'k1', digest: signDigest(params) });
    await expectAbort(runSign(c, suite, ['s1', 's2'], params, stranger), 'UNAUTHORISED');
    const otherMessage = signRequest({ ...params, message: sha256(utf8ToBytes('b')) });
    await expectAbort(runSign(c, suite, ['s1', 's2'], params, otherMessage), 'BAD_DIGEST');
  });

});
