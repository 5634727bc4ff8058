/**
 * One benchmark figure and the statistics every figure is reported with. A
 * `BenchResult` is exactly one line of `npm run bench -- --json`.
 */

export interface BenchResult {
  name: string;
  median_ms: number;
  p99_ms: number;
  ops_per_s: number;
  samples: number;
}

/** Nearest-rank percentile (p in 0..100) of ascending `sorted`. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

const round = (x: number, digits = 4) => Number(x.toPrecision(digits));

/**
 * A figure from per-sample durations in milliseconds. `opsPerSecond` defaults to
 * 1000 / mean (one operation per sample, run back to back); throughput runs pass
 * the rate they observed with many operations in flight.
 */
export function fromSamples(name: string, samplesMs: readonly number[], opsPerSecond?: number): BenchResult {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const mean = sorted.reduce((s, x) => s + x, 0) / sorted.length;
  return {
    name,
    median_ms: round(percentile(sorted, 50)),
    p99_ms: round(percentile(sorted, 99)),
    ops_per_s: round(opsPerSecond ?? 1000 / mean),
    samples: sorted.length,
  };
}
