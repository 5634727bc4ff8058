/**
 * `npm run fuzz -- [--count N] [--seed S] [--target frames|http|all] [--out file.json] [--batch B]`
 *
 * Starts a real cluster (coordinator and three signer daemons, real WebSockets and
 * SQLite), records a workload of every flow, then sends N mutated frames and N mutated
 * HTTP requests (per target) to the live processes and checks after every batch that
 * nothing crashed, nothing durable changed and every refusal was typed (test/fuzz/).
 * Progress goes to stderr; the JSON summary to `--out` (and stdout). Exits 1 when an
 * oracle failed. FUZZ_TRACE=1 also prints every input and every input not refused.
 */
import fs from 'node:fs';
import path from 'node:path';
import { chooseSeed } from '../test/fuzz/random.ts';
import { runFuzz, type FuzzTarget } from '../test/fuzz/run.ts';

function args(argv: string[]): { count: number; seed: number | undefined; target: FuzzTarget; out: string | undefined; batch: number } {
  const get = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const count = Number(get('count') ?? 1000);
  const seedArg = get('seed');
  const target = (get('target') ?? 'all') as FuzzTarget;
  const batch = Number(get('batch') ?? 500);
  if (!Number.isSafeInteger(count) || count < 1) throw new Error('--count: a positive integer');
  if (!['frames', 'http', 'all'].includes(target)) throw new Error('--target: frames, http or all');
  if (!Number.isSafeInteger(batch) || batch < 1) throw new Error('--batch: a positive integer');
  const seed = seedArg === undefined ? undefined : Number(seedArg);
  if (seed !== undefined && (!Number.isSafeInteger(seed) || seed < 0 || seed >= 2 ** 32)) throw new Error('--seed: an integer in [0, 2^32)');
  return { count, seed, target, out: get('out'), batch };
}

const a = args(process.argv.slice(2));
const seed = chooseSeed(a.seed);
const t0 = Date.now();
const log = (msg: string) => process.stderr.write(`[fuzz ${((Date.now() - t0) / 1000).toFixed(1)} s] ${msg}\n`);
log(`seed ${seed}, ${a.count} inputs per target, target ${a.target}`);
const summary = await runFuzz({ seed, count: a.count, target: a.target, batch: a.batch, progress: log });
const json = JSON.stringify(summary, null, 2);
if (a.out !== undefined) {
  fs.mkdirSync(path.dirname(path.resolve(a.out)), { recursive: true });
  fs.writeFileSync(a.out, `${json}\n`);
}
process.stdout.write(`${json}\n`);
const failed = summary.crashes > 0 || summary.stateChanges.length > 0 || summary.untypedErrors > 0 || summary.hangs > 0 || summary.silent > 0 || !summary.signAfterFuzz;
log(`${failed ? 'FAILED' : 'passed'}: crashes ${summary.crashes}, state changes ${summary.stateChanges.length}, untyped ${summary.untypedErrors}, hangs ${summary.hangs}, silent ${summary.silent}, seed ${seed}`);
process.exitCode = failed ? 1 : 0;
