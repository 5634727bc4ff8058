/**
 * X25519 (RFC 7748 §5, §6.1) behind one interface (issue 13, lever 1), for the
 * cluster's point-to-point encryption. Two implementations, never our own arithmetic:
 *
 * - `nobleX25519`: @noble/curves, the reference and the fallback.
 * - libsodium compiled to WebAssembly (libsodium-wrappers-sumo 0.8.x:
 *   `crypto_scalarmult_base`, `crypto_scalarmult`). Measured on this machine
 *   (benchmarks/README.md "Curve backend"): public key ~6x, shared secret ~5-10x faster.
 *
 * Both refuse exactly the same inputs with the same typed error (checked by
 * packages/crypto/test/x25519.test.ts over random keys and the hostile u-coordinates
 * of RFC 7748 / the small-order list: 0, 1, the two order-8 points, p-1, p, p+1 and
 * their high-bit-set forms): noble refuses the five low-order u-coordinates (after
 * masking the high bit and reducing mod p) before the ladder, libsodium refuses its
 * blocklist of the same points and any all-zero result; either way BAD_POINT. The
 * scalar is clamped by both (RFC 7748 §5). Like noble's bigints, copies of the
 * scalar inside the WebAssembly heap are not wiped.
 *
 * libsodium loads asynchronously (its WebAssembly is instantiated by a promise), so
 * `x25519Backend()` answers noble until the load has finished and its self-check
 * against noble passed; `x25519Ready` settles then (never rejects: a failed load
 * leaves noble in place).
 */
import { x25519 } from '@noble/curves/ed25519.js';
import { CryptoError } from '../errors.ts';
import { sodiumReady, type Sodium } from './sodium.ts';

export interface X25519Backend {
  readonly name: 'noble' | 'libsodium-wasm';
  /** X25519(k, 9), RFC 7748 §6.1; `secret` is 32 bytes (clamped here). */
  publicKey(secret: Uint8Array): Uint8Array;
  /** X25519(k, u); BAD_POINT for a low-order u (an all-zero shared secret). */
  sharedSecret(secret: Uint8Array, peerU: Uint8Array): Uint8Array;
}

const KEY_LENGTH = 32;

function key32(b: unknown, field: string): Uint8Array {
  if (!(b instanceof Uint8Array) || b.length !== KEY_LENGTH)
    throw new CryptoError('BAD_FIELD', { field, message: `BAD_FIELD: ${field} must be 32 bytes` });
  return b;
}

const refused = () => new CryptoError('BAD_POINT', { field: 'peerU', message: 'BAD_POINT: peerU is a low-order X25519 u-coordinate' });

export const nobleX25519: X25519Backend = {
  name: 'noble',
  publicKey: (secret) => x25519.getPublicKey(key32(secret, 'secret')),
  sharedSecret: (secret, peerU) => {
    const [k, u] = [key32(secret, 'secret'), key32(peerU, 'peerU')];
    try {
      return x25519.getSharedSecret(k, u);
    } catch {
      throw refused();
    }
  },
};

function sodiumBackend(lib: Sodium): X25519Backend {
  return {
    name: 'libsodium-wasm',
    publicKey: (secret) => lib.crypto_scalarmult_base(key32(secret, 'secret')),
    sharedSecret: (secret, peerU) => {
      const [k, u] = [key32(secret, 'secret'), key32(peerU, 'peerU')];
      try {
        // crypto_scalarmult returns -1 (the wrapper throws) for a blocklisted or all-zero result.
        return lib.crypto_scalarmult(k, u);
      } catch {
        throw refused();
      }
    },
  };
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

let current: X25519Backend = nobleX25519;
let loaded: X25519Backend | undefined;

async function load(): Promise<X25519Backend> {
  const lib = await sodiumReady;
  if (lib === undefined) return current;
  try {
    const backend = sodiumBackend(lib);
    // Refuse a library that does not compute what noble computes (a broken build).
    const k = new Uint8Array(KEY_LENGTH).fill(7);
    const u = nobleX25519.publicKey(new Uint8Array(KEY_LENGTH).fill(9));
    if (!bytesEqual(backend.publicKey(k), nobleX25519.publicKey(k))) return current;
    if (!bytesEqual(backend.sharedSecret(k, u), nobleX25519.sharedSecret(k, u))) return current;
    loaded = backend;
    current = backend;
  } catch {
    // A library that throws on valid input: noble stays.
  }
  return current;
}

/** Settles with the backend in use once libsodium has loaded (or failed to). */
export const x25519Ready: Promise<X25519Backend> = load();

/** The implementation to use now: libsodium once loaded, noble before or without it. */
export function x25519Backend(): X25519Backend {
  return current;
}

/** libsodium's implementation, once loaded (for differential tests and benchmarks). */
export async function sodiumX25519(): Promise<X25519Backend | undefined> {
  await x25519Ready;
  return loaded;
}
