/**
 * A stalled test file fails the run instead of hanging it. vitest bounds each test and
 * hook (60 s, vitest.config.ts) but not a file as a whole: a worker that never reports
 * its file finished (a module import that never settles, a lost worker message) keeps
 * `vitest run` waiting forever, and CI only sees its own timeout. One CI run of main
 * (2026-11-28) did exactly that: every file but packages/signer/test/health.test.ts
 * reported, no summary followed. Here, in every worker, a timer fires when one file has
 * run for `KEYQUORUM_FILE_DEADLINE_S` (default 1200 s, ten times the longest file under
 * load): it prints the file, the running test and the process's open resources to
 * stderr, then kills its own worker with SIGKILL, which vitest reports as a failed file
 * ("Worker exited unexpectedly"). The timer is unref'd: it never keeps a worker alive.
 */
import { expect } from 'vitest';

const DEADLINE_S = Number(process.env.KEYQUORUM_FILE_DEADLINE_S ?? 1200);

// At the top level, not in a hook: setup files run before the test file is imported, so
// an import that never settles is caught too.
{
  const started = Date.now();
  const file = expect.getState().testPath ?? '(unknown file)';
  setTimeout(() => {
    process.stderr.write(
      `\n[watchdog] ${file} has run for ${Math.round((Date.now() - started) / 1000)} s (deadline ${DEADLINE_S} s); ` +
        `running test: ${expect.getState().currentTestName ?? '(none: between tests or in a hook)'}; ` +
        `open resources: ${process.getActiveResourcesInfo().join(', ')}. Killing this worker.\n`,
      () => process.kill(process.pid, 'SIGKILL'),
    );
  }, DEADLINE_S * 1000).unref();
}
