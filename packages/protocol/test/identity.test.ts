import { inspect } from 'node:util';
import { ED25519_TORSION_SUBGROUP, ed25519, x25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE, numberToBytesLE } from '@noble/curves/utils.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  exportIdentitySecret,
  generateIdentity,
  identityFromSecret,
  sign,
  signNoble,
  verifySignature,
  verifySignatureNoble,
} from '../src/identity.ts';
import { expectWireError, seededRng } from './helpers.ts';

const msg = new TextEncoder().encode('keyquorum');

describe('identity keys', () => {
  it('secrets are redacted in JSON.stringify, also when nested', () => {
    const id = generateIdentity(seededRng('json'));
    const seedHex = bytesToHex(exportIdentitySecret(id));
    expect(JSON.stringify(id)).toBe('"<redacted>"');
    const nested = JSON.stringify({ node: { id } });
    expect(nested).not.toContain(seedHex);
    expect(nested).toContain('<redacted>');
  });

  it('secrets are redacted in util.inspect, showing only a public-key prefix', () => {
    const id = generateIdentity(seededRng('inspect'));
    const seedHex = bytesToHex(exportIdentitySecret(id));
    const shown = inspect({ id }, { depth: 10, showHidden: true });
    expect(inspect(id)).toBe(`<redacted IdentityKey ${bytesToHex(id.publicKey).slice(0, 16)}…>`);
    expect(shown).not.toContain(seedHex);
    expect(Object.values(id).map((v) => bytesToHex(v as Uint8Array))).not.toContain(seedHex);
  });

  it('is deterministic in its seed and matches RFC 8032 key derivation', () => {
    const seed = seededRng('seed')(32);
    const a = identityFromSecret(seed);
    expect(a.publicKey).toEqual(ed25519.getPublicKey(seed));
    expect(identityFromSecret(exportIdentitySecret(a)).publicKey).toEqual(a.publicKey);
  });

  it('copies the seed, so wiping the caller’s buffer does not change the key', () => {
    const seed = seededRng('copy')(32);
    const id = identityFromSecret(seed);
    const before = sign(id, msg);
    seed.fill(0);
    expect(sign(id, msg)).toEqual(before);
  });

  it('its X25519 public key belongs to the derived X25519 secret (RFC 7748 birational map)', () => {
    const seed = seededRng('x')(32);
    const id = identityFromSecret(seed);
    expect(id.x25519PublicKey).toEqual(x25519.getPublicKey(ed25519.utils.toMontgomerySecret(seed)));
  });

  it('signatures verify under the signer’s key only, and not for another message', () => {
    const a = generateIdentity(seededRng('a'));
    const b = generateIdentity(seededRng('b'));
    const sig = sign(a, msg);
    expect(verifySignature(a.publicKey, msg, sig)).toBe(true);
    expect(verifySignature(b.publicKey, msg, sig)).toBe(false);
    expect(verifySignature(a.publicKey, new Uint8Array([1]), sig)).toBe(false);
  });

  it('verification is strict: a small-order public key is refused', () => {
    // The identity point as a key with the signature (R = identity, S = 0) verifies under ZIP-215.
    const identityKey = ed25519.Point.ZERO.toBytes();
    const sig = new Uint8Array(64);
    sig.set(identityKey, 0);
    expect(ed25519.verify(sig, msg, identityKey, { zip215: true })).toBe(true);
    expect(verifySignature(identityKey, msg, sig)).toBe(false);
  });

  it('refuses seeds, keys and signatures of the wrong length', () => {
    expectWireError(() => identityFromSecret(new Uint8Array(31)), 'BAD_FIELD', 'secret');
    expectWireError(() => verifySignature(new Uint8Array(33), msg, new Uint8Array(64)), 'BAD_FIELD', 'publicKey');
    expectWireError(() => verifySignature(new Uint8Array(32), msg, new Uint8Array(63)), 'BAD_FIELD', 'sig');
    expectWireError(() => generateIdentity(() => new Uint8Array(16)), 'BAD_FIELD', 'rng');
  });

  it('sign refuses anything that is not an IdentityKey', () => {
    const fake = { publicKey: new Uint8Array(32) };
    expectWireError(() => sign(fake as never, msg), 'BAD_FIELD', 'identity');
  });
});

describe('the OpenSSL fast path agrees with the @noble/curves reference', () => {
  const L = ed25519.Point.Fn.ORDER;

  it('signatures are byte-identical (RFC 8032 signing is deterministic)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 300 }), (seed, msg) => {
        const id = identityFromSecret(seed);
        expect(bytesToHex(sign(id, msg))).toBe(bytesToHex(signNoble(id, msg)));
      }),
      { numRuns: 60 },
    );
  });

  it('verification verdicts agree on valid, bit-flipped and re-addressed signatures', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 200 }), fc.nat(511), (seed, msg, bit) => {
        const id = identityFromSecret(seed);
        const sig = sign(id, msg);
        expect(verifySignature(id.publicKey, msg, sig)).toBe(true);
        const flipped = sig.slice();
        flipped[bit >> 3]! ^= 1 << (bit & 7);
        expect(verifySignature(id.publicKey, msg, flipped)).toBe(verifySignatureNoble(id.publicKey, msg, flipped));
        const other = generateIdentity().publicKey;
        expect(verifySignature(other, msg, sig)).toBe(false);
        expect(verifySignatureNoble(other, msg, sig)).toBe(false);
      }),
      { numRuns: 60 },
    );
  });

  it('a non-canonical S (S + L) is refused by both', () => {
    const id = generateIdentity();
    const msg = new Uint8Array([1, 2, 3]);
    const sig = sign(id, msg);
    const s = bytesToNumberLE(sig.subarray(32)) + L;
    const bad = sig.slice();
    bad.set(numberToBytesLE(s, 32), 32);
    expect(verifySignature(id.publicKey, msg, bad)).toBe(false);
    expect(verifySignatureNoble(id.publicKey, msg, bad)).toBe(false);
  });

  it('small-order public keys and R shifted by a torsion point are refused by both', () => {
    const msg = new Uint8Array([9]);
    const id = generateIdentity();
    const sig = sign(id, msg);
    for (const t of ED25519_TORSION_SUBGROUP) {
      const torsion = hexToBytes(t);
      // a small-order "public key" with any signature
      expect(verifySignature(torsion, msg, sig)).toBe(verifySignatureNoble(torsion, msg, sig));
      expect(verifySignature(torsion, msg, sig)).toBe(false);
      // R + T for a non-identity torsion point T
      const T = ed25519.Point.fromBytes(torsion, true);
      if (T.is0()) continue;
      const R = ed25519.Point.fromBytes(sig.subarray(0, 32)).add(T);
      const shifted = sig.slice();
      shifted.set(R.toBytes(), 0);
      expect(verifySignature(id.publicKey, msg, shifted)).toBe(verifySignatureNoble(id.publicKey, msg, shifted));
    }
  });
});
