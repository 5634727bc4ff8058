/** Byte helpers shared by the package: hex, concatenation, length-prefixed encodings. */
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';

export { bytesToHex, concatBytes, hexToBytes, utf8ToBytes };

/** Big-endian u32. */
export function u32be(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n, false);
  return out;
}

/** Length-prefixed concatenation (u32 big-endian length before each part): unambiguous. */
export function lengthPrefixed(...parts: Uint8Array[]): Uint8Array {
  return concatBytes(...parts.flatMap((p) => [u32be(p.length), p]));
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
