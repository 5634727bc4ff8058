/**
 * Properties over random key sets, for every suite: a random t-of-n key (2 <= t <= n <= 10,
 * random identifiers) goes through its whole lifecycle, and at every stage a random quorum of
 * size t..n signs a random message that the suite's standard verifiers accept:
 * after DKG, after refresh, after reshare to a random t'-of-n' set (possibly overlapping),
 * after repair of a random participant by a random helper set, and for a random
 * non-hardened path (with a random taproot commitment for -tr).
 * One DKG per run feeds every stage, so that the few runs the time budget allows each
 * cover all of them. n = 10 is always among the examples: a 10-of-10 key (signed by all ten,
 * refreshed, then reshared to 2-of-10) and a 2-of-10 key reshared to 3-of-10.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  HARDENED_OFFSET,
  repairStep1,
  repairStep2,
  repairStep3,
  targetExternalKey,
  type KeyShare,
  type ParticipantId,
  type SigningTarget,
  type SuiteId,
} from '../src/index.ts';
import { expectStandardVerify, runDkg, runRefresh, runReshare, runSign, SUITES } from './helpers.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Random runs per suite, besides the examples. Ed25519 point validation (a subgroup check per point) is ~10x slower. */
const RUNS: Record<SuiteId, number> = { 'frost-secp256k1-tr': 6, 'frost-ed25519': 4, 'frost-secp256k1': 6 };

interface KeySet {
  ids: ParticipantId[];
  t: number;
}

/** n in 2..10 distinct identifiers (not always 1..n) and a threshold 2..n. */
const keySet: fc.Arbitrary<KeySet> = fc
  .integer({ min: 2, max: 10 })
  .chain((n) => fc.record({ ids: fc.uniqueArray(fc.integer({ min: 1, max: 300 }), { minLength: n, maxLength: n }), t: fc.integer({ min: 2, max: n }) }));

const TEN_OF_TEN: KeySet = { ids: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], t: 10 };
const TWO_OF_TEN: KeySet = { ids: [10, 9, 8, 7, 6, 5, 4, 3, 2, 1], t: 2 };
const THREE_OF_TEN: KeySet = { ids: [3, 14, 15, 92, 65, 35, 89, 79, 32, 38], t: 3 };

/** A random subset of `items` of size min..items.length, drawn deterministically from `seed` (fast-check shrinks the seed). */
function pickFrom<T>(items: T[], min: number, seed: number): T[] {
  return fc.sample(fc.shuffledSubarray(items, { minLength: min, maxLength: items.length }), { numRuns: 1, seed })[0]!;
}

const lifecycle = fc.record({
  key: keySet,
  next: keySet,
  seed: fc.integer(),
  message: fc.uint8Array({ minLength: 0, maxLength: 96 }),
  path: fc.array(fc.integer({ min: 0, max: HARDENED_OFFSET - 1 }), { minLength: 1, maxLength: 4 }),
  merkleRoot: fc.option(fc.uint8Array({ minLength: 32, maxLength: 32 }), { nil: undefined }),
});
type Lifecycle = typeof lifecycle extends fc.Arbitrary<infer T> ? T : never;

const EXAMPLES: [Lifecycle][] = [
  [{ key: TEN_OF_TEN, next: TWO_OF_TEN, seed: 1, message: new Uint8Array(32), path: [44, 0, 7], merkleRoot: undefined }],
  [{ key: TWO_OF_TEN, next: THREE_OF_TEN, seed: 2, message: new Uint8Array(0), path: [2 ** 31 - 1], merkleRoot: new Uint8Array(32).fill(1) }],
];

describe.each(SUITES)('%s properties', (suite) => {
  /** A random quorum of size t..n signs; every standard verifier accepts under the target key. */
  function quorumSigns(stage: string, shares: KeyShare[], seed: number, message: Uint8Array, target?: SigningTarget): void {
    const quorum = pickFrom(shares, shares[0]!.publicKey.threshold, seed);
    const { signature } = runSign(quorum, message, target);
    expectStandardVerify(suite, targetExternalKey(quorum[0]!.publicKey, target), message, signature, true, `${stage}, quorum ${quorum.map((s) => s.id).join(',')}`);
  }

  it("a random quorum of a random t-of-n key signs after DKG, refresh, reshare to t'-of-n', repair, and for a random derived path", () => {
    fc.assert(
      fc.property(lifecycle, ({ key, next, seed, message, path, merkleRoot }) => {
        // DKG
        const { shares } = runDkg(suite, key.t, key.ids);
        const groupKey = hex(shares[0]!.publicKey.groupKey);
        quorumSigns('after DKG', shares, seed, message);

        // Refresh: same key, new shares.
        const refreshed = runRefresh(shares);
        expect(hex(refreshed[0]!.publicKey.groupKey)).toBe(groupKey);
        quorumSigns('after refresh', refreshed, seed + 1, message);

        // Reshare by a random quorum of dealers to a random new set.
        const reshared = runReshare(pickFrom(refreshed, key.t, seed + 2), next.ids, next.t);
        expect(hex(reshared[0]!.publicKey.groupKey)).toBe(groupKey);
        expect(reshared[0]!.publicKey.threshold).toBe(next.t);
        quorumSigns('after reshare', reshared, seed + 3, message);

        // Repair a random participant with a random set of at least t others (when n > t).
        let current = reshared;
        if (next.ids.length > next.t) {
          const [lost, ...others] = pickFrom(reshared, reshared.length, seed + 4);
          const helpers = pickFrom(others, next.t, seed + 5);
          const helperIds = helpers.map((h) => h.id);
          const deltas = helpers.map((h) => repairStep1(h, helperIds, lost!.id));
          const sigmas = helpers.map((h) => repairStep2(h, helperIds, lost!.id, deltas.flat().filter((d) => d.to === h.id)));
          const repaired = repairStep3(lost!.publicKey, helperIds, lost!.id, sigmas);
          expect(hex(repaired.signingShare)).toBe(hex(lost!.signingShare));
          current = [repaired, ...others];
          // The repaired share signs: put it in the quorum with t-1 others.
          const quorum = [repaired, ...pickFrom(others, next.t - 1, seed + 6).slice(0, next.t - 1)];
          const { signature } = runSign(quorum, message);
          expectStandardVerify(suite, targetExternalKey(repaired.publicKey), message, signature, true, 'after repair');
        }

        // A derived child key (and, for -tr, a taproot output of it).
        const target: SigningTarget = suite === 'frost-secp256k1-tr' ? { path, taproot: { merkleRoot } } : { path };
        quorumSigns('for a derived path', current, seed + 7, message, target);
      }),
      { numRuns: RUNS[suite], examples: EXAMPLES },
    );
  });
});
