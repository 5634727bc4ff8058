/**
 * Boundary assert helpers in the noble style: each names the field it checks and
 * returns its input, so decoders read `const s = bytes(o.sessionId, 32, 'header.sessionId')`.
 * Group elements follow SEC 1 v2 §2.3.4 (compressed secp256k1 points) and RFC 8032
 * §5.1.3 (Ed25519 point decoding, strict: y < p), plus identity and prime-order
 * subgroup checks; scalars must be canonical (< group order).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToNumberBE, bytesToNumberLE, equalBytes } from '@noble/curves/utils.js';
import { getSuite, parsePoint } from '@keyquorum/crypto';
import { WireError } from './errors.ts';

export type Curve = 'secp256k1' | 'ed25519';
export const CURVES: readonly Curve[] = ['secp256k1', 'ed25519'];

/** 'header' + 'sessionId' -> 'header.sessionId'; a root-level key stands alone. */
export function fieldPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return parent ? `${parent}.${key}` : key;
}

function bad(field: string, message: string): WireError {
  return new WireError('BAD_FIELD', { field: field || undefined, message: `BAD_FIELD: ${field || 'value'}: ${message}` });
}

/** A plain data object: `{}` literal or null-prototype, not an array, Map, Date or class instance. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** A Uint8Array, of exactly `len` bytes when `len` is given. */
export function bytes(v: unknown, len: number | undefined, field: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw bad(field, 'expected bytes');
  if (len !== undefined && v.length !== len) throw bad(field, `expected ${len} bytes, got ${v.length}`);
  return v;
}

/** A safe integer in [min, max]. */
export function uint(v: unknown, min: number, max: number, field: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw bad(field, 'expected an integer');
  if (v < min || v > max) throw bad(field, `expected an integer in [${min}, ${max}]`);
  return v;
}

/** A string matching `pattern`, or at most `maxLen` UTF-16 code units long. */
export function str(v: unknown, rule: RegExp | number, field: string): string {
  if (typeof v !== 'string') throw bad(field, 'expected a string');
  if (typeof rule === 'number' ? v.length > rule : !rule.test(v)) throw bad(field, 'string not allowed');
  return v;
}

/** One of the listed values. */
export function oneOf<T extends string | number>(v: unknown, values: readonly T[], field: string): T {
  if (!(values as readonly unknown[]).includes(v)) throw bad(field, `expected one of ${values.join(', ')}`);
  return v as T;
}

/** An array of at most `maxLen` items. */
export function array(v: unknown, maxLen: number, field: string): unknown[] {
  if (!Array.isArray(v)) throw bad(field, 'expected an array');
  if (v.length > maxLen) throw bad(field, `expected at most ${maxLen} items`);
  return v;
}

/**
 * A plain object whose keys are all in `allowed` ('UNKNOWN_FIELD' otherwise) and
 * which has every key in `required`.
 */
export function strictObject<A extends string, R extends A>(
  v: unknown,
  allowed: readonly A[],
  required: readonly R[],
  field: string,
): { [K in R]: unknown } & { [K in A]?: unknown } {
  if (!isPlainObject(v)) throw bad(field, 'expected an object');
  for (const key of Object.keys(v)) {
    if (!(allowed as readonly string[]).includes(key)) {
      throw new WireError('UNKNOWN_FIELD', { field: fieldPath(field, key) });
    }
  }
  for (const key of required) {
    if (!Object.hasOwn(v, key)) throw bad(fieldPath(field, key), 'missing');
  }
  return v as { [K in R]: unknown } & { [K in A]?: unknown };
}

/**
 * An encoded group element: on the curve, not the identity, in the prime-order
 * subgroup, canonically encoded. secp256k1: 33-byte compressed (cofactor 1, so every
 * on-curve point qualifies). ed25519: 32 bytes, strict RFC 8032 decoding, torsion-free.
 */
export function point(curve: Curve, v: unknown, field: string): Uint8Array {
  oneOf(curve, CURVES, 'curve');
  const b = bytes(v, curve === 'secp256k1' ? 33 : 32, field);
  // The crypto package's strict decoding, which remembers valid encodings: the round
  // functions decode the same point again right after, and find it already checked.
  try {
    parsePoint(getSuite(curve === 'secp256k1' ? 'frost-secp256k1' : 'frost-ed25519'), b, field);
  } catch {
    throw bad(field, `not a valid ${curve} point`);
  }
  return b;
}

/**
 * A canonical 32-byte scalar: < the group order (secp256k1 big-endian as in SEC 1,
 * ed25519 little-endian as in RFC 8032), nonzero unless `allowZero`.
 */
export function scalar(curve: Curve, v: unknown, field: string, opts: { allowZero?: boolean } = {}): Uint8Array {
  oneOf(curve, CURVES, 'curve');
  const b = bytes(v, 32, field);
  const n = curve === 'secp256k1' ? bytesToNumberBE(b) : bytesToNumberLE(b);
  const order = curve === 'secp256k1' ? secp256k1.Point.Fn.ORDER : ed25519.Point.Fn.ORDER;
  if (n >= order) throw bad(field, 'scalar not reduced modulo the group order');
  if (n === 0n && opts.allowZero !== true) throw bad(field, 'zero scalar');
  return b;
}
