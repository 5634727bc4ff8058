/**
 * `npm run chaos -- --trials N --seed S [--signers 3] [--threshold 2]
 *   [--suites frost-secp256k1-tr,frost-ed25519,ecdsa-secp256k1] [--max-keys 3]
 *   [--retries 3] [--fail-fast] [--out FILE]`
 * Runs the chaos trials (test/chaos/runner.ts) and writes the JSON summary to --out
 * (default docs/results/chaos-<date>-seed<S>.json; rewritten after every trial); progress goes to stderr, the
 * results file name and the README summary line to stdout. Exit code 1 when a trial failed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../support/process.ts';
import { CHAOS_SUITES, type ChaosSuite } from './ops.ts';
import { randomSeed } from './prng.ts';
import { DEFAULT_OPTIONS, markdownLine, runChaos, type ChaosOptions, type ChaosSummary } from './runner.ts';

function int(v: string | undefined, fallback: number, name: string, min: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`--${name}: expected an integer >= ${min}, got ${v}`);
  return n;
}

function suites(v: string | undefined): ChaosSuite[] {
  if (v === undefined) return [...DEFAULT_OPTIONS.suites];
  const list = v.split(',').map((s) => s.trim());
  const bad = list.filter((s) => !(CHAOS_SUITES as readonly string[]).includes(s));
  if (bad.length > 0 || list.length === 0) throw new Error(`--suites: expected some of ${CHAOS_SUITES.join(', ')}; got ${v}`);
  return list as ChaosSuite[];
}

async function main(): Promise<number> {
  const { values: v } = parseArgs({
    options: {
      trials: { type: 'string' },
      seed: { type: 'string' },
      signers: { type: 'string' },
      threshold: { type: 'string' },
      suites: { type: 'string' },
      'max-keys': { type: 'string' },
      retries: { type: 'string' },
      'fail-fast': { type: 'boolean' },
      out: { type: 'string' },
    },
    strict: true,
  });
  const signers = int(v.signers, DEFAULT_OPTIONS.signers, 'signers', 2);
  const options: ChaosOptions = {
    ...DEFAULT_OPTIONS,
    trials: int(v.trials, DEFAULT_OPTIONS.trials, 'trials', 1),
    seed: int(v.seed, randomSeed(), 'seed', 0),
    signers,
    threshold: int(v.threshold, DEFAULT_OPTIONS.threshold, 'threshold', 2),
    suites: suites(v.suites),
    maxKeys: int(v['max-keys'], DEFAULT_OPTIONS.maxKeys, 'max-keys', 2),
    retries: int(v.retries, DEFAULT_OPTIONS.retries, 'retries', 0),
    failFast: v['fail-fast'] === true,
  };
  if (options.threshold > signers) throw new Error(`--threshold ${options.threshold} exceeds --signers ${signers}`);
  const log = (line: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
  const out = path.resolve(REPO_ROOT, v.out ?? `docs/results/chaos-${new Date().toISOString().slice(0, 10)}-seed${options.seed}.json`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  // Written after every trial too (finished: false), so an interrupted run keeps its results.
  const write = (s: ChaosSummary) => fs.writeFileSync(out, `${JSON.stringify(s, null, 2)}\n`);
  const summary = await runChaos(options, log, write);
  write(summary);
  const rel = path.relative(REPO_ROOT, out);
  process.stdout.write(`${rel}\n${markdownLine(summary, rel)}\n`);
  return summary.failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`chaos: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  },
);
