/**
 * The hash backend (src/hash.ts: node:crypto / OpenSSL) against @noble/hashes, and the
 * DKLs23 engine's byte helpers and encoded-point operations (src/ecdsa/common.ts,
 * src/ecdsa/ec.ts) against the noble functions they replace: the same bytes for random
 * and edge inputs (empty, long, many sizes and splits, output lengths).
 */
import { randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToNumberBE } from '@noble/curves/utils.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { shake256 } from '@noble/hashes/sha3.js';
import { describe, expect, it } from 'vitest';
import { lengthPrefixed, utf8ToBytes } from '../src/bytes.ts';
import { bytesToBigInt, framed, putScalar, scalarBytes } from '../src/ecdsa/common.ts';
import { addBytes, linearCheck, mulBaseBytes, mulBytes, msmBytes } from '../src/ecdsa/ec.ts';
import { hashBackend, nobleHash, nodeHash } from '../src/hash.ts';

const bytes = (n: number) => new Uint8Array(randomBytes(n));
const hex = (b: Uint8Array | null) => (b === null ? null : Buffer.from(b).toString('hex'));
const { Point } = secp256k1;
const N = Point.Fn.ORDER;
const scalar = () => (bytesToNumberBE(bytes(40)) % (N - 1n)) + 1n;

/** Sizes around the SHA-2 and SHAKE256 block boundaries, and long inputs. */
const SIZES = [...Array.from({ length: 300 }, (_, i) => i), 511, 512, 513, 1023, 1024, 1025, 4096, 65_537, 1 << 20];
const EDGE = (n: number) => [new Uint8Array(n), new Uint8Array(n).fill(255), bytes(n)];

/** A few ways to split `data` into parts (the backend hashes their concatenation). */
function splits(data: Uint8Array): Uint8Array[][] {
  const n = data.length;
  const cut = (k: number) => Array.from({ length: k }, (_, i) => data.subarray(Math.floor((i * n) / k), Math.floor(((i + 1) * n) / k)));
  return [[data], [new Uint8Array(0), data, new Uint8Array(0)], cut(2), cut(3), cut(7)];
}

describe('hash backend (node:crypto) against @noble/hashes', () => {
  it('node:crypto is the backend in use here (Node has SHA-256, SHA-512 and SHAKE256)', () => {
    expect(hashBackend.name).toBe('node');
  });

  it('SHA-256 and SHA-512: every size, edge and random contents, split in parts', () => {
    let checked = 0;
    for (const n of SIZES)
      for (const data of EDGE(n)) {
        const want256 = hex(sha256(data));
        const want512 = hex(sha512(data));
        for (const parts of splits(data)) {
          expect(hex(nodeHash.sha256(...parts))).toBe(want256);
          expect(hex(nodeHash.sha512(...parts))).toBe(want512);
          expect(hex(nobleHash.sha256(...parts))).toBe(want256);
          checked++;
        }
      }
    expect(nodeHash.sha256()).toEqual(sha256(new Uint8Array(0)));
    expect(checked).toBe(SIZES.length * 3 * 5);
  });

  it('SHAKE256: every output length 0..400 and longer, every input size', () => {
    const data = bytes(200);
    for (let dkLen = 0; dkLen <= 400; dkLen++) {
      const want = dkLen === 0 ? '' : hex(shake256(data, { dkLen }));
      expect(hex(nodeHash.shake256(dkLen, data))).toBe(want);
      expect(hex(nobleHash.shake256(dkLen, data))).toBe(want);
    }
    for (const dkLen of [1000, 4096]) expect(hex(nodeHash.shake256(dkLen, data))).toBe(hex(shake256(data, { dkLen })));
    for (const n of SIZES.filter((size) => size <= 65_537))
      for (const input of EDGE(n)) for (const parts of splits(input)) expect(hex(nodeHash.shake256(192, ...parts))).toBe(hex(shake256(input, { dkLen: 192 })));
  });

  it('digests are plain Uint8Arrays that own their bytes (no shared pool, independent of later calls)', () => {
    const a = nodeHash.sha256(bytes(10));
    const copy = a.slice();
    nodeHash.sha256(bytes(10));
    expect(Object.getPrototypeOf(a)).toBe(Uint8Array.prototype);
    expect(a.byteOffset).toBe(0);
    expect(a.buffer.byteLength).toBe(32);
    expect(a).toEqual(copy);
  });
});

