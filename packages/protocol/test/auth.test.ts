import { describe, expect, it } from 'vitest';
import {
  MemoryReplayGuard,
  operationDigest,
  signClientRequest,
  verifyClientRequest,
  type ClientRequest,
  type TrustedClient,
} from '../src/auth.ts';
import { decode, encode } from '../src/codec.ts';
import { DEFAULT_MAX_SKEW_MS } from '../src/constants.ts';
import { generateIdentity } from '../src/identity.ts';
import { expectWireError, seededRng } from './helpers.ts';

const admin = generateIdentity(seededRng('admin'));
const wallet = generateIdentity(seededRng('wallet'));
const auditor = generateIdentity(seededRng('auditor'));
const stranger = generateIdentity(seededRng('stranger'));
const trusted: TrustedClient[] = [
  { publicKey: admin.publicKey, roles: ['admin'] },
  { publicKey: wallet.publicKey, roles: ['signer'] },
  { publicKey: auditor.publicKey, roles: ['auditor'] },
];
const T0 = 1_700_000_000_000;
const digest = operationDigest('sign', { message: new Uint8Array(32).fill(1), path: "m/44'/60'/0'/0/7" });

function setup() {
  let clock = T0;
  const replay = new MemoryReplayGuard({ now: () => clock });
  return {
    advance: (ms: number) => (clock += ms),
    verify: (req: unknown, now = clock) => verifyClientRequest(req, { trusted, now, replay }),
    replay,
  };
}

let nonceSeq = 0;
function request(client = wallet, op: ClientRequest['op'] = 'sign', timestamp = T0): ClientRequest {
  return signClientRequest(client, { op, keyId: 'hot-1', digest, timestamp }, seededRng(`nonce-${nonceSeq++}`));
}

