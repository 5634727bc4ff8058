/**
 * secp256k1 point arithmetic behind one interface (issue 13, lever 1). Two
 * implementations, never our own arithmetic:
 *
 * - `nobleSecp256k1`: @noble/curves, the reference and the fallback.
 * - `wasmSecp256k1`: libsecp256k1 compiled to WebAssembly (tiny-secp256k1 2.x).
 *   Measured on this machine (benchmarks/README.md "Curve backend"): k*G 2.6x, k*P
 *   3.5x (incl. encoding), P+Q on encodings 3.5x and BIP340 verify ~6x faster than noble.
 *
 * Points cross the interface as 33-byte compressed SEC1 encodings, the form every
 * FROST message carries them in, so the WebAssembly side never converts. Both
 * implementations refuse exactly the same inputs with the same typed errors (checked
 * by packages/crypto/test/backend.test.ts): a point that is not a valid 33-byte
 * compressed encoding (wrong prefix, x >= p, x not on the curve) is BAD_POINT; a
 * scalar outside 1..n-1 (0..n-1 where a zero is allowed) is BAD_SCALAR, as noble's
 * `multiply` refuses 0 and n today. The identity has no 33-byte encoding; results
 * that are the identity are `null`.
 *
 * `secp256k1Backend` is the WebAssembly one when it loads, else noble.
 */
import { createRequire } from 'node:module';
import { mulAddUnsafe } from '@noble/curves/abstract/curve.js';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { CryptoError } from '../errors.ts';

/** A compressed point encoding (33 bytes: 0x02/0x03 || x). */
export type PointBytes = Uint8Array;

export interface Secp256k1Backend {
  readonly name: 'noble' | 'libsecp256k1-wasm';
  /** k*G for k in 1..n-1; constant time (k may be a secret). */
  mulBase(k: bigint): PointBytes;
  /** k*P for k in 1..n-1 (public inputs). */
  mul(p: PointBytes, k: bigint): PointBytes;
  /** P+Q; null if the sum is the identity (Q = -P). */
  add(p: PointBytes, q: PointBytes): PointBytes | null;
  /** P + t*G for t in 0..n-1 (BIP32 CKDpub, BIP341 tweak); null if the identity. */
  addTweak(p: PointBytes, t: bigint): PointBytes | null;
  /** sum of k_i*P_i for k_i in 0..n-1 (public inputs); null if the identity. */
  msm(points: readonly PointBytes[], scalars: readonly bigint[]): PointBytes | null;
  /** BIP340 verification of a 64-byte signature on a 32-byte message under a 32-byte x-only key. */
  verifySchnorr(signature: Uint8Array, message: Uint8Array, xOnlyKey: Uint8Array): boolean;
}

const { Point } = secp256k1;
const Fn = Point.Fn;
const POINT_LENGTH = 33;

function scalar(k: bigint, field: string, allowZero = false): bigint {
  if (typeof k !== 'bigint' || k < 0n || k >= Fn.ORDER || (k === 0n && !allowZero))
    throw new CryptoError('BAD_SCALAR', { field, message: `BAD_SCALAR: ${field} must be in ${allowZero ? 0 : 1}..n-1` });
  return k;
}

function pointBytes(p: unknown, field: string): PointBytes {
  if (!(p instanceof Uint8Array) || p.length !== POINT_LENGTH || (p[0] !== 2 && p[0] !== 3))
    throw new CryptoError('BAD_POINT', { field, message: `BAD_POINT: ${field} must be a 33-byte compressed secp256k1 point` });
  return p;
}

function nobleDecode(p: unknown, field: string) {
  const b = pointBytes(p, field);
  try {
    const P = Point.fromBytes(b);
    P.assertValidity();
    return P;
  } catch {
    throw new CryptoError('BAD_POINT', { field, message: `BAD_POINT: ${field} is not a valid secp256k1 point` });
  }
}

function fixedLength(b: unknown, length: number): b is Uint8Array {
  return b instanceof Uint8Array && b.length === length;
}

const encode = (P: InstanceType<typeof Point>): PointBytes | null => (P.is0() ? null : P.toBytes(true));

export const nobleSecp256k1: Secp256k1Backend = {
  name: 'noble',
  mulBase: (k) => Point.BASE.multiply(scalar(k, 'k')).toBytes(true),
  mul: (p, k) => {
    const P = nobleDecode(p, 'p');
    return P.multiplyUnsafe(scalar(k, 'k')).toBytes(true);
  },
  add: (p, q) => encode(nobleDecode(p, 'p').add(nobleDecode(q, 'q'))),
  addTweak: (p, t) => {
    const P = nobleDecode(p, 'p');
    return encode(scalar(t, 't', true) === 0n ? P : P.add(Point.BASE.multiply(t)));
  },
  msm: (points, scalars) => {
    if (points.length !== scalars.length) throw new CryptoError('BAD_FIELD', { field: 'scalars', message: 'BAD_FIELD: msm needs one scalar per point' });
    const Ps = points.map((p, i) => nobleDecode(p, `points[${i}]`));
    const ks = scalars.map((k, i) => scalar(k, `scalars[${i}]`, true));
    return encode(mulAddUnsafe(Point, Ps, ks));
  },
  verifySchnorr: (sig, msg, key) => fixedLength(sig, 64) && fixedLength(msg, 32) && fixedLength(key, 32) && schnorr.verify(sig, msg, key),
};

