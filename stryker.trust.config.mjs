/**
 * stryker.config.json with the narrower test set of vitest.mutation.trust.config.mjs
 * (trust-model modules of the protocol and the signer keystore). Pass the modules:
 *   npx stryker run stryker.trust.config.mjs --mutate packages/protocol/src/auth.ts \
 *     --ignoreStatic --dryRunTimeoutMinutes 30
 */
import fs from 'node:fs';

const base = JSON.parse(fs.readFileSync(new URL('./stryker.config.json', import.meta.url), 'utf8'));
delete base.$schema;

export default { ...base, vitest: { configFile: 'vitest.mutation.trust.config.mjs' } };
