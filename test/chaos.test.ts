/**
 * A bounded slice of the chaos run (test/chaos/, `npm run chaos`): a few seeded trials
 * on a real cluster (coordinator and 3 signers as processes), each killing -9 a signer
 * or the coordinator during a FROST DKG, signing, refresh, reshare or retirement,
 * restarting it and retrying as a client would; after each trial every invariant
 * must hold (test/chaos/checks.ts; the checkers themselves are tested on crafted bad
 * input in chaos-invariants.test.ts). Full runs: docs/results/ (docs/chaos.md).
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_OPTIONS, runChaos } from './chaos/runner.ts';

/** Its first trials cover a DKG, signing and a reshare, with signer and coordinator kills. */
const SEED = 20261127;
const TRIALS = 4;

describe('chaos slice', () => {
  it(`${TRIALS} seeded kill -9 trials (seed ${SEED}) break no invariant`, async () => {
    const log: string[] = [];
    const summary = await runChaos({ ...DEFAULT_OPTIONS, trials: TRIALS, seed: SEED, suites: ['frost-secp256k1-tr', 'frost-ed25519'], maxKeys: 2 }, (line) => log.push(line));
    const trace = log.join('\n');
    expect(summary.failures, trace).toEqual([]);
    expect(summary.trialsRun, trace).toBe(TRIALS);
    expect(summary.kills.total).toBe(TRIALS);
    // every trial ran its checks: the active keys were signed and those signatures scanned
    expect(summary.signaturesScanned).toBeGreaterThanOrEqual(TRIALS);
    expect(Object.values(summary.violations).every((n) => n === 0)).toBe(true);
  }, 600_000);
});
