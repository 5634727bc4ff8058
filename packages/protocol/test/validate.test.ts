import { ED25519_TORSION_SUBGROUP, ed25519 } from '@noble/curves/ed25519.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { hexToBytes, numberToBytesBE, numberToBytesLE } from '@noble/curves/utils.js';
import { describe, expect, it } from 'vitest';
import { WireError, isWireError } from '../src/errors.ts';
import { array, bytes, oneOf, point, scalar, str, strictObject, uint } from '../src/validate.ts';
import { expectWireError } from './helpers.ts';

const SECP_P = 2n ** 256n - 2n ** 32n - 977n;
const SECP_N = secp256k1.Point.Fn.ORDER;
const ED_P = 2n ** 255n - 19n;
const ED_L = ed25519.Point.Fn.ORDER;

function modPow(b: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  b %= m;
  for (; e > 0n; e >>= 1n, b = (b * b) % m) if (e & 1n) r = (r * b) % m;
  return r;
}

/** Smallest x >= 1 for which x^3 + 7 is a non-residue mod p (Euler's criterion): no point has it. */
function offCurveX(): bigint {
  for (let x = 1n; ; x++) if (modPow(x ** 3n + 7n, (SECP_P - 1n) / 2n, SECP_P) === SECP_P - 1n) return x;
}

describe('WireError', () => {
  it('carries code, field and sorted unique culprits, and is recognised by isWireError', () => {
    const e = new WireError('BAD_FIELD', { field: 'header.round', culprits: ['s2', 's1', 's2'] });
    expect(e.code).toBe('BAD_FIELD');
    expect(e.field).toBe('header.round');
    expect(e.culprits).toEqual(['s1', 's2']);
    expect(e.message).toContain('header.round');
    expect(isWireError(e)).toBe(true);
    expect(isWireError(new Error('BAD_FIELD'))).toBe(false);
  });
});

describe('scalar helpers', () => {
  it('name the field and return their input', () => {
    const b = new Uint8Array(4);
    expect(bytes(b, 4, 'x')).toBe(b);
    expect(uint(7, 0, 10, 'x')).toBe(7);
    expect(str('ab', 2, 'x')).toBe('ab');
    expect(oneOf('b', ['a', 'b'], 'x')).toBe('b');
    expect(array([1], 1, 'x')).toEqual([1]);
  });

  it('bytes refuses wrong lengths and non-bytes', () => {
    expectWireError(() => bytes(new Uint8Array(31), 32, 'header.sessionId'), 'BAD_FIELD', 'header.sessionId');
    expectWireError(() => bytes([1, 2], undefined, 'payload'), 'BAD_FIELD', 'payload');
    expectWireError(() => bytes('ab', 2, 'payload'), 'BAD_FIELD', 'payload');
  });

  it('uint refuses fractions, out-of-range and unsafe integers', () => {
    expectWireError(() => uint(1.5, 0, 10, 'r'), 'BAD_FIELD', 'r');
    expectWireError(() => uint(11, 0, 10, 'r'), 'BAD_FIELD', 'r');
    expectWireError(() => uint(-1, 0, 10, 'r'), 'BAD_FIELD', 'r');
    expectWireError(() => uint(2 ** 53, 0, Infinity, 'r'), 'BAD_FIELD', 'r');
    expectWireError(() => uint('1', 0, 10, 'r'), 'BAD_FIELD', 'r');
  });

  it('str enforces a pattern or a maximum length', () => {
    expectWireError(() => str('Bad Id', /^[a-z]+$/, 'from'), 'BAD_FIELD', 'from');
    expectWireError(() => str('abc', 2, 'kind'), 'BAD_FIELD', 'kind');
    expectWireError(() => str(1, 2, 'kind'), 'BAD_FIELD', 'kind');
  });

  it('oneOf and array refuse values outside the set and overlong arrays', () => {
    expectWireError(() => oneOf('c', ['a', 'b'], 'op'), 'BAD_FIELD', 'op');
    expectWireError(() => array([1, 2], 1, 'participants'), 'BAD_FIELD', 'participants');
    expectWireError(() => array({ length: 0 }, 1, 'participants'), 'BAD_FIELD', 'participants');
  });
});

describe('strictObject', () => {
  it('refuses an unknown field, naming its path', () => {
    expectWireError(() => strictObject({ a: 1, evil: 2 }, ['a'], ['a'], 'header'), 'UNKNOWN_FIELD', 'header.evil');
  });

  it('refuses a missing required field', () => {
    expectWireError(() => strictObject({ b: 1 }, ['a', 'b'], ['a'], 'header'), 'BAD_FIELD', 'header.a');
  });

  it('refuses arrays, class instances and null', () => {
    for (const v of [[], new Date(0), new Map(), null, new Uint8Array(1)]) {
      expectWireError(() => strictObject(v, [], [], 'header'), 'BAD_FIELD', 'header');
    }
  });

  it('accepts optional fields and returns the object', () => {
    const o = { a: 1 };
    expect(strictObject(o, ['a', 'b'], ['a'], 'x')).toBe(o);
  });
});

