/**
 * Base oblivious transfer: the endemic OT of Zhou, Zhang, Lai, Hu, Zhu and Li,
 * "Endemic Oblivious Transfer via Random Oracles, Revisited" (IACR eprint 2022/1525,
 * §3), the base OT DKLs23 recommends (eprint 2023/765, p. 30), in a batch of kappa
 * random OTs between one sender and one receiver. One message each way; both can be
 * sent at the same time.
 *
 * - Sender: s <- Z_n, z = s*G with a straight-line extractable proof of knowledge of s
 *   (Fischlin's transform of Schnorr's protocol, as the paper's UC proof needs).
 * - Receiver: a seed fixes h = HashToCurve(sid || seed), a point nobody knows the
 *   discrete log of. For choice bit b_k: r_k <- Z_n, u_k = r_k*h, v_k = r_k*G + b_k*h
 *   (an ElGamal encryption of b_k*h), with a Fiat-Shamir OR-proof of Chaum-Pedersen
 *   statements that (h, u_k, G, v_k - b*h) is a DH tuple for b = 0 or b = 1.
 * - Outputs: the sender m0_k = H(sid, k, s*v_k), m1_k = H(sid, k, s*(v_k - h)); the receiver
 *   m_{b_k} = H(sid, k, r_k*z).
 *
 * h MUST come from hashing to the curve: if its discrete log were public (h = H(.)*G),
 * anyone could decrypt v_k - u_k/log(h) = b_k*h and read every choice bit.
 */
import { secp256k1_hasher } from '@noble/curves/secp256k1.js';
import { concatBytes } from '../bytes.ts';
import { CryptoError } from '../errors.ts';
import { assertBytes, parsePoint, parsePointUncached, parseScalar } from '../frost/suite.ts';
import { hashBackend } from '../hash.ts';
import { addBytes, G_BYTES, msmBytes, mulBaseBytes, mulBytes } from './ec.ts';
import { bytesToBigInt, framed, Fn, getBit, hash, hashToScalar, KAPPA, Point, pointBytes, randomBytes, randomScalar, scalarBytes, SEED_LENGTH, suite, u16, type Pt, type Rng } from './common.ts';

// ---- Fischlin proof of knowledge of a discrete log (Fischlin, CRYPTO 2005) ----
/** Repetitions, zero bits required of each hash, challenge bits: soundness 2^-(R*B) = 2^-128. */
const FISCHLIN_R = 16;
const FISCHLIN_B = 8;
const FISCHLIN_T = 16;
export const DLOG_PROOF_LENGTH = FISCHLIN_R * (33 + 2 + 32);

function fischlinPrefix(sid: Uint8Array, Z: Uint8Array, commitments: Uint8Array[]): Uint8Array {
  return hash('fischlin', sid, Z, ...commitments);
}
/**
 * H(prefix, i, c, z) has FISCHLIN_B = 8 leading zero bits. Same bytes as
 * hash('fischlin/try', prefix, u16(i), u16(c), z); the fixed part is hashed once per i.
 */
function fischlinTester(prefix: Uint8Array, i: number): (c: number, z: Uint8Array) => boolean {
  const base = framed('fischlin/try', [prefix, u16(i)]);
  // lengthPrefixed(u16(c), z): u32(2) || c || u32(32) || z, written into the tail of one buffer.
  const input = new Uint8Array(base.length + 42);
  input.set(base, 0);
  const at = base.length;
  input.set([0, 0, 0, 2, 0, 0, 0, 0, 0, 32], at);
  return (c, z) => {
    input[at + 4] = c >>> 8;
    input[at + 5] = c & 255;
    input.set(z, at + 10);
    return z.length === 32 && hashBackend.sha256(input)[0] === 0;
  };
}

