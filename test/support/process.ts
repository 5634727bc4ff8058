/**
 * Child processes for end-to-end tests: every coordinator and signer runs as its own
 * Node.js process, exactly as an operator starts it: the bundle of this test run, or
 * its source through tsx (test/support/bundles.ts `nodeArgs`). Their JSON log
 * lines are collected so a test can wait for an event ('connected', 'listening').
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { REPO_ROOT, nodeArgs } from './bundles.ts';

export { REPO_ROOT };

export type LogLine = Record<string, unknown> & { msg?: string };

export class NodeProcess {
  readonly lines: LogLine[] = [];
  readonly output: string[] = [];
  private readonly waiters: Array<{ test: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly child: ChildProcess;

  constructor(
    readonly name: string,
    script: string,
    args: string[],
    env: Record<string, string> = {},
    /** A command the node is started under, e.g. `ip netns exec NS` (it must exec node, so signals reach it). */
    prefix: readonly string[] = [],
  ) {
    const command = [...prefix, process.execPath, ...nodeArgs(script), ...args];
    this.child = spawn(command[0]!, command.slice(1), {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // One reader per stream: a chunk may end inside a line, which the next chunk completes.
    const reader = () => {
      let partial = '';
      return (chunk: Buffer) => {
        const lines = (partial + chunk.toString('utf8')).split('\n');
        partial = lines.pop() ?? '';
        onLines(lines);
      };
    };
    const onLines = (lines: string[]) => {
      for (const raw of lines) {
        if (!raw.trim()) continue;
        this.output.push(raw);
        let line: LogLine;
        try {
          line = JSON.parse(raw) as LogLine;
        } catch {
          continue;
        }
        this.lines.push(line);
        for (const w of [...this.waiters]) {
          if (w.test(line)) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    };
    this.child.stdout!.on('data', reader());
    this.child.stderr!.on('data', reader());
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  /** Resolves with the first log line (past or future) that passes `test`. */
  waitFor(test: (l: LogLine) => boolean, timeoutMs = 20_000, what = 'log line'): Promise<LogLine> {
    const seen = this.lines.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms; output:\n${this.output.slice(-30).join('\n')}`));
      }, timeoutMs);
      const waiter = {
        test,
        resolve: (l: LogLine) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      this.waiters.push(waiter);
      void this.exited.then(({ code, signal }) => {
        if (!this.waiters.includes(waiter)) return;
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${code ?? signal}) before ${what}; output:\n${this.output.slice(-30).join('\n')}`));
      });
    });
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<unknown> {
    if (this.alive) this.child.kill(signal);
    return this.exited;
  }
}

/** Runs a CLI command to completion and returns its stdout. */
export function runCli(script: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs(script), ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${script} ${args.join(' ')} exited ${code}: ${err || out}`))));
  });
}
