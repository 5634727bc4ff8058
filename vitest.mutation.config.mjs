/**
 * The vitest set-up of `npm run mutation` (stryker.config.json): the packages' unit and
 * in-process tests only (the real-process e2e suite under test/ and the client's CLI
 * tests are left out), and every `@keyquorum/<pkg>[/sub]` import resolved to this
 * tree's own source, so that in Stryker's sandbox a test of one package exercises the
 * mutated copy of another (node_modules' workspace links point at the original tree).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = path.dirname(fileURLToPath(import.meta.url));
const packages = path.join(root, 'packages');

const alias = fs.readdirSync(packages).flatMap((pkg) => {
  const manifest = path.join(packages, pkg, 'package.json');
  if (!fs.existsSync(manifest)) return [];
  const { exports } = JSON.parse(fs.readFileSync(manifest, 'utf8'));
  return Object.entries(exports).map(([sub, target]) => ({
    find: new RegExp(`^@keyquorum/${pkg}${sub === '.' ? '' : sub.slice(1)}$`),
    replacement: path.join(packages, pkg, target),
  }));
});

export default defineConfig({
  resolve: { alias },
  test: {
    include: ['packages/{crypto,protocol,signer,coordinator}/test/**/*.test.ts'],
    // Fails on main at 51586aa (it sends a 'repair' START, but 'repair' is no longer a wire kind):
    // Stryker needs a green dry run. Put it back once that test is fixed.
    exclude: ['**/node_modules/**'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
