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
import { pippenger } from '@noble/curves/abstract/curve.js';
import { secp256k1_hasher } from '@noble/curves/secp256k1.js';
import { bytesToNumberBE } from '@noble/curves/utils.js';
import { concatBytes } from '../bytes.ts';
import { CryptoError } from '../errors.ts';
import { assertBytes, parsePoint, parseScalar } from '../frost/suite.ts';
import { Fn, getBit, hash, hashToScalar, KAPPA, Point, pointBytes, randomBytes, randomScalar, scalarBytes, SEED_LENGTH, suite, u16, type Pt, type Rng } from './common.ts';

// ---- Fischlin proof of knowledge of a discrete log (Fischlin, CRYPTO 2005) ----
/** Repetitions, zero bits required of each hash, challenge bits: soundness 2^-(R*B) = 2^-128. */
const FISCHLIN_R = 16;
const FISCHLIN_B = 8;
const FISCHLIN_T = 16;
export const DLOG_PROOF_LENGTH = FISCHLIN_R * (33 + 2 + 32);

function fischlinPrefix(sid: Uint8Array, Z: Pt, commitments: Uint8Array[]): Uint8Array {
  return hash('fischlin', sid, pointBytes(Z), ...commitments);
}
function fischlinOk(prefix: Uint8Array, i: number, c: number, z: Uint8Array): boolean {
  const h = hash('fischlin/try', prefix, u16(i), u16(c), z);
  return h[0] === 0; // FISCHLIN_B = 8 leading zero bits
}

/** Proves knowledge of s with Z = s*G, bound to `sid`. */
export function proveDlog(sid: Uint8Array, s: bigint, rng?: Rng): Uint8Array {
  const Z = Point.BASE.multiply(s);
  const ks = Array.from({ length: FISCHLIN_R }, () => randomScalar(rng));
  const As = ks.map((k) => pointBytes(Point.BASE.multiply(k)));
  const prefix = fischlinPrefix(sid, Z, As);
  const parts: Uint8Array[] = [];
  for (let i = 0; i < FISCHLIN_R; i++) {
    let found = false;
    for (let c = 0; c < 1 << FISCHLIN_T; c++) {
      const z = scalarBytes(Fn.add(ks[i]!, Fn.mul(BigInt(c), s)));
      if (fischlinOk(prefix, i, c, z)) {
        parts.push(As[i]!, u16(c), z);
        found = true;
        break;
      }
    }
    // Probability (1 - 2^-8)^65536 < 2^-369: only a broken hash gets here.
    if (!found) throw new CryptoError('INVALID_PROOF', { field: 'fischlin', message: 'INVALID_PROOF: Fischlin search exhausted' });
  }
  return concatBytes(...parts);
}

