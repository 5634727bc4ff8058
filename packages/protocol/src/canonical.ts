/**
 * Canonical byte encodings for everything that is hashed or signed. msgpack is not
 * used here: it allows several encodings of one value. Each variable-length part is
 * prefixed with its u32 big-endian length and each integer has a fixed width, so the
 * encoding is injective. Tagged hashes start with the length-prefixed tag.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';

export function u32be(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n, false);
  return out;
}

/** Signed 64-bit big-endian; callers pass safe integers only. */
export function i64be(n: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigInt64(0, BigInt(n), false);
  return out;
}

/** u32 length then the bytes. */
export function lp(bytes: Uint8Array): Uint8Array {
  return concatBytes(u32be(bytes.length), bytes);
}

/** u32 length then the UTF-8 bytes. */
export function lpString(s: string): Uint8Array {
  return lp(utf8ToBytes(s));
}

/** SHA-256 over the length-prefixed tag followed by the already-canonical parts. */
export function taggedHash(tag: string, ...parts: Uint8Array[]): Uint8Array {
  return sha256(concatBytes(lpString(tag), ...parts));
}
