/**
 * The secp256k1 backend against noble, its reference: every operation over random
 * inputs and hostile ones (identity results, off-curve and non-canonical encodings,
 * scalars at 0, 1, n-1 and n, both parities), and the FROST rounds computed on it
 * against noble's rounds for the same nonces (bit-identical shares and signatures,
 * the same verdicts and culprits).
 */
import { randomBytes } from 'node:crypto';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { nobleSecp256k1, secp256k1Backend, wasmSecp256k1, type Secp256k1Backend } from '../src/backend/secp256k1.ts';
import { secpRounds, type RoundInput } from '../src/frost/secp-rounds.ts';
import { aggregate, commit, getSuite, signShare, verifyShare, nobleId, targetKeyShare, targetPublicKey, toNoblePublic, toNobleSecret, type KeyShare, type SigningTarget, type SuiteId } from '../src/index.ts';
import { expectCryptoError, range, runDkg } from './helpers.ts';

const { Point } = secp256k1;
const N = Point.Fn.ORDER;
const P = Point.Fp.ORDER;
const hex = (b: Uint8Array | null) => (b === null ? null : Buffer.from(b).toString('hex'));
const be32 = (x: bigint) => Uint8Array.from(Buffer.from(x.toString(16).padStart(64, '0'), 'hex'));
const enc = (prefix: number, x: bigint) => Uint8Array.of(prefix, ...be32(x));
const mulG = (k: bigint) => Point.BASE.multiply(k).toBytes(true);
const RUNS = { numRuns: 40 };

const scalarArb = fc.bigInt({ min: 1n, max: N - 1n });
const pointArb = scalarArb.map(mulG);

/** The outcome of a backend call, comparable across implementations: a value, or the typed error code. */
function outcome<T>(f: () => T): { ok: T } | { code: string } {
  try {
    return { ok: f() };
  } catch (e) {
    return { code: (e as { code?: string }).code ?? `untyped: ${(e as Error).message}` };
  }
}
const show = (o: { ok: unknown } | { code: string }) => ('ok' in o ? (o.ok instanceof Uint8Array || o.ok === null ? hex(o.ok as Uint8Array | null) : o.ok) : o);

let wasm: Secp256k1Backend;
beforeAll(() => {
  // Node has WebAssembly: the fast path must actually be in use, not silently noble.
  expect(wasmSecp256k1).toBeDefined();
  expect(secp256k1Backend.name).toBe('libsecp256k1-wasm');
  wasm = wasmSecp256k1!;
});

function same(f: (b: Secp256k1Backend) => unknown) {
  expect(show(outcome(() => f(wasm)) as never)).toEqual(show(outcome(() => f(nobleSecp256k1)) as never));
}

/** Small x values whose compressed encodings are on the curve / off it (decided by noble). */
const onCurveX = range(40).map(BigInt).filter((x) => outcome(() => Point.fromBytes(enc(2, x))).hasOwnProperty('ok'));
const offCurveX = range(40).map(BigInt).filter((x) => !outcome(() => Point.fromBytes(enc(2, x))).hasOwnProperty('ok'));

