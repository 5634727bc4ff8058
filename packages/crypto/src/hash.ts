/**
 * SHA-256, SHA-512 and SHAKE256 behind one interface (issue 13, DKLs23 in process).
 * Two implementations, never our own hash:
 *
 * - `nobleHash`: @noble/hashes, the reference and the fallback.
 * - `nodeHash`: node:crypto (OpenSSL). DKLs23 hashes thousands of short inputs per
 *   signature (OT-extension PRG, the correlated-OT random oracle, the gadget vector);
 *   OpenSSL's Keccak is ~4 x and its SHA-2 ~2 x faster than the JavaScript ones here.
 *
 * Each function hashes the concatenation of `parts` (no framing added: callers frame).
 * `hashBackend` is node:crypto when it exists and agrees with noble on a known input,
 * else noble. packages/crypto/test/hash-backend.test.ts checks both give the same
 * bytes for random and edge inputs (empty, long, many sizes and output lengths).
 */
import * as nodeCrypto from 'node:crypto';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { shake256 } from '@noble/hashes/sha3.js';

export interface HashBackend {
  readonly name: 'node' | 'noble';
  sha256(...parts: Uint8Array[]): Uint8Array;
  sha512(...parts: Uint8Array[]): Uint8Array;
  /** SHAKE256 of the parts, `dkLen` bytes of output. */
  shake256(dkLen: number, ...parts: Uint8Array[]): Uint8Array;
}

export const nobleHash: HashBackend = {
  name: 'noble',
  sha256: (...parts) => {
    const h = sha256.create();
    for (const p of parts) h.update(p);
    return h.digest();
  },
  sha512: (...parts) => {
    const h = sha512.create();
    for (const p of parts) h.update(p);
    return h.digest();
  },
  shake256: (dkLen, ...parts) => {
    if (dkLen === 0) return new Uint8Array(0);
    const h = shake256.create({ dkLen });
    for (const p of parts) h.update(p);
    return h.digest();
  },
};

const { createHash } = nodeCrypto;
type NodeHash = ReturnType<typeof createHash>;
/** node:crypto's one-shot `hash` (Node >= 20.12): no Hash object per call. */
const oneShot = (nodeCrypto as { hash?: (algorithm: string, data: Uint8Array, encoding: 'buffer') => Buffer }).hash;
const own = (b: Buffer): Uint8Array => (b.byteLength === b.buffer.byteLength ? new Uint8Array(b.buffer, b.byteOffset, b.byteLength) : Uint8Array.from(b));
/** A plain Uint8Array over the digest's own memory (node allocates each digest separately). */
function digest(h: NodeHash, parts: Uint8Array[]): Uint8Array {
  for (const p of parts) h.update(p);
  const b = h.digest();
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export const nodeHash: HashBackend = {
  name: 'node',
  sha256: (...parts) => (oneShot && parts.length === 1 ? own(oneShot('sha256', parts[0]!, 'buffer')) : digest(createHash('sha256'), parts)),
  sha512: (...parts) => (oneShot && parts.length === 1 ? own(oneShot('sha512', parts[0]!, 'buffer')) : digest(createHash('sha512'), parts)),
  shake256: (dkLen, ...parts) => (dkLen === 0 ? new Uint8Array(0) : digest(createHash('shake256', { outputLength: dkLen }), parts)),
};

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function loadNode(): HashBackend | undefined {
  try {
    const probe = Uint8Array.from({ length: 200 }, (_, i) => (i * 31 + 7) & 255);
    for (const [a, b] of [
      [nodeHash.sha256(probe), nobleHash.sha256(probe)],
      [nodeHash.sha512(probe), nobleHash.sha512(probe)],
      [nodeHash.shake256(300, probe), nobleHash.shake256(300, probe)],
    ] as const)
      if (!sameBytes(a, b)) return undefined;
    return nodeHash;
  } catch {
    return undefined;
  }
}

/** The implementation the DKLs23 engine uses. */
export const hashBackend: HashBackend = loadNode() ?? nobleHash;
