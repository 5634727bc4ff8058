import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { CryptoError, deriveChild } from '../src/index.ts';
import {
  baseOtReceiverFinish,
  baseOtReceiverStart,
  baseOtSenderFinish,
  baseOtSenderStart,
  decodeEcdsaKeyShare,
  ecdsaDkgRound1,
  encodeEcdsaKeyShare,
  gadget,
  KAPPA,
  mulReceiverFinish,
  mulReceiverStart,
  mulSenderRespond,
  signPresign,
  signRound3,
  zeroShare,
  type EcdsaKeyShare,
} from '../src/ecdsa/index.ts';
import { Fn, randomScalar } from '../src/ecdsa/common.ts';
import { concatBytes } from '../src/bytes.ts';
import { runEcdsaDkg, runPresign, runSign, sid } from './ecdsa-helpers.ts';

function expectCryptoError(fn: () => unknown, code: string, culprits?: number[]) {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CryptoError);
    expect((e as CryptoError).code).toBe(code);
    if (culprits) expect((e as CryptoError).culprits).toEqual(culprits);
    return;
  }
  throw new Error(`expected ${code}`);
}

/** DER encoding of (r, s) for node:crypto. */
function der(sig: Uint8Array): Buffer {
  const int = (b: Uint8Array) => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    let v = b.subarray(i);
    if (v[0]! & 0x80) v = concatBytes(new Uint8Array([0]), v);
    return concatBytes(new Uint8Array([0x02, v.length]), v);
  };
  const body = concatBytes(int(sig.subarray(0, 32)), int(sig.subarray(32)));
  return Buffer.from(concatBytes(new Uint8Array([0x30, body.length]), body));
}

/** node:crypto hashes what it verifies, so the digest is SHA-256(message) and node gets the message. */
function nodeVerifies(sig: Uint8Array, message: Uint8Array, pub33: Uint8Array): boolean {
  const p = secp256k1.Point.fromBytes(pub33).toAffine();
  const b64 = (n: bigint) => Buffer.from(n.toString(16).padStart(64, '0'), 'hex').toString('base64url');
  const key = createPublicKey({ key: { kty: 'EC', crv: 'secp256k1', x: b64(p.x), y: b64(p.y) }, format: 'jwk' });
  return nodeVerify('sha256', message, { key, dsaEncoding: 'der' }, der(sig));
}

function checkSignature(sig: { signature: Uint8Array; recovery: number }, message: Uint8Array, pub33: Uint8Array) {
  const digest = sha256(message);
  expect(sig.signature.length).toBe(64);
  expect(secp256k1.verify(sig.signature, digest, pub33, { prehash: false })).toBe(true);
  const s = BigInt('0x' + Buffer.from(sig.signature.subarray(32)).toString('hex'));
  expect(s <= secp256k1.Point.Fn.ORDER >> 1n).toBe(true);
  const recovered = secp256k1.Signature.fromBytes(sig.signature).addRecoveryBit(sig.recovery).recoverPublicKey(digest);
  expect(Buffer.from(recovered.toBytes(true)).toString('hex')).toBe(Buffer.from(pub33).toString('hex'));
  expect(nodeVerifies(sig.signature, message, pub33)).toBe(true);
}

function baseOtPair() {
  const s = sid();
  const delta = crypto.getRandomValues(new Uint8Array(KAPPA / 8));
  const S = baseOtSenderStart(s);
  const R = baseOtReceiverStart(s, delta);
  return { s, delta, S, R };
}

describe('ecdsa base OT (Zhou et al. endemic OT)', () => {
  it('the receiver gets exactly m_{b_k} for its choice bits', () => {
    const { s, delta, S, R } = baseOtPair();
    const { m0, m1 } = baseOtSenderFinish(s, S.secret, R.message, 'r', 2);
    const mb = baseOtReceiverFinish(s, R.secret, S.message, 's', 1);
    for (let k = 0; k < KAPPA; k++) {
      const b = (delta[k >> 3]! >> (k & 7)) & 1;
      expect(mb[k]).toEqual(b ? m1[k] : m0[k]);
      expect(mb[k]).not.toEqual(b ? m0[k] : m1[k]);
    }
  });
  it('a receiver whose encryption proof does not verify is named', () => {
    const { s, S, R } = baseOtPair();
    const enc = R.message.encryptions.slice();
    enc[enc.length - 1]! ^= 1; // last response scalar of the last OT
    expectCryptoError(() => baseOtSenderFinish(s, S.secret, { ...R.message, encryptions: enc }, 'r', 7), 'INVALID_PROOF', [7]);
  });
  it('a receiver cannot reuse proofs made for another session', () => {
    const { S, R } = baseOtPair();
    expectCryptoError(() => baseOtSenderFinish(sid(), S.secret, R.message, 'r', 7), 'INVALID_PROOF', [7]);
  });
  it('a sender without a valid proof of knowledge of s is named', () => {
    const { s, S, R } = baseOtPair();
    const other = baseOtSenderStart(s);
    expectCryptoError(() => baseOtReceiverFinish(s, R.secret, { z: other.message.z, proof: S.message.proof }, 's', 4), 'INVALID_PROOF', [4]);
  });
});