describe('secp256k1 backend: libsecp256k1 (WebAssembly) computes what noble computes', () => {
  it('k*G, k*P, P+Q, P+t*G and sums of k_i*P_i agree on random inputs', () => {
    fc.assert(
      fc.property(scalarArb, scalarArb, pointArb, pointArb, (a, b, p, q) => {
        same((x) => x.mulBase(a));
        same((x) => x.mul(p, b));
        same((x) => x.add(p, q));
        same((x) => x.addTweak(p, a));
        same((x) => x.msm([p, q], [a, b]));
        same((x) => x.msm([p, q, p], [a, 0n, b]));
      }),
      RUNS,
    );
  });

  it('scalars: 1 and n-1 are accepted, 0 and n (and beyond) are refused with BAD_SCALAR the way noble multiply refuses them', () => {
    const p = mulG(5n);
    for (const k of [1n, N - 1n, 2n]) {
      same((x) => x.mulBase(k));
      same((x) => x.mul(p, k));
    }
    for (const k of [0n, N, N + 1n, -1n, 2n ** 256n]) {
      for (const b of [wasm, nobleSecp256k1]) {
        expectCryptoError(() => b.mulBase(k), 'BAD_SCALAR');
        expectCryptoError(() => b.mul(p, k), 'BAD_SCALAR');
        if (k !== 0n) expectCryptoError(() => b.addTweak(p, k), 'BAD_SCALAR');
        if (k !== 0n) expectCryptoError(() => b.msm([p], [k]), 'BAD_SCALAR');
      }
    }
    // A zero tweak or msm weight is allowed (public data): P + 0*G = P, 0*P drops out.
    same((x) => x.addTweak(p, 0n));
    same((x) => x.msm([p, p], [0n, 3n]));
    same((x) => x.msm([p], [0n]));
  });

  it('identity results are null in both: P + (-P), P + t*G with P = -t*G, k*P + (n-k)*P', () => {
    const p = mulG(77n);
    const minusP = mulG(N - 77n);
    for (const b of [wasm, nobleSecp256k1]) {
      expect(b.add(p, minusP)).toBeNull();
      expect(b.addTweak(minusP, 77n)).toBeNull();
      expect(b.msm([p, p], [5n, N - 5n])).toBeNull();
    }
  });

  it('hostile encodings are refused with BAD_POINT by both: wrong prefix or length, identity, x off the curve, x >= p (non-canonical)', () => {
    const valid = mulG(9n);
    const hostile: Uint8Array[] = [
      new Uint8Array(33), // 0x00 prefix: SEC1's identity is not a compressed point
      Uint8Array.of(0),
      Uint8Array.of(4, ...valid.subarray(1)),
      Uint8Array.of(5, ...valid.subarray(1)),
      valid.subarray(1), // 32-byte x-only: libsecp256k1 would take it, the interface must not
      Point.BASE.multiply(9n).toBytes(false), // uncompressed 65 bytes
      enc(2, 0n),
      enc(2, P), // x = p reduces to 0
      ...offCurveX.slice(0, 3).map((x) => enc(3, x)),
      // x = p + x0 with x0 on the curve: reduces to a valid x, must still be refused
      ...onCurveX.slice(0, 3).flatMap((x) => [enc(2, P + x), enc(3, P + x)]),
      enc(2, 2n ** 256n - 1n),
    ];
    expect(onCurveX.length).toBeGreaterThan(0);
    for (const h of hostile) {
      for (const b of [wasm, nobleSecp256k1]) {
        expectCryptoError(() => b.mul(h, 3n), 'BAD_POINT');
        expectCryptoError(() => b.add(h, valid), 'BAD_POINT');
        expectCryptoError(() => b.add(valid, h), 'BAD_POINT');
        expectCryptoError(() => b.addTweak(h, 3n), 'BAD_POINT');
        expectCryptoError(() => b.msm([valid, h], [1n, 2n]), 'BAD_POINT');
        expectCryptoError(() => b.msm([valid, h], [1n, 0n]), 'BAD_POINT'); // a zero weight does not excuse a bad point
      }
    }
  });

  it('random 33-byte strings are accepted or refused alike, and give the same points when accepted', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 33, maxLength: 33 }), fc.constantFrom(2, 3, 4, 0), scalarArb, (bytes, prefix, k) => {
        bytes[0] = prefix;
        same((x) => x.mul(bytes, k));
        same((x) => x.add(bytes, mulG(k)));
      }),
      { numRuns: 100 },
    );
  });

  it('both parities of one x: 02||x and 03||x are P and -P in both implementations', () => {
    fc.assert(
      fc.property(pointArb, scalarArb, (p, k) => {
        const flipped = Uint8Array.of(p[0] === 2 ? 3 : 2, ...p.subarray(1));
        same((x) => x.mul(flipped, k));
        same((x) => x.add(p, flipped)); // the identity
        same((x) => x.addTweak(flipped, k));
      }),
      RUNS,
    );
  });

  it('BIP340 verify: valid and tampered signatures, odd-y keys, r >= p, s >= n, keys off the curve or >= p, messages not 32 bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), scalarArb, fc.nat({ max: 63 }), (msg, d, flip) => {
        const sk = be32(d);
        const key = schnorr.getPublicKey(sk); // d*G may have odd y: BIP340 signs with the even one
        const sig = schnorr.sign(msg, sk, new Uint8Array(32));
        same((x) => x.verifySchnorr(sig, msg, key));
        expect(wasm.verifySchnorr(sig, msg, key)).toBe(true);
        const bad = sig.slice();
        bad[flip] = bad[flip]! ^ 1;
        same((x) => x.verifySchnorr(bad, msg, key));
        expect(wasm.verifySchnorr(bad, msg, key)).toBe(false);
      }),
      RUNS,
    );
    const msg = new Uint8Array(randomBytes(32));
    const sk = be32(12345n);
    const key = schnorr.getPublicKey(sk);
    const sig = schnorr.sign(msg, sk, new Uint8Array(32));
    const s = BigInt('0x' + Buffer.from(sig.subarray(32)).toString('hex'));
    const cases: [Uint8Array, Uint8Array, Uint8Array][] = [
      [Uint8Array.of(...be32(P), ...sig.subarray(32)), msg, key], // r = p
      [Uint8Array.of(...be32(P + onCurveX[0]!), ...sig.subarray(32)), msg, key], // r >= p, reduces to a valid x
      [Uint8Array.of(...sig.subarray(0, 32), ...be32(N)), msg, key], // s = n
      [Uint8Array.of(...sig.subarray(0, 32), ...be32(s + N < 2n ** 256n ? s + N : N + 1n)), msg, key], // s >= n
      [sig, msg, be32(P + onCurveX[0]!)], // key x >= p
      [sig, msg, be32(offCurveX[0]!)], // key not on the curve
      [sig, msg, new Uint8Array(32)], // key x = 0
      [sig, msg.subarray(0, 31), key], // 31-byte message
      [sig, new Uint8Array(33), key], // 33-byte message
      [sig.subarray(0, 63), msg, key], // short signature
      [new Uint8Array(64), msg, key], // all zero
    ];
    for (const [sg, m, k] of cases) {
      expect(wasm.verifySchnorr(sg, m, k)).toBe(false);
      expect(nobleSecp256k1.verifySchnorr(sg, m, k)).toBe(false);
    }
  });
});