/** Proves knowledge of s with Z = s*G, bound to `sid`. */
export function proveDlog(sid: Uint8Array, s: bigint, rng?: Rng): Uint8Array {
  const ks = Array.from({ length: FISCHLIN_R }, () => randomScalar(rng));
  const As = ks.map(mulBaseBytes);
  const prefix = fischlinPrefix(sid, mulBaseBytes(s), As);
  const parts: Uint8Array[] = [];
  for (let i = 0; i < FISCHLIN_R; i++) {
    const ok = fischlinTester(prefix, i);
    let found = false;
    let zc = ks[i]!; // z_c = k_i + c*s
    for (let c = 0; c < 1 << FISCHLIN_T; c++, zc = Fn.add(zc, s)) {
      const z = scalarBytes(zc);
      if (ok(c, z)) {
        parts.push(As[i]!, u16(c), z);
        found = true;
        break;
      }
    }
    // Probability (1 - 2^-8)^65536 < 2^-369: only a broken hash gets here.
    if (!found) throw new CryptoError('INVALID_PROOF', { field: 'fischlin', message: 'INVALID_PROOF: Fischlin search exhausted' });
  }
  ks.fill(0n);
  return concatBytes(...parts);
}

/** Verifies a Fischlin proof for Z; throws INVALID_PROOF naming `culprit`. */
export function verifyDlog(sid: Uint8Array, Z: Pt, proof: unknown, field: string, culprit: number): void {
  const p = assertBytes(proof, DLOG_PROOF_LENGTH, field);
  const As: Uint8Array[] = [];
  for (let i = 0; i < FISCHLIN_R; i++) As.push(p.subarray(i * 67, i * 67 + 33));
  const prefix = fischlinPrefix(sid, pointBytes(Z), As);
  for (let i = 0; i < FISCHLIN_R; i++) {
    const off = i * 67;
    const A = parsePoint(suite, As[i], `${field}.A[${i}]`);
    const c = (p[off + 33]! << 8) | p[off + 34]!;
    const zb = p.subarray(off + 35, off + 67);
    const z = parseScalar(suite, zb, `${field}.z[${i}]`, { allowZero: true });
    const ok = fischlinTester(prefix, i)(c, zb) && Point.BASE.multiplyUnsafe(z).equals((A as unknown as Pt).add(c === 0 ? Point.ZERO : Z.multiplyUnsafe(BigInt(c))));
    if (!ok) throw new CryptoError('INVALID_PROOF', { field, culprits: [culprit], message: `INVALID_PROOF: participant ${culprit}'s base-OT proof of knowledge fails` });
  }
}

// ---- the OT batch ----

/** Sender's message: z = s*G and its proof. */
export interface BaseOtSenderMessage {
  z: Uint8Array;
  proof: Uint8Array;
}

/** One OR-proof (Chaum-Pedersen, both branches' commitments sent so a batch verifies as one MSM). */
const ENC_LENGTH = 2 * 33 + 4 * 33 + 4 * 32;
/** Receiver's message: the seed of h and kappa encryptions with their OR-proofs, concatenated. */
export interface BaseOtReceiverMessage {
  seed: Uint8Array;
  encryptions: Uint8Array;
}
export const BASE_OT_RECEIVER_LENGTH = KAPPA * ENC_LENGTH;

export interface BaseOtSenderSecret {
  s: bigint;
}
export interface BaseOtReceiverSecret {
  choices: Uint8Array;
  r: bigint[];
}

function hPoint(sid: Uint8Array, seed: Uint8Array): Pt {
  return secp256k1_hasher.hashToCurve(concatBytes(sid, seed), { DST: 'keyquorum/ecdsa/base-ot/h' }) as unknown as Pt;
}

const outputHash = (sid: Uint8Array, k: number, P: Uint8Array) => hash('base-ot/out', sid, u16(k), P).subarray(0, SEED_LENGTH);

export function baseOtSenderStart(sid: Uint8Array, rng?: Rng): { secret: BaseOtSenderSecret; message: BaseOtSenderMessage } {
  const s = randomScalar(rng);
  return { secret: { s }, message: { z: mulBaseBytes(s), proof: proveDlog(concatBytes(sid, new Uint8Array([0x5a])), s, rng) } };
}

function encChallenge(sid: Uint8Array, k: number, h: Uint8Array, u: Uint8Array, v: Uint8Array, commitments: Uint8Array[]): bigint {
  return hashToScalar('base-ot/enc', sid, u16(k), h, u, v, ...commitments);
}

