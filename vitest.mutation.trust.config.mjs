/**
 * A narrower vitest set-up for Stryker runs over the trust-model modules of the protocol
 * and the signer keystore (auth, envelope, e2e, nonces, replay, kek, sessions/authorise):
 * the protocol's unit tests, the signer's keystore, sealing and re-check tests, and the
 * coordinator's freshness and frame-signature tests. Same alias as
 * vitest.mutation.config.mjs (every `@keyquorum/<pkg>` import resolved to the tree's own
 * source). It cuts the dry run on a loaded machine; a survivor it reports is then checked
 * against the full set (vitest.mutation.config.mjs) before it is called untested.
 * KEYQUORUM_MUTATION_SET=unit keeps only the in-process unit tests (protocol, keystore):
 * for auth.ts and envelope.ts every mutant is otherwise also run through the daemon tests,
 * about 15 s each on a loaded 2-core machine; a score measured so is a lower bound.
 * KEYQUORUM_MUTATION_TESTS=<file>[,<file>...] replaces the set with those test files (e.g.
 * only packages/protocol/test/tx-ethereum.test.ts for tx/ethereum.ts): a shorter dry run
 * when one module's tests are slow; again a lower bound.
 *   npx stryker run stryker.trust.config.mjs \
 *     --mutate packages/protocol/src/auth.ts --ignoreStatic --dryRunTimeoutMinutes 30
 */
import base from './vitest.mutation.config.mjs';
import { defineConfig } from 'vitest/config';

/** In-process unit tests: seconds per mutant. */
const UNIT = [
  'packages/protocol/test/**/*.test.ts',
  'packages/signer/test/keystore*.test.ts',
  'packages/signer/test/sealing.test.ts',
];
/** Tests through a real signer daemon or coordinator: each mutant they cover costs a DKG or more. */
const THROUGH_DAEMONS = [
  'packages/signer/test/rechecks.test.ts',
  'packages/signer/test/retire-replay.test.ts',
  'packages/coordinator/test/freshness.test.ts',
  'packages/coordinator/test/frame-signatures.test.ts',
];

export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: process.env.KEYQUORUM_MUTATION_TESTS
      ? process.env.KEYQUORUM_MUTATION_TESTS.split(',')
      : process.env.KEYQUORUM_MUTATION_SET === 'unit' ? UNIT : [...UNIT, ...THROUGH_DAEMONS],
  },
});
