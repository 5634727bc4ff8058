/**
 * Which JavaScript a test's node process runs. A vitest run builds the bundles once,
 * from the current sources, into its own directory (test/support/build.ts, the global
 * setup), named by KEYQUORUM_TEST_DIST; a coordinator, signer or `keyquorum` CLI the
 * tests start runs that bundle, as an operator runs dist/ (scripts/build.ts). Without
 * it (KEYQUORUM_FROM_SOURCE=1, or a vitest config without the global setup, e.g.
 * Stryker's vitest.mutation*.mjs) every process runs its TypeScript source through tsx.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENTRY_POINTS } from '../../scripts/build.ts';

/** The repository's root (every test support module resolves scripts against it). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The bundles' directory of this vitest run, or undefined (sources through tsx). */
export const TEST_DIST: string | undefined = process.env.KEYQUORUM_TEST_DIST || undefined;

/**
 * What a test run bundles, by output name (without .mjs): scripts/build.ts's entry points,
 * and every node of test/fixtures (the malicious and crashing daemons, started like the
 * CLIs) as `fixture-<name>`, beside them (a bundled signer finds crypto-worker.mjs there).
 */
export function testEntryPoints(): Record<string, string> {
  const fixtures = fs.readdirSync(path.join(REPO_ROOT, 'test/fixtures')).filter((f) => f.endsWith('.ts'));
  return { ...ENTRY_POINTS, ...Object.fromEntries(fixtures.map((f) => [`fixture-${f.slice(0, -3)}`, `test/fixtures/${f}`])) };
}

const BUNDLE_OF = new Map(Object.entries(testEntryPoints()).map(([name, source]) => [path.resolve(REPO_ROOT, source), `${name}.mjs`]));

/**
 * node's arguments to run `script` (a path relative to the repository, or absolute):
 * its bundle of this run with source maps, or (no bundles, or a script not bundled) the
 * source through tsx.
 */
export function nodeArgs(script: string): string[] {
  const source = path.resolve(REPO_ROOT, script);
  const bundle = TEST_DIST === undefined ? undefined : BUNDLE_OF.get(source);
  if (bundle !== undefined) return ['--enable-source-maps', path.join(TEST_DIST!, bundle)];
  return ['--import', createRequire(import.meta.url).resolve('tsx'), source];
}
