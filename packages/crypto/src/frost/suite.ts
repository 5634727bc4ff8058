/**
 * Ciphersuites: the generic threshold-Schnorr engine is written once over a
 * `Suite`; each suite is a few parameters (the noble habit of `createFROST`).
 *
 * - `frost-secp256k1-tr`: FROST(secp256k1, SHA-256) with BIP340 challenges; 64-byte
 *   signatures under the 32-byte x-only key (BIP340; frost-rs `frost-secp256k1-tr`).
 * - `frost-ed25519`: FROST(Ed25519, SHA-512), RFC 9591 §6.1; RFC 8032 signatures.
 * - `frost-secp256k1`: FROST(secp256k1, SHA-256), RFC 9591 §6.5; 65-byte signatures.
 *
 * Signing rounds are noble's RFC 9591 implementation; this module adds what the
 * rest of the package needs around it: strict decoding of points and scalars,
 * participant identifiers, and the suite's DKG hash (frost-rs' H_DKG).
 */
import { ed25519, ed25519_FROST } from '@noble/curves/ed25519.js';
import { schnorr, schnorr_FROST, secp256k1, secp256k1_FROST, secp256k1_hasher } from '@noble/curves/secp256k1.js';
import type { FROST } from '@noble/curves/abstract/frost.js';
import type { IField } from '@noble/curves/abstract/modular.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { bytesToNumberLE } from '@noble/curves/utils.js';
import { secp256k1Backend } from '../backend/secp256k1.ts';
import { bytesToHex, concatBytes, equalBytes, utf8ToBytes } from '../bytes.ts';
import { CryptoError } from '../errors.ts';

export const SUITE_IDS = ['frost-secp256k1-tr', 'frost-ed25519', 'frost-secp256k1'] as const;
export type SuiteId = (typeof SUITE_IDS)[number];

/** Participant identifier: a small positive integer, the RFC 9591 scalar identifier. */
export type ParticipantId = number;

/** Largest participant identifier accepted (frost-rs uses u16 identifiers). */
export const MAX_IDENTIFIER = 65_535;
/** Largest key set (n) the product supports; also bounds message sizes. */
export const MAX_PARTICIPANTS = 255;
/** Smallest threshold: RFC 9591 §2 requires MIN_PARTICIPANTS > 1. */
export const MIN_THRESHOLD = 2;

/** The group operations the engine uses; both noble point classes provide them. */
export interface GroupPoint {
  add(other: GroupPoint): GroupPoint;
  subtract(other: GroupPoint): GroupPoint;
  negate(): GroupPoint;
  multiply(scalar: bigint): GroupPoint;
  multiplyUnsafe(scalar: bigint): GroupPoint;
  equals(other: GroupPoint): boolean;
  is0(): boolean;
  toBytes(compressed?: boolean): Uint8Array;
  assertValidity(): void;
  isTorsionFree(): boolean;
}

interface GroupPointConstructor {
  BASE: GroupPoint;
  ZERO: GroupPoint;
  fromBytes(bytes: Uint8Array): GroupPoint;
}

export interface Suite {
  readonly id: SuiteId;
  readonly curve: 'secp256k1' | 'ed25519';
  /** noble's RFC 9591 implementation for this suite (signing rounds). */
  readonly frost: FROST;
  readonly Point: GroupPointConstructor;
  readonly Fn: IField<bigint>;
  /** Encoded point length (33 compressed secp256k1, 32 Ed25519). */
  readonly pointLength: number;
  readonly scalarLength: number;
  /** Length of the final signature. */
  readonly signatureLength: number;
  /** frost-rs H_DKG: the DKG proof-of-knowledge challenge hash. */
  hashDkg(msg: Uint8Array): bigint;
  /** The public key as users and standard verifiers see it (x-only for BIP340). */
  externalKey(groupKey: Uint8Array): Uint8Array;
  /** The standard verifier: BIP340 `schnorr.verify`, RFC 8032 `ed25519.verify`, RFC 9591. */
  verify(signature: Uint8Array, message: Uint8Array, externalKey: Uint8Array): boolean;
}

const secpHashDkg = (name: string) => {
  const DST = utf8ToBytes(name + 'dkg');
  return (msg: Uint8Array) => secp256k1_hasher.hashToScalar(msg, { DST });
};

const SECP_TR: Suite = {
  id: 'frost-secp256k1-tr',
  curve: 'secp256k1',
  frost: schnorr_FROST as FROST,
  Point: secp256k1.Point as unknown as GroupPointConstructor,
  Fn: secp256k1.Point.Fn,
  pointLength: 33,
  scalarLength: 32,
  signatureLength: 64,
  hashDkg: secpHashDkg('FROST-secp256k1-SHA256-TR-v1'),
  externalKey: (groupKey) => groupKey.slice(1),
  // libsecp256k1 (WebAssembly) for the usual 32-byte digest; noble for BIP340's other message lengths.
  verify: (sig, msg, key) => (msg.length === 32 ? secp256k1Backend.verifySchnorr(sig, msg, key) : schnorr.verify(sig, msg, key)),
};

