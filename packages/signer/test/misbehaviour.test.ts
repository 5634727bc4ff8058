/**
 * Attacks a signer must detect (docs/cluster-protocol.md "Frames", ARCHITECTURE.md
 * "Trust model"): a relay altering or replaying peer envelopes (abort, no culprit), a
 * peer sending a bad secret share under its own valid signature (abort naming it), a
 * relay swapping this signer's own commitment, unpinned participants, and a signer
 * whose share computation is corrupted (the coordinator's aggregate names it).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { x25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import {
  KEY_ROUND,
  SIGN_ROUND,
  decodeBody,
  encodeBody,
  encryptTo,
  fromWirePublicKey,
  openEnvelope,
  sealEnvelope,
  type Envelope,
  type SignCommitmentBody,
  type SignShareBody,
} from '@keyquorum/protocol';
import { CryptoError, aggregate } from '@keyquorum/crypto';
import { corruptShareBehaviour } from './fixtures/corrupt-share.ts';
import type { Cluster, ClusterOptions } from './helpers/cluster.ts';
import { SessionAborted, dkgStart, gather, refs, runKeySession, runSign, signRequest } from './helpers/drive.ts';
import type { FakeCoordinator } from './helpers/fake-coordinator.ts';
import { useFakeCluster } from './helpers/fake-cluster.ts';

const fake = useFakeCluster();

const IDS = ['s1', 's2', 's3'];
const participants = refs(IDS);

const setup = (opts: ClusterOptions = {}): Promise<{ c: FakeCoordinator; cl: Cluster }> => fake.start(IDS, opts);

async function aborted(p: Promise<unknown>): Promise<SessionAborted> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(SessionAborted);
  return e as SessionAborted;
}

describe('peer misbehaviour', () => {
  it('a signer whose share computation is corrupted is named by the aggregate, while its envelopes verify', async () => {
    const { c, cl } = await setup({ behaviour: { s2: corruptShareBehaviour } });
    const suite = 'frost-secp256k1-tr';
    const dkg = await runKeySession(c, 'dkg', suite, participants, dkgStart('k1', suite, 2, participants));
    const pkg = fromWirePublicKey(dkg.publicKey);
    const message = sha256(utf8ToBytes('m'));
    const signed = await runSign(c, suite, ['s1', 's2'], { keyId: 'k1', epoch: 0, message });
    const evil = signed.shares.find((e) => e.header.from === 's2')!;
    expect(() => openEnvelope(evil, cl.signers[1]!.identity.publicKey)).not.toThrow();
    const idOf = (e: Envelope) => participants.find((p) => p.signer === e.header.from)!.index;
    const commitments = signed.commitments.map((e) => ({ id: idOf(e), ...decodeBody<SignCommitmentBody>('sign', SIGN_ROUND.COMMITMENT, suite, e.payload) }));
    const shares = signed.shares.map((e) => ({ id: idOf(e), share: decodeBody<SignShareBody>('sign', SIGN_ROUND.SHARE, suite, e.payload).share }));
    let error: unknown;
    try {
      aggregate(pkg, { message, commitments }, shares);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CryptoError);
    expect((error as CryptoError).code).toBe('INVALID_SIGNATURE_SHARE');
    expect((error as CryptoError).culprits).toEqual([2]);
  });

  it('DKG aborts without culprits when the relay alters a peer round-1 payload (its signature fails)', async () => {
    const { c } = await setup();
    const suite = 'frost-ed25519';
    const tamper = (envs: Envelope[], to: string) =>
      to !== 's1' ? envs : envs.map((e) => (e.header.from !== 's2' ? e : { ...e, payload: e.payload.map((b, i) => (i === e.payload.length - 1 ? b ^ 1 : b)) }));
    const e = await aborted(runKeySession(c, 'dkg', suite, participants, dkgStart('k1', suite, 2, participants), { r1: tamper }));
    expect(e.signer).toBe('s1');
    expect(e.body.reason).toMatch(/^BAD_ENVELOPE/);
    expect(e.body.culprits).toBeUndefined();
  });

  it('DKG aborts without culprits when the relay replays a round-1 envelope from another session', async () => {
    const { c } = await setup();
    const suite = 'frost-ed25519';
    const old = await runKeySession(c, 'dkg', suite, participants, dkgStart('k0', suite, 2, participants), { noCommit: true });
    expect(old.confirms).toHaveLength(3);
    let replayed: Envelope | undefined;
    const capture = (envs: Envelope[]) => {
      replayed ??= envs.find((e) => e.header.from === 's2');
      return envs;
    };
    await runKeySession(c, 'dkg', suite, participants, dkgStart('k1', suite, 2, participants), { r1: capture, noCommit: true });
    const replay = (envs: Envelope[], to: string) => (to !== 's1' ? envs : envs.map((e) => (e.header.from === 's2' ? replayed! : e)));
    const e = await aborted(runKeySession(c, 'dkg', suite, participants, dkgStart('k2', suite, 2, participants), { r1: replay }));
    expect(e.body.reason).toMatch(/^BAD_TRANSCRIPT/);
    expect(e.body.culprits).toBeUndefined();
  });

  it('DKG names the peer whose validly signed round-2 share fails its commitment check', async () => {
    const { c, cl } = await setup();
    const suite = 'frost-secp256k1';
    const [s1, s2] = cl.signers;
    const forge = (envs: Envelope[], to: string) =>
      to !== 's1'
        ? envs
        : envs.map((e) => {
            if (e.header.from !== 's2') return e;
            const { payload, enc } = encryptTo(s2!.identity, s1!.identity.publicKey, e.header, encodeBody({ signingShare: new Uint8Array(32).fill(1) }));
            return sealEnvelope(s2!.identity, e.header, payload, { enc });
          });
    const e = await aborted(runKeySession(c, 'dkg', suite, participants, dkgStart('k1', suite, 2, participants), { r2: forge }));
    expect(e.signer).toBe('s1');
    expect(e.body.reason).toMatch(/^PEER_MISBEHAVED/);
    expect(e.body.culprits).toEqual(['s2']);
  });

  it('DKG names the peer whose validly signed round-2 payload cannot be decrypted', async () => {
    const { c, cl } = await setup();
    const suite = 'frost-ed25519';
    const s2 = cl.signers[1]!;
    const garble = (envs: Envelope[], to: string) =>
      to !== 's3' ? envs : envs.map((e) => (e.header.from !== 's2' ? e : sealEnvelope(s2.identity, e.header, randomBytes(64), { enc: { eph: x25519.getPublicKey(randomBytes(32)) } })));
    const e = await aborted(runKeySession(c, 'dkg', suite, participants, dkgStart('k1', suite, 2, participants), { r2: garble }));
    expect(e.signer).toBe('s3');
    expect(e.body.culprits).toEqual(['s2']);
  });

  it('refuses a DKG that names a participant this signer has not pinned', async () => {
    const { c } = await setup();
    const suite = 'frost-ed25519';
    const withStranger = refs(['s1', 's2', 'mallory']);
    c.send('s1', { kind: 'dkg', suite, sessionId: randomBytes(32), round: KEY_ROUND.START }, dkgStart('k1', suite, 2, withStranger));
    const e = await aborted(gather(c, ['s1'], 'dkg', KEY_ROUND.CONTRIBUTION));
    expect(e.body.reason).toMatch(/^UNPINNED_PEER/);
  });
});

describe('signing nonces', () => {
  it("refuses to sign when the relay swaps this signer's own commitment, and never sends a share", async () => {
    const { c } = await setup();
    const suite = 'frost-ed25519';
    await runKeySession(c, 'dkg', suite, participants, dkgStart('k1', suite, 2, participants));
    const params = { keyId: 'k1', epoch: 0, message: sha256(utf8ToBytes('x')) };
    const a = randomBytes(32);
    const b = randomBytes(32);
    for (const id of ['s1', 's2']) c.send(id, { kind: 'sign', suite, sessionId: a, round: SIGN_ROUND.START }, { ...params, request: signRequest(params) });
    const first = [...(await gather(c, ['s1', 's2'], 'sign', SIGN_ROUND.COMMITMENT)).values()].map((l) => l[0]!);
    c.send('s1', { kind: 'sign', suite, sessionId: b, round: SIGN_ROUND.START }, { ...params, request: signRequest(params) });
    const [other] = (await gather(c, ['s1'], 'sign', SIGN_ROUND.COMMITMENT)).get('s1')!;
    const swapped = first.map((e) => (e.header.from === 's1' ? { ...other!, header: { ...other!.header, sessionId: a } } : e));
    c.send('s1', { kind: 'sign', suite, sessionId: a, round: SIGN_ROUND.SIGN }, { envelopes: swapped });
    const e = await aborted(gather(c, ['s1'], 'sign', SIGN_ROUND.SHARE));
    expect(e.body.reason).toMatch(/^OWN_MESSAGE_ALTERED/);
    // The attempt is gone: a correct SIGN for it now finds no session.
    c.send('s1', { kind: 'sign', suite, sessionId: a, round: SIGN_ROUND.SIGN }, { envelopes: first });
    const err = await c.next('s1', (x) => x.header.kind === 'control');
    expect(decodeBody<{ code: string }>('control', 3, 'none', err.payload).code).toBe('UNKNOWN_SESSION');
  });

  it('an ABORT from the coordinator discards the nonce: a later SIGN for that attempt is refused', async () => {
    const { c } = await setup();
    const suite = 'frost-ed25519';
    await runKeySession(c, 'dkg', suite, participants, dkgStart('k1', suite, 2, participants));
    const params = { keyId: 'k1', epoch: 0, message: sha256(utf8ToBytes('y')) };
    const id = randomBytes(32);
    for (const s of ['s1', 's2']) c.send(s, { kind: 'sign', suite, sessionId: id, round: SIGN_ROUND.START }, { ...params, request: signRequest(params) });
    const commitments = [...(await gather(c, ['s1', 's2'], 'sign', SIGN_ROUND.COMMITMENT)).values()].map((l) => l[0]!);
    c.send('s1', { kind: 'sign', suite, sessionId: id, round: SIGN_ROUND.ABORT }, { reason: 'quorum changed' });
    c.send('s1', { kind: 'sign', suite, sessionId: id, round: SIGN_ROUND.SIGN }, { envelopes: commitments });
    const err = await c.next('s1', (x) => x.header.kind === 'control');
    expect(decodeBody<{ code: string }>('control', 3, 'none', err.payload).code).toBe('UNKNOWN_SESSION');
  });

  it('a signing attempt with no SIGN within roundTimeoutMs is aborted with TIMEOUT and its nonce discarded', async () => {
    // Key rounds inline: the 300 ms round timeout is for the signing attempt, not for a DKG's worker round trips on a loaded host.
    const { c } = await setup({ extra: { roundTimeoutMs: 300, cryptoWorkers: 0 } });
    const suite = 'frost-ed25519';
    await runKeySession(c, 'dkg', suite, participants, dkgStart('k1', suite, 2, participants));
    const params = { keyId: 'k1', epoch: 0, message: sha256(utf8ToBytes('z')) };
    const id = randomBytes(32);
    for (const s of ['s1', 's2']) c.send(s, { kind: 'sign', suite, sessionId: id, round: SIGN_ROUND.START }, { ...params, request: signRequest(params) });
    const commitments = [...(await gather(c, ['s1', 's2'], 'sign', SIGN_ROUND.COMMITMENT)).values()].map((l) => l[0]!);
    const e = await aborted(gather(c, ['s1'], 'sign', SIGN_ROUND.SHARE));
    expect(e.body.reason).toMatch(/^TIMEOUT/);
    c.send('s1', { kind: 'sign', suite, sessionId: id, round: SIGN_ROUND.SIGN }, { envelopes: commitments });
    const err = await c.next('s1', (x) => x.header.kind === 'control');
    expect(decodeBody<{ code: string }>('control', 3, 'none', err.payload).code).toBe('UNKNOWN_SESSION');
  });
});
