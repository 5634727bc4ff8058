import { secp256k1 } from '@noble/curves/secp256k1.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import {
  CLOSE_NOT_LEADER,
  CONTROL_ROUND,
  clientRequestId,
  decodeBody,
  encodeBody,
  generateIdentity,
  isSecretRound,
  KEY_ROUND,
  RETIRE_ROUND,
  repairDigest,
  retireDigest,
  type RepairStartBody,
  SIGN_ROUND,
  signClientRequest,
  signDigest,
  taprootLabel,
  WireError,
} from '../src/index.ts';

const secpPoint = () => secp256k1.Point.BASE.multiply(7n).toBytes(true);
const edPoint = () => ed25519.Point.BASE.multiply(7n).toBytes();

function expectWire(fn: () => unknown, code: string, field?: string) {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(WireError);
    expect((e as WireError).code).toBe(code);
    if (field !== undefined) expect((e as WireError).field).toBe(field);
    return;
  }
  throw new Error(`expected WireError ${code}`);
}

describe('message bodies', () => {
  it('a sign COMMITMENT round-trips and its points are checked on the suite curve', () => {
    const body = { hiding: secpPoint(), binding: secpPoint() };
    const out = decodeBody<{ hiding: Uint8Array }>('sign', SIGN_ROUND.COMMITMENT, 'frost-secp256k1-tr', encodeBody(body));
    expect(out.hiding).toEqual(body.hiding);
    // the same bytes are not an Ed25519 point of the right length
    expectWire(() => decodeBody('sign', SIGN_ROUND.COMMITMENT, 'frost-ed25519', encodeBody(body)), 'BAD_FIELD', 'hiding');
  });

  it('nonce pool bodies: POOL, OFFER (points on the suite curve) and POOLED (a START body checked as a START, and envelopes) are strict', () => {
    expect(decodeBody('sign', SIGN_ROUND.POOL, 'frost-ed25519', encodeBody({ keyId: 'k1', epoch: 2 }))).toEqual({ keyId: 'k1', epoch: 2 });
    expectWire(() => decodeBody('sign', SIGN_ROUND.POOL, 'frost-ed25519', encodeBody({ keyId: 'k1', epoch: -1 })), 'BAD_FIELD', 'epoch');
    const offer = { keyId: 'k1', epoch: 0, hiding: secpPoint(), binding: secpPoint() };
    expect(decodeBody<{ hiding: Uint8Array }>('sign', SIGN_ROUND.OFFER, 'frost-secp256k1-tr', encodeBody(offer)).hiding).toEqual(offer.hiding);
    expectWire(() => decodeBody('sign', SIGN_ROUND.OFFER, 'frost-ed25519', encodeBody(offer)), 'BAD_FIELD', 'hiding');
    expectWire(() => decodeBody('sign', SIGN_ROUND.OFFER, 'frost-secp256k1-tr', encodeBody({ ...offer, extra: 1 })), 'UNKNOWN_FIELD', 'extra');
    const message = new Uint8Array(32);
    const request = signClientRequest(generateIdentity(), { op: 'sign', keyId: 'k1', digest: signDigest({ keyId: 'k1', epoch: 0, message }) });
    const pooled = decodeBody<{ start: { keyId: string }; envelopes: unknown[] }>('sign', SIGN_ROUND.POOLED, 'frost-secp256k1-tr', encodeBody({ start: { keyId: 'k1', epoch: 0, message, request }, envelopes: [] }));
    expect(pooled.start.keyId).toBe('k1');
    expect(pooled.envelopes).toEqual([]);
    expectWire(() => decodeBody('sign', SIGN_ROUND.POOLED, 'frost-secp256k1-tr', encodeBody({ start: { keyId: 'k1', epoch: 0, message: new Uint8Array(64 * 1024 + 1), request }, envelopes: [] })), 'BAD_FIELD', 'message');
    expectWire(() => decodeBody('sign', SIGN_ROUND.POOLED, 'frost-secp256k1-tr', encodeBody({ start: { keyId: 'k1', epoch: 0, message, request } })), 'BAD_FIELD', 'envelopes');
  });

  it('an off-curve point in a DKG round-1 commitment is refused, naming the element', () => {
    // the first x with no point on the curve
    const bad = new Uint8Array(33);
    bad[0] = 0x02;
    for (let x = 1; ; x++) {
      bad[32] = x;
      try {
        secp256k1.Point.fromBytes(bad);
      } catch {
        break;
      }
    }
    const body = { commitment: [secpPoint(), bad], proofOfKnowledge: new Uint8Array(65), chainCodeContribution: new Uint8Array(32) };
    expect(() => secp256k1.Point.fromBytes(bad)).toThrow();
    expectWire(() => decodeBody('dkg', KEY_ROUND.R1, 'frost-secp256k1', encodeBody(body)), 'BAD_FIELD', 'commitment[1]');
  });

  it('the identity point is refused (ed25519)', () => {
    const identity = ed25519.Point.ZERO.toBytes();
    expectWire(() => decodeBody('sign', SIGN_ROUND.COMMITMENT, 'frost-ed25519', encodeBody({ hiding: identity, binding: edPoint() })), 'BAD_FIELD', 'hiding');
  });

  it('a non-canonical scalar in a signature share is refused', () => {
    const overOrder = new Uint8Array(32).fill(0xff);
    expectWire(() => decodeBody('sign', SIGN_ROUND.SHARE, 'frost-secp256k1-tr', encodeBody({ share: overOrder })), 'BAD_FIELD', 'share');
  });

  it('unknown fields, unknown rounds and unknown suites are typed errors', () => {
    expectWire(() => decodeBody('sign', SIGN_ROUND.SHARE, 'frost-secp256k1-tr', encodeBody({ share: new Uint8Array(32), extra: 1 })), 'UNKNOWN_FIELD', 'extra');
    expectWire(() => decodeBody('sign', 9, 'frost-secp256k1-tr', encodeBody({})), 'UNKNOWN_KIND');
    expectWire(() => decodeBody('sign', SIGN_ROUND.SHARE, 'frost-p256', encodeBody({ share: new Uint8Array(32) })), 'UNKNOWN_SUITE');
  });

  it("WELCOME carries the coordinator's leaderToken: required, an unsigned integer", () => {
    const signerNonce = new Uint8Array(32).fill(3);
    expect(decodeBody('control', CONTROL_ROUND.WELCOME, 'none', encodeBody({ signerNonce, leaderToken: 7 }))).toEqual({ signerNonce, leaderToken: 7 });
    expect(CLOSE_NOT_LEADER).toBe(4010);
    expectWire(() => decodeBody('control', CONTROL_ROUND.WELCOME, 'none', encodeBody({ signerNonce })), 'BAD_FIELD', 'leaderToken');
    for (const leaderToken of [-1, 1.5, 2 ** 53]) expectWire(() => decodeBody('control', CONTROL_ROUND.WELCOME, 'none', encodeBody({ signerNonce, leaderToken })), 'BAD_FIELD', 'leaderToken');
  });

  it('a truncated body is MALFORMED, never a crash', () => {
    const bytes = encodeBody({ hiding: secpPoint(), binding: secpPoint() });
    for (let cut = 1; cut < bytes.length; cut += 7) {
      expectWire(() => decodeBody('sign', SIGN_ROUND.COMMITMENT, 'frost-secp256k1-tr', bytes.subarray(0, cut)), 'MALFORMED');
    }
  });

  it('a sign START carries a verifiable client request and an optional target', () => {
    const client = generateIdentity();
    const message = new Uint8Array(32).fill(9);
    const digest = signDigest({ keyId: 'k1', epoch: 0, message, path: 'm/1', taproot: {} });
    const request = signClientRequest(client, { op: 'sign', keyId: 'k1', digest });
    const body = decodeBody<{ path: string; taproot: object; request: { digest: Uint8Array } }>(
      'sign',
      SIGN_ROUND.START,
      'frost-secp256k1-tr',
      encodeBody({ keyId: 'k1', epoch: 0, message, path: 'm/1', taproot: {}, request }),
    );
    expect(body.path).toBe('m/1');
    expect(body.taproot).toEqual({});
    expect(body.request.digest).toEqual(digest);
  });

  it('sign digests differ by path and by taproot target, so a request cannot be redirected', () => {
    const message = new Uint8Array(32);
    const base = signDigest({ keyId: 'k', epoch: 0, message });
    expect(signDigest({ keyId: 'k', epoch: 0, message, path: 'm/0' })).not.toEqual(base);
    expect(signDigest({ keyId: 'k', epoch: 0, message, taproot: {} })).not.toEqual(base);
    expect(signDigest({ keyId: 'k', epoch: 0, message, taproot: { merkleRoot: new Uint8Array(32) } })).not.toEqual(signDigest({ keyId: 'k', epoch: 0, message, taproot: {} }));
    expect(taprootLabel(undefined)).toBe('');
  });

  it('a sign request for one epoch does not authorise signing at another (a coordinator telling signers different epochs)', () => {
    const message = new Uint8Array(32);
    expect(signDigest({ keyId: 'k', epoch: 1, message })).not.toEqual(signDigest({ keyId: 'k', epoch: 0, message }));
  });

  it('secret rounds are exactly the point-to-point share rounds', () => {
    expect(isSecretRound('dkg', KEY_ROUND.R2)).toBe(true);
    expect(isSecretRound('refresh', KEY_ROUND.R2)).toBe(true);
    expect(isSecretRound('dkg', KEY_ROUND.R1)).toBe(false);
    expect(isSecretRound('sign', SIGN_ROUND.SHARE)).toBe(false);
  });

  it('share repair: START round-trips; deltas (R1) and sigmas (R2) are secret scalars; only the target CONFIRMs', () => {
    const request = signClientRequest(generateIdentity(), { op: 'repair', keyId: 'k', digest: repairDigest({ keyId: 'k', target: 'c' }) });
    const publicKey = { suite: 'frost-ed25519', threshold: 2, participants: [1, 2, 3], groupKey: edPoint(), verifyingShares: [edPoint(), edPoint(), edPoint()], chainCode: new Uint8Array(32) };
    const participants = [{ signer: 'a', index: 1 }, { signer: 'b', index: 2 }, { signer: 'c', index: 3 }];
    const start = { keyId: 'k', epoch: 4, publicKey, participants, target: participants[2]!, helpers: participants.slice(0, 2), request };
    const decoded = decodeBody<RepairStartBody>('repair', KEY_ROUND.START, 'frost-ed25519', encodeBody(start));
    expect(decoded).toEqual(start);
    expectWire(() => decodeBody('repair', KEY_ROUND.START, 'frost-ed25519', encodeBody({ ...start, target: { signer: 'c', index: 0 } })), 'BAD_FIELD', 'target[0].index');
    expectWire(() => decodeBody('repair', KEY_ROUND.START, 'frost-ed25519', encodeBody({ ...start, helpers: [] })), 'BAD_FIELD', 'helpers');
    expectWire(() => decodeBody('repair', KEY_ROUND.START, 'frost-ed25519', encodeBody({ ...start, extra: 1 })), 'UNKNOWN_FIELD', 'extra');
    const overOrder = new Uint8Array(32).fill(0xff);
    expectWire(() => decodeBody('repair', KEY_ROUND.R1, 'frost-ed25519', encodeBody({ signingShare: overOrder })), 'BAD_FIELD', 'signingShare');
    expectWire(() => decodeBody('repair', KEY_ROUND.R2, 'frost-ed25519', encodeBody({ sigma: new Uint8Array(32) })), 'UNKNOWN_FIELD');
    expect(decodeBody('repair', KEY_ROUND.R2, 'frost-ed25519', encodeBody({ signingShare: new Uint8Array(32) }))).toEqual({ signingShare: new Uint8Array(32) });
    expect(isSecretRound('repair', KEY_ROUND.R1)).toBe(true);
    expect(isSecretRound('repair', KEY_ROUND.R2)).toBe(true);
    expect(isSecretRound('repair', KEY_ROUND.CONFIRM)).toBe(false);
    // ecdsa-secp256k1 has no repair session (its pairwise OT state cannot be rebuilt by it).
    expectWire(() => decodeBody('repair', KEY_ROUND.START, 'ecdsa-secp256k1', encodeBody(start)), 'UNKNOWN_KIND');
  });

  it('the repair digest names the key and the target signer', () => {
    expect(repairDigest({ keyId: 'k', target: 'a' })).not.toEqual(repairDigest({ keyId: 'k', target: 'b' }));
    expect(repairDigest({ keyId: 'k', target: 'a' })).not.toEqual(repairDigest({ keyId: 'j', target: 'a' }));
  });

  it('a retire APPROVE needs a 32-byte request id', () => {
    expectWire(() => decodeBody('retire', RETIRE_ROUND.APPROVE, 'frost-ed25519', encodeBody({ keyId: 'k', epoch: 0, requestId: new Uint8Array(31) })), 'BAD_FIELD', 'requestId');
  });

  it('two retire requests of one key have one digest but different ids, so an approval of one does not approve the other (replayed retirement approvals)', () => {
    const client = generateIdentity();
    const digest = retireDigest({ keyId: 'k' });
    const a = signClientRequest(client, { op: 'retire', keyId: 'k', digest });
    const b = signClientRequest(client, { op: 'retire', keyId: 'k', digest });
    expect(a.digest).toEqual(b.digest);
    expect(clientRequestId(a)).not.toEqual(clientRequestId(b));
    expect(clientRequestId({ ...a })).toEqual(clientRequestId(a));
  });

  it('a retire COMMIT carries the client request with the approvals', () => {
    expectWire(() => decodeBody('retire', RETIRE_ROUND.COMMIT, 'frost-ed25519', encodeBody({ envelopes: [] })), 'BAD_FIELD');
  });

  it('participants with a duplicated signer or index are refused', () => {
    const client = generateIdentity();
    const request = signClientRequest(client, { op: 'createKey', keyId: 'k', digest: new Uint8Array(32) });
    const participants = [
      { signer: 'a', index: 1 },
      { signer: 'b', index: 1 },
    ];
    expectWire(() => decodeBody('dkg', KEY_ROUND.START, 'frost-ed25519', encodeBody({ keyId: 'k', threshold: 2, participants, request })), 'BAD_FIELD', 'participants[1]');
  });
});
