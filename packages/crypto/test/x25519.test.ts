/**
 * The X25519 backend against noble, its reference: public keys and shared secrets over
 * random keys and random (curve and twist) u-coordinates, and identical refusals for
 * the hostile u-coordinates of RFC 7748 §6.1 / the small-order list (0, 1, the two
 * order-8 points, p-1, p, p+1, each also with the high bit set) and wrong lengths.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { nobleX25519, sodiumX25519, x25519Backend, x25519Ready, type X25519Backend } from '../src/backend/x25519.ts';

const P = 2n ** 255n - 19n;
const le32 = (x: bigint) => Uint8Array.from(Buffer.from(x.toString(16).padStart(64, '0'), 'hex').reverse());
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const highBit = (b: Uint8Array) => {
  const c = new Uint8Array(b);
  c[31]! |= 0x80;
  return c;
};

function outcome(f: () => Uint8Array): string {
  try {
    return hex(f());
  } catch (e) {
    return `refused: ${(e as { code?: string }).code ?? `untyped ${(e as Error).message}`}`;
  }
}

/** The small-order u-coordinates of Curve25519 (order 1, 2, 4, 8) and their non-canonical forms. */
const LOW_ORDER = [
  0n,
  1n,
  325606250916557431795983626356110631294008115727848805560023387167927233504n,
  39382357235489614581723060781553021112529911719440698176882885853963445705823n,
  P - 1n,
  P, // = 0 mod p
  P + 1n, // = 1 mod p
].map(le32);
const lowOrderAll = [...LOW_ORDER, ...LOW_ORDER.map(highBit)];

let sodium: X25519Backend;
beforeAll(async () => {
  // Node has WebAssembly: after readiness the fast path must be in use, not silently noble.
  expect((await x25519Ready).name).toBe('libsodium-wasm');
  expect(x25519Backend().name).toBe('libsodium-wasm');
  sodium = (await sodiumX25519())!;
});

function same(f: (b: X25519Backend) => Uint8Array): string {
  const expected = outcome(() => f(nobleX25519));
  expect(outcome(() => f(sodium))).toBe(expected);
  return expected;
}

describe('X25519 backend: libsodium (WebAssembly) computes what noble computes', () => {
  it('public keys and shared secrets agree over random keys and random u-coordinates', () => {
    const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
    fc.assert(
      fc.property(bytes32, bytes32, bytes32, (a, b, u) => {
        same((x) => x.publicKey(a));
        // A peer's real public key, and an arbitrary 32-byte u (curve or twist, any high bit).
        const pub = nobleX25519.publicKey(b);
        expect(same((x) => x.sharedSecret(a, pub))).toBe(hex(nobleX25519.sharedSecret(b, nobleX25519.publicKey(a))));
        same((x) => x.sharedSecret(a, u));
      }),
      { numRuns: 60 },
    );
  });

  it('both refuse every low-order u-coordinate (canonical, p-1, p, p+1, high bit set) with BAD_POINT', () => {
    for (const u of lowOrderAll)
      for (let i = 0; i < 4; i++) {
        const k = randomBytes(32);
        expect(same((x) => x.sharedSecret(k, u))).toBe('refused: BAD_POINT');
      }
  });

  it('agree on non-canonical encodings that are not low order (u >= p, high bit set)', () => {
    const k = randomBytes(32);
    // u + p for small u (9 is the base point), and 2^255 - 1 (= 18 mod p).
    const values = [P + 2n, P + 9n, P + 18n, 2n ** 255n - 1n, 9n, 2n].map(le32);
    for (const u of [...values, ...values.map(highBit)]) {
      const r = same((x) => x.sharedSecret(k, u));
      expect(r).not.toMatch(/^refused/);
    }
    // The high bit is masked (RFC 7748 §5): with and without it, the same secret.
    const base = le32(9n);
    expect(hex(sodium.sharedSecret(k, highBit(base)))).toBe(hex(sodium.sharedSecret(k, base)));
    expect(hex(sodium.sharedSecret(k, base))).toBe(hex(sodium.publicKey(k)));
  });

  it('RFC 7748 §5.2 test vector and §6.1 Diffie-Hellman vector', () => {
    const k = Buffer.from('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4', 'hex');
    const u = Buffer.from('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c', 'hex');
    expect(same((x) => x.sharedSecret(k, u))).toBe('c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552');
    const alice = Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex');
    const bobPub = Buffer.from('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f', 'hex');
    expect(same((x) => x.publicKey(alice))).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    expect(same((x) => x.sharedSecret(alice, bobPub))).toBe('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');
  });

  it('both refuse keys that are not 32 bytes with BAD_FIELD', () => {
    const k = randomBytes(32);
    for (const bad of [new Uint8Array(31), new Uint8Array(33), new Uint8Array(0)]) {
      expect(same((x) => x.publicKey(bad))).toBe('refused: BAD_FIELD');
      expect(same((x) => x.sharedSecret(bad, le32(9n)))).toBe('refused: BAD_FIELD');
      expect(same((x) => x.sharedSecret(k, bad))).toBe('refused: BAD_FIELD');
    }
  });
});