describe('point: secp256k1', () => {
  const G = secp256k1.Point.BASE.toBytes(true);

  it('accepts the compressed generator', () => {
    expect(point('secp256k1', G, 'commitment')).toBe(G);
  });

  it('refuses an off-curve x', () => {
    const b = new Uint8Array([0x02, ...numberToBytesBE(offCurveX(), 32)]);
    expectWireError(() => point('secp256k1', b, 'commitment'), 'BAD_FIELD', 'commitment');
  });

  it('refuses a non-canonical x >= p', () => {
    const b = new Uint8Array([0x02, ...numberToBytesBE(SECP_P, 32)]);
    expectWireError(() => point('secp256k1', b, 'commitment'), 'BAD_FIELD');
  });

  it('refuses the identity, uncompressed points and wrong prefixes', () => {
    expectWireError(() => point('secp256k1', new Uint8Array(33), 'c'), 'BAD_FIELD');
    expectWireError(() => point('secp256k1', new Uint8Array([0x00]), 'c'), 'BAD_FIELD');
    expectWireError(() => point('secp256k1', secp256k1.Point.BASE.toBytes(false), 'c'), 'BAD_FIELD');
    const wrongPrefix = Uint8Array.from(G);
    wrongPrefix[0] = 0x04;
    expectWireError(() => point('secp256k1', wrongPrefix, 'c'), 'BAD_FIELD');
  });
});

describe('point: ed25519', () => {
  const B = ed25519.Point.BASE.toBytes();

  it('accepts the base point', () => {
    expect(point('ed25519', B, 'key')).toBe(B);
  });

  it('refuses the identity point', () => {
    expectWireError(() => point('ed25519', ed25519.Point.ZERO.toBytes(), 'key'), 'BAD_FIELD', 'key');
  });

  it('refuses every small-order point', () => {
    for (const hex of ED25519_TORSION_SUBGROUP) {
      expectWireError(() => point('ed25519', hexToBytes(hex), 'key'), 'BAD_FIELD');
    }
  });

  it('refuses a point with a torsion component (not in the prime-order subgroup)', () => {
    const t8 = ed25519.Point.fromHex(ED25519_TORSION_SUBGROUP[1]!);
    const mixed = ed25519.Point.BASE.add(t8).toBytes();
    expectWireError(() => point('ed25519', mixed, 'key'), 'BAD_FIELD');
  });

  it('refuses a non-canonical encoding (y >= p) that ZIP-215 decoding would accept', () => {
    // No prime-order point has y < 19, so y + p always lands on the identity or torsion too.
    const b = numberToBytesLE(ED_P + 1n, 32);
    expect(() => ed25519.Point.fromBytes(b, true)).not.toThrow();
    expectWireError(() => point('ed25519', b, 'key'), 'BAD_FIELD');
  });

  it('refuses a y with no matching x, and wrong lengths', () => {
    let y = 2n;
    for (;;) {
      const b = numberToBytesLE(y, 32);
      // x^2 = (y^2 - 1) / (d y^2 + 1) must be a square; checked independently of noble.
      const d = (-121665n * modPow(121666n, ED_P - 2n, ED_P)) % ED_P;
      const u = (y * y - 1n + ED_P) % ED_P;
      const v = (((d + ED_P) % ED_P) * y * y + 1n) % ED_P;
      const x2 = (u * modPow(v, ED_P - 2n, ED_P)) % ED_P;
      if (x2 !== 0n && modPow(x2, (ED_P - 1n) / 2n, ED_P) === ED_P - 1n) {
        expectWireError(() => point('ed25519', b, 'key'), 'BAD_FIELD');
        break;
      }
      y++;
    }
    expectWireError(() => point('ed25519', B.subarray(0, 31), 'key'), 'BAD_FIELD');
  });
});

describe('scalar', () => {
  it('refuses the group order and accepts order - 1 (secp256k1, big-endian)', () => {
    expectWireError(() => scalar('secp256k1', numberToBytesBE(SECP_N, 32), 'share'), 'BAD_FIELD', 'share');
    expect(scalar('secp256k1', numberToBytesBE(SECP_N - 1n, 32), 'share')).toHaveLength(32);
  });

  it('refuses the group order and accepts order - 1 (ed25519, little-endian)', () => {
    expectWireError(() => scalar('ed25519', numberToBytesLE(ED_L, 32), 'share'), 'BAD_FIELD', 'share');
    expect(scalar('ed25519', numberToBytesLE(ED_L - 1n, 32), 'share')).toHaveLength(32);
  });

  it('reads ed25519 scalars little-endian: n-1 big-endian bytes are out of range there', () => {
    expectWireError(() => scalar('ed25519', numberToBytesBE(SECP_N - 1n, 32), 'share'), 'BAD_FIELD');
  });

  it('refuses zero unless allowed', () => {
    expectWireError(() => scalar('secp256k1', new Uint8Array(32), 'nonce'), 'BAD_FIELD', 'nonce');
    expect(scalar('ed25519', new Uint8Array(32), 'tweak', { allowZero: true })).toHaveLength(32);
  });

  it('refuses wrong lengths', () => {
    expectWireError(() => scalar('secp256k1', new Uint8Array(33), 's'), 'BAD_FIELD');
  });
});