describe('DKLs23 byte helpers against noble', () => {
  it('bytesToBigInt equals bytesToNumberBE for every length 0..100 (edge and random)', () => {
    for (let n = 0; n <= 100; n++) for (const b of EDGE(n)) expect(bytesToBigInt(b)).toBe(bytesToNumberBE(b));
    // Unaligned views (subarrays at odd offsets) read the same bytes.
    const big = bytes(200);
    for (let off = 0; off < 9; off++) for (const n of [16, 32, 48, 64]) expect(bytesToBigInt(big.subarray(off, off + n))).toBe(bytesToNumberBE(big.subarray(off, off + n)));
  });

  it('putScalar writes the bytes of scalarBytes (noble Fn.toBytes) at any offset', () => {
    const out = new Uint8Array(100);
    for (const s of [0n, 1n, 255n, 1n << 64n, (1n << 192n) - 1n, N - 1n, ...Array.from({ length: 50 }, scalar)])
      for (const off of [0, 1, 7, 68]) {
        out.fill(0xaa);
        putScalar(out, off, s);
        expect(hex(out.subarray(off, off + 32))).toBe(hex(secp256k1.Point.Fn.toBytes(s)));
        expect(hex(out.subarray(off, off + 32))).toBe(hex(scalarBytes(s)));
        expect(out[off - 1] ?? 0xaa).toBe(0xaa);
        expect(out[off + 32] ?? 0xaa).toBe(0xaa);
      }
  });

  it('framed(tag, parts) is lengthPrefixed(utf8("keyquorum/ecdsa/" + tag), ...parts)', () => {
    for (const tag of ['', 'commit', 'mul/gadget/j', 'é/ü']) {
      for (const parts of [[], [new Uint8Array(0)], [bytes(1), bytes(33)], Array.from({ length: 20 }, (_, i) => bytes(i * 7)), [bytes(70_000)]]) {
        expect(hex(framed(tag, parts))).toBe(hex(lengthPrefixed(utf8ToBytes(`keyquorum/ecdsa/${tag}`), ...parts)));
      }
    }
  });
});

describe('encoded point operations (libsecp256k1 when loaded) against noble', () => {
  const P = () => Point.BASE.multiply(scalar());

  it('k*G, k*P, P+Q and the step-8 linear check give noble bytes and verdicts', () => {
    for (const k of [1n, 2n, N - 1n, N - 2n, ...Array.from({ length: 20 }, scalar)]) {
      expect(hex(mulBaseBytes(k))).toBe(hex(Point.BASE.multiply(k).toBytes(true)));
      const A = P();
      expect(hex(mulBytes(A.toBytes(true), k))).toBe(hex(A.multiply(k).toBytes(true)));
      const B = P();
      expect(hex(addBytes(A.toBytes(true), B.toBytes(true)))).toBe(hex(A.add(B).toBytes(true)));
    }
    const A = P();
    expect(addBytes(A.toBytes(true), A.negate().toBytes(true))).toBeNull();
    for (let i = 0; i < 10; i++) {
      const R = P();
      const [chi, d] = [scalar(), i === 0 ? 0n : scalar()];
      const gamma = R.multiply(chi).subtract(Point.BASE.multiplyUnsafe(d)); // chi*R = d*G + gamma
      expect(linearCheck(R.toBytes(true), chi, d, gamma.toBytes(true))).toBe(true);
      expect(linearCheck(R.toBytes(true), chi, (d + 1n) % N, gamma.toBytes(true))).toBe(false);
      expect(linearCheck(R.toBytes(true), 0n, d, gamma.toBytes(true))).toBe(Point.BASE.multiplyUnsafe(d).add(gamma).is0());
    }
    // d*G + gamma is the identity: never equal to chi*R (not the identity).
    const R = P();
    const d = scalar();
    expect(linearCheck(R.toBytes(true), scalar(), d, Point.BASE.multiply(N - d).toBytes(true))).toBe(false);
  });

  it('msmBytes is noble multi-scalar multiplication (identity as null, zero weights allowed)', () => {
    const pts = Array.from({ length: 12 }, P);
    const ks = pts.map((_, i) => (i % 5 === 0 ? 0n : scalar()));
    const want = pts.reduce((acc, p, i) => (ks[i] === 0n ? acc : acc.add(p.multiply(ks[i]!))), Point.ZERO);
    expect(hex(msmBytes(pts.map((p) => p.toBytes(true)), ks))).toBe(hex(want.toBytes(true)));
    const Q = P();
    const k = scalar();
    expect(msmBytes([Q.toBytes(true), Q.toBytes(true)], [k, N - k])).toBeNull();
  });
});