const SECP: Suite = {
  id: 'frost-secp256k1',
  curve: 'secp256k1',
  frost: secp256k1_FROST as FROST,
  Point: secp256k1.Point as unknown as GroupPointConstructor,
  Fn: secp256k1.Point.Fn,
  pointLength: 33,
  scalarLength: 32,
  signatureLength: 65,
  hashDkg: secpHashDkg('FROST-secp256k1-SHA256-v1'),
  externalKey: (groupKey) => groupKey.slice(),
  verify: (sig, msg, key) => secp256k1_FROST.verify(sig, msg, key),
};

const ED_DKG_PREFIX = utf8ToBytes('FROST-ED25519-SHA512-v1dkg');
const ED: Suite = {
  id: 'frost-ed25519',
  curve: 'ed25519',
  frost: ed25519_FROST as FROST,
  Point: ed25519.Point as unknown as GroupPointConstructor,
  Fn: ed25519.Point.Fn,
  pointLength: 32,
  scalarLength: 32,
  signatureLength: 64,
  // RFC 9591 §6.1 hashes: SHA-512(prefix || m) read little-endian, reduced mod L.
  hashDkg: (msg) => ed25519.Point.Fn.create(bytesToNumberLE(sha512(concatBytes(ED_DKG_PREFIX, msg)))),
  externalKey: (groupKey) => groupKey.slice(),
  verify: (sig, msg, key) => ed25519.verify(sig, msg, key),
};

const SUITES: Record<SuiteId, Suite> = {
  'frost-secp256k1-tr': SECP_TR,
  'frost-ed25519': ED,
  'frost-secp256k1': SECP,
};

export function getSuite(id: unknown, field = 'suite'): Suite {
  if (typeof id !== 'string' || !(SUITE_IDS as readonly string[]).includes(id))
    throw new CryptoError('UNKNOWN_SUITE', { field, message: `UNKNOWN_SUITE: ${String(id)} (expected one of ${SUITE_IDS.join(', ')})` });
  return SUITES[id as SuiteId];
}

// ---- strict decoding (RFC 9591 §3.1 DeserializeElement / DeserializeScalar) ----

export function assertBytes(value: unknown, length: number | undefined, field: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new CryptoError('BAD_FIELD', { field, message: `BAD_FIELD: ${field} must be a Uint8Array` });
  if (length !== undefined && value.length !== length)
    throw new CryptoError('BAD_FIELD', { field, message: `BAD_FIELD: ${field} must be ${length} bytes, got ${value.length}` });
  return value;
}

/**
 * Points already decoded and validated, by suite and encoding. Every signing round
 * decodes the same group key and verifying shares several times (once per check of
 * the public package), and the quorum's commitments once per share check; on Ed25519
 * each decoding costs a torsion check (a full scalar multiplication, ~0.7 ms). The
 * outcome of validation is a pure function of the public bytes, so a valid encoding's
 * point is kept (noble points are immutable) and found by its hex; invalid encodings
 * are never kept and fail through `parsePointUncached` every time. Bounded: the map is
 * cleared when full, so hostile input can only cost the re-validation it would anyway.
 */
const decoded = new Map<string, GroupPoint>();
export const DECODED_POINT_CACHE_SIZE = 4096;

/** Decode a point: exact length, canonical encoding, on the curve, not the identity, prime order. */
export function parsePoint(suite: Suite, bytes: unknown, field: string): GroupPoint {
  const b = assertBytes(bytes, suite.pointLength, field);
  const key = suite.curve + bytesToHex(b);
  const known = decoded.get(key);
  if (known !== undefined) return known;
  const p = parsePointUncached(suite, b, field);
  if (decoded.size >= DECODED_POINT_CACHE_SIZE) decoded.clear();
  decoded.set(key, p);
  return p;
}

/** `parsePoint` without the cache of validated encodings: noble's decoding and every check, each call. */
export function parsePointUncached(suite: Suite, bytes: unknown, field: string): GroupPoint {
  const b = assertBytes(bytes, suite.pointLength, field);
  let p: GroupPoint;
  try {
    p = suite.Point.fromBytes(b);
    p.assertValidity();
  } catch {
    throw new CryptoError('BAD_POINT', { field, message: `BAD_POINT: ${field} is not a valid ${suite.curve} point` });
  }
  if (p.is0()) throw new CryptoError('BAD_POINT', { field, message: `BAD_POINT: ${field} is the identity` });
  if (!p.isTorsionFree()) throw new CryptoError('BAD_POINT', { field, message: `BAD_POINT: ${field} is not in the prime-order subgroup` });
  if (!equalBytes(p.toBytes(), b)) throw new CryptoError('BAD_POINT', { field, message: `BAD_POINT: ${field} is not canonically encoded` });
  return p;
}

