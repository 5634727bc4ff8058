/**
 * Differential test of the decoded-point cache (suite.ts `parsePoint`) against
 * noble's own decoding: for valid encodings, hostile ones (identity, small order,
 * mixed order, non-canonical, off-curve) and random bytes, the cached path, the
 * uncached path and a direct @noble/curves check agree, on the first call and on
 * every repeat, so correctness never rests on the cache.
 */
import { randomBytes } from 'node:crypto';
import { ED25519_TORSION_SUBGROUP } from '@noble/curves/ed25519.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { CryptoError, getSuite, parsePoint, parsePointUncached, type Suite, type SuiteId } from '../src/index.ts';

const SUITES: SuiteId[] = ['frost-secp256k1-tr', 'frost-ed25519', 'frost-secp256k1'];

/** The encoding's validity decided by noble alone (RFC 9591 §3.1 DeserializeElement). */
function nobleAccepts(suite: Suite, bytes: Uint8Array): boolean {
  try {
    const p = suite.Point.fromBytes(bytes);
    p.assertValidity();
    return !p.is0() && p.isTorsionFree() && bytesToHex(p.toBytes(true)) === bytesToHex(bytes);
  } catch {
    return false;
  }
}

type Outcome = { ok: true; hex: string } | { ok: false; code: string; field: string | undefined };

function outcome(parse: () => { toBytes(compressed?: boolean): Uint8Array }): Outcome {
  try {
    return { ok: true, hex: bytesToHex(parse().toBytes(true)) };
  } catch (e) {
    if (!(e instanceof CryptoError)) throw e;
    return { ok: false, code: e.code, field: e.field };
  }
}

function encodings(suite: Suite): Uint8Array[] {
  const valid = Array.from({ length: 8 }, (_, i) => suite.Point.BASE.multiply(BigInt(i + 2) * 0x1234567n).toBytes(true));
  const random = Array.from({ length: 64 }, () => new Uint8Array(randomBytes(suite.pointLength)));
  const hostile =
    suite.curve === 'ed25519'
      ? [
          ...ED25519_TORSION_SUBGROUP.map((h) => hexToBytes(h)),
          suite.Point.BASE.add(suite.Point.fromBytes(hexToBytes(ED25519_TORSION_SUBGROUP[1]!))).toBytes(),
          hexToBytes('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'),
        ]
      : [new Uint8Array(33), new Uint8Array([2, ...new Uint8Array(32).fill(0xff)]), new Uint8Array([4, ...valid[0]!.slice(1)])];
  // A random 33-byte string is almost never a compressed secp256k1 point: give it a valid prefix half the time.
  if (suite.curve === 'secp256k1') random.forEach((r, i) => (r[0] = i % 2 === 0 ? 2 : 3));
  return [...valid, ...hostile, ...random, valid[0]!.slice(0, -1)];
}

describe.each(SUITES)('%s decoded-point cache', (id) => {
  const suite = getSuite(id);

  it('agrees with the uncached path and with noble on valid, hostile and random encodings, first call and repeats', () => {
    let accepted = 0;
    for (const bytes of encodings(suite)) {
      const reference = outcome(() => parsePointUncached(suite, bytes, 'p'));
      expect(reference.ok).toBe(bytes.length === suite.pointLength && nobleAccepts(suite, bytes));
      for (let repeat = 0; repeat < 3; repeat++) expect(outcome(() => parsePoint(suite, bytes, 'p'))).toEqual(reference);
      if (reference.ok) accepted++;
    }
    expect(accepted).toBeGreaterThanOrEqual(8);
  });

  it('keys on the bytes, not the array: a cached encoding mutated into an invalid one is refused', () => {
    const bytes = suite.Point.BASE.multiply(99n).toBytes(true);
    expect(outcome(() => parsePoint(suite, bytes, 'p')).ok).toBe(true);
    bytes.fill(0);
    expect(outcome(() => parsePoint(suite, bytes, 'p'))).toEqual(outcome(() => parsePointUncached(suite, bytes, 'p')));
    expect(outcome(() => parsePoint(suite, bytes, 'p')).ok).toBe(false);
  });

  it('names the field of each call, also when the point comes from the cache', () => {
    const bytes = suite.Point.BASE.multiply(101n).toBytes(true);
    parsePoint(suite, bytes, 'first');
    expect(() => parsePoint(suite, bytes.slice(1), 'second')).toThrow(expect.objectContaining({ code: 'BAD_FIELD', field: 'second' }));
  });
});