function otSeeds() {
  const { s, delta, S, R } = baseOtPair();
  const { m0, m1 } = baseOtSenderFinish(s, S.secret, R.message, 'r', 2);
  const mb = baseOtReceiverFinish(s, R.secret, S.message, 's', 1);
  return { alice: { delta, seeds: concatBytes(...mb) }, bob: { seeds0: concatBytes(...m0), seeds1: concatBytes(...m1) } };
}

describe('ecdsa OT extension (KOS15) and multiplication (DKLs19 Protocol 1)', () => {
  let seeds: ReturnType<typeof otSeeds>;
  beforeAll(() => {
    seeds = otSeeds();
  });
  it('c + d = a * b for both inputs', () => {
    const s = sid();
    const g = gadget(s);
    const B = mulReceiverStart(seeds.bob, s, g);
    const a = [randomScalar(), randomScalar()];
    const A = mulSenderRespond(seeds.alice, s, g, a, B.message, 'm1', 2);
    const d = mulReceiverFinish(B.state, g, A.message, 'm2', 1);
    for (let l = 0; l < 2; l++) expect(Fn.add(A.c[l]!, d[l]!)).toBe(Fn.mul(a[l]!, B.state.b));
  });
  it('a receiver using inconsistent choice bits across columns fails the KOS15 check and is named', () => {
    const s = sid();
    const g = gadget(s);
    const B = mulReceiverStart(seeds.bob, s, g);
    const u = B.message.u.slice();
    u[5 * 78 + 3]! ^= 0x10; // column 5 now carries another x'_j
    expectCryptoError(() => mulSenderRespond(seeds.alice, s, g, [1n, 2n], { ...B.message, u }, 'm1', 3), 'INVALID_PROOF', [3]);
  });
  it('a sender using an inconsistent correlation fails the multiplication check and is named', () => {
    const s = sid();
    const g = gadget(s);
    const B = mulReceiverStart(seeds.bob, s, g);
    const A = mulSenderRespond(seeds.alice, s, g, [5n, 6n], B.message, 'm1', 2);
    // Shift tau_j for a row Bob chose 1 on: his output moves off the committed correlation.
    let j = 0;
    while (!((B.state.beta[j >> 3]! >> (j & 7)) & 1)) j++;
    const tau = A.message.tau.slice();
    tau[j * 4 * 32 + 31]! ^= 1;
    expectCryptoError(() => mulReceiverFinish(B.state, g, { ...A.message, tau }, 'm2', 9), 'INVALID_PROOF', [9]);
  });
  it('zero shares of a quorum sum to zero', () => {
    const seedsById = new Map<string, Uint8Array>();
    const q = [1, 3, 4, 7];
    const key = (a: number, b: number) => `${Math.min(a, b)}-${Math.max(a, b)}`;
    for (const a of q) for (const b of q) if (a < b) seedsById.set(key(a, b), crypto.getRandomValues(new Uint8Array(32)));
    const s = sid();
    const total = q.reduce((acc, i) => Fn.add(acc, zeroShare(i, q, new Map(q.filter((j) => j !== i).map((j) => [j, seedsById.get(key(i, j))!])), s)), 0n);
    expect(total).toBe(0n);
  });
});

