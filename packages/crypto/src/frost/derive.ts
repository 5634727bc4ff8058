/**
 * Non-hardened child keys of a threshold key, and the BIP341 taproot tweak.
 *
 * A public tweak t added to the polynomial's constant term shifts every share by t:
 * each signer signs with s_i + t, every verifying share becomes Y_i + t*G, and the
 * group key Y + t*G. Nothing secret is exchanged, so the same quorum signs for any
 * child key (frost-rs `Tweak`; BIP 445 "tweaking").
 *
 * - secp256k1 suites: BIP32 CKDpub. I = HMAC-SHA512(c_par, serP(K_par) || ser32(i)),
 *   tweak = parse256(I_L), c_i = I_R. serP is the 33-byte compressed key with its real
 *   y parity, for `frost-secp256k1-tr` too (the x-only key is only the external form).
 * - frost-ed25519: Ed25519 has no standard non-hardened scheme a threshold can use
 *   (SLIP-10 is hardened only), so keyquorum defines its own, NOT BIP32:
 *   I = HMAC-SHA512(c_par, "keyquorum/ed25519-additive/v1" || A_par || ser32(i)),
 *   tweak = I read little-endian (64 bytes, reduced mod L, negligible bias),
 *   c_i = first 32 bytes of HMAC-SHA512(c_par, "keyquorum/ed25519-chaincode/v1" || A_par || ser32(i)).
 * - `frost-secp256k1-tr` taproot (BIP341 taproot_tweak_pubkey): make the internal key
 *   even (negate shares and verifying shares if needed), t = hash_TapTweak(x(P) ||
 *   merkle_root), Q = P + t*G. An empty merkle root is the key-path-only output (BIP86).
 */
import { schnorr } from '@noble/curves/secp256k1.js';
import { bytesToNumberBE, bytesToNumberLE } from '@noble/curves/utils.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { secp256k1Backend } from '../backend/secp256k1.ts';
import { concatBytes, u32be, utf8ToBytes } from '../bytes.ts';
import { CryptoError } from '../errors.ts';
import { assertKeyShare, assertPublicKeyPackage, CHAIN_CODE_LENGTH, makeKeyShare, type KeyShare, type PublicKeyPackage } from './keys.ts';
import { assertBytes, parsePoint, pointToBytes, scalarToBytes, type GroupPoint, type Suite } from './suite.ts';

/** BIP32: indices at or above 2^31 are hardened; a threshold key cannot derive those. */
export const HARDENED_OFFSET = 0x8000_0000;
/** BIP32 depth is one byte. */
export const MAX_DEPTH = 255;

export type DerivationPath = string | readonly number[];

/** What a signature is made for: a derived child key and/or a taproot output key. */
export interface SigningTarget {
  /** Non-hardened path such as 'm/44/0/7' (or its indices). */
  path?: DerivationPath;
  /**
   * `frost-secp256k1-tr` only: sign for the BIP341 output key. `{}` or
   * `{ merkleRoot: undefined }` is key-path only; a 32-byte merkle root commits to scripts.
   */
  taproot?: { merkleRoot?: Uint8Array };
}