/** Decode a scalar: exact length, canonical (< group order); non-zero unless allowed. */
export function parseScalar(suite: Suite, bytes: unknown, field: string, opts: { allowZero?: boolean } = {}): bigint {
  const b = assertBytes(bytes, suite.scalarLength, field);
  let s: bigint;
  try {
    s = suite.Fn.fromBytes(b);
  } catch {
    throw new CryptoError('BAD_SCALAR', { field, message: `BAD_SCALAR: ${field} is not below the group order` });
  }
  if (s === 0n && !opts.allowZero) throw new CryptoError('BAD_SCALAR', { field, message: `BAD_SCALAR: ${field} is zero` });
  return s;
}

export const scalarToBytes = (suite: Suite, s: bigint): Uint8Array => suite.Fn.toBytes(s);
export const pointToBytes = (p: GroupPoint): Uint8Array => p.toBytes(true);

// ---- participants ----

export function assertParticipantId(id: unknown, field: string): ParticipantId {
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 1 || id > MAX_IDENTIFIER)
    throw new CryptoError('BAD_PARTICIPANT', { field, message: `BAD_PARTICIPANT: ${field} must be an integer in 1..${MAX_IDENTIFIER}` });
  return id;
}

/** Validates a participant list: integers in range, no duplicates; returns it sorted ascending. */
export function assertParticipants(ids: unknown, field: string, bounds: { min?: number; max?: number } = {}): ParticipantId[] {
  if (!Array.isArray(ids)) throw new CryptoError('BAD_PARTICIPANT', { field, message: `BAD_PARTICIPANT: ${field} must be an array` });
  const min = bounds.min ?? 1;
  const max = bounds.max ?? MAX_PARTICIPANTS;
  // A list longer than the suite supports is a count out of bounds (BAD_THRESHOLD), not a bad id.
  if (ids.length > MAX_PARTICIPANTS)
    throw new CryptoError('BAD_THRESHOLD', { field, message: `BAD_THRESHOLD: ${field} lists ${ids.length} participants, more than ${MAX_PARTICIPANTS}` });
  if (ids.length < min || ids.length > max)
    throw new CryptoError('BAD_PARTICIPANT', { field, message: `BAD_PARTICIPANT: ${field} must list ${min}..${max} participants, got ${ids.length}` });
  const seen = new Set<number>();
  ids.forEach((id, i) => {
    assertParticipantId(id, `${field}[${i}]`);
    if (seen.has(id)) throw new CryptoError('BAD_PARTICIPANT', { field: `${field}[${i}]`, message: `BAD_PARTICIPANT: duplicate participant ${id} in ${field}` });
    seen.add(id);
  });
  return [...(ids as number[])].sort((a, b) => a - b);
}

/** Threshold bounds (RFC 9591 §2): MIN_THRESHOLD <= t <= n <= MAX_PARTICIPANTS. */
export function assertThreshold(t: unknown, n: number, field = 'threshold'): number {
  if (typeof t !== 'number' || !Number.isInteger(t) || t < MIN_THRESHOLD || t > n || n > MAX_PARTICIPANTS)
    throw new CryptoError('BAD_THRESHOLD', { field, message: `BAD_THRESHOLD: need ${MIN_THRESHOLD} <= threshold <= participants (${n}) <= ${MAX_PARTICIPANTS}, got threshold ${String(t)}` });
  return t;
}

export function assertMember(id: ParticipantId, set: readonly ParticipantId[], field: string): ParticipantId {
  if (!set.includes(id)) throw new CryptoError('BAD_PARTICIPANT', { field, message: `BAD_PARTICIPANT: ${field} ${id} is not one of ${set.join(',')}` });
  return id;
}

/** noble's identifier encoding for a participant. */
export const nobleId = (suite: Suite, id: ParticipantId): string => suite.frost.Identifier.fromNumber(id);

/** Injectable randomness: returns `bytesLength` (default 32) random bytes. */
export type Rng = (bytesLength?: number) => Uint8Array<ArrayBuffer>;

/** A uniformly random non-zero scalar (noble's wide reduction, so no bias). */
export function randomScalar(suite: Suite, rng?: Rng): bigint {
  return suite.Fn.fromBytes(rng ? suite.frost.utils.randomScalar(rng) : suite.frost.utils.randomScalar());
}
