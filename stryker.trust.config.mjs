/**
 * stryker.config.json with the narrower test set of vitest.mutation.trust.config.mjs
 * (trust-model modules of the protocol and the signer keystore). Pass the modules:
 *   npx stryker run stryker.trust.config.mjs --mutate packages/protocol/src/auth.ts \
 *     --ignoreStatic --dryRunTimeoutMinutes 30
 * KEYQUORUM_MUTATION_SET=unit: in-process unit tests only (see the vitest config).
 * KEYQUORUM_MUTATION_RUN=<name>: reports under reports/mutation-<name>/ and a sandbox
 * under .stryker-tmp-<name>/, so that two runs can go side by side.
 */
import fs from 'node:fs';

const base = JSON.parse(fs.readFileSync(new URL('./stryker.config.json', import.meta.url), 'utf8'));
delete base.$schema;
const run = process.env.KEYQUORUM_MUTATION_RUN;
const named = run === undefined ? {} : {
  htmlReporter: { fileName: `reports/mutation-${run}/mutation.html` },
  jsonReporter: { fileName: `reports/mutation-${run}/mutation.json` },
  tempDirName: `.stryker-tmp-${run}`,
};

export default {
  ...base,
  vitest: { configFile: 'vitest.mutation.trust.config.mjs' },
  ignorePatterns: [...base.ignorePatterns, '/.stryker-tmp*'],
  ...named,
};
