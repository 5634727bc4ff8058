/**
 * A bounded slice of `npm run fuzz` (scripts/fuzz.ts) in the test suite: a fixed seed,
 * a few hundred mutated frames of every recorded round (to the coordinator as the live
 * signer-3, to the signer-3 daemon as the coordinator, and handshakes) and a few
 * hundred mutated HTTP requests, all against real processes. The oracles must hold: no
 * crash, no state change, every refusal typed, nothing unanswered; afterwards a real
 * sign still verifies. Full runs and their results: docs/results/fuzz.json.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLive, type Live } from './fuzz/harness.ts';
import { runFuzz, type FuzzSummary } from './fuzz/run.ts';

const SEED = 20261127;
const COUNT = 150;

describe('fuzz slice: mutated frames and HTTP requests against live processes', () => {
  let live: Live;
  let summary: FuzzSummary;
  beforeAll(async () => {
    live = await startLive();
    summary = await runFuzz({ seed: SEED, count: COUNT, target: 'all', batch: 75, live });
  }, 600_000);
  afterAll(async () => {
    await live?.stop();
  });

  it('sent every input: frames to the coordinator, to the signer and as handshakes, and HTTP requests', () => {
    const frames = Object.entries(summary.inputs).filter(([k]) => k.startsWith('frames.')).reduce((n, [, v]) => n + v, 0);
    expect(frames).toBe(COUNT);
    expect(summary.inputs.http).toBe(COUNT);
    for (const t of ['frames.coordinator', 'frames.signer', 'frames.handshake']) expect(summary.inputs[t]).toBeGreaterThan(0);
  });

  it('mutated frames of every round of every flow, both directions', () => {
    const { coordinator, signer } = summary.roundsFuzzed;
    // signer -> coordinator: ECDSA DKG R2 and SHARE, FROST sign SHARE, retire APPROVE/ATTEST, ACK.
    for (const r of ['dkg/ecdsa-secp256k1/5', 'sign/ecdsa-secp256k1/7', 'sign/frost-secp256k1-tr/3', 'retire/frost-ed25519/1', 'retire/frost-ed25519/3', 'reshare/frost-secp256k1-tr/9']) expect(coordinator).toContain(r);
    // Share repair with signer-3 as the target: its CONTRIBUTION, CONFIRM and ACK; the resolution of a failed DKG: its VETO.
    for (const r of ['repair/frost-secp256k1-tr/1', 'repair/frost-secp256k1-tr/7', 'repair/frost-secp256k1-tr/9', 'dkg/frost-ed25519/11']) expect(coordinator).toContain(r);
    // coordinator -> signer: START, DELIVERs, COMMIT, retire COMMIT, ABORT, handshake frames.
    for (const r of ['dkg/frost-ed25519/0', 'refresh/ecdsa-secp256k1/6', 'reshare/frost-secp256k1-tr/8', 'sign/ecdsa-secp256k1/6', 'retire/frost-ed25519/2', 'sign/frost-secp256k1-tr/15', 'control/none/0', 'control/none/2']) expect(signer).toContain(r);
    // Repair START, R2_DELIVER (the sigmas) and COMMIT to the target; RESOLVE of the failed DKG.
    for (const r of ['repair/frost-secp256k1-tr/0', 'repair/frost-secp256k1-tr/6', 'repair/frost-secp256k1-tr/8', 'dkg/frost-ed25519/10']) expect(signer).toContain(r);
  });

  it('crashed nothing: every process alive and answering, no uncaught exception in any output', () => {
    expect(summary.crashLines).toEqual([]);
    expect(summary.crashes).toBe(0);
  });

  it('changed no durable state: registry keys, epochs, states, bans, audit log; every signer keystore', () => {
    expect(summary.stateChanges).toEqual([]);
  });

  it('refused every bad input with a typed error, answered within the timeout', () => {
    expect(summary.failures).toEqual([]);
    expect(summary.untypedErrors).toBe(0);
    expect(summary.hangs).toBe(0);
    expect(summary.silent).toBe(0);
    expect(Object.keys(summary.errorCodes).length).toBeGreaterThan(5);
  });

  it('still signs afterwards, and the signature verifies', () => {
    expect(summary.signAfterFuzz).toBe(true);
  });
});
