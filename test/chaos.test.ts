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

/**
 * Its draws (test/chaos/prng.ts): a DKG with signer-2 killed, a refresh with the
 * coordinator killed, a reshare to 3-of-3 with signer-2 killed; every trial's checks
 * sign with every active key. Three trials keep the slice near a minute on a loaded machine.
 */
const SEED = 7;
const TRIALS = 3;

describe('chaos slice', () => {
  it(`${TRIALS} seeded kill -9 trials (seed ${SEED}) break no invariant`, async () => {
    const log: string[] = [];
    const summary = await runChaos({ ...DEFAULT_OPTIONS, trials: TRIALS, seed: SEED, suites: ['frost-secp256k1-tr', 'frost-ed25519'], maxKeys: 2 }, (line) => log.push(line));
    const trace = log.join('\n');
    expect(summary.failures, trace).toEqual([]);
    expect(summary.trialsRun, trace).toBe(TRIALS);
    expect(summary.kills.total).toBe(TRIALS);
    expect(summary.trials.map((t) => `${t.op}/${t.victim}`)).toEqual(['dkg/signer-2', 'refresh/coordinator', 'reshare/signer-2']);
    // every trial ran its checks: the active keys were signed and those signatures scanned
    expect(summary.signaturesScanned).toBeGreaterThanOrEqual(TRIALS);
    expect(Object.values(summary.violations).every((n) => n === 0)).toBe(true);
  }, 600_000);
});