/** Parses 'm/44/0/7' (or an index array) into indices; rejects hardened and malformed steps. */
export function parsePath(path: DerivationPath, field = 'path'): number[] {
  let indices: number[];
  if (typeof path === 'string') {
    const parts = path.split('/');
    if (parts[0] !== 'm') throw new CryptoError('BAD_PATH', { field, message: `BAD_PATH: ${field} must start with 'm', got '${path}'` });
    indices = parts.slice(1).map((step, k) => {
      if (/['hH]$/.test(step)) throw new CryptoError('BAD_PATH', { field: `${field}[${k}]`, message: `BAD_PATH: hardened step '${step}' cannot be derived from a threshold key` });
      if (!/^(0|[1-9][0-9]{0,9})$/.test(step)) throw new CryptoError('BAD_PATH', { field: `${field}[${k}]`, message: `BAD_PATH: '${step}' is not a decimal index` });
      return Number(step);
    });
  } else if (Array.isArray(path)) {
    indices = [...path];
  } else {
    throw new CryptoError('BAD_PATH', { field });
  }
  if (indices.length > MAX_DEPTH) throw new CryptoError('BAD_PATH', { field, message: `BAD_PATH: deeper than ${MAX_DEPTH}` });
  indices.forEach((i, k) => {
    if (!Number.isInteger(i) || i < 0) throw new CryptoError('BAD_PATH', { field: `${field}[${k}]` });
    if (i >= HARDENED_OFFSET) throw new CryptoError('BAD_PATH', { field: `${field}[${k}]`, message: `BAD_PATH: index ${i} is hardened (>= 2^31)` });
  });
  return indices;
}

const ED_TWEAK = utf8ToBytes('keyquorum/ed25519-additive/v1');
const ED_CHAIN = utf8ToBytes('keyquorum/ed25519-chaincode/v1');

/** One child step: the tweak and the child chain code. */
function childStep(suite: Suite, key: GroupPoint, chainCode: Uint8Array, index: number): { tweak: bigint; chainCode: Uint8Array } {
  const ser = pointToBytes(key);
  if (suite.curve === 'secp256k1') {
    const I = hmac(sha512, chainCode, concatBytes(ser, u32be(index)));
    const tweak = bytesToNumberBE(I.subarray(0, 32));
    // BIP32: "In case parse256(I_L) >= n or K_i is the point at infinity, the resulting
    // key is invalid" (probability below 2^-127).
    if (tweak === 0n || tweak >= suite.Fn.ORDER) throw new CryptoError('BAD_PATH', { field: `index ${index}`, message: `BAD_PATH: index ${index} yields an invalid child; use the next index` });
    return { tweak, chainCode: I.slice(32) };
  }
  const I = hmac(sha512, chainCode, concatBytes(ED_TWEAK, ser, u32be(index)));
  const tweak = suite.Fn.create(bytesToNumberLE(I));
  return { tweak, chainCode: hmac(sha512, chainCode, concatBytes(ED_CHAIN, ser, u32be(index))).slice(0, CHAIN_CODE_LENGTH) };
}

export interface DerivedKey {
  /** Child group key (encoded point, real parity). */
  groupKey: Uint8Array;
  chainCode: Uint8Array;
  /** Sum of the step tweaks: child = parent + tweak*G. */
  tweak: bigint;
  path: number[];
}

/** Derives a child public key from (group key, chain code, path). Public data only. */
export function deriveChild(pkg: PublicKeyPackage, path: DerivationPath): DerivedKey {
  const suite = assertPublicKeyPackage(pkg);
  const indices = parsePath(path);
  let key = parsePoint(suite, pkg.groupKey, 'publicKey.groupKey');
  let chainCode = pkg.chainCode;
  let tweak = 0n;
  for (const index of indices) {
    const step = childStep(suite, key, chainCode, index);
    key = key.add(suite.Point.BASE.multiply(step.tweak));
    if (key.is0()) throw new CryptoError('BAD_PATH', { field: `index ${index}`, message: `BAD_PATH: index ${index} yields the identity; use the next index` });
    tweak = suite.Fn.add(tweak, step.tweak);
    chainCode = step.chainCode;
  }
  return { groupKey: pointToBytes(key), chainCode: chainCode.slice(), tweak, path: indices };
}

/** Adds a public tweak to a public package: Y + t*G and every Y_i + t*G. */
function shiftPublic(suite: Suite, pkg: PublicKeyPackage, tweak: bigint, negate: boolean, chainCode: Uint8Array): PublicKeyPackage {
  const T = tweak === 0n || suite.curve === 'secp256k1' ? suite.Point.ZERO : suite.Point.BASE.multiply(tweak);
  const move = (bytes: Uint8Array, field: string) => {
    let p = parsePoint(suite, bytes, field);
    if (suite.curve === 'secp256k1') {
      // libsecp256k1's tweak-add on the encoding (negating a compressed point flips its prefix).
      const moved = secp256k1Backend.addTweak(negate ? Uint8Array.of(bytes[0]! ^ 1, ...bytes.subarray(1)) : bytes, tweak);
      if (moved === null) throw new CryptoError('BAD_PATH', { field, message: `BAD_PATH: the tweak sends ${field} to the identity` });
      return moved;
    }
    if (negate) p = p.negate();
    p = p.add(T);
    if (p.is0()) throw new CryptoError('BAD_PATH', { field, message: `BAD_PATH: the tweak sends ${field} to the identity` });
    return pointToBytes(p);
  };
  const verifyingShares: Record<number, Uint8Array> = {};
  for (const id of pkg.participants) verifyingShares[id] = move(pkg.verifyingShares[id]!, `publicKey.verifyingShares[${id}]`);
  return { ...pkg, participants: [...pkg.participants], groupKey: move(pkg.groupKey, 'publicKey.groupKey'), verifyingShares, chainCode: chainCode.slice() };
}

/** BIP341 TapTweak scalar for an even internal key. */
function tapTweak(suite: Suite, internal: GroupPoint, merkleRoot: Uint8Array | undefined): bigint {
  const root = merkleRoot === undefined ? new Uint8Array(0) : assertBytes(merkleRoot, 32, 'taproot.merkleRoot');
  const t = bytesToNumberBE(schnorr.utils.taggedHash('TapTweak', pointToBytes(internal).subarray(1), root));
  // BIP341 taproot_tweak_pubkey: "if t >= SECP256K1_ORDER: raise ValueError".
  if (t >= suite.Fn.ORDER) throw new CryptoError('BAD_FIELD', { field: 'taproot.merkleRoot', message: 'BAD_FIELD: TapTweak overflows the group order' });
  return t;
}

const hasOddY = (p: GroupPoint) => (pointToBytes(p)[0] === 0x03);

interface Shift {
  tweak: bigint;
  negate: boolean;
  chainCode: Uint8Array;
}

function targetShift(suite: Suite, pkg: PublicKeyPackage, target: SigningTarget | undefined): Shift {
  if (target === undefined) return { tweak: 0n, negate: false, chainCode: pkg.chainCode };
  if (typeof target !== 'object' || target === null) throw new CryptoError('BAD_FIELD', { field: 'target' });
  let tweak = 0n;
  let chainCode = pkg.chainCode;
  let key = parsePoint(suite, pkg.groupKey, 'publicKey.groupKey');
  if (target.path !== undefined) {
    const child = deriveChild(pkg, target.path);
    tweak = child.tweak;
    chainCode = child.chainCode;
    key = parsePoint(suite, child.groupKey, 'child.groupKey');
  }
  if (target.taproot === undefined) return { tweak, negate: false, chainCode };
  if (suite.id !== 'frost-secp256k1-tr') throw new CryptoError('BAD_FIELD', { field: 'target.taproot', message: `BAD_FIELD: taproot tweaks apply to frost-secp256k1-tr only, not ${suite.id}` });
  // BIP341: the internal key is lift_x(x(P)); negating an odd P negates every share too,
  // so the derivation tweak flips sign with it.
  const negate = hasOddY(key);
  const even = negate ? key.negate() : key;
  const t = tapTweak(suite, even, target.taproot.merkleRoot);
  const base = negate ? suite.Fn.neg(tweak) : tweak;
  return { tweak: suite.Fn.add(base, t), negate, chainCode };
}

/** The public package of the key a signature will be made for (child and/or taproot output key). */
export function targetPublicKey(pkg: PublicKeyPackage, target?: SigningTarget): PublicKeyPackage {
  const suite = assertPublicKeyPackage(pkg);
  const s = targetShift(suite, pkg, target);
  if (s.tweak === 0n && !s.negate) return pkg;
  return shiftPublic(suite, pkg, s.tweak, s.negate, s.chainCode);
}

/** The key share that signs for `target`: s_i (negated for an odd taproot internal key) + tweak. */
export function targetKeyShare(share: KeyShare, target?: SigningTarget): KeyShare {
  const suite = assertKeyShare(share);
  const s = targetShift(suite, share.publicKey, target);
  if (s.tweak === 0n && !s.negate) return share;
  const { Fn } = suite;
  let x = Fn.fromBytes(share.signingShare);
  if (s.negate) x = Fn.neg(x);
  return makeKeyShare({
    suite: share.suite,
    id: share.id,
    signingShare: scalarToBytes(suite, Fn.add(x, s.tweak)),
    publicKey: shiftPublic(suite, share.publicKey, s.tweak, s.negate, s.chainCode),
  });
}

/** The user-facing public key for `target` (x-only for BIP340, so the taproot output key Q). */
export function targetExternalKey(pkg: PublicKeyPackage, target?: SigningTarget): Uint8Array {
  const suite = assertPublicKeyPackage(pkg);
  return suite.externalKey(targetPublicKey(pkg, target).groupKey);
}
