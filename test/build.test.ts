/**
 * The bundles a test run starts its node processes from (test/support/build.ts with
 * scripts/build.ts, test/support/bundles.ts): a stack trace out of a bundle names the
 * TypeScript line it was built from, as operators read it from the image's dist/.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { TEST_DIST, nodeArgs } from './support/bundles.ts';
import { REPO_ROOT } from './support/process.ts';

describe(`the node processes' JavaScript (${TEST_DIST === undefined ? 'sources through tsx' : 'bundles'})`, () => {
  it('a stack trace names the .ts file and line, not the bundle', () => {
    // The crypto worker started as a main thread has no parent port: it throws at its first line that uses one.
    const r = spawnSync(process.execPath, nodeArgs('packages/signer/src/workers/worker.ts'), { cwd: REPO_ROOT, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/TypeError: Cannot read properties of null \(reading 'postMessage'\)/);
    expect(r.stderr).toMatch(/packages\/signer\/src\/workers\/worker\.ts:\d+:\d+/);
    expect(r.stderr).not.toMatch(/crypto-worker\.mjs:\d+/);
  });
});
