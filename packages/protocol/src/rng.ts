/**
 * Injected randomness: every function that draws random bytes takes an `Rng`
 * (default: the platform CSPRNG via noble's `randomBytes`), so tests can be
 * deterministic. The output is checked, so a broken source fails closed.
 */
import { randomBytes } from '@noble/hashes/utils.js';
import { WireError } from './errors.ts';

export type Rng = (length: number) => Uint8Array;

export const defaultRng: Rng = randomBytes;

/** Draws `length` bytes from `rng`, refusing a source that returns anything else. */
export function drawRandom(rng: Rng, length: number): Uint8Array {
  if (typeof rng !== 'function') throw new WireError('BAD_FIELD', { field: 'rng' });
  const out = rng(length);
  if (!(out instanceof Uint8Array) || out.length !== length) {
    throw new WireError('BAD_FIELD', { field: 'rng', message: `rng must return ${length} bytes` });
  }
  return out;
}