/** The tiny-secp256k1 2.x functions used here (its CommonJS build, loaded synchronously). */
interface TinySecp256k1 {
  pointFromScalar(d: Uint8Array, compressed?: boolean): Uint8Array | null;
  pointMultiply(p: Uint8Array, tweak: Uint8Array, compressed?: boolean): Uint8Array | null;
  pointAdd(a: Uint8Array, b: Uint8Array, compressed?: boolean): Uint8Array | null;
  pointAddScalar(p: Uint8Array, tweak: Uint8Array, compressed?: boolean): Uint8Array | null;
  pointCompress(p: Uint8Array, compressed?: boolean): Uint8Array;
  verifySchnorr(h: Uint8Array, Q: Uint8Array, signature: Uint8Array): boolean;
}

function wasmBackend(lib: TinySecp256k1): Secp256k1Backend {
  // libsecp256k1 parses every input (prefix, x < p, x on the curve) and throws on a bad
  // point; map that to the error noble's side gives. `pointBytes` first narrows inputs to
  // 33-byte compressed encodings (the library would also take x-only and uncompressed).
  const call = <T>(field: string, f: () => T): T => {
    try {
      return f();
    } catch {
      throw new CryptoError('BAD_POINT', { field, message: `BAD_POINT: ${field} is not a valid secp256k1 point` });
    }
  };
  const add = (p: PointBytes, q: PointBytes) => {
    const [a, b] = [pointBytes(p, 'p'), pointBytes(q, 'q')];
    return call('p', () => lib.pointAdd(a, b, true));
  };
  return {
    name: 'libsecp256k1-wasm',
    mulBase: (k) => lib.pointFromScalar(Fn.toBytes(scalar(k, 'k')), true)!,
    mul: (p, k) => {
      const b = pointBytes(p, 'p');
      const kb = Fn.toBytes(scalar(k, 'k'));
      return call('p', () => lib.pointMultiply(b, kb, true))!;
    },
    add,
    addTweak: (p, t) => {
      const b = pointBytes(p, 'p');
      const tb = Fn.toBytes(scalar(t, 't', true));
      return call('p', () => lib.pointAddScalar(b, tb, true));
    },
    msm: (points, scalars) => {
      if (points.length !== scalars.length) throw new CryptoError('BAD_FIELD', { field: 'scalars', message: 'BAD_FIELD: msm needs one scalar per point' });
      const terms = points.map((p, i) => [pointBytes(p, `points[${i}]`), scalar(scalars[i]!, `scalars[${i}]`, true)] as const);
      return call('points', () => {
        let sum: PointBytes | null = null;
        for (const [p, k] of terms) {
          // A zero weight drops its term, but its point must still be a valid one.
          const kP = k === 0n ? (lib.pointCompress(p, true), null) : lib.pointMultiply(p, Fn.toBytes(k), true)!;
          if (kP !== null) sum = sum === null ? kP : lib.pointAdd(sum, kP, true);
        }
        return sum;
      });
    },
    verifySchnorr: (sig, msg, key) => {
      if (!fixedLength(sig, 64) || !fixedLength(msg, 32) || !fixedLength(key, 32)) return false;
      try {
        return lib.verifySchnorr(msg, key, sig);
      } catch {
        // tiny-secp256k1 throws on a key that is not an x coordinate or on r >= p / s >= n;
        // BIP340 says such a signature is invalid.
        return false;
      }
    },
  };
}

function loadWasm(): Secp256k1Backend | undefined {
  try {
    const lib = createRequire(import.meta.url)('tiny-secp256k1') as TinySecp256k1;
    const backend = wasmBackend(lib);
    // Refuse a library that does not compute what noble computes (a broken build).
    if (!bytesEqual(backend.mulBase(7n), nobleSecp256k1.mulBase(7n))) return undefined;
    return backend;
  } catch {
    return undefined;
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** libsecp256k1 in WebAssembly, or undefined where it cannot be loaded. */
export const wasmSecp256k1: Secp256k1Backend | undefined = loadWasm();

/** The implementation the FROST hot path uses. */
export const secp256k1Backend: Secp256k1Backend = wasmSecp256k1 ?? nobleSecp256k1;
