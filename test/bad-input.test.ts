/**
 * Bad input against a running coordinator process: malformed, oversized and
 * truncated frames, unknown kinds, wrong session ids, invalid points, bad
 * signatures and replayed messages, from unauthenticated sockets and from an
 * authenticated (allow-listed) peer. Each gets a typed ERROR; the process keeps
 * serving; keys, epochs and the audit chain are unchanged. For ecdsa-secp256k1 the
 * test speaks as a real signer of the key (its daemon stopped, its identity taken from
 * its keystore) inside live DKG and signing sessions, so malformed bodies reach the
 * coordinator's parsers and checks rather than stopping at the session lookup.
 */
import { randomBytes } from 'node:crypto';
import { hexToBytes } from '@noble/hashes/utils.js';
import {
  BROADCAST,
  CONTROL_ROUND,
  COORDINATOR_ID,
  decodeBody,
  decodeEnvelope,
  deriveSessionId,
  ECDSA_SIGN_ROUND,
  encodeBody,
  encodeEnvelope,
  generateIdentity,
  KEY_ROUND,
  keyStateOf,
  openEnvelope,
  sealEnvelope,
  SIGN_ROUND,
  type ContributionBody,
  type DeliverBody,
  type Envelope,
  type ErrorBody,
  type IdentityKey,
  type SessionKeyState,
  type SignStartBody,
} from '@keyquorum/protocol';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Keystore, loadShare } from '@keyquorum/signer';
import { Cluster } from './support/cluster.ts';
import { checkEthereum, standardVerify } from './support/verify.ts';

const SCHEME = 'frost-secp256k1-tr';
const ECDSA = 'ecdsa-secp256k1';

/** A raw socket to the coordinator's signer endpoint, recording every frame it receives. */
class RawPeer {
  readonly frames: Envelope[] = [];
  readonly closed: Promise<number>;
  private waiters: Array<() => void> = [];
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.frames.push(decodeEnvelope(new Uint8Array(data)));
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
  }

  static async connect(url: string): Promise<RawPeer> {
    const ws = new WebSocket(url);
    const peer = new RawPeer(ws);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    return peer;
  }

  /** The first frame received after the first `after` frames that passes `test`. */
  async frameAfter(after: number, test: (e: Envelope) => boolean, what = 'frame'): Promise<Envelope> {
    for (let n = after + 1; ; n++) {
      const frame = await this.nextFrame(n).catch(() => {
        throw new Error(`no ${what} after frame #${after}`);
      });
      if (test(frame)) return frame;
    }
  }

  async nextFrame(count: number): Promise<Envelope> {
    while (this.frames.length < count) {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no frame #${count}`)), 10_000);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.frames[count - 1]!;
  }

  /** Sends raw bytes and returns the code of the ERROR frame that answers them. */
  async errorFor(frame: Uint8Array | Buffer): Promise<string> {
    const before = this.frames.length;
    this.ws.send(frame, { binary: true });
    const reply = await this.frameAfter(before, (e) => e.header.kind === 'control', 'control frame');
    expect(reply.header).toMatchObject({ kind: 'control', round: CONTROL_ROUND.ERROR, from: COORDINATOR_ID });
    return decodeBody<ErrorBody>('control', CONTROL_ROUND.ERROR, reply.header.suite, reply.payload).code;
  }

  close(): void {
    this.ws.close();
  }
}

