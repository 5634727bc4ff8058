/**
 * Node identity keys: an Ed25519 key pair (RFC 8032 §5.1) whose 32-byte seed is the
 * only secret, and the static X25519 key (RFC 7748 §5) derived from it through the
 * Edwards-to-Montgomery map (RFC 7748 §4.1), used for end-to-end encryption. The
 * secret never sits on an enumerable property: `IdentityKey` redacts itself in
 * `JSON.stringify` and `util.inspect`, and only this module reads the seed.
 *
 * Envelope signatures are on every message's hot path, so signing and verifying run
 * on node:crypto (OpenSSL's Ed25519, ~15x faster than pure JavaScript) behind the
 * two functions below; @noble/curves stays the reference: public keys are checked
 * with noble once (strict decoding, no small-order keys) before OpenSSL ever sees
 * them, and test/identity.test.ts checks both paths give identical answers.
 *
 * X25519 runs on @keyquorum/crypto's X25519 backend (libsodium in WebAssembly once
 * loaded, noble before or without it; the same answers and refusals). The static-static
 * agreement X25519(S, R) is the same for every message between two identities, so
 * `staticAgreement` memoises it per peer u-coordinate next to the identity's secrets:
 * the memo lives exactly as long as the secret itself (in the same WeakMap entry, so it
 * goes when the IdentityKey does), is bounded (cleared when it reaches
 * STATIC_AGREEMENT_CACHE_SIZE peers), is never serialised or logged (it is not on
 * the object), and hands out copies, which callers wipe. Only successful agreements
 * are kept; a refused (low-order) peer key is refused again every time.
 */
import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { x25519Backend } from '@keyquorum/crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { ED25519_PUBLIC_KEY_LENGTH, ED25519_SECRET_LENGTH, ED25519_SIGNATURE_LENGTH, X25519_KEY_LENGTH } from './constants.ts';
import { WireError } from './errors.ts';
import { defaultRng, drawRandom, type Rng } from './rng.ts';
import { bytes } from './validate.ts';

interface IdentitySecrets {
  /** RFC 8032 §5.1.5 private key (seed). */
  seed: Uint8Array;
  /** RFC 7748 scalar: the clamped lower half of SHA-512(seed). */
  x25519Secret: Uint8Array;
  /** The same seed as an OpenSSL key object (never exported). */
  signingKey: KeyObject;
  /** Memo of X25519(x25519Secret, peer u) by the peer's hex u-coordinate (see above). */
  agreements: Map<string, Uint8Array>;
}

const STATIC_AGREEMENT_CACHE_SIZE = 256;

/** DER prefixes of RFC 8410 PKCS#8 / SPKI Ed25519 keys: the raw 32 bytes follow. */
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');

const secrets = new WeakMap<IdentityKey, IdentitySecrets>();

export class IdentityKey {
  /** Ed25519 public key, 32 bytes. */
  readonly publicKey: Uint8Array;
  /** The matching static X25519 public key (u-coordinate), 32 bytes. */
  readonly x25519PublicKey: Uint8Array;

  constructor(seed: Uint8Array) {
    const s = new Uint8Array(bytes(seed, ED25519_SECRET_LENGTH, 'secret'));
    this.publicKey = ed25519.getPublicKey(s);
    this.x25519PublicKey = ed25519.utils.toMontgomery(this.publicKey);
    const signingKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, s]), format: 'der', type: 'pkcs8' });
    secrets.set(this, { seed: s, x25519Secret: ed25519.utils.toMontgomerySecret(s), signingKey, agreements: new Map() });
  }

  toJSON(): string {
    return '<redacted>';
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `<redacted IdentityKey ${bytesToHex(this.publicKey).slice(0, 16)}…>`;
  }
}

function secretsOf(identity: unknown, field: string): IdentitySecrets {
  const s = identity instanceof IdentityKey ? secrets.get(identity) : undefined;
  if (s === undefined) throw new WireError('BAD_FIELD', { field, message: `BAD_FIELD: ${field}: expected an IdentityKey` });
  return s;
}

/** A fresh identity from 32 random bytes. */
export function generateIdentity(rng: Rng = defaultRng): IdentityKey {
  const seed = drawRandom(rng, ED25519_SECRET_LENGTH);
  const identity = new IdentityKey(seed);
  seed.fill(0);
  return identity;
}

