/** Shared test helpers: a deterministic RNG and an assertion on WireError codes. */
import { sha256 } from '@noble/hashes/sha2.js';
import { expect } from 'vitest';
import { isWireError, type WireErrorCode } from '../src/errors.ts';
import type { Rng } from '../src/rng.ts';

/** Deterministic byte stream: SHA-256 in counter mode over a label. */
export function seededRng(label: string): Rng {
  let counter = 0;
  return (length) => {
    const out = new Uint8Array(length);
    for (let off = 0; off < length; off += 32) {
      const block = sha256(new TextEncoder().encode(`${label}/${counter++}`));
      out.set(block.subarray(0, Math.min(32, length - off)), off);
    }
    return out;
  };
}

/** Runs `fn` and asserts it throws a WireError with `code` (and `field`, when given). */
export function expectWireError(fn: () => unknown, code: WireErrorCode, field?: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(isWireError(thrown), `expected a WireError, got ${String(thrown)}`).toBe(true);
  expect((thrown as { code: string }).code).toBe(code);
  if (field !== undefined) expect((thrown as { field: string }).field).toBe(field);
}
