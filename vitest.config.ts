import { configDefaults, defineConfig } from 'vitest/config';
import { LongestFirstSequencer } from './test/support/sequencer.ts';
import { SLOW_FILES, SLOW_TESTS } from './test/support/slow.ts';

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    // Whole files of the slow set (test/support/slow.ts) only run in `npm run test:slow`.
    exclude: [...configDefaults.exclude, ...(SLOW_TESTS ? [] : SLOW_FILES)],
    testTimeout: 60_000,
    // A file that never finishes fails the run instead of hanging it (test/support/watchdog.ts).
    setupFiles: ['test/support/watchdog.ts'],
    // Builds the bundles the tests' node processes run, from the current sources (KEYQUORUM_FROM_SOURCE=1: none, tsx).
    globalSetup: ['test/support/build.ts'],
    hookTimeout: 60_000,
    pool: 'forks',
    // Two files at a time: one file alone leaves a core idle while its processes start,
    // wait on each other and stop (vitest's default on 2 cores is 1 worker). Every test
    // must pass beside other load anyway; figures in README "Tests".
    maxWorkers: 2,
    // Longest files first (test/support/sequencer.ts), so both workers finish together.
    sequence: { sequencer: LongestFirstSequencer },
  },
});
