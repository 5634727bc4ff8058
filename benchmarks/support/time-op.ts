/**
 * The per-call timer of the ad hoc operation scripts beside it (curve-ops.ts,
 * ed25519-ops.ts, e2e-ops.ts): `warmup` calls, then `batches` batches of `batch` calls;
 * prints and returns the median batch's microseconds per call. The suite proper
 * (`npm run bench`) uses benchmark.js (benchmarks/lib/micro.ts) instead.
 */
export function timeOp(name: string, fn: (i: number) => unknown, batch: number, batches: number, warmup = batch): number {
  for (let i = 0; i < warmup; i++) fn(i);
  const per: number[] = [];
  for (let b = 0; b < batches; b++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) fn(i);
    per.push(Number(process.hrtime.bigint() - t0) / 1000 / batch);
  }
  per.sort((a, b) => a - b);
  const us = per[Math.floor(per.length / 2)]!;
  process.stdout.write(`${name.padEnd(58)} ${us.toFixed(1).padStart(9)} us\n`);
  return us;
}
