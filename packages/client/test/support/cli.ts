/**
 * The `keyquorum` CLI as a user runs it, for the CLI tests: one-shot commands
 * (`cli`) and a long-running `keyquorum dev` (`Dev`) in a given directory, with no
 * KEYQUORUM_* discovery variable inherited from the test's environment.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { TEST_DIST, nodeArgs } from '../../../../test/support/bundles.ts';

/** node's arguments to run the `keyquorum` CLI: this test run's bundle, or bin/keyquorum.js (tsx) without one (test/support/bundles.ts). */
const BIN: string[] = TEST_DIST === undefined ? [fileURLToPath(new URL('../../bin/keyquorum.js', import.meta.url))] : nodeArgs('packages/client/src/cli.ts');

/** The environment without any KEYQUORUM_* discovery variable. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.KEYQUORUM_URL;
  delete env.KEYQUORUM_KEY_FILE;
  return { ...env, ...extra };
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function cli(args: string[], opts: { cwd: string; env?: Record<string, string> }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...BIN, ...args], { cwd: opts.cwd, env: cleanEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The JSON a command printed, after checking it exited 0 (its stderr as the failure message). */
export function json<T>(r: Run): T {
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
}

/** `keyquorum dev --port 0 --scrypt-n 4096 [args]` in `cwd`, with its stdout lines (a test-only sealing cost: the default 2^17 costs seconds per node start). */
export class Dev {
  readonly lines: string[] = [];
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  constructor(cwd: string, args: string[] = []) {
    this.child = spawn(process.execPath, [...BIN, 'dev', '--port', '0', '--scrypt-n', String(2 ** 12), ...args], { cwd, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let partial = '';
    this.child.stdout!.on('data', (d: Buffer) => {
      const parts = (partial + d.toString()).split('\n');
      partial = parts.pop() ?? '';
      this.lines.push(...parts);
    });
    this.child.stderr!.on('data', (d: Buffer) => this.lines.push(`stderr: ${d.toString()}`));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  /** Waits for a stdout line; the default allows a cluster start on a heavily loaded CI machine. */
  async waitFor(re: RegExp, ms = 120_000): Promise<string> {
    const until = Date.now() + ms;
    for (;;) {
      const hit = this.lines.find((l) => re.test(l));
      if (hit !== undefined) return hit;
      if (Date.now() > until || this.child.exitCode !== null) throw new Error(`no line ${re}; got:\n${this.lines.join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Child process ids printed in the progress lines. */
  pids(): number[] {
    return this.lines.flatMap((l) => [...l.matchAll(/\(pid (\d+)/g)].map((m) => Number(m[1])));
  }

  /** Ctrl-C, as a user stops it; resolves with the exit code. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGINT');
    return this.exited;
  }
}

/** Whether a process id is alive. */
export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