describe('bad input to the coordinator', () => {
  const intruder = generateIdentity();
  let cluster: Cluster;
  let coordinatorKey: Uint8Array;
  beforeAll(async () => {
    cluster = await Cluster.start({ initInProcess: true, signers: 3, extraSigners: { 'signer-9': intruder } });
    coordinatorKey = hexToBytes(cluster.coordinatorPublicKey);
    await cluster.client.createKey({ keyId: 'guarded', suite: SCHEME, threshold: 2, signers: cluster.signerIds });
    await cluster.client.createKey({ keyId: 'guarded-eth', suite: ECDSA, threshold: 2, signers: cluster.signerIds });
  }, 120_000);
  afterAll(async () => cluster?.stop());

  async function snapshot() {
    const keys = await cluster.client.listKeys();
    const audit = await cluster.client.audit();
    return { keys, auditLength: audit.entries.length, auditOk: audit.verification.ok };
  }

  /** Handshake as an allow-listed signer identity; returns the socket ready for frames. */
  async function authenticated(identity: IdentityKey, id: string): Promise<RawPeer> {
    const peer = await RawPeer.connect(cluster.signerUrl);
    const challenge = openEnvelope(await peer.nextFrame(1), coordinatorKey, { expect: { kind: 'control' } });
    const nonce = decodeBody<{ nonce: Uint8Array }>('control', CONTROL_ROUND.CHALLENGE, challenge.header.suite, challenge.payload).nonce;
    const auth = sealEnvelope(
      identity,
      { v: 1, kind: 'control', suite: 'none', sessionId: nonce, round: CONTROL_ROUND.AUTH, from: id, to: COORDINATOR_ID },
      encodeBody({ nonce: new Uint8Array(randomBytes(32)), coordinatorNonce: nonce, publicKey: identity.publicKey }),
    );
    peer.ws.send(encodeEnvelope(auth), { binary: true });
    const welcome = await peer.nextFrame(2);
    expect(welcome.header.round).toBe(CONTROL_ROUND.WELCOME);
    return peer;
  }

  it('an unauthenticated socket sending garbage gets MALFORMED and is closed; one sending an oversized frame gets FRAME_TOO_LARGE', async () => {
    const garbage = await RawPeer.connect(cluster.signerUrl);
    await garbage.nextFrame(1); // CHALLENGE
    expect(await garbage.errorFor(randomBytes(200))).toBe('MALFORMED');
    expect(await garbage.closed).toBeGreaterThan(1000);

    const big = await RawPeer.connect(cluster.signerUrl);
    await big.nextFrame(1);
    expect(await big.errorFor(Buffer.alloc(1024 * 1024 + 16, 0x91))).toBe('FRAME_TOO_LARGE');
    await big.closed;
  });

  it('a socket claiming a signer id it cannot sign for is refused', async () => {
    const impostor = await RawPeer.connect(cluster.signerUrl);
    const challenge = await impostor.nextFrame(1);
    const nonce = decodeBody<{ nonce: Uint8Array }>('control', CONTROL_ROUND.CHALLENGE, 'none', challenge.payload).nonce;
    const stranger = generateIdentity();
    const auth = sealEnvelope(
      stranger,
      { v: 1, kind: 'control', suite: 'none', sessionId: nonce, round: CONTROL_ROUND.AUTH, from: 'signer-1', to: COORDINATOR_ID },
      encodeBody({ nonce: new Uint8Array(randomBytes(32)), coordinatorNonce: nonce, publicKey: stranger.publicKey }),
    );
    expect(await impostor.errorFor(encodeEnvelope(auth))).toMatch(/^(BAD_SIGNATURE|UNAUTHORISED)$/);
    await impostor.closed;
    // the real signer-1 is still connected and serving
    const signers = await cluster.client.listSigners();
    expect(signers.find((s) => s.id === 'signer-1')?.connected).toBe(true);
  });

  it('an authenticated peer sending truncated, unknown-kind, wrong-session, badly signed, invalid-point and replayed frames gets typed errors, and nothing changes', async () => {
    const before = await snapshot();
    const peer = await authenticated(intruder, 'signer-9');
    const header = { v: 1 as const, kind: 'sign', suite: SCHEME, sessionId: new Uint8Array(randomBytes(32)), round: SIGN_ROUND.COMMITMENT, from: 'signer-9', to: COORDINATOR_ID };
    const commitment = sealEnvelope(intruder, header, encodeBody({ hiding: new Uint8Array(33).fill(2), binding: new Uint8Array(33).fill(2) }));
    const valid = encodeEnvelope(commitment);

    expect(await peer.errorFor(valid.subarray(0, valid.length - 9))).toBe('MALFORMED');
    const unknownKind = encodeBody({ header: { ...header, kind: 'mint' }, payload: commitment.payload, sig: commitment.sig });
    expect(await peer.errorFor(unknownKind)).toBe('UNKNOWN_KIND');
    // a session the coordinator never opened
    expect(await peer.errorFor(valid)).toMatch(/^(WRONG_SESSION|UNKNOWN_SESSION)$/);
    // a frame signed by another key than signer-9's
    const forged = sealEnvelope(generateIdentity(), header, commitment.payload);
    expect(await peer.errorFor(encodeEnvelope(forged))).toMatch(/^(BAD_SIGNATURE|WRONG_SESSION|UNKNOWN_SESSION)$/);
    // an invalid point in a body (off-curve x), in a session that does not exist either
    const badPoint = sealEnvelope(intruder, header, encodeBody({ hiding: new Uint8Array(33).fill(0xff), binding: new Uint8Array(33).fill(0xff) }));
    expect(await peer.errorFor(encodeEnvelope(badPoint))).toMatch(/^(BAD_FIELD|WRONG_SESSION|UNKNOWN_SESSION)$/);
    // a replayed handshake frame after authentication
    const replayedAuth = sealEnvelope(intruder, { ...header, kind: 'control', suite: 'none', round: CONTROL_ROUND.AUTH, to: COORDINATOR_ID }, encodeBody({ nonce: new Uint8Array(32), coordinatorNonce: new Uint8Array(32), publicKey: intruder.publicKey }));
    expect(await peer.errorFor(encodeEnvelope(replayedAuth))).toBe('WRONG_KIND');
    peer.close();

    const after = await snapshot();
    expect(after.keys).toEqual(before.keys);
    expect(after.auditOk).toBe(true);
    expect(after.auditLength).toBe(before.auditLength);
    expect(cluster.coordinator.alive).toBe(true);
  });

  describe('ecdsa-secp256k1, inside live sessions, from a real signer of the key', () => {
    // The test speaks as signer-2: its daemon stopped, its identity from its keystore.
    const AS = 'signer-2';
    let identity: IdentityKey;
    let peer: RawPeer;
    beforeAll(async () => {
      await cluster.killSigner(AS, 'SIGTERM');
      await cluster.waitSignerState(AS, false);
      identity = cluster.identityOf(AS);
      peer = await authenticated(identity, AS);
      await cluster.waitSignerState(AS, true);
    });
    afterAll(async () => {
      peer?.close();
      await cluster.waitSignerState(AS, false);
      await cluster.startSigner(AS);
    });

    /** A frame signed as signer-2 (or by `by`) with this header, its body encoded. */
    const frame = (header: { kind: string; sessionId: Uint8Array; round: number; to?: string; suite?: string }, body: unknown, by: IdentityKey = identity) =>
      encodeEnvelope(sealEnvelope(by, { v: 1, suite: ECDSA, from: AS, to: COORDINATOR_ID, ...header }, encodeBody(body)));

    /** Waits for the coordinator's START (kind, round 0) to signer-2, answers it with a CONTRIBUTION, and returns the derived session id. */
    async function contribute(kind: string, keyId: string, participants: string[], beforeContributing: (proposal: Uint8Array) => Promise<void>) {
      const seen = peer.frames.length;
      const start = await peer.frameAfter(seen, (e) => e.header.kind === kind && e.header.round === 0, `${kind} START`);
      const proposal = start.header.sessionId;
      const { request, epoch } = decodeBody<{ request: SignStartBody['request']; epoch?: number }>(kind, 0, ECDSA, start.payload);
      // The key state signer-2 binds: its own record of the key (none for a dkg).
      let keyState: SessionKeyState | null = null;
      if (kind !== 'dkg') {
        const keystore = Keystore.open({ dataDir: cluster.dataDir(AS), kek: { passphrase: `passphrase of ${AS}` } });
        try {
          keyState = keyStateOf(epoch!, loadShare(keystore.getActive(keyId)).publicPart.publicKey);
        } finally {
          keystore.close();
        }
      }
      await beforeContributing(proposal);
      const n = peer.frames.length;
      peer.ws.send(frame({ kind, sessionId: proposal, round: 1 }, { contribution: new Uint8Array(randomBytes(32)) }), { binary: true });
      const delivered = await peer.frameAfter(n, (e) => e.header.kind === kind && e.header.round === 2, `${kind} CONTRIBUTIONS`);
      const { envelopes } = decodeBody<DeliverBody>(kind, 2, ECDSA, delivered.payload);
      const contributions = Object.fromEntries(envelopes.map((e) => [e.header.from, decodeBody<ContributionBody>(kind, 1, ECDSA, e.payload).contribution]));
      expect(Object.keys(contributions).sort()).toEqual(participants);
      return deriveSessionId({ kind, suite: ECDSA, keyId, participants, contributions, requestDigest: request.digest, keyState });
    }

    it('signing: unknown and early rounds, a wrong suite, a forged signature, a foreign session, then a commitment of the wrong length get typed errors; signer-2 alone is named and banned, another quorum signs, nothing else changes', async () => {
      const before = await snapshot();
      const digest = new Uint8Array(randomBytes(32));
      const signing = cluster.client.sign('guarded-eth', { message: digest });
      // the first quorum is signer-1 and signer-2 (key order, both connected)
      const sessionId = await contribute('sign', 'guarded-eth', ['signer-1', AS], async (proposal) => {
        const contribution = { contribution: new Uint8Array(randomBytes(32)) };
        expect(await peer.errorFor(frame({ kind: 'sign', sessionId: proposal, round: 12 }, contribution))).toBe('WRONG_KIND');
        expect(await peer.errorFor(frame({ kind: 'sign', sessionId: proposal, round: ECDSA_SIGN_ROUND.CONTRIBUTION, suite: SCHEME }, contribution))).toBe('UNKNOWN_SUITE');
        expect(await peer.errorFor(frame({ kind: 'sign', sessionId: proposal, round: ECDSA_SIGN_ROUND.CONTRIBUTION }, contribution, generateIdentity()))).toBe('BAD_SIGNATURE');
        // a contribution of 31 bytes would fault the attempt here; it is the commitment below that does
      });
      const r1 = { kind: 'sign', sessionId, round: ECDSA_SIGN_ROUND.R1, to: BROADCAST };
      // rounds this scheme does not have, or not yet: refused without touching the attempt
      expect(await peer.errorFor(frame({ ...r1, round: 12 }, { commitment: new Uint8Array(32) }))).toBe('WRONG_KIND');
      const offCurve = new Uint8Array(33).fill(0xff);
      expect(await peer.errorFor(frame({ ...r1, round: ECDSA_SIGN_ROUND.SHARE, to: COORDINATOR_ID }, { w: new Uint8Array(32), u: new Uint8Array(32), instancePoint: offCurve }))).toBe('WRONG_KIND');
      expect(await peer.errorFor(frame({ ...r1, sessionId: new Uint8Array(randomBytes(32)) }, { commitment: new Uint8Array(32) }))).toBe('WRONG_SESSION');
      // a 33-byte "commitment" (an encoded point where a 32-byte hash belongs): BAD_FIELD, and the attempt fails on it
      const seen = peer.frames.length;
      expect(await peer.errorFor(frame(r1, { commitment: secp256k1.Point.BASE.toBytes(true) }))).toBe('BAD_FIELD');
      await peer.frameAfter(seen, (e) => e.header.kind === 'sign' && e.header.round === ECDSA_SIGN_ROUND.ABORT, 'sign ABORT');
      // later frames of the failed attempt find no session
      expect(await peer.errorFor(frame(r1, { commitment: new Uint8Array(31) }))).toBe('WRONG_SESSION');

      checkEthereum(await signing, digest);
      const after = await snapshot();
      expect(after.keys).toEqual(before.keys);
      expect(after.auditOk).toBe(true);
      const { entries } = await cluster.client.audit('guarded-eth');
      const added = entries.slice(-(after.auditLength - before.auditLength));
      expect(added.map((e) => e.event)).toEqual(['key.sign_attempt_failed', 'key.signed']);
      expect(added[0]!.data).toMatchObject({ quorum: ['signer-1', AS], reason: 'invalid', culprits: [AS], banned: true });
      expect(added[1]!.data).toMatchObject({ quorum: ['signer-1', 'signer-3'], attempts: 2 });
      expect(cluster.coordinator.alive).toBe(true);
    });

    it('DKG: an early round, then an off-curve point in the round-1 commitment get typed errors; no key comes into being, the others are untouched', async () => {
      const before = await snapshot();
      const creating = cluster.client.createKey({ keyId: 'bad-eth', suite: ECDSA, threshold: 2, signers: cluster.signerIds }).then(
        () => 'created',
        (e: { code: string }) => e.code,
      );
      const sessionId = await contribute('dkg', 'bad-eth', cluster.signerIds, async () => {});
      const r1 = { kind: 'dkg', sessionId, round: KEY_ROUND.R1, to: BROADCAST };
      const valid = { commitment: [secp256k1.Point.BASE.toBytes(true), secp256k1.Point.BASE.double().toBytes(true)], proofOfKnowledge: new Uint8Array(65), chainCodeContribution: new Uint8Array(32) };
      expect(await peer.errorFor(frame({ ...r1, round: KEY_ROUND.CONFIRM, to: COORDINATOR_ID }, valid))).toBe('WRONG_KIND');
      expect(await peer.errorFor(frame(r1, { ...valid, commitment: [new Uint8Array(33).fill(0xff), valid.commitment[1]!] }))).toBe('BAD_FIELD');
      expect(await creating).toBe('SESSION_FAILED');
      // The DKG failed after its session id existed, so the key stays pending until the
      // signers settle it (their VETOs: none stored a share); then it is gone.
      const keyState = () => cluster.client.getKey('bad-eth').then((k) => k.state as string, (e: { code: string }) => e.code);
      for (const until = Date.now() + 60_000; (await keyState()) === 'pending' && Date.now() < until; ) await new Promise((r) => setTimeout(r, 200));
      expect(await keyState()).toBe('UNKNOWN_KEY');
      const after = await snapshot();
      expect(after.keys).toEqual(before.keys);
      expect(after.auditOk).toBe(true);
    });
  });

  it('after all that the coordinator still signs', async () => {
    const message = new Uint8Array(randomBytes(32));
    const { signature, publicKey } = await cluster.client.sign('guarded', { message });
    expect(standardVerify(SCHEME, signature, message, publicKey)).toBe(true);
    checkEthereum(await cluster.client.sign('guarded-eth', { message }), message);
  });
});
