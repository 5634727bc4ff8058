import { secp256k1 } from '@noble/curves/secp256k1.js';
import { describe, expect, it } from 'vitest';
import {
  decodeBody,
  ECDSA_LENGTHS,
  ECDSA_SIGN_ROUND,
  ECDSA_SUITE,
  encodeBody,
  generateIdentity,
  isSecretRound,
  KEY_ROUND,
  packageSuiteOf,
  RETIRE_ROUND,
  signClientRequest,
  WireError,
} from '../src/index.ts';

const P = () => secp256k1.Point.BASE.multiply(7n).toBytes(true);
const S = (v = 5) => secp256k1.Point.Fn.toBytes(BigInt(v));
const B = (n: number, fill = 1) => new Uint8Array(n).fill(fill);

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

const dkgR2 = () => ({
  signingShare: S(),
  pairSetup: { otReceiver: { seed: B(32), encryptions: B(ECDSA_LENGTHS.baseOtEncryptions) }, otSender: { z: P(), proof: B(ECDSA_LENGTHS.dlogProof) }, zeroSeedContribution: B(32) },
});
const mul1 = () => ({ nonce: B(32), u: B(ECDSA_LENGTHS.oteU), checkX: B(16), checkT: B(16) });
const signR2 = () => ({
  instancePoint: P(), salt: B(32), publicShare: P(), gammaU: P(), gammaV: P(), psi: S(),
  mul: { nonce: B(32), tau: B(ECDSA_LENGTHS.mulTau), checkHash: B(32), mu: [S(1), S(2)], gamma: [S(3), S(4)] },
});
const dec = (kind: string, round: number, body: unknown) => decodeBody(kind, round, ECDSA_SUITE, encodeBody(body));

describe('ecdsa-secp256k1 message bodies', () => {
  it('the key package is the frost-secp256k1 one; the secret rounds are dkg/refresh R2 and sign R2 and direct R1', () => {
    expect(packageSuiteOf(ECDSA_SUITE)).toBe('frost-secp256k1');
    expect(packageSuiteOf('frost-ed25519')).toBe('frost-ed25519');
    expect(isSecretRound('dkg', KEY_ROUND.R2, ECDSA_SUITE)).toBe(true);
    expect(isSecretRound('refresh', KEY_ROUND.R2, ECDSA_SUITE)).toBe(true);
    expect(isSecretRound('sign', ECDSA_SIGN_ROUND.R2, ECDSA_SUITE)).toBe(true);
    expect(isSecretRound('sign', ECDSA_SIGN_ROUND.R1, ECDSA_SUITE, 'signer-2')).toBe(true);
    expect(isSecretRound('sign', ECDSA_SIGN_ROUND.R1, ECDSA_SUITE, '*')).toBe(false);
    expect(isSecretRound('sign', ECDSA_SIGN_ROUND.SHARE, ECDSA_SUITE)).toBe(false);
  });

  it('dkg and refresh R2 round-trip with the pair setup; lengths, points and unknown fields are checked', () => {
    const out = dec('dkg', KEY_ROUND.R2, dkgR2()) as ReturnType<typeof dkgR2>;
    expect(out).toEqual(dkgR2());
    expect(dec('refresh', KEY_ROUND.R2, dkgR2())).toEqual(dkgR2());
    const short = dkgR2();
    short.pairSetup.otReceiver.encryptions = B(100);
    expectWire(() => dec('dkg', KEY_ROUND.R2, short), 'BAD_FIELD', 'pairSetup.otReceiver.encryptions');
    const offCurve = dkgR2();
    offCurve.pairSetup.otSender.z = B(33, 5);
    expectWire(() => dec('dkg', KEY_ROUND.R2, offCurve), 'BAD_FIELD', 'pairSetup.otSender.z');
    expectWire(() => dec('dkg', KEY_ROUND.R2, { ...dkgR2(), extra: 1 }), 'UNKNOWN_FIELD');
    // a FROST-shaped R2 is not an ecdsa R2
    expectWire(() => dec('dkg', KEY_ROUND.R2, { signingShare: S() }), 'BAD_FIELD');
  });

  it('sign R1 is a {commitment} or a {mul}; R2 and SHARE are strict', () => {
    expect(dec('sign', ECDSA_SIGN_ROUND.R1, { commitment: B(32) })).toEqual({ commitment: B(32) });
    expect(dec('sign', ECDSA_SIGN_ROUND.R1, { mul: mul1() })).toEqual({ mul: mul1() });
    expectWire(() => dec('sign', ECDSA_SIGN_ROUND.R1, { commitment: B(32), mul: mul1() }), 'UNKNOWN_FIELD');
    expectWire(() => dec('sign', ECDSA_SIGN_ROUND.R1, { mul: { ...mul1(), u: B(10) } }), 'BAD_FIELD', 'mul.u');
    expect(dec('sign', ECDSA_SIGN_ROUND.R2, signR2())).toEqual(signR2());
    const r2 = signR2();
    r2.mul.mu = [S(1)];
    expectWire(() => dec('sign', ECDSA_SIGN_ROUND.R2, r2), 'BAD_FIELD', 'mul.mu');
    const big = signR2();
    big.psi = B(32, 0xff);
    expectWire(() => dec('sign', ECDSA_SIGN_ROUND.R2, big), 'BAD_FIELD', 'psi');
    expect(dec('sign', ECDSA_SIGN_ROUND.SHARE, { w: S(1), u: S(2), instancePoint: P() })).toEqual({ w: S(1), u: S(2), instancePoint: P() });
    expectWire(() => dec('sign', ECDSA_SIGN_ROUND.SHARE, { share: S(1) }), 'UNKNOWN_FIELD');
  });

  it('sign START needs a 32-byte digest and no taproot; reshare and repair are not ecdsa kinds', () => {
    const client = generateIdentity();
    const request = signClientRequest(client, { op: 'sign', keyId: 'k', digest: new Uint8Array(32) });
    const start = { keyId: 'k', epoch: 0, message: B(32), path: 'm/0/1', request };
    expect(dec('sign', ECDSA_SIGN_ROUND.START, start)).toMatchObject({ keyId: 'k', path: 'm/0/1' });
    expectWire(() => dec('sign', ECDSA_SIGN_ROUND.START, { ...start, message: B(31) }), 'BAD_FIELD', 'message');
    expectWire(() => dec('sign', ECDSA_SIGN_ROUND.START, { ...start, taproot: {} }), 'BAD_FIELD', 'taproot');
    expectWire(() => dec('reshare', KEY_ROUND.START, {}), 'UNKNOWN_KIND');
    expectWire(() => dec('repair', KEY_ROUND.START, {}), 'UNKNOWN_KIND');
    expect(dec('retire', RETIRE_ROUND.APPROVE, { keyId: 'k', epoch: 0, requestId: B(32) })).toMatchObject({ keyId: 'k' });
  });
});
