/**
 * Shared parameters and helpers of the DKLs23 engine (secp256k1 only).
 *
 * Security parameters (DKLs23 §5, DKLs19 §4): computational kappa = 128 (base OTs per
 * direction), statistical s = 80. The multiplication batch is XI = 256 + 2s = 416 OTs
 * (DKLs19 Protocol 1 encoding: a 256-bit field element plus 2s bits of slack for the
 * leftover hash lemma); KOS15 pads each batch with kappa + s random rows.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToNumberBE } from '@noble/curves/utils.js';
import { utf8ToBytes } from '../bytes.ts';
import { CryptoError } from '../errors.ts';
import { getSuite, type Suite } from '../frost/suite.ts';
import { hashBackend } from '../hash.ts';

export const SCHEME = 'ecdsa-secp256k1' as const;
/** The FROST suite whose DKG, refresh and derivation the ECDSA key reuses (same group, same maths). */
export const FROST_SUITE = 'frost-secp256k1' as const;
export const suite: Suite = getSuite(FROST_SUITE);
export const Point = secp256k1.Point;
export type Pt = InstanceType<typeof secp256k1.Point>;
export const Fn = secp256k1.Point.Fn;
export const N = Fn.ORDER;

export const KAPPA = 128;
export const STAT = 80;
/** OTs per multiplication (DKLs19 Protocol 1: xi = kappa_q + 2s with kappa_q = 256). */
export const XI = 256 + 2 * STAT;
/** KOS15 padding rows (kappa + s) that hide the receiver's choice bits in the check. */
export const PAD = KAPPA + STAT;
export const ROWS = XI + PAD;
export const ROW_BYTES = ROWS / 8;
/** Base-OT outputs (OT-extension seeds) are kappa bits. */
export const SEED_LENGTH = KAPPA / 8;
export const SESSION_ID_LENGTH = 32;

/** Injectable randomness (same contract as the FROST engine's). */
export type Rng = (bytesLength?: number) => Uint8Array<ArrayBuffer>;

export function randomBytes(rng: Rng | undefined, n: number): Uint8Array {
  const out = rng ? rng(n) : crypto.getRandomValues(new Uint8Array(n));
  if (!(out instanceof Uint8Array) || out.length !== n) throw new CryptoError('BAD_FIELD', { field: 'rng', message: `BAD_FIELD: rng must return ${n} bytes` });
  return out;
}

/** Uniform non-zero scalar: 48 bytes reduced mod n (bias < 2^-128). */
export function randomScalar(rng?: Rng): bigint {
  for (;;) {
    const s = bytesToBigInt(randomBytes(rng, 48)) % N;
    if (s !== 0n) return s;
  }
}

/**
 * Big-endian bytes to a bigint, as noble's `bytesToNumberBE` (checked against it by
 * test/hash-backend.test.ts) without going through a hex string: 64-bit words.
 */
export function bytesToBigInt(b: Uint8Array): bigint {
  const n = b.length;
  if (n % 8 !== 0) return bytesToNumberBE(b);
  const v = new DataView(b.buffer, b.byteOffset, n);
  if (n === 48) {
    // The OT-extension random oracle's output width: two 192-bit halves.
    const hi = (v.getBigUint64(0) << 128n) | (v.getBigUint64(8) << 64n) | v.getBigUint64(16);
    return (hi << 192n) | (v.getBigUint64(24) << 128n) | (v.getBigUint64(32) << 64n) | v.getBigUint64(40);
  }
  let x = 0n;
  let i = 0;
  for (; i + 32 <= n; i += 32) x = (x << 256n) | (v.getBigUint64(i) << 192n) | (v.getBigUint64(i + 8) << 128n) | (v.getBigUint64(i + 16) << 64n) | v.getBigUint64(i + 24);
  for (; i < n; i += 8) x = (x << 64n) | v.getBigUint64(i);
  return x;
}

