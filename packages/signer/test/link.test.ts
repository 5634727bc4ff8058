/**
 * The coordinator link against a minimal in-test coordinator on 127.0.0.1
 * (docs/cluster-protocol.md "Connection", "Frames"): the CHALLENGE/AUTH/WELCOME
 * handshake with the pinned key, refusal of a coordinator signing with another key,
 * ERROR answers to malformed, oversized, unknown-kind, unsigned and out-of-place
 * frames while the daemon keeps serving, reconnection, and the health endpoints.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { bytesToHex } from '@noble/hashes/utils.js';
import {
  CONTROL_ROUND,
  KINDS,
  PROTOCOL_VERSION,
  SIGN_ROUND,
  decodeBody,
  encode,
  encodeBody,
  encodeEnvelope,
  generateIdentity,
  openEnvelope,
  sealEnvelope,
  signClientRequest,
  signDigest,
  type Envelope,
  type ErrorBody,
} from '@keyquorum/protocol';
import { SignerDaemon } from '../src/index.ts';
import { ENV, adminClient, captureLog, initTestSigner, optionsFor, removeTempDirs, tempDir, type TestSigner } from './helpers/cluster.ts';
import { FakeCoordinator } from './helpers/fake-coordinator.ts';

let coordinator: FakeCoordinator | undefined;
const daemons: SignerDaemon[] = [];

afterEach(async () => {
  for (const d of daemons.splice(0)) await d.stop();
  await coordinator?.close();
  coordinator = undefined;
  removeTempDirs();
});

async function launch(c: FakeCoordinator, extra: Record<string, unknown> = {}): Promise<{ daemon: SignerDaemon; signer: TestSigner; lines: Record<string, unknown>[] }> {
  const root = tempDir();
  const signer = initTestSigner('s1', root);
  const peer = initTestSigner('s2', root);
  const { log, lines } = captureLog();
  const daemon = new SignerDaemon(optionsFor(signer, [signer, peer], c, extra), { env: ENV, log, timing: { reconnectMinMs: 20, reconnectMaxMs: 100 } });
  daemons.push(daemon);
  await daemon.start();
  return { daemon, signer, lines };
}

async function nextError(c: FakeCoordinator): Promise<ErrorBody & { envelope: Envelope }> {
  const envelope = await c.next('s1', (e) => e.header.kind === 'control' && e.header.round === CONTROL_ROUND.ERROR);
  return { ...decodeBody<ErrorBody>('control', CONTROL_ROUND.ERROR, 'none', envelope.payload), envelope };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('handshake', () => {
  it('authenticates with the pinned coordinator key and logs a connected line', async () => {
    coordinator = await FakeCoordinator.start();
    const { daemon, signer, lines } = await launch(coordinator);
    await daemon.waitUntilConnected();
    expect(bytesToHex(coordinator.authenticated.get('s1')!)).toBe(bytesToHex(signer.identity.publicKey));
    expect(daemon.status).toBe('started');
    expect(lines.find((l) => l.msg === 'connected')).toMatchObject({ signer: 's1', level: 'info' });
  });

  it('refuses a coordinator that signs with a key other than the pinned one: no AUTH, socket closed', async () => {
    const pinned = generateIdentity();
    coordinator = await FakeCoordinator.start({ identity: pinned, signAs: generateIdentity() });
    const { daemon, lines } = await launch(coordinator);
    await sleep(400);
    expect(coordinator.authenticated.size).toBe(0);
    expect(daemon.connected).toBe(false);
    expect(coordinator.sockets.length).toBeGreaterThan(1);
    expect(lines.some((l) => l.level === 'error' && String(l.msg).includes('coordinatorPublicKey'))).toBe(true);
  });

  it('reconnects after the coordinator drops the link', async () => {
    coordinator = await FakeCoordinator.start();
    const { daemon } = await launch(coordinator);
    await daemon.waitUntilConnected();
    coordinator.drop('s1');
    await coordinator.waitFor('s1');
    await daemon.waitUntilConnected();
    expect(daemon.metrics().connects).toBeGreaterThanOrEqual(2);
  });
});

describe('frames from the coordinator', () => {
  it('answers malformed, oversized, unknown-kind, text, badly signed and misplaced frames with ERROR and keeps serving', async () => {
    coordinator = await FakeCoordinator.start();
    const c = coordinator;
    const { daemon } = await launch(c, { maxFrameBytes: 4096 });
    await c.waitFor('s1');

    c.sendRaw('s1', Uint8Array.of(0xc1, 0xff, 0x00));
    expect((await nextError(c)).code).toBe('MALFORMED');

    c.sendRaw('s1', new Uint8Array(5000));
    expect((await nextError(c)).code).toBe('FRAME_TOO_LARGE');

    const header = { v: PROTOCOL_VERSION as 1, kind: 'bogus', suite: 'none', sessionId: randomBytes(32), round: 0, from: 'coordinator', to: 's1' };
    c.sendRaw('s1', encode({ header, payload: new Uint8Array(1), sig: new Uint8Array(64) }));
    expect((await nextError(c)).code).toBe('UNKNOWN_KIND');

    c.sendRaw('s1', 'hello');
    expect((await nextError(c)).code).toBe('MALFORMED');

    const forged = sealEnvelope(generateIdentity(), { ...header, kind: 'sign', suite: 'frost-ed25519' }, encodeBody({}));
    c.sendRaw('s1', encodeEnvelope(forged));
    const badSig = await nextError(c);
    expect(badSig.code).toBe('BAD_SIGNATURE');
    expect(bytesToHex(badSig.envelope.header.sessionId)).toBe(bytesToHex(header.sessionId));

    c.send('s1', { kind: 'sign', suite: 'frost-ed25519', sessionId: randomBytes(32), round: SIGN_ROUND.SIGN }, { envelopes: [] });
    expect((await nextError(c)).code).toBe('UNKNOWN_SESSION');

    c.send('s1', { kind: 'sign', suite: 'frost-ed25519', sessionId: randomBytes(32), round: SIGN_ROUND.SHARE }, { share: new Uint8Array(32) });
    expect((await nextError(c)).code).toBe('WRONG_ROUND');

    // A validly signed frame of a kind this protocol version does not have: signed here
    // with the kind allowed.
    const offWire = { kinds: [...KINDS, 'teleport'] };
    const unknown = sealEnvelope(c.identity, { ...header, kind: 'teleport', suite: 'frost-ed25519', sessionId: randomBytes(32), to: 's1' }, encodeBody({}), offWire);
    c.sendRaw('s1', encodeEnvelope(unknown, offWire));
    expect((await nextError(c)).code).toBe('UNKNOWN_KIND');

    c.send('s1', { kind: 'sign', suite: 'frost-ed25519', sessionId: randomBytes(32), round: SIGN_ROUND.START }, { keyId: 'k1', unexpected: 1 });
    expect((await nextError(c)).code).toBe('UNKNOWN_FIELD');

    c.send('s1', { kind: 'sign', suite: 'frost-ed25519', sessionId: randomBytes(32), round: SIGN_ROUND.START, to: 's9' }, {});
    expect((await nextError(c)).code).toBe('WRONG_RECIPIENT');

    // Still serving: a well-formed START for a key it does not hold is aborted with a typed reason.
    const params = { keyId: 'k1', epoch: 0, message: new Uint8Array(32) };
    const request = signClientRequest(adminClient, { op: 'sign', keyId: 'k1', digest: signDigest(params) });
    c.send('s1', { kind: 'sign', suite: 'frost-ed25519', sessionId: randomBytes(32), round: SIGN_ROUND.START }, { ...params, request });
    const abort = await c.next('s1', (e) => e.header.kind === 'sign');
    expect(abort.header.round).toBe(SIGN_ROUND.ABORT);
    expect(decodeBody<{ reason: string }>('sign', SIGN_ROUND.ABORT, 'frost-ed25519', abort.payload).reason).toMatch(/^WRONG_KEY_STATE/);
    expect(daemon.connected).toBe(true);
    // Every frame the signer sent is signed by its identity.
    expect(() => openEnvelope(abort, daemon.publicKey!)).not.toThrow();
  });
});

describe('health endpoints', () => {
  it('/healthz is 200 while up; /readyz is 200 only when connected; /metrics counts frames', async () => {
    coordinator = await FakeCoordinator.start();
    const closed = await FakeCoordinator.start();
    const url = closed.url;
    await closed.close();
    const { daemon } = await launch(coordinator, { listen: '127.0.0.1:0', coordinatorUrl: url });
    const base = `http://127.0.0.1:${daemon.healthAddress!.port}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    await daemon.stop();

    const { daemon: d2 } = await launch(coordinator, { listen: '127.0.0.1:0' });
    await d2.waitUntilConnected();
    const base2 = `http://127.0.0.1:${d2.healthAddress!.port}`;
    expect((await fetch(`${base2}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${base2}/metrics`)).text();
    expect(metrics).toMatch(/^keyquorum_signer_framesIn [1-9]/m);
    expect(metrics).toMatch(/^keyquorum_signer_connected 1$/m);
    expect((await fetch(`${base2}/nope`)).status).toBe(404);
  });
});