/** Receiver: `choices` holds KAPPA bits (bit k at byte k>>3, position k&7). */
export function baseOtReceiverStart(sid: Uint8Array, choices: Uint8Array, rng?: Rng): { secret: BaseOtReceiverSecret; message: BaseOtReceiverMessage } {
  assertBytes(choices, KAPPA / 8, 'baseOt.choices');
  const seed = randomBytes(rng, 32);
  const hb = pointBytes(hPoint(sid, seed));
  const r: bigint[] = [];
  const parts: Uint8Array[] = [];
  // Secret scalars: constant-time multiplications (ec.ts), on encodings.
  const hIdentity = () => new CryptoError('INVALID_PROOF', { field: 'baseOt', message: 'INVALID_PROOF: a base-OT encryption is the identity' });
  for (let k = 0; k < KAPPA; k++) {
    const b = getBit(choices, k);
    const rk = randomScalar(rng);
    const kk = randomScalar(rng);
    const cFake = randomScalar(rng);
    const zFake = randomScalar(rng);
    r.push(rk);
    const ub = mulBytes(hb, rk);
    const rG = mulBaseBytes(rk);
    const vb = b ? (addBytes(rG, hb) ?? throwErr(hIdentity())) : rG; // r_k*G + b_k*h
    // Branch statements: branch beta claims u = r*h and v - beta*h = r*G.
    const Ar = mulBytes(hb, kk);
    const Br = mulBaseBytes(kk);
    // Simulated branch: pick (c, z) first and solve for the commitments. With e = z - c*r_k:
    // A = z*h - c*u = e*h, and B = z*G - c*(v - (1-b)*h) = e*G - c*(2b - 1)*h (fixed bases only).
    const e = Fn.sub(zFake, Fn.mul(cFake, rk));
    const As = mulBytes(hb, e);
    const Bs = addBytes(mulBaseBytes(e), mulBytes(hb, b ? Fn.neg(cFake) : cFake)) ?? throwErr(hIdentity());
    const com = b ? [As, Bs, Ar, Br] : [Ar, Br, As, Bs];
    // The Fiat-Shamir challenge and the responses.
    const c = encChallenge(sid, k, hb, ub, vb, com);
    const cs = [0n, 0n];
    const zs = [0n, 0n];
    cs[1 - b] = cFake;
    zs[1 - b] = zFake;
    cs[b] = Fn.sub(c, cFake);
    zs[b] = Fn.add(kk, Fn.mul(cs[b]!, rk));
    parts.push(ub, vb, ...com, scalarBytes(cs[0]!), scalarBytes(cs[1]!), scalarBytes(zs[0]!), scalarBytes(zs[1]!));
  }
  return { secret: { choices: choices.slice(), r }, message: { seed, encryptions: concatBytes(...parts) } };
}

function throwErr(e: Error): never {
  throw e;
}

/**
 * Sender: verifies every OR-proof (all 4*kappa equations as one random linear
 * combination, soundness 2^-128) and returns (m0_k, m1_k). A failure names `culprit`.
 */
