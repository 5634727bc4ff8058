/**
 * The WAN benchmark entries (benchmarks/wan.ts) are read against the same run's
 * loopback figure: names, and the `vsLoopback` ratio in the report (benchmarks/lib/report.ts).
 * The entries themselves start two clusters and are run by `npm run bench -- --filter rtt`.
 */
import { describe, expect, it } from 'vitest';
import { ratiosOf, renderTable, targetsOf, wanBaseOf } from '../benchmarks/lib/report.ts';
import { fromSamples } from '../benchmarks/lib/result.ts';
import { WAN_NAMES } from '../benchmarks/wan.ts';

describe('WAN benchmark entries', () => {
  it('are named per scheme and round trip, each with its loopback figure', () => {
    expect(WAN_NAMES).toEqual([
      'e2e.sign.frost-secp256k1-tr.2of3.rtt0',
      'e2e.sign.frost-secp256k1-tr.2of3.rtt20',
      'e2e.sign.frost-secp256k1-tr.2of3.rtt50',
      'e2e.sign.ecdsa-secp256k1.2of3.rtt0',
      'e2e.sign.ecdsa-secp256k1.2of3.rtt20',
      'e2e.sign.ecdsa-secp256k1.2of3.rtt50',
    ]);
    expect(WAN_NAMES.map(wanBaseOf)).toEqual([...Array(3).fill('e2e.sign.frost-secp256k1-tr.2of3'), ...Array(3).fill('e2e.sign.ecdsa-secp256k1.2of3')]);
    for (const name of ['e2e.sign.frost-secp256k1-tr.2of3', 'e2e.throughput.frost-secp256k1-tr.2of3', 'crypto.frost-ed25519.2of3.fullSign']) expect(wanBaseOf(name)).toBeUndefined();
  });

  it('are divided by the loopback median of the same results, and only they are', () => {
    const results = [
      fromSamples('baseline.noble-frost.secp256k1-tr.2of3.fullSign', [10, 10, 10]),
      fromSamples('e2e.sign.frost-secp256k1-tr.2of3', [40, 50, 60]),
      fromSamples('e2e.sign.frost-secp256k1-tr.2of3.rtt20', [90, 100, 110]),
      fromSamples('e2e.sign.ecdsa-secp256k1.2of3.rtt50', [300]),
    ];
    const ratios = new Map(ratiosOf(results).map((r) => [r.name, r]));
    expect(ratios.get('e2e.sign.frost-secp256k1-tr.2of3.rtt20')).toMatchObject({ vsLoopback: 2, vsNobleFrost: 10 });
    // No loopback ECDSA figure in these results: no ratio, rather than one against another scheme.
    expect(ratios.get('e2e.sign.ecdsa-secp256k1.2of3.rtt50')!.vsLoopback).toBeNull();
    expect(ratios.get('e2e.sign.frost-secp256k1-tr.2of3')).not.toHaveProperty('vsLoopback');
    const table = renderTable(results, [...ratios.values()], targetsOf(results));
    expect(table.split('\n').find((l) => l.startsWith('e2e.sign.frost-secp256k1-tr.2of3.rtt20'))).toMatch(/2\.00x$/);
  });
});