/** The identity whose 32-byte seed is `secret` (the bytes are copied). */
export function identityFromSecret(secret: Uint8Array): IdentityKey {
  return new IdentityKey(secret);
}

/** A copy of the 32-byte seed, for sealing at rest; the caller wipes it. */
export function exportIdentitySecret(identity: IdentityKey): Uint8Array {
  return new Uint8Array(secretsOf(identity, 'identity').seed);
}

/** RFC 8032 §5.1.6 signature over `msg` (deterministic: the same bytes noble gives). */
export function sign(identity: IdentityKey, msg: Uint8Array): Uint8Array {
  const { signingKey } = secretsOf(identity, 'identity');
  return new Uint8Array(nodeSign(null, bytes(msg, undefined, 'msg'), signingKey));
}

/** Public keys already checked with noble, as OpenSSL key objects (null: refused). */
const verifyingKeys = new Map<string, KeyObject | null>();
const VERIFYING_KEY_CACHE_SIZE = 1024;

function verifyingKey(publicKey: Uint8Array): KeyObject | null {
  const hex = bytesToHex(publicKey);
  let key = verifyingKeys.get(hex);
  if (key !== undefined) return key;
  try {
    // noble's strict decoding: canonical, on the curve, not of small order.
    const point = ed25519.Point.fromBytes(publicKey, false);
    key = point.isSmallOrder() ? null : createPublicKey({ key: Buffer.concat([SPKI_ED25519, publicKey]), format: 'der', type: 'spki' });
  } catch {
    key = null;
  }
  if (verifyingKeys.size >= VERIFYING_KEY_CACHE_SIZE) verifyingKeys.clear();
  verifyingKeys.set(hex, key);
  return key;
}

/**
 * RFC 8032 §5.1.7 verification in strict mode (no ZIP-215 leniency: canonical
 * encodings only, small-order keys refused).
 */
export function verifySignature(publicKey: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  bytes(publicKey, ED25519_PUBLIC_KEY_LENGTH, 'publicKey');
  bytes(msg, undefined, 'msg');
  bytes(sig, ED25519_SIGNATURE_LENGTH, 'sig');
  const key = verifyingKey(publicKey);
  return key !== null && nodeVerify(null, msg, key, sig);
}

/** The @noble/curves reference for `verifySignature`, for differential tests. */
export function verifySignatureNoble(publicKey: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  return ed25519.verify(sig, msg, publicKey, { zip215: false });
}

/** The @noble/curves reference for `sign`, for differential tests. */
export function signNoble(identity: IdentityKey, msg: Uint8Array): Uint8Array {
  return ed25519.sign(msg, secretsOf(identity, 'identity').seed);
}

/**
 * X25519(identity's static secret, peer u-coordinate), RFC 7748 §6.1, computed afresh
 * (for an ephemeral peer key). Throws CryptoError BAD_POINT on a low-order peer key
 * (both backends refuse them). Internal to the package: `e2e.ts` is its only user.
 */
export function agreement(identity: IdentityKey, peerX25519Public: Uint8Array): Uint8Array {
  const { x25519Secret } = secretsOf(identity, 'identity');
  return x25519Backend().sharedSecret(x25519Secret, bytes(peerX25519Public, X25519_KEY_LENGTH, 'peerX25519Public'));
}

/**
 * `agreement` with a peer's static key, memoised per identity and peer (see the file
 * comment); returns a fresh copy the caller may wipe.
 */
export function staticAgreement(identity: IdentityKey, peerX25519Public: Uint8Array): Uint8Array {
  const { agreements } = secretsOf(identity, 'identity');
  const peer = bytesToHex(bytes(peerX25519Public, X25519_KEY_LENGTH, 'peerX25519Public'));
  let shared = agreements.get(peer);
  if (shared === undefined) {
    shared = agreement(identity, peerX25519Public);
    if (agreements.size >= STATIC_AGREEMENT_CACHE_SIZE) {
      for (const s of agreements.values()) s.fill(0);
      agreements.clear();
    }
    agreements.set(peer, shared);
  }
  return new Uint8Array(shared);
}
