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
