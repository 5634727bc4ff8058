/**
 * vitest's global setup (vitest.config.ts): builds the bundles the tests' node processes
 * run (test/support/bundles.ts), from the current sources, once per vitest run (also a
 * run of one file), into a directory of its own under dist/ (dist/.test-<pid>: a second
 * run beside it never rewrites the files its processes load; under the repository, so
 * the bundles' external packages resolve from node_modules). Removed at teardown, with
 * any left by a run that was killed. KEYQUORUM_FROM_SOURCE=1 builds nothing: every
 * process runs its source through tsx.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBundles } from '../../scripts/build.ts';
import { testEntryPoints } from './bundles.ts';

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist');
const PREFIX = '.test-';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

export default async function setup(): Promise<(() => void) | undefined> {
  if (process.env.KEYQUORUM_FROM_SOURCE === '1') {
    delete process.env.KEYQUORUM_TEST_DIST;
    return undefined;
  }
  // Directories of runs that no longer exist (killed before their teardown).
  for (const name of fs.existsSync(DIST) ? fs.readdirSync(DIST) : []) {
    const pid = Number(name.slice(PREFIX.length));
    if (name.startsWith(PREFIX) && Number.isInteger(pid) && pid !== process.pid && !alive(pid)) fs.rmSync(path.join(DIST, name), { recursive: true, force: true });
  }
  const outdir = path.join(DIST, `${PREFIX}${process.pid}`);
  fs.rmSync(outdir, { recursive: true, force: true });
  await buildBundles(outdir, testEntryPoints());
  // Read by bundles.ts in every test worker (forked after this) and inherited by the processes they start.
  process.env.KEYQUORUM_TEST_DIST = outdir;
  return () => fs.rmSync(outdir, { recursive: true, force: true });
}