describe('client authorisation', () => {
  it('a trusted signer-role client may sign, also after the request crosses the wire', () => {
    const { verify } = setup();
    const r = request();
    expect(verify(decode(encode({ ...r } as unknown as Parameters<typeof encode>[0])))).toEqual(r);
  });

  it('an admin may request every operation', () => {
    const { verify } = setup();
    for (const op of ['createKey', 'sign', 'refresh', 'reshare', 'repair', 'retire'] as const) {
      expect(verify(request(admin, op)).op).toBe(op);
    }
  });

  it('refuses an operation it does not know', () => {
    const { verify } = setup();
    expectWireError(() => verify({ ...request(admin, 'sign'), op: 'restore' as 'sign' }), 'BAD_FIELD');
  });

  it('a signer-role client may not refresh, repair, retire or create keys', () => {
    const { verify } = setup();
    for (const op of ['createKey', 'refresh', 'repair', 'retire'] as const) {
      expectWireError(() => verify(request(wallet, op)), 'UNAUTHORISED', 'request.clientKey');
    }
  });

  it('an auditor may request nothing, and an unknown key is refused', () => {
    const { verify } = setup();
    expectWireError(() => verify(request(auditor, 'sign')), 'UNAUTHORISED', 'request.clientKey');
    expectWireError(() => verify(request(stranger, 'sign')), 'UNAUTHORISED', 'request.clientKey');
  });

  it('a request altered after signing is refused', () => {
    const { verify } = setup();
    const r = request();
    const altered: ClientRequest[] = [
      { ...r, digest: new Uint8Array(32) },
      { ...r, keyId: 'hot-2' },
      { ...r, timestamp: r.timestamp + 1 },
      { ...r, nonce: new Uint8Array(16) },
    ];
    for (const a of altered) expectWireError(() => verify(a), 'BAD_SIGNATURE', 'request.sig');
  });

  it('a request re-labelled as another operation is refused', () => {
    const { verify } = setup();
    expectWireError(() => verify({ ...request(admin, 'sign'), op: 'retire' }), 'BAD_SIGNATURE');
  });

  it('a request outside the clock-skew window is refused as stale, in either direction', () => {
    const { verify } = setup();
    expectWireError(() => verify(request(wallet, 'sign', T0 - DEFAULT_MAX_SKEW_MS - 1)), 'STALE', 'request.timestamp');
    expectWireError(() => verify(request(wallet, 'sign', T0 + DEFAULT_MAX_SKEW_MS + 1)), 'STALE');
    expect(verify(request(wallet, 'sign', T0 - DEFAULT_MAX_SKEW_MS)).op).toBe('sign');
  });

  it('a request replayed within the window is refused', () => {
    const { verify, advance } = setup();
    const r = request();
    verify(r);
    advance(DEFAULT_MAX_SKEW_MS / 2);
    expectWireError(() => verify(r), 'REPLAY', 'request.nonce');
  });

  it('a refused request does not consume its nonce', () => {
    const { verify } = setup();
    const r = request();
    expectWireError(() => verify({ ...r, keyId: 'hot-2' }), 'BAD_SIGNATURE');
    expect(verify(r).keyId).toBe('hot-1');
  });

  it('the replay guard forgets entries once they are stale, and refuses timestamps already that old', () => {
    const { replay, advance } = setup();
    expect(replay.checkAndRemember('aa', 'bb', T0)).toBe(true);
    expect(replay.checkAndRemember('aa', 'bb', T0)).toBe(false);
    expect(replay.checkAndRemember('aa', 'cc', T0)).toBe(true);
    advance(DEFAULT_MAX_SKEW_MS + 1);
    expect(replay.checkAndRemember('aa', 'dd', T0 + DEFAULT_MAX_SKEW_MS + 1)).toBe(true);
    expect(replay.size).toBe(1);
    expect(replay.checkAndRemember('aa', 'bb', T0)).toBe(false);
  });

  it('a request replayed exactly at the edge of the replay window is still refused (its entry is not forgotten a tick early)', () => {
    const { replay, advance } = setup();
    expect(replay.checkAndRemember('aa', 'bb', T0)).toBe(true);
    // Now the request is exactly maxSkewMs old: verifyClientRequest still calls it fresh.
    advance(DEFAULT_MAX_SKEW_MS);
    expect(replay.checkAndRemember('aa', 'bb', T0)).toBe(false);
    expect(replay.size).toBe(1);
    // One millisecond later it is forgotten, and refused by the guard (and as STALE by its caller).
    advance(1);
    expect(replay.checkAndRemember('aa', 'bb', T0)).toBe(false);
    expect(replay.size).toBe(0);
  });

  it('a replay guard built with no clock uses the system clock: a request dated now is remembered, one older than the window refused', () => {
    const replay = new MemoryReplayGuard({ windowMs: 60_000 });
    const now = Date.now();
    expect(replay.checkAndRemember('aa', 'bb', now)).toBe(true);
    expect(replay.checkAndRemember('aa', 'bb', now)).toBe(false);
    expect(replay.checkAndRemember('aa', 'cc', now - 3_600_000)).toBe(false);
  });

  it('a replay guard refuses a clock that is not a function and a bad window, naming the option', () => {
    expectWireError(() => new MemoryReplayGuard({ now: 5 as never }), 'BAD_FIELD', 'now');
    expectWireError(() => new MemoryReplayGuard({ windowMs: -1 }), 'BAD_FIELD', 'windowMs');
  });

  it("a verifier configured with a tighter skew than the default refuses a request 1 ms beyond it, either way", () => {
    const replay = new MemoryReplayGuard({ now: () => T0 });
    const verify = (r: ClientRequest) => verifyClientRequest(r, { trusted, now: T0, maxSkewMs: 30_000, replay });
    expectWireError(() => verify(request(wallet, 'sign', T0 - 30_001)), 'STALE', 'request.timestamp');
    expectWireError(() => verify(request(wallet, 'sign', T0 + 30_001)), 'STALE', 'request.timestamp');
    expect(verify(request(wallet, 'sign', T0 + 30_000)).op).toBe('sign');
  });

  it('a request without a version, or that is not an object, is refused as a bad field (not a crash, not a version)', () => {
    const { verify } = setup();
    const { v: _v, ...unversioned } = request();
    expectWireError(() => verify(unversioned), 'BAD_FIELD', 'request.v');
    expectWireError(() => verify(null), 'BAD_FIELD', 'request');
    expectWireError(() => verify([request()]), 'BAD_FIELD', 'request');
  });

  it('a malformed trust list is refused naming the entry, never read as trusting anyone', () => {
    const r = request();
    const replay = new MemoryReplayGuard({ now: () => T0 });
    const withTrusted = (list: unknown) => () => verifyClientRequest(r, { trusted: list as TrustedClient[], now: T0, replay });
    expectWireError(withTrusted([{ publicKey: wallet.publicKey, roles: ['root'] }]), 'BAD_FIELD', 'trusted[0].roles[0]');
    expectWireError(withTrusted([{ publicKey: wallet.publicKey.slice(1), roles: ['signer'] }]), 'BAD_FIELD', 'trusted[0].publicKey');
    expectWireError(withTrusted([{ publicKey: wallet.publicKey, roles: ['signer'], admin: true }]), 'UNKNOWN_FIELD', 'trusted[0].admin');
    expectWireError(withTrusted([{ publicKey: wallet.publicKey, roles: ['signer', 'admin', 'auditor', 'signer'] }]), 'BAD_FIELD', 'trusted[0].roles');
    expectWireError(() => verifyClientRequest(r, { trusted, now: -1, replay }), 'BAD_FIELD', 'now');
    expectWireError(() => verifyClientRequest(r, { trusted, now: T0, maxSkewMs: 1.5, replay }), 'BAD_FIELD', 'maxSkewMs');
    expect(replay.size).toBe(0);
  });

  it('each malformed request field is refused naming that field, when verified and when signed', () => {
    const { verify } = setup();
    const r = request();
    const cases: [string, unknown][] = [
      ['keyId', 'hot 1'], ['digest', new Uint8Array(31)], ['timestamp', -1],
      ['clientKey', new Uint8Array(31)], ['sig', new Uint8Array(63)],
    ];
    for (const [name, value] of cases) expectWireError(() => verify({ ...r, [name]: value }), 'BAD_FIELD', `request.${name}`);
    expectWireError(() => signClientRequest(wallet, { op: 'sign', keyId: 'hot 1', digest }), 'BAD_FIELD', 'fields.keyId');
    expectWireError(() => verifyClientRequest(r, { trusted: {} as never, now: T0, replay: new MemoryReplayGuard() }), 'BAD_FIELD', 'trusted');
  });

  it('a client trusted with several roles may request what any one of them allows', () => {
    const { verify } = setup();
    const both: TrustedClient[] = [{ publicKey: wallet.publicKey, roles: ['signer', 'admin'] }];
    const replay = new MemoryReplayGuard({ now: () => T0 });
    expect(verifyClientRequest(request(wallet, 'refresh'), { trusted: both, now: T0, replay }).op).toBe('refresh');
    expectWireError(() => verify(request(wallet, 'refresh')), 'UNAUTHORISED', 'request.clientKey');
  });

  it('the replay guard refuses a malformed key, nonce or timestamp naming it', () => {
    const { replay } = setup();
    expectWireError(() => replay.checkAndRemember('zz', 'bb', T0), 'BAD_FIELD', 'clientKeyHex');
    expectWireError(() => replay.checkAndRemember('aa', 'b', T0), 'BAD_FIELD', 'nonceHex');
    expectWireError(() => replay.checkAndRemember('aa', 'bb', -1), 'BAD_FIELD', 'timestamp');
    expect(replay.size).toBe(0);
  });

  it('refuses to sign a request with anything but an identity key', () => {
    const fake = { publicKey: wallet.publicKey, secretKey: new Uint8Array(32) };
    expectWireError(() => signClientRequest(fake as never, { op: 'sign', keyId: 'hot-1', digest }), 'BAD_FIELD', 'client');
  });

  it('decoding refuses unknown fields, other versions and wrong lengths', () => {
    const { verify } = setup();
    const r = request();
    expectWireError(() => verify({ ...r, admin: true }), 'UNKNOWN_FIELD', 'request.admin');
    expectWireError(() => verify({ ...r, v: 2 }), 'UNSUPPORTED_VERSION', 'request.v');
    expectWireError(() => verify({ ...r, nonce: new Uint8Array(8) }), 'BAD_FIELD', 'request.nonce');
    expectWireError(() => verify({ ...r, op: 'exportKey' }), 'BAD_FIELD', 'request.op');
  });
});

