/**
 * In-process micro-benchmarks on benchmark.js. Each entry runs synchronously to
 * completion before the next one (no overlap on this 2-core machine). benchmark.js
 * samples are per-cycle means (a cycle runs the function as many times as fit in
 * its minimum time), so `median_ms` / `p99_ms` of a fast function are over cycle
 * means, and of a slow one (one call per cycle) over single calls.
 */
import Benchmark from 'benchmark';
import type { BenchResult } from './result.ts';
import { fromSamples } from './result.ts';

export interface MicroOptions {
  /** Seconds benchmark.js may spend sampling one entry (it still takes minSamples). */
  maxTime: number;
  minSamples: number;
}

export interface MicroEntry {
  name: string;
  fn: () => unknown;
  /** Slow entries (DKG at 7-of-10) may ask for fewer samples. */
  minSamples?: number;
}

export function runMicro(entry: MicroEntry, opts: MicroOptions): BenchResult {
  const bench = new Benchmark(entry.name, entry.fn, {
    maxTime: opts.maxTime,
    minSamples: Math.min(opts.minSamples, entry.minSamples ?? opts.minSamples),
    initCount: 1,
  });
  bench.run({ async: false });
  if (bench.error) throw new Error(`${entry.name} failed: ${bench.error.message}`, { cause: bench.error });
  const samplesMs = bench.stats.sample.map((s) => s * 1000);
  return { ...fromSamples(entry.name, samplesMs), ops_per_s: Number(bench.hz.toPrecision(4)) };
}
