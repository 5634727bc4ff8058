/**
 * keyquorum benchmark suite (docs: benchmarks/README.md).
 *
 *   npm run bench                      table of every figure with ratios to the baselines
 *   npm run bench -- --json            one JSON object per line, and benchmarks/results/<date>-<host>.json
 *   npm run bench -- --quick           smoke run (few samples, short throughput window)
 *   npm run bench -- --filter REGEX    only names matching REGEX (baselines always run for the ratios)
 *   npm run bench -- --no-e2e          in-process figures only (no cluster)
 *   npm run bench -- --out DIR         write the results file to DIR instead of benchmarks/results
 *   npm run bench -- --profile DIR     also write CPU profiles of the coordinator and signers to DIR
 *   npm run bench -- --filter rtt      only the WAN entries (benchmarks/wan.ts) and the loopback figures they are read against
 *
 * Baselines run first, in the same process and run as everything else: this machine
 * is shared and noisy, so each figure is read as a ratio to them. The DKLs23 reference
 * (benchmarks/ecdsa.ts) runs with the ECDSA fullSign it is the base of.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { baselineEntries } from './baselines.ts';
import { cryptoEntries } from './crypto.ts';
import { ECDSA_CRYPTO_NAMES, ecdsaCryptoEntries, ecdsaReferenceEntry } from './ecdsa.ts';
import { runE2e, type E2eNotes } from './e2e.ts';
import { WAN_NAMES, runWan } from './wan.ts';
import { runMicro, type MicroOptions } from './lib/micro.ts';
import { ratiosOf, renderTable, targetsOf, wanBaseOf } from './lib/report.ts';
import type { BenchResult } from './lib/result.ts';

interface Args {
  json: boolean;
  quick: boolean;
  e2e: boolean;
  filter: RegExp | undefined;
  out: string;
  profile: string | undefined;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));

function parseArgs(argv: string[]): Args {
  const args: Args = { json: false, quick: false, e2e: true, filter: undefined, out: path.join(HERE, 'results'), profile: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--json') args.json = true;
    else if (a === '--quick') args.quick = true;
    else if (a === '--no-e2e') args.e2e = false;
    else if (a === '--filter') args.filter = new RegExp(value());
    else if (a === '--out') args.out = path.resolve(value());
    else if (a === '--profile') args.profile = path.resolve(value());
    else throw new Error(`unknown argument ${a} (see benchmarks/run.ts)`);
  }
  return args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = new Date();
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const results: BenchResult[] = [];
  const onResult = (r: BenchResult) => {
    results.push(r);
    if (args.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else log(`  ${r.name}: median ${r.median_ms} ms, p99 ${r.p99_ms} ms, ${r.ops_per_s} ops/s (${r.samples} samples)`);
  };
  const wanted = (name: string) => args.filter === undefined || args.filter.test(name);
  const micro: MicroOptions = args.quick ? { maxTime: 0.05, minSamples: 2 } : { maxTime: 1, minSamples: 10 };

  log(`keyquorum bench: node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'} x ${os.cpus().length}, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}${args.quick ? ', quick' : ''}`);
  // Baselines always run: every other figure is reported as a ratio to them.
  for (const entry of baselineEntries()) onResult(runMicro(entry, micro));
  // DKLs23 as it was on main (the 0.25 x target's base): only with the figure it is the base of.
  const ecdsaFullSign = ECDSA_CRYPTO_NAMES.find((n) => n.endsWith('.fullSign'))!;
  if (wanted(ecdsaFullSign)) {
    const reference = await ecdsaReferenceEntry(log);
    if (reference) onResult(runMicro(reference, micro));
  }
  const crypto = cryptoEntries().filter((e) => wanted(e.name));
  for (const entry of crypto) onResult(runMicro(entry, micro));
  if (ECDSA_CRYPTO_NAMES.some(wanted)) for (const entry of ecdsaCryptoEntries().filter((e) => wanted(e.name))) onResult(runMicro(entry, micro));

  let notes: E2eNotes | undefined;
  if (args.e2e) {
    // A WAN entry is read against the loopback figure of the same run: that one runs with it.
    const e2eWanted = (name: string) => wanted(name) || WAN_NAMES.some((w) => wanted(w) && wanBaseOf(w) === name);
    notes = await runE2e({
      signSamples: args.quick ? 5 : 60,
      warmup: args.quick ? 2 : 10,
      sessionSamples: args.quick ? 1 : 5,
      throughputSeconds: args.quick ? 2 : 15,
      concurrency: 16,
      filter: e2eWanted,
      onResult,
      log,
      ...(args.profile !== undefined ? { profileDir: args.profile } : {}),
    });
    await runWan({ signSamples: args.quick ? 5 : 60, warmup: args.quick ? 2 : 10, filter: wanted, onResult, log, notes });
  }

  const ratios = ratiosOf(results);
  const targets = targetsOf(results);
  if (!args.json) process.stdout.write(renderTable(results, ratios, targets));

  const host = os.hostname();
  const file = path.join(args.out, `${started.toISOString().slice(0, 10)}-${host}.json`);
  fs.mkdirSync(args.out, { recursive: true });
  const report = {
    date: started.toISOString(),
    host,
    node: process.version,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    loadavg: os.loadavg(),
    quick: args.quick,
    durationSeconds: Math.round((Date.now() - started.getTime()) / 1000),
    results,
    ratios,
    targets,
    notes: notes ?? null,
  };
  fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  log(`results written to ${path.relative(process.cwd(), file)} (${report.durationSeconds} s)`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
