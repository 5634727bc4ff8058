/**
 * Bad input against a running coordinator process: malformed, oversized and
 * truncated frames, unknown kinds, wrong session ids, invalid points, bad
 * signatures and replayed messages, from unauthenticated sockets and from an
 * authenticated (allow-listed) peer. Each gets a typed ERROR; the process keeps
 * serving; keys, epochs and the audit chain are unchanged.
 */
import { randomBytes } from 'node:crypto';
import { hexToBytes } from '@noble/hashes/utils.js';
import {
  CONTROL_ROUND,
  COORDINATOR_ID,
  decodeBody,
  decodeEnvelope,
  encodeBody,
  encodeEnvelope,
  generateIdentity,
  openEnvelope,
  sealEnvelope,
  SIGN_ROUND,
  type Envelope,
  type ErrorBody,
  type IdentityKey,
} from '@keyquorum/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Cluster } from './support/cluster.ts';
import { standardVerify } from './support/verify.ts';

const SCHEME = 'frost-secp256k1-tr';

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
    const reply = await this.nextFrame(before + 1);
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
    cluster = await Cluster.start({ signers: 3, extraSigners: { 'signer-9': intruder } });
    coordinatorKey = hexToBytes(cluster.coordinatorPublicKey);
    await cluster.client.createKey({ keyId: 'guarded', suite: SCHEME, threshold: 2, signers: cluster.signerIds });
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

  it('after all that the coordinator still signs', async () => {
    const message = new Uint8Array(randomBytes(32));
    const { signature, publicKey } = await cluster.client.sign('guarded', { message });
    expect(standardVerify(SCHEME, signature, message, publicKey)).toBe(true);
  });
});
