/**
 * The Ed25519 backend against noble, its reference: k*G, k*P and P+Q over random
 * inputs and the edge scalars (0, 1, L-1, L), identical refusals for hostile
 * encodings (the identity, the small-order points, non-canonical y >= p, a set sign
 * bit on x = 0, off-curve y, mixed-order points, random bytes), all decided by
 * parsePoint as before; and the frost-ed25519 rounds on each backend against noble's
 * rounds for the same nonces (bit-identical shares and signatures, the same verdicts
 * and culprits), with and without a derived target.
 */
import { ED25519_TORSION_SUBGROUP, ed25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { ed25519Backend, ed25519Ready, nobleEd25519, sodiumEd25519, type Ed25519Backend } from '../src/backend/ed25519.ts';
import { edRounds, edRoundsOn } from '../src/frost/ed-rounds.ts';
import type { RoundInput } from '../src/frost/secp-rounds.ts';
import { parsePointUncached } from '../src/frost/suite.ts';
import { aggregate, commit, getSuite, nobleId, signShare, targetKeyShare, targetPublicKey, toNoblePublic, toNobleSecret, verifyShare, type KeyShare, type SigningTarget } from '../src/index.ts';
import { expectCryptoError, range, runDkg } from './helpers.ts';

const { Point } = ed25519;
const L = Point.Fn.ORDER;
const P = Point.Fp.ORDER;
const suite = getSuite('frost-ed25519');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const le32 = (x: bigint) => Uint8Array.from(Buffer.from(x.toString(16).padStart(64, '0'), 'hex').reverse());
const withSign = (b: Uint8Array) => Uint8Array.from(b, (x, i) => (i === 31 ? x | 0x80 : x));
const scalarArb = fc.bigInt({ min: 1n, max: L - 1n });

function outcome(f: () => { toBytes(): Uint8Array } | null): string {
  try {
    const r = f();
    return r === null ? 'identity' : hex(r.toBytes());
  } catch (e) {
    const err = e as { code?: string; field?: string; message: string };
    return err.code ? `refused ${err.code} ${err.field ?? ''}` : `untyped ${err.message}`;
  }
}

let sodium: Ed25519Backend;
beforeAll(async () => {
  // Node has WebAssembly: after readiness the fast path must be in use, not silently noble.
  expect((await ed25519Ready).name).toBe('libsodium-wasm');
  expect(ed25519Backend().name).toBe('libsodium-wasm');
  sodium = (await sodiumEd25519())!;
});

function same(f: (b: Ed25519Backend) => { toBytes(): Uint8Array } | null): string {
  const expected = outcome(() => f(nobleEd25519));
  expect(outcome(() => f(sodium))).toBe(expected);
  return expected;
}

/** Hostile 32-byte encodings: none may be accepted. */
const y = (v: bigint) => le32(v);
const HOSTILE: [string, Uint8Array][] = [
  ['identity', Point.ZERO.toBytes()],
  ...ED25519_TORSION_SUBGROUP.map((h, i) => [`small order #${i}`, Uint8Array.from(Buffer.from(h, 'hex'))] as [string, Uint8Array]),
  ['y = p (non-canonical 0: order 4)', y(P)],
  ['y = p + 1 (non-canonical identity)', y(P + 1n)],
  ['y = 2^255 - 1', y(2n ** 255n - 1n)],
  ['y = p + 2', y(P + 2n)],
  ['identity with the sign bit (x = 0)', withSign(Point.ZERO.toBytes())],
  ['y = p - 1 with the sign bit (x = 0, order 2)', withSign(y(P - 1n))],
  ['mixed order: G + T', Point.BASE.multiply(5n).add(Point.fromHex(ED25519_TORSION_SUBGROUP[1]!)).toBytes()],
];
// Off the curve: the first small y with no x (decided by noble).
for (let v = 2n; HOSTILE.length < 15; v++) {
  try {
    Point.fromBytes(y(v));
  } catch {
    HOSTILE.push([`off curve: y = ${v}`, y(v)]);
  }
}

describe('Ed25519 backend: libsodium (WebAssembly) computes what noble computes', () => {
  it('k*G, k*P, P+Q and P+(-P) agree on random inputs', () => {
    fc.assert(
      fc.property(scalarArb, scalarArb, scalarArb, (a, b, c) => {
        const [p, q] = [Point.BASE.multiply(b).toBytes(), Point.BASE.multiply(c).toBytes()];
        same((x) => x.mulBase(a));
        same((x) => x.mul(x.decode(p, 'p'), a));
        same((x) => x.add(x.decode(p, 'p'), x.decode(q, 'q')));
        expect(same((x) => x.add(x.decode(p, 'p'), x.decode(Point.BASE.multiply(L - b).toBytes(), 'q')))).toBe('identity');
        // A handle from one backend works in the other (the rounds may see both across a load).
        expect(sodium.add(nobleEd25519.mulBase(a), sodium.mulBase(b))!.equals(nobleEd25519.mulBase(Point.Fn.add(a, b)))).toBe(true);
      }),
      { numRuns: 40 },
    );
  });

  it('scalars 1 and L-1 give the same points; 0 and L are refused alike (BAD_SCALAR)', () => {
    const p = Point.BASE.multiply(987654321n).toBytes();
    for (const k of [1n, 2n, L - 1n, L - 2n]) {
      expect(same((x) => x.mulBase(k))).not.toMatch(/^refused|^untyped/);
      expect(same((x) => x.mul(x.decode(p, 'p'), k))).not.toMatch(/^refused|^untyped/);
    }
    for (const k of [0n, L, L + 1n, -1n]) {
      expect(same((x) => x.mulBase(k))).toBe('refused BAD_SCALAR k');
      expect(same((x) => x.mul(x.decode(p, 'p'), k))).toBe('refused BAD_SCALAR k');
    }
  });

  it('hostile encodings are refused alike, exactly as parsePoint refuses them (the single source of truth)', () => {
    for (const [name, bytes] of HOSTILE) {
      const reference = outcome(() => parsePointUncached(suite, bytes, 'p') as never);
      expect(reference, name).toMatch(/^refused BAD_POINT p/);
      expect(same((x) => x.decode(bytes, 'p')), name).toBe(reference);
    }
    for (const bad of [new Uint8Array(31), new Uint8Array(33), 'point' as unknown as Uint8Array]) expect(same((x) => x.decode(bad, 'p'))).toBe('refused BAD_FIELD p');
  });

  it('random 32-byte strings are accepted or refused alike, and as parsePoint decides', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), scalarArb, (bytes, k) => {
        const reference = outcome(() => parsePointUncached(suite, bytes, 'p') as never);
        expect(same((x) => x.decode(bytes, 'p'))).toBe(reference);
        if (!reference.startsWith('refused')) same((x) => x.mul(x.decode(bytes, 'p'), k));
      }),
      { numRuns: 200 },
    );
  });
});

