/**
 * Ratios to the same run's baselines, the targets, and the printed table.
 * Latency figures are divided by the baseline's median (lower is better); throughput
 * figures by the baseline's single-process rate (higher is better).
 */
import type { BenchResult } from './result.ts';

export interface Ratio {
  name: string;
  kind: 'latency' | 'rate';
  /** vs `baseline.single-key.<scheme>.sign`. */
  vsSingleKey: number | null;
  /** vs `baseline.noble-frost.<suite>.2of3.fullSign`. */
  vsNobleFrost: number | null;
}

export interface Target {
  target: string;
  value: number | null;
  limit: string;
  met: boolean | null;
}

const SCHEME_RE = /(?:^|\.)(frost-secp256k1-tr|frost-ed25519)(?:\.|$)/;
const nobleSuite = (scheme: string) => scheme.replace(/^frost-/, '');
const round = (x: number) => Number(x.toPrecision(3));

export function ratiosOf(results: readonly BenchResult[]): Ratio[] {
  const by = new Map(results.map((r) => [r.name, r]));
  const out: Ratio[] = [];
  for (const r of results) {
    const scheme = r.name === 'baseline.cmdcode-frost.2of3.fullSign' ? 'frost-secp256k1-tr' : SCHEME_RE.exec(r.name)?.[1];
    if (scheme === undefined) continue;
    const kind = r.name.startsWith('e2e.throughput.') ? 'rate' : 'latency';
    const ratio = (base: BenchResult | undefined) => {
      if (base === undefined || base === r) return null;
      return round(kind === 'rate' ? r.ops_per_s / base.ops_per_s : r.median_ms / base.median_ms);
    };
    out.push({
      name: r.name,
      kind,
      vsSingleKey: ratio(by.get(`baseline.single-key.${scheme}.sign`)),
      vsNobleFrost: ratio(by.get(`baseline.noble-frost.${nobleSuite(scheme)}.2of3.fullSign`)),
    });
  }
  return out;
}

export function targetsOf(results: readonly BenchResult[]): Target[] {
  const by = new Map(results.map((r) => [r.name, r]));
  const out: Target[] = [];
  for (const scheme of ['frost-secp256k1-tr', 'frost-ed25519']) {
    const sign = by.get(`e2e.sign.${scheme}.2of3`);
    const base = by.get(`baseline.noble-frost.${nobleSuite(scheme)}.2of3.fullSign`);
    const tput = by.get(`e2e.throughput.${scheme}.2of3`);
    const latency = sign && base ? round(sign.median_ms / base.median_ms) : null;
    out.push({ target: `e2e.sign.${scheme}.2of3 median / noble FROST fullSign`, value: latency, limit: '<= 0.1', met: latency === null ? null : latency <= 0.1 });
    const rate = tput ? tput.ops_per_s : null;
    out.push({ target: `e2e.throughput.${scheme}.2of3 signatures/s`, value: rate, limit: '>= 500', met: rate === null ? null : rate >= 500 });
    const tail = tput ? round(tput.p99_ms / tput.median_ms) : null;
    out.push({ target: `e2e.throughput.${scheme}.2of3 p99 / median`, value: tail, limit: '<= 3', met: tail === null ? null : tail <= 3 });
  }
  return out;
}

const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toPrecision(3));

export function renderTable(results: readonly BenchResult[], ratios: readonly Ratio[], targets: readonly Target[]): string {
  const byName = new Map(ratios.map((r) => [r.name, r]));
  const cell = (r: Ratio | undefined, v: number | null | undefined) => (v === null || v === undefined ? '' : `${fmt(v)}x${r?.kind === 'rate' ? ' rate' : ''}`);
  const rows = [
    ['name', 'median ms', 'p99 ms', 'ops/s', 'samples', 'x single-key', 'x noble FROST'],
    ...results.map((r) => {
      const ratio = byName.get(r.name);
      return [r.name, fmt(r.median_ms), fmt(r.p99_ms), fmt(r.ops_per_s), String(r.samples), cell(ratio, ratio?.vsSingleKey), cell(ratio, ratio?.vsNobleFrost)];
    }),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const line = (row: string[]) => row.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join('  ');
  const out = [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line), ''];
  out.push('Targets (2-of-3, ratios within this run):');
  for (const t of targets) out.push(`  ${t.met === null ? 'n/a ' : t.met ? 'met ' : 'MISS'}  ${t.target}: ${t.value === null ? 'not measured' : fmt(t.value)} (target ${t.limit})`);
  out.push('Latency ratios: median / baseline median (lower is better). "rate": ops/s / baseline ops/s (higher is better).', '');
  return out.join('\n');
}