const TAG_PREFIX = 'keyquorum/ecdsa/';
/** u32be(length) || utf8(TAG_PREFIX + tag), per tag (a handful of constant strings). */
const framedTags = new Map<string, Uint8Array>();
function framedTag(tag: string): Uint8Array {
  let t = framedTags.get(tag);
  if (t === undefined) {
    const b = utf8ToBytes(TAG_PREFIX + tag);
    t = new Uint8Array(4 + b.length);
    putU32(t, 0, b.length);
    t.set(b, 4);
    framedTags.set(tag, t);
  }
  return t;
}

function putU32(out: Uint8Array, off: number, n: number): void {
  out[off] = (n >>> 24) & 255;
  out[off + 1] = (n >>> 16) & 255;
  out[off + 2] = (n >>> 8) & 255;
  out[off + 3] = n & 255;
}

/**
 * The hash input of `tag` and `parts`: the same bytes as bytes.ts
 * `lengthPrefixed(utf8(TAG_PREFIX + tag), ...parts)` (u32 big-endian length before
 * each), written into one allocation.
 */
export function framed(tag: string, parts: readonly Uint8Array[]): Uint8Array {
  const t = framedTag(tag);
  let length = t.length;
  for (const p of parts) length += 4 + p.length;
  const out = new Uint8Array(length);
  out.set(t, 0);
  let off = t.length;
  for (const p of parts) {
    putU32(out, off, p.length);
    out.set(p, off + 4);
    off += 4 + p.length;
  }
  return out;
}

export function hash(tag: string, ...parts: Uint8Array[]): Uint8Array {
  return hashBackend.sha256(framed(tag, parts));
}

/** Random oracle onto Z_n: SHA-512 of the tagged input, reduced (bias < 2^-256). */
export function hashToScalar(tag: string, ...parts: Uint8Array[]): bigint {
  return bytesToBigInt(hashBackend.sha512(framed(tag, parts))) % N;
}

export const scalarBytes = (s: bigint): Uint8Array => Fn.toBytes(s);

/** Writes s (0 <= s < n) as 32 big-endian bytes at out[off..off+32]: the bytes of `scalarBytes(s)`, without a copy. */
export function putScalar(out: Uint8Array, off: number, s: bigint): void {
  const v = new DataView(out.buffer, out.byteOffset + off, 32);
  v.setBigUint64(0, s >> 192n);
  v.setBigUint64(8, BigInt.asUintN(64, s >> 128n));
  v.setBigUint64(16, BigInt.asUintN(64, s >> 64n));
  v.setBigUint64(24, BigInt.asUintN(64, s));
}
export const pointBytes = (p: Pt): Uint8Array => p.toBytes(true);

export function u16(n: number): Uint8Array {
  return new Uint8Array([(n >>> 8) & 255, n & 255]);
}
export function u32(n: number): Uint8Array {
  return new Uint8Array([(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
}

export const getBit = (bits: Uint8Array, j: number): number => (bits[j >>> 3]! >>> (j & 7)) & 1;

export function xorInto(target: Uint8Array, src: Uint8Array): void {
  for (let i = 0; i < target.length; i++) target[i]! ^= src[i]!;
}

/** Overwrites secret bytes (best effort: JS cannot guarantee erasure of copies). */
export function wipe(...arrays: (Uint8Array | undefined)[]): void {
  for (const a of arrays) a?.fill(0);
}

/** Throws BAD_FIELD unless `value` is a plain object. */
export function assertObject(value: unknown, field: string): asserts value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new CryptoError('BAD_FIELD', { field, message: `BAD_FIELD: ${field} must be an object` });
}

/** Re-throws a check failure as the same error naming `culprit`. */
export function blame<T>(culprit: number, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof CryptoError && e.culprits.length === 0) throw new CryptoError(e.code, { field: e.field, culprits: [culprit] });
    throw e;
  }
}