// ---- frost-ed25519 rounds on each backend against noble's rounds ----

function subset(ids: number[], pick: number[], t: number): number[] {
  const chosen = [...new Set(pick.map((i) => ids[i % ids.length]!))];
  for (const id of ids) if (chosen.length < t && !chosen.includes(id)) chosen.push(id);
  return chosen.sort((a, b) => a - b);
}

describe.each(['libsodium', 'noble'] as const)('frost-ed25519 rounds on %s match noble ed25519_FROST', (which) => {
  let shares: KeyShare[];
  beforeAll(() => {
    shares = runDkg('frost-ed25519', 3, range(5)).shares;
  }, 120_000);
  const targets: (SigningTarget | undefined)[] = [undefined, { path: 'm/1/2' }];

  it('signature shares, share checks, signatures and culprits are bit-identical to noble for the same nonces', () => {
    const rounds = edRoundsOn(suite, which === 'libsodium' ? sodium : nobleEd25519);
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
          const r1 = quorum.map((s) => suite.frost.commit(toNobleSecret(suite, s), rng));
          const commitments = r1.map((r, k) => ({ id: quorum[k]!.id, hiding: r.commitments.hiding, binding: r.commitments.binding }));
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
          const reference = suite.frost.aggregate(noblePub, nobleList, message, byId);
          expect(sig && 'signature' in sig ? hex(sig.signature) : sig).toBe(hex(reference));
          expect(ed25519.verify(reference, message, pub.groupKey)).toBe(true);
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
      { numRuns: 10 },
    );
  }, 300_000);

  it('commit draws the same nonces and commitments as noble from the same randomness', () => {
    const rounds = edRoundsOn(suite, which === 'libsodium' ? sodium : nobleEd25519);
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
        const ours = rounds.commit(suite.Fn.fromBytes(share.signingShare), seeded());
        const theirs = suite.frost.commit(toNobleSecret(suite, share), seeded());
        expect([ours.hiding, ours.binding, ours.hidingCommitment, ours.bindingCommitment].map(hex)).toEqual(
          [theirs.nonces.hiding, theirs.nonces.binding, theirs.commitments.hiding, theirs.commitments.binding].map(hex),
        );
      }),
      { numRuns: 20 },
    );
  });
});

