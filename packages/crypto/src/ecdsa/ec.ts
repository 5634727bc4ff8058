/**
 * Curve operations for the batch-heavy parts of the engine (base OT, proofs, the
 * signing checks):
 *
 * - `mulBaseBytes`, `mulBytes`, `addBytes`, `linearCheck`, `msmBytes`: on 33-byte
 *   encodings through libsecp256k1 (backend/secp256k1.ts, WebAssembly) when it loads,
 *   else noble. libsecp256k1 multiplies in constant time (ecmult_gen for k*G,
 *   ecmult_const for k*P), so secret scalars may go through `mulBaseBytes`/`mulBytes`;
 *   `linearCheck` and `msmBytes` are for PUBLIC values. packages/crypto/test/
 *   hash-backend.test.ts checks them against noble.
 * - `mulSecret` (the noble fallback of `mulBytes`): noble's constant-time multiplication
 *   (signed fixed-window wNAF with a data-oblivious table scan on precomputed points, a
 *   fixed window otherwise) WITHOUT
 *   noble's extra scalar blinding (a defence-in-depth against power analysis that costs
 *   a 384-bit instead of a 256-bit walk) and WITHOUT the per-call normalisation to affine
 *   coordinates: callers batch-normalise (`normalize`, one field inversion per batch).
 *   Same operation sequence for every scalar; JavaScript BigInt arithmetic underneath is
 *   not constant time (see README.md).
 * No curve arithmetic is written here: every group operation is noble's or libsecp256k1's.
 */
import { normalizeZ, ScalarMultiplier } from '@noble/curves/abstract/curve.js';
import { secp256k1Backend, wasmSecp256k1 } from '../backend/secp256k1.ts';
import { Point, type Pt } from './common.ts';

const lib = wasmSecp256k1;

const multiplier = new ScalarMultiplier(Point as never);

/** k*P in constant time (unblinded), projective; 0 gives the identity. */
export function mulSecret(P: Pt, k: bigint): Pt {
  if (k === 0n) return Point.ZERO; // probability 2^-256 for the random scalars used here
  return (multiplier.mulCT(P as never, k) as { p: Pt }).p;
}

/** Batch normalisation to affine (one inversion): encodings are then cheap. */
export function normalize(points: Pt[]): Pt[] {
  return points.length === 0 ? [] : (normalizeZ(Point as never, points as never) as Pt[]);
}

/** k*G encoded (33 bytes), k in 1..n-1 (may be secret). */
export function mulBaseBytes(k: bigint): Uint8Array {
  return lib ? lib.mulBase(k) : (Point.BASE.multiply(k) as Pt).toBytes(true);
}

/** k*P encoded, P a valid 33-byte encoding, k in 1..n-1 (may be secret). */
export function mulBytes(P: Uint8Array, k: bigint): Uint8Array {
  return lib ? lib.mul(P, k) : normalize([mulSecret(Point.fromBytes(P) as Pt, k)])[0]!.toBytes(true);
}

/** P + Q encoded, null for the identity (valid encodings). */
export function addBytes(P: Uint8Array, Q: Uint8Array): Uint8Array | null {
  if (lib) return lib.add(P, Q);
  const S = Point.fromBytes(P).add(Point.fromBytes(Q));
  return S.is0() ? null : S.toBytes(true);
}

/** chi*P == d*G + Q for PUBLIC values (P, Q valid encodings, chi and d in 0..n-1). */
export function linearCheck(P: Uint8Array, chi: bigint, d: bigint, Q: Uint8Array): boolean {
  if (lib && chi !== 0n) {
    const rhs = lib.addTweak(Q, d);
    if (rhs === null) return false;
    const lhs = lib.mul(P, chi);
    return lhs.length === rhs.length && lhs.every((x, i) => x === rhs[i]);
  }
  return Point.fromBytes(P).multiplyUnsafe(chi).equals(Point.BASE.multiplyUnsafe(d).add(Point.fromBytes(Q)));
}

/** The base point, encoded. */
export const G_BYTES: Uint8Array = Point.BASE.toBytes(true);

/** sum k_i*P_i for PUBLIC encodings and scalars in 0..n-1 (null: the identity); BAD_POINT if an encoding is invalid. */
export function msmBytes(points: readonly Uint8Array[], scalars: readonly bigint[]): Uint8Array | null {
  return secp256k1Backend.msm(points, scalars);
}
