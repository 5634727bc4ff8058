/**
 * Argument checks for the keystore (the noble `abytes` habit): each names the field
 * it checks, throws `SignerError('BAD_FIELD', { field })` on failure, and returns
 * its input so a call site reads `const id = aId(keyId, 'keyId')`.
 */
import { HEX_PATTERN, ID_PATTERN } from './constants.ts';
import { SignerError } from '../errors.ts';

/** A key, signer, suite or nonce id: 1-128 of [A-Za-z0-9._-]. */
export function aId(value: unknown, field: string): string {
  if (typeof value !== 'string' || !ID_PATTERN.test(value)) {
    throw new SignerError('BAD_FIELD', { field, message: 'expected 1-128 characters of [A-Za-z0-9._-]' });
  }
  return value;
}

/** A non-negative safe integer (epochs, timestamps, durations). */
export function aUint(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new SignerError('BAD_FIELD', { field, message: 'expected a non-negative safe integer' });
  }
  return value;
}

/** A Uint8Array whose length is `len`, or within [min, max]. */
export function aBytes(
  value: unknown,
  field: string,
  bounds: { len: number } | { min: number; max: number },
): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new SignerError('BAD_FIELD', { field, message: 'expected a Uint8Array' });
  }
  const ok = 'len' in bounds ? value.length === bounds.len : value.length >= bounds.min && value.length <= bounds.max;
  if (!ok) {
    const want = 'len' in bounds ? `${bounds.len}` : `${bounds.min}-${bounds.max}`;
    throw new SignerError('BAD_FIELD', { field, message: `expected ${want} bytes, got ${value.length}` });
  }
  return value;
}

/** Hex of 1-128 bytes, either case; returns it lowercased so 'AB' and 'ab' are one value. */
export function aHex(value: unknown, field: string): string {
  const lower = typeof value === 'string' ? value.toLowerCase() : '';
  if (!HEX_PATTERN.test(lower)) {
    throw new SignerError('BAD_FIELD', { field, message: 'expected hex of 1-128 bytes' });
  }
  return lower;
}

/** A non-empty string (paths). */
export function aString(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new SignerError('BAD_FIELD', { field, message: 'expected a non-empty string' });
  }
  return value;
}
