/**
 * The slow set: variants of an end-to-end test that repeat, at a larger n or for a
 * second suite, a check whose code path `npm test` already exercises (each named where
 * it is chosen). `npm test` leaves them out (not skipped: not defined) to stay near ten
 * minutes on two cores; `npm run test:slow` (KEYQUORUM_SLOW_TESTS=1) runs every variant
 * of those files, and its result is committed under docs/results/.
 */
export const SLOW_TESTS = process.env.KEYQUORUM_SLOW_TESTS === '1';

/** `always`, plus `slow` in the slow set. */
export function andSlow<T>(always: readonly T[], slow: readonly T[]): T[] {
  return SLOW_TESTS ? [...always, ...slow] : [...always];
}

/**
 * Whole files in the slow set: `npm test` does not collect them (vitest.config.ts
 * `exclude`), `npm run test:slow` runs them.
 * - packages/client/test/cli-ecdsa.test.ts: ecdsa-secp256k1 3-of-5 through `keyquorum dev
 *   --signers 5 --threshold 3` (DKG, sign, refresh, retire). `npm test` runs these CLI
 *   commands on a 2-of-3 ecdsa-secp256k1 key (`keys refresh` on a FROST key) in
 *   packages/client/test/cli.test.ts, and an ecdsa-secp256k1 2-of-3 refresh and 3-of-5 DKG
 *   and signing through the SDK in test/ecdsa.test.ts.
 */
export const SLOW_FILES = ['packages/client/test/cli-ecdsa.test.ts'];