describe('operationDigest', () => {
  it('does not depend on parameter order', () => {
    expect(operationDigest('sign', { a: 1, b: 'x' })).toEqual(operationDigest('sign', { b: 'x', a: 1 }));
  });

  it('separates operations, names, types and values', () => {
    const d = operationDigest('sign', { amount: 1 });
    const others = [
      operationDigest('refresh', { amount: 1 }),
      operationDigest('sign', { amount: 2 }),
      operationDigest('sign', { amount: '1' }),
      operationDigest('sign', { amount: new Uint8Array([1]) }),
      operationDigest('sign', { amounT: 1 }),
      operationDigest('sign', { amount: 1, extra: 0 }),
    ];
    for (const o of others) expect(o).not.toEqual(d);
    // Length prefixes: moving bytes between a name and its value changes the digest.
    expect(operationDigest('sign', { ab: 'c' })).not.toEqual(operationDigest('sign', { a: 'bc' }));
  });

  it('refuses an unknown operation and parameters that are not a plain object', () => {
    expectWireError(() => operationDigest('exportKey' as never, {}), 'BAD_FIELD', 'op');
    expectWireError(() => operationDigest('sign', null as never), 'BAD_FIELD', 'params');
    expectWireError(() => operationDigest('sign', [1] as never), 'BAD_FIELD', 'params');
  });

  it('refuses fractional numbers and bad names', () => {
    expectWireError(() => operationDigest('sign', { amount: 1.5 }), 'BAD_FIELD', 'params.amount');
    expectWireError(() => operationDigest('sign', { 'a b': 1 }), 'BAD_FIELD', 'params');
  });
});