describe('ecdsa-secp256k1 2-of-3 (DKLs23)', () => {
  let shares: EcdsaKeyShare[];
  let transcripts: Uint8Array[];
  beforeAll(() => {
    ({ shares, transcripts } = runEcdsaDkg(2, [1, 2, 3]));
  }, 60_000);
  const message = new TextEncoder().encode('keyquorum ecdsa test transaction');
  const digest = sha256(message);

  it('DKG: every party agrees on the transcript and Y, and rejects threshold 1', () => {
    expect(new Set(transcripts.map((t) => Buffer.from(t).toString('hex'))).size).toBe(1);
    expect(new Set(shares.map((s) => Buffer.from(s.frost.publicKey.groupKey).toString('hex'))).size).toBe(1);
    expectCryptoError(() => ecdsaDkgRound1({ sessionId: sid(), self: 1, participants: [1, 2, 3], threshold: 1 }), 'BAD_THRESHOLD');
  });
  it('key shares round-trip compactly, redact themselves, and reject trailing bytes', () => {
    const bytes = encodeEcdsaKeyShare(shares[0]!);
    expect(bytes.length).toBeLessThan(20_000);
    const back = decodeEcdsaKeyShare(bytes);
    expect(encodeEcdsaKeyShare(back)).toEqual(bytes);
    expect(JSON.stringify(shares[0])).toContain('redacted');
    expectCryptoError(() => decodeEcdsaKeyShare(concatBytes(bytes, new Uint8Array([0]))), 'BAD_FIELD');
  });
  it.each([[[1, 2]], [[1, 3]], [[2, 3]], [[1, 2, 3]]])('quorum %j signs a digest that noble, node:crypto and recovery accept', (q) => {
    const sig = runSign(shares.filter((s) => q.includes(s.frost.id)), digest);
    checkSignature(sig, message, shares[0]!.frost.publicKey.groupKey);
  });
  it('signs for a non-hardened BIP32 child (same path semantics as FROST)', () => {
    const path = 'm/44/60/0/7';
    const child = deriveChild(shares[0]!.frost.publicKey, path);
    const sig = runSign([shares[1]!, shares[2]!], digest, path);
    checkSignature(sig, message, child.groupKey);
  });
  it('a presignature signs once: a second use fails closed', () => {
    const { pre } = runPresign([shares[0]!, shares[1]!]);
    signRound3(pre[0]!.presignature, digest);
    expectCryptoError(() => signRound3(pre[0]!.presignature, digest), 'NONCE_REUSED');
  });
  it('a counterparty whose Gamma_u is inconsistent with its multiplication is named (chi*R_j check)', () => {
    const { r2 } = runPresign([shares[0]!, shares[1]!]);
    const to1 = r2[1]!.direct.find((d) => d.to === 1)!;
    const bad = { ...to1, gammaU: secp256k1.Point.BASE.multiply(5n).toBytes(true) };
    expectCryptoError(() => signPresign(r2[0]!.secret, [bad]), 'INVALID_SHARE', [2]);
  });
  it('a counterparty lying about pk_j is named (chi*pk_j check)', () => {
    const { r2 } = runPresign([shares[0]!, shares[2]!]);
    const to1 = r2[1]!.direct.find((d) => d.to === 1)!;
    const bad = { ...to1, publicShare: secp256k1.Point.BASE.multiply(11n).toBytes(true) };
    expectCryptoError(() => signPresign(r2[0]!.secret, [bad]), 'INVALID_SHARE', [3]);
  });
  it('a counterparty opening another R_j than it committed to is named', () => {
    const { r2 } = runPresign([shares[0]!, shares[1]!]);
    const to1 = r2[1]!.direct.find((d) => d.to === 1)!;
    const bad = { ...to1, instancePoint: secp256k1.Point.BASE.multiply(3n).toBytes(true) };
    expectCryptoError(() => signPresign(r2[0]!.secret, [bad]), 'INVALID_COMMITMENT', [2]);
  });
  it('a counterparty tampering with its multiplication reply is named', () => {
    const { r2 } = runPresign([shares[0]!, shares[1]!]);
    const to1 = r2[1]!.direct.find((d) => d.to === 1)!;
    const checkHash = to1.mul.checkHash.slice();
    checkHash[0]! ^= 1;
    expectCryptoError(() => signPresign(r2[0]!.secret, [{ ...to1, mul: { ...to1.mul, checkHash } }]), 'INVALID_PROOF', [2]);
  });
  it('rejects a digest that is not 32 bytes', () => {
    const { pre } = runPresign([shares[0]!, shares[1]!]);
    expectCryptoError(() => signRound3(pre[0]!.presignature, new Uint8Array(31)), 'BAD_FIELD');
  });
});

describe('ecdsa properties', () => {
  it('random 2 <= t <= n <= 5: DKG, a random quorum signs, the signature verifies', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 5 }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 2, max: n }), fc.shuffledSubarray([1, 2, 3, 4, 5].slice(0, n), { minLength: n, maxLength: n }))),
        fc.uint8Array({ minLength: 0, maxLength: 64 }),
        ([n, t, order], message) => {
          const { shares } = runEcdsaDkg(t, Array.from({ length: n }, (_, i) => i + 1));
          const quorum = order.slice(0, t);
          const sig = runSign(shares.filter((s) => quorum.includes(s.frost.id)), sha256(message));
          checkSignature(sig, message, shares[0]!.frost.publicKey.groupKey);
        },
      ),
      { numRuns: 1 },
    );
  }, 120_000);
});
