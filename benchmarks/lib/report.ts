/**
 * Ratios to the same run's baselines, the targets, and the printed table.
 * Latency figures are divided by the baseline's median (lower is better); throughput
 * figures by the baseline's single-process rate (higher is better). ecdsa-secp256k1
 * figures are divided by the secp256k1-tr noble FROST baseline (same curve).
 */
import { REFERENCE_NAME } from '../ecdsa.ts';
import type { BenchResult } from './result.ts';

export interface Ratio {
  name: string;
  kind: 'latency' | 'rate';
  /** vs `baseline.single-key.<scheme>.sign`. */
  vsSingleKey: number | null;
  /** vs `baseline.noble-frost.<suite>.2of3.fullSign`. */
  vsNobleFrost: number | null;
  /** WAN entries (`….rtt<N>`, benchmarks/wan.ts) only: vs the same run's loopback `e2e.sign.<scheme>.2of3`. */
  vsLoopback?: number | null;
}

/** One of issue 13's targets: `ratio` is what the limit applies to; `measured` says how it was formed. */
export interface Target {
  target: string;
  /** The figures the ratio is formed from, e.g. "45.2 ms / 19.1 ms". */
  measured: string | null;
  ratio: number | null;
  limit: string;
  met: boolean | null;
}

const SCHEME_RE = /(?:^|\.)(frost-secp256k1-tr|frost-ed25519|ecdsa-secp256k1)(?:\.|$)/;
const nobleSuite = (scheme: string) => (scheme === 'ecdsa-secp256k1' ? 'secp256k1-tr' : scheme.replace(/^frost-/, ''));
const round = (x: number) => Number(x.toPrecision(3));

/** The loopback figure a WAN entry (`e2e.sign.<scheme>.2of3.rtt<N>`, benchmarks/wan.ts) is read against, or undefined for another name. */
export function wanBaseOf(name: string): string | undefined {
  return /^(e2e\.sign\.[a-z0-9-]+\.2of3)\.rtt\d+$/.exec(name)?.[1];
}

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
    const loopback = wanBaseOf(r.name);
    out.push({
      name: r.name,
      kind,
      vsSingleKey: ratio(by.get(`baseline.single-key.${scheme}.sign`)),
      vsNobleFrost: ratio(by.get(`baseline.noble-frost.${nobleSuite(scheme)}.2of3.fullSign`)),
      ...(loopback === undefined ? {} : { vsLoopback: ratio(by.get(loopback)) }),
    });
  }
  return out;
}

export function targetsOf(results: readonly BenchResult[]): Target[] {
  const by = new Map(results.map((r) => [r.name, r]));
  const out: Target[] = [];
  const ms = (r: BenchResult) => `${fmt(r.median_ms)} ms`;
  /** a / b of two medians (lower is better), or null when either was not measured. */
  const latency = (target: string, a: string, b: string, limit: number) => {
    const x = by.get(a);
    const y = by.get(b);
    const ratio = x && y ? round(x.median_ms / y.median_ms) : null;
    out.push({ target, measured: x && y ? `${ms(x)} / ${ms(y)}` : null, ratio, limit: `<= ${limit}`, met: ratio === null ? null : ratio <= limit });
  };
  for (const scheme of ['frost-secp256k1-tr', 'frost-ed25519']) {
    latency(`e2e.sign.${scheme}.2of3 median / noble FROST fullSign`, `e2e.sign.${scheme}.2of3`, `baseline.noble-frost.${nobleSuite(scheme)}.2of3.fullSign`, 0.1);
  }
  for (const scheme of ['frost-secp256k1-tr', 'frost-ed25519', 'ecdsa-secp256k1']) {
    const tput = by.get(`e2e.throughput.${scheme}.2of3`);
    const rate = tput ? round(tput.ops_per_s / 500) : null;
    out.push({ target: `e2e.throughput.${scheme}.2of3 signatures/s / 500`, measured: tput ? `${fmt(tput.ops_per_s)}/s` : null, ratio: rate, limit: '>= 1', met: rate === null ? null : rate >= 1 });
    const tail = tput ? round(tput.p99_ms / tput.median_ms) : null;
    out.push({ target: `e2e.throughput.${scheme}.2of3 p99 / median`, measured: tput ? `${fmt(tput.p99_ms)} ms / ${ms(tput)}` : null, ratio: tail, limit: '<= 3', met: tail === null ? null : tail <= 3 });
  }
  // The online part: each sample waits until the coordinator holds a presignature (benchmarks/e2e.ts `.pooled`).
  latency('e2e.sign.ecdsa-secp256k1.2of3.pooled (online: a presignature held) / e2e.sign.frost-secp256k1-tr.2of3', 'e2e.sign.ecdsa-secp256k1.2of3.pooled', 'e2e.sign.frost-secp256k1-tr.2of3', 2);
  // Back to back: the requests outrun the background presigning, so some run the whole of DKLs23 online.
  latency('e2e.sign.ecdsa-secp256k1.2of3 (back to back) / e2e.sign.frost-secp256k1-tr.2of3', 'e2e.sign.ecdsa-secp256k1.2of3', 'e2e.sign.frost-secp256k1-tr.2of3', 2);
  latency(`crypto.ecdsa-secp256k1.2of3.fullSign / ${REFERENCE_NAME.replace(/^baseline\./, '')}`, 'crypto.ecdsa-secp256k1.2of3.fullSign', REFERENCE_NAME, 0.25);
  return out;
}

const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toPrecision(3));

export function renderTable(results: readonly BenchResult[], ratios: readonly Ratio[], targets: readonly Target[]): string {
  const byName = new Map(ratios.map((r) => [r.name, r]));
  const cell = (r: Ratio | undefined, v: number | null | undefined) => (v === null || v === undefined ? '' : `${fmt(v)}x${r?.kind === 'rate' ? ' rate' : ''}`);
  const rows = [
    ['name', 'median ms', 'p99 ms', 'ops/s', 'samples', 'x single-key', 'x noble FROST', 'x loopback'],
    ...results.map((r) => {
      const ratio = byName.get(r.name);
      return [r.name, fmt(r.median_ms), fmt(r.p99_ms), fmt(r.ops_per_s), String(r.samples), cell(ratio, ratio?.vsSingleKey), cell(ratio, ratio?.vsNobleFrost), cell(ratio, ratio?.vsLoopback)];
    }),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const line = (row: string[]) => row.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join('  ');
  const out = [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line), ''];
  out.push("Issue 13's targets (2-of-3, every ratio within this run):");
  const trows = [['target', 'measured', 'ratio', 'limit', 'met'], ...targets.map((t) => [t.target, t.measured ?? 'not measured', t.ratio === null ? '' : fmt(t.ratio), t.limit, t.met === null ? 'n/a' : t.met ? 'met' : 'not met'])];
  const tw = trows[0]!.map((_, c) => Math.max(...trows.map((row) => row[c]!.length)));
  const tline = (row: string[]) => row.map((v, c) => (c === 0 || c === 4 ? v.padEnd(tw[c]!) : v.padStart(tw[c]!))).join('  ');
  out.push(tline(trows[0]!), tw.map((w) => '-'.repeat(w)).join('  '), ...trows.slice(1).map(tline));
  out.push('Latency ratios: median / baseline median (lower is better). "rate": ops/s / baseline ops/s (higher is better). "x loopback": a WAN entry (.rttN) / the same run\'s loopback e2e.sign.', '');
  return out.join('\n');
}