/** Verifies a Fischlin proof for Z; throws INVALID_PROOF naming `culprit`. */
export function verifyDlog(sid: Uint8Array, Z: Pt, proof: unknown, field: string, culprit: number): void {
  const p = assertBytes(proof, DLOG_PROOF_LENGTH, field);
  const As: Uint8Array[] = [];
  for (let i = 0; i < FISCHLIN_R; i++) As.push(p.subarray(i * 67, i * 67 + 33));
  const prefix = fischlinPrefix(sid, Z, As);
  for (let i = 0; i < FISCHLIN_R; i++) {
    const off = i * 67;
    const A = parsePoint(suite, As[i], `${field}.A[${i}]`);
    const c = (p[off + 33]! << 8) | p[off + 34]!;
    const zb = p.subarray(off + 35, off + 67);
    const z = parseScalar(suite, zb, `${field}.z[${i}]`, { allowZero: true });
    const ok = fischlinOk(prefix, i, c, zb) && Point.BASE.multiplyUnsafe(z).equals((A as unknown as Pt).add(c === 0 ? Point.ZERO : Z.multiplyUnsafe(BigInt(c))));
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
  const h = secp256k1_hasher.hashToCurve(concatBytes(sid, seed), { DST: 'keyquorum/ecdsa/base-ot/h' }) as unknown as Pt;
  return h.precompute(8, false) as Pt;
}

const outputHash = (sid: Uint8Array, k: number, P: Pt) => hash('base-ot/out', sid, u16(k), pointBytes(P)).subarray(0, SEED_LENGTH);

export function baseOtSenderStart(sid: Uint8Array, rng?: Rng): { secret: BaseOtSenderSecret; message: BaseOtSenderMessage } {
  const s = randomScalar(rng);
  return { secret: { s }, message: { z: pointBytes(Point.BASE.multiply(s)), proof: proveDlog(concatBytes(sid, new Uint8Array([0x5a])), s, rng) } };
}

function encChallenge(sid: Uint8Array, k: number, h: Pt, u: Uint8Array, v: Uint8Array, commitments: Uint8Array[]): bigint {
  return hashToScalar('base-ot/enc', sid, u16(k), pointBytes(h), u, v, ...commitments);
}

/** Receiver: `choices` holds KAPPA bits (bit k at byte k>>3, position k&7). */
export function baseOtReceiverStart(sid: Uint8Array, choices: Uint8Array, rng?: Rng): { secret: BaseOtReceiverSecret; message: BaseOtReceiverMessage } {
  assertBytes(choices, KAPPA / 8, 'baseOt.choices');
  const seed = randomBytes(rng, 32);
  const h = hPoint(sid, seed);
  const r: bigint[] = [];
  const parts: Uint8Array[] = [];
  for (let k = 0; k < KAPPA; k++) {
    const b = getBit(choices, k);
    const rk = randomScalar(rng);
    r.push(rk);
    const u = h.multiply(rk);
    const rG = Point.BASE.multiply(rk);
    const v = b ? rG.add(h) : rG;
    // Branch statements: branch beta claims u = r*h and v - beta*h = r*G.
    const kk = randomScalar(rng);
    const cFake = randomScalar(rng);
    const zFake = randomScalar(rng);
    const A: Pt[] = [Point.ZERO, Point.ZERO];
    const B: Pt[] = [Point.ZERO, Point.ZERO];
    A[b] = h.multiply(kk);
    B[b] = Point.BASE.multiply(kk);
    // Simulated branch: pick (c, z) first and solve for the commitments. With e = z - c*r_k:
    // A = z*h - c*u = e*h, and B = z*G - c*(v - (1-b)*h) = e*G - c*(2b - 1)*h (fixed bases only).
    const e = Fn.sub(zFake, Fn.mul(cFake, rk));
    A[1 - b] = h.multiply(e);
    B[1 - b] = Point.BASE.multiply(e).add(h.multiply(b ? Fn.neg(cFake) : cFake));
    const ub = pointBytes(u);
    const vb = pointBytes(v);
    const com = [pointBytes(A[0]!), pointBytes(B[0]!), pointBytes(A[1]!), pointBytes(B[1]!)];
    const c = encChallenge(sid, k, h, ub, vb, com);
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

/**
 * Sender: verifies every OR-proof (all 4*kappa equations as one random linear
 * combination, soundness 2^-128) and returns (m0_k, m1_k). A failure names `culprit`.
 */
export function baseOtSenderFinish(sid: Uint8Array, secret: BaseOtSenderSecret, msg: BaseOtReceiverMessage, field: string, culprit: number, rng?: Rng): { m0: Uint8Array[]; m1: Uint8Array[] } {
  if (typeof msg !== 'object' || msg === null) throw new CryptoError('BAD_FIELD', { field, culprits: [culprit] });
  const seed = assertBytes(msg.seed, 32, `${field}.seed`);
  const enc = assertBytes(msg.encryptions, BASE_OT_RECEIVER_LENGTH, `${field}.encryptions`);
  const h = hPoint(sid, seed);
  const points: Pt[] = [];
  const scalars: bigint[] = [];
  let hCoef = 0n;
  let gCoef = 0n;
  const vs: Pt[] = [];
  const fail = () => new CryptoError('INVALID_PROOF', { field, culprits: [culprit], message: `INVALID_PROOF: participant ${culprit}'s base-OT encryption proof fails` });
  for (let k = 0; k < KAPPA; k++) {
    const off = k * ENC_LENGTH;
    const pt = (i: number, name: string) => parsePoint(suite, enc.subarray(off + i * 33, off + i * 33 + 33), `${field}.encryptions[${k}].${name}`) as unknown as Pt;
    const sc = (i: number, name: string) => parseScalar(suite, enc.subarray(off + 198 + i * 32, off + 230 + i * 32), `${field}.encryptions[${k}].${name}`, { allowZero: true });
    const u = pt(0, 'u');
    const v = pt(1, 'v');
    const A0 = pt(2, 'A0'), B0 = pt(3, 'B0'), A1 = pt(4, 'A1'), B1 = pt(5, 'B1');
    const c0 = sc(0, 'c0'), c1 = sc(1, 'c1'), z0 = sc(2, 'z0'), z1 = sc(3, 'z1');
    const com = [2, 3, 4, 5].map((i) => enc.subarray(off + i * 33, off + i * 33 + 33));
    if (Fn.add(c0, c1) !== encChallenge(sid, k, h, enc.subarray(off, off + 33), enc.subarray(off + 33, off + 66), com)) throw fail();
    // Equations (branch beta): z_b*h = A_b + c_b*u ; z_b*G = B_b + c_b*(v - beta*h).
    const rho = [0, 1, 2, 3].map(() => bytesToNumberBE(randomBytes(rng, 16)));
    const [p0, q0, p1, q1] = rho as [bigint, bigint, bigint, bigint];
    hCoef = Fn.add(hCoef, Fn.add(Fn.mul(p0, z0), Fn.mul(p1, z1)));
    hCoef = Fn.add(hCoef, Fn.mul(q1, c1)); // + q1*c1*h from the (v - h) term
    gCoef = Fn.add(gCoef, Fn.add(Fn.mul(q0, z0), Fn.mul(q1, z1)));
    points.push(u, v, A0, B0, A1, B1);
    scalars.push(Fn.neg(Fn.add(Fn.mul(p0, c0), Fn.mul(p1, c1))), Fn.neg(Fn.add(Fn.mul(q0, c0), Fn.mul(q1, c1))), Fn.neg(p0), Fn.neg(q0), Fn.neg(p1), Fn.neg(q1));
    vs.push(v);
  }
  points.push(h, Point.BASE);
  scalars.push(hCoef, gCoef);
  if (!pippenger(Point, points, scalars).is0()) throw fail();
  const sh = h.multiply(secret.s);
  const m0: Uint8Array[] = [];
  const m1: Uint8Array[] = [];
  vs.forEach((v, k) => {
    const sv = v.multiply(secret.s);
    m0.push(outputHash(sid, k, sv));
    m1.push(outputHash(sid, k, sv.subtract(sh)));
  });
  return { m0, m1 };
}

/** Receiver: verifies the sender's proof of knowledge and returns m_{b_k}. A failure names `culprit`. */
export function baseOtReceiverFinish(sid: Uint8Array, secret: BaseOtReceiverSecret, msg: BaseOtSenderMessage, field: string, culprit: number): Uint8Array[] {
  if (typeof msg !== 'object' || msg === null) throw new CryptoError('BAD_FIELD', { field, culprits: [culprit] });
  const z = parsePoint(suite, msg.z, `${field}.z`) as unknown as Pt;
  verifyDlog(concatBytes(sid, new Uint8Array([0x5a])), z, msg.proof, `${field}.proof`, culprit);
  const zp = z.precompute(8, false) as Pt;
  return secret.r.map((r, k) => outputHash(sid, k, zp.multiply(r)));
}