export function baseOtSenderFinish(sid: Uint8Array, secret: BaseOtSenderSecret, msg: BaseOtReceiverMessage, field: string, culprit: number, rng?: Rng): { m0: Uint8Array[]; m1: Uint8Array[] } {
  if (typeof msg !== 'object' || msg === null) throw new CryptoError('BAD_FIELD', { field, culprits: [culprit] });
  const seed = assertBytes(msg.seed, 32, `${field}.seed`);
  const enc = assertBytes(msg.encryptions, BASE_OT_RECEIVER_LENGTH, `${field}.encryptions`);
  const hb = pointBytes(hPoint(sid, seed));
  const scalars: bigint[] = [];
  let hCoef = 0n;
  let gCoef = 0n;
  const fail = () => new CryptoError('INVALID_PROOF', { field, culprits: [culprit], message: `INVALID_PROOF: participant ${culprit}'s base-OT encryption proof fails` });
  const blamed = <T>(f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof CryptoError && e.culprits.length === 0) throw new CryptoError(e.code, { field: e.field, culprits: [culprit] });
      throw e;
    }
  };
  // One-shot points: decoded without the shared cache of validated encodings (no pollution).
  const decodeUpTo = (end: number) => {
    for (let k = 0; k < end; k++)
      for (const [i, name] of ['u', 'v', 'A0', 'B0', 'A1', 'B1'].entries())
        blamed(() => parsePointUncached(suite, enc.subarray(k * ENC_LENGTH + i * 33, k * ENC_LENGTH + i * 33 + 33), `${field}.encryptions[${k}].${name}`));
  };
  const rho = randomBytes(rng, KAPPA * 4 * 16);
  const encodings: Uint8Array[] = [];
  for (let k = 0; k < KAPPA; k++) {
    const off = k * ENC_LENGTH;
    const sc = (i: number, name: string) => blamed(() => parseScalar(suite, enc.subarray(off + 198 + i * 32, off + 230 + i * 32), `${field}.encryptions[${k}].${name}`, { allowZero: true }));
    let c0: bigint, c1: bigint, z0: bigint, z1: bigint;
    const com = [2, 3, 4, 5].map((i) => enc.subarray(off + i * 33, off + i * 33 + 33));
    try {
      [c0, c1, z0, z1] = [sc(0, 'c0'), sc(1, 'c1'), sc(2, 'z0'), sc(3, 'z1')];
      // The cheap hash check first: a bad proof costs no point decoding.
      if (Fn.add(c0, c1) !== encChallenge(sid, k, hb, enc.subarray(off, off + 33), enc.subarray(off + 33, off + 66), com)) throw fail();
    } catch (e) {
      decodeUpTo(k); // an earlier bad point is the error to report (the points are checked in order)
      throw e;
    }
    // Equations (branch beta): z_b*h = A_b + c_b*u ; z_b*G = B_b + c_b*(v - beta*h), combined with
    // 128-bit coefficients only the verifier knows (soundness 2^-128 for the whole batch).
    const [p0, q0, p1, q1] = [0, 1, 2, 3].map((i) => bytesToBigInt(rho.subarray((4 * k + i) * 16, (4 * k + i + 1) * 16))) as [bigint, bigint, bigint, bigint];
    hCoef = Fn.add(hCoef, Fn.add(Fn.mul(p0, z0), Fn.mul(p1, z1)));
    hCoef = Fn.add(hCoef, Fn.mul(q1, c1)); // + q1*c1*h from the (v - h) term
    gCoef = Fn.add(gCoef, Fn.add(Fn.mul(q0, z0), Fn.mul(q1, z1)));
    for (let i = 0; i < 6; i++) encodings.push(enc.subarray(off + i * 33, off + i * 33 + 33));
    scalars.push(Fn.neg(Fn.add(Fn.mul(p0, c0), Fn.mul(p1, c1))), Fn.neg(Fn.add(Fn.mul(q0, c0), Fn.mul(q1, c1))), Fn.neg(p0), Fn.neg(q0), Fn.neg(p1), Fn.neg(q1));
  }
  encodings.push(hb, G_BYTES);
  scalars.push(hCoef, gCoef);
  let sum: Uint8Array | null;
  try {
    sum = msmBytes(encodings, scalars);
  } catch (e) {
    decodeUpTo(KAPPA); // names the first invalid encoding exactly as a point-by-point decoding does
    throw e;
  }
  if (sum !== null) throw fail();
  // Outputs: s*v_k and s*(v_k - h) = s*v_k + (n - s)*h (secret s: constant-time multiplications).
  const negSh = mulBytes(hb, Fn.neg(secret.s));
  const m0: Uint8Array[] = [];
  const m1: Uint8Array[] = [];
  for (let k = 0; k < KAPPA; k++) {
    const sv = mulBytes(encodings[6 * k + 1]!, secret.s);
    m0.push(outputHash(sid, k, sv));
    m1.push(outputHash(sid, k, addBytes(sv, negSh) ?? throwErr(fail())));
  }
  return { m0, m1 };
}

/** Receiver: verifies the sender's proof of knowledge and returns m_{b_k}. A failure names `culprit`. */
export function baseOtReceiverFinish(sid: Uint8Array, secret: BaseOtReceiverSecret, msg: BaseOtSenderMessage, field: string, culprit: number): Uint8Array[] {
  if (typeof msg !== 'object' || msg === null) throw new CryptoError('BAD_FIELD', { field, culprits: [culprit] });
  const z = parsePoint(suite, msg.z, `${field}.z`) as unknown as Pt;
  verifyDlog(concatBytes(sid, new Uint8Array([0x5a])), z, msg.proof, `${field}.proof`, culprit);
  const zb = pointBytes(z);
  return secret.r.map((r, k) => outputHash(sid, k, mulBytes(zb, r)));
}