describe('frost-ed25519 through sign.ts on the backend', () => {
  let shares: KeyShare[];
  beforeAll(() => {
    shares = runDkg('frost-ed25519', 2, range(3)).shares;
  }, 120_000);

  it('sign.ts uses the backend rounds for frost-ed25519', () => {
    expect(edRounds(suite)).toBeDefined();
    expect(edRounds(getSuite('frost-secp256k1'))).toBeUndefined();
  });

  it('a zero signature share is left to noble (the backend refuses 0*G) and is still rejected and attributed', () => {
    const quorum = shares.slice(0, 2);
    const message = new Uint8Array(32).fill(1);
    const r1 = quorum.map((s) => commit(s));
    const commitments = r1.map((r) => r.commitments);
    const input: RoundInput = { groupKey: quorum[0]!.publicKey.groupKey, verifyingShares: quorum[0]!.publicKey.verifyingShares, commitments, message };
    expect(edRounds(suite)!.verifyShare(input, quorum[0]!.id, 0n)).toBeUndefined();
    const signing = { message, commitments };
    const pkg = quorum[0]!.publicKey;
    const sigShares = quorum.map((s, k) => signShare(s, r1[k]!.nonces, signing));
    const zero = { id: quorum[1]!.id, share: new Uint8Array(32) };
    expect(verifyShare(pkg, signing, zero)).toBe(false);
    expectCryptoError(() => aggregate(pkg, signing, [sigShares[0]!, zero]), 'INVALID_SIGNATURE_SHARE', { culprits: [quorum[1]!.id] });
    expect(ed25519.verify(aggregate(pkg, signing, sigShares), message, pkg.groupKey)).toBe(true);
  });

  it('hostile commitments are refused by signShare, verifyShare and aggregate with BAD_POINT, as before', () => {
    const quorum = shares.slice(0, 2);
    const message = new Uint8Array(32).fill(2);
    for (const [name, bytes] of HOSTILE) {
      const r1 = quorum.map((s) => commit(s));
      const commitments = r1.map((r) => r.commitments);
      const signing = { message, commitments: [commitments[0]!, { ...commitments[1]!, binding: bytes }] };
      const pkg = quorum[0]!.publicKey;
      expectCryptoError(() => signShare(quorum[0]!, r1[0]!.nonces, signing), 'BAD_POINT');
      expectCryptoError(() => verifyShare(pkg, signing, { id: quorum[0]!.id, share: new Uint8Array(32).fill(1) }), 'BAD_POINT');
      expectCryptoError(
        () => aggregate(pkg, signing, quorum.map((s) => ({ id: s.id, share: new Uint8Array(32).fill(1) }))),
        'BAD_POINT',
      );
      expect(name).toBeTruthy();
    }
  });
});