// ---- FROST rounds on the backend against noble's rounds ----

const SECP_SUITES: SuiteId[] = ['frost-secp256k1-tr', 'frost-secp256k1'];

function subset(ids: number[], pick: number[], t: number): number[] {
  const chosen = [...new Set(pick.map((i) => ids[i % ids.length]!))];
  for (const id of ids) if (chosen.length < t && !chosen.includes(id)) chosen.push(id);
  return chosen.slice(0, Math.max(t, chosen.length)).sort((a, b) => a - b);
}

describe.each(SECP_SUITES)('%s rounds on the backend match noble', (suiteId) => {
  const suite = getSuite(suiteId);
  const rounds = secpRounds(suite)!;
  let shares: KeyShare[];
  beforeAll(() => {
    shares = runDkg(suiteId, 3, range(5)).shares;
  }, 120_000);

  const targets: (SigningTarget | undefined)[] =
    suiteId === 'frost-secp256k1-tr' ? [undefined, { path: 'm/0/7' }, { taproot: {} }, { path: [3], taproot: { merkleRoot: new Uint8Array(32).fill(7) } }] : [undefined, { path: 'm/1/2' }];

  it('signature shares, share checks, signatures and culprits are bit-identical to noble for the same nonces', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(), { minLength: 3, maxLength: 5 }),
        fc.uint8Array({ minLength: 0, maxLength: 80 }),
        fc.uint8Array({ minLength: 64, maxLength: 64 }),
        fc.nat({ max: targets.length - 1 }),
        fc.nat(),
        (pick, message, seed, t, cheater) => {
          const quorum = subset(range(5), pick, 3).map((id) => shares[id - 1]!);
          let off = 0;
          const rng = (n = 32) => {
            const out = new Uint8Array(n).map((_, i) => seed[(off + i) % seed.length]! ^ (off + i));
            off += n;
            return out;
          };
          const target = targets[t];
          const r1 = quorum.map((s) => commit(s, rng));
          const commitments = r1.map((r) => r.commitments);
          const nobleList = commitments.map((c) => ({ identifier: nobleId(suite, c.id), hiding: c.hiding, binding: c.binding }));
          const pub = targetPublicKey(quorum[0]!.publicKey, target);
          const input: RoundInput = { groupKey: pub.groupKey, verifyingShares: pub.verifyingShares, commitments, message };
          const z = quorum.map((share, k) => {
            const signer = targetKeyShare(share, target);
            const n = r1[k]!.nonces;
            const fast = rounds.signShare(input, share.id, suite.Fn.fromBytes(signer.signingShare), suite.Fn.fromBytes(n.hiding), suite.Fn.fromBytes(n.binding));
            const reference = suite.frost.signShare(toNobleSecret(suite, signer), toNoblePublic(suite, signer.publicKey), { hiding: n.hiding.slice(), binding: n.binding.slice() }, nobleList, message);
            expect(hex(fast!)).toBe(hex(reference));
            return fast!;
          });
          const noblePub = toNoblePublic(suite, pub);
          const byId = Object.fromEntries(quorum.map((s, k) => [nobleId(suite, s.id), z[k]!]));
          const sig = rounds.aggregate(input, new Map(quorum.map((s, k) => [s.id, suite.Fn.fromBytes(z[k]!)])));
          expect(sig && 'signature' in sig ? hex(sig.signature) : sig).toBe(hex(suite.frost.aggregate(noblePub, nobleList, message, byId)));
          // One signer cheats: both implementations reject its share and name it.
          const bad = cheater % quorum.length;
          const forged = z.map((zi, k) => (k === bad ? suite.Fn.toBytes(suite.Fn.add(suite.Fn.fromBytes(zi), 1n)) : zi));
          quorum.forEach((s, k) => {
            const fast = rounds.verifyShare(input, s.id, suite.Fn.fromBytes(forged[k]!));
            expect(fast).toBe(suite.frost.verifyShare(noblePub, nobleList, message, nobleId(suite, s.id), forged[k]!));
            expect(fast).toBe(k !== bad);
          });
          const outcome = rounds.aggregate(input, new Map(quorum.map((s, k) => [s.id, suite.Fn.fromBytes(forged[k]!)])));
          let cheaters: string[] = [];
          try {
            suite.frost.aggregate(noblePub, nobleList, message, Object.fromEntries(quorum.map((s, k) => [nobleId(suite, s.id), forged[k]!])));
          } catch (e) {
            cheaters = (e as { cheaters: string[] }).cheaters;
          }
          expect(outcome).toEqual({ culprits: [quorum[bad]!.id] });
          expect(cheaters).toEqual([nobleId(suite, quorum[bad]!.id)]);
        },
      ),
      { numRuns: 12 },
    );
  }, 300_000);

  it('commit draws the same nonces and commitments as noble from the same randomness', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 64, maxLength: 64 }), fc.nat({ max: 4 }), (seed, k) => {
        const share = shares[k]!;
        const seeded = () => {
          let off = 0;
          return (n = 32) => {
            const out = seed.slice(off, off + n);
            off += n;
            return out;
          };
        };
        const ours = commit(share, seeded());
        const theirs = suite.frost.commit(toNobleSecret(suite, share), seeded());
        expect([ours.nonces.hiding, ours.nonces.binding, ours.commitments.hiding, ours.commitments.binding].map(hex)).toEqual(
          [theirs.nonces.hiding, theirs.nonces.binding, theirs.commitments.hiding, theirs.commitments.binding].map(hex),
        );
      }),
      { numRuns: 20 },
    );
  });

    it('a zero signature share is left to noble (the backend refuses 0*G) and is still rejected and attributed', () => {
    const quorum = shares.slice(0, 3);
    const message = new Uint8Array(32).fill(1);
    const r1 = quorum.map((s) => commit(s));
    const commitments = r1.map((r) => r.commitments);
    const input: RoundInput = { groupKey: quorum[0]!.publicKey.groupKey, verifyingShares: quorum[0]!.publicKey.verifyingShares, commitments, message };
    expect(rounds.verifyShare(input, quorum[0]!.id, 0n)).toBeUndefined();
    const signing = { message, commitments };
    const pkg = quorum[0]!.publicKey;
    const sigShares = quorum.map((s, k) => signShare(s, r1[k]!.nonces, signing));
    const zero = { id: quorum[1]!.id, share: new Uint8Array(32) };
    expect(verifyShare(pkg, signing, zero)).toBe(false);
    expectCryptoError(() => aggregate(pkg, signing, [sigShares[0]!, zero, sigShares[2]!]), 'INVALID_SIGNATURE_SHARE', { culprits: [quorum[1]!.id] });
  });
});
