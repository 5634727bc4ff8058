/**
 * A chaos run: one real cluster (coordinator and signers as processes, WebSockets,
 * SQLite), `trials` trials in order, and a summary of what happened. The schedule
 * (operation, key choice among the pool, parameters, victim, kill delay) is a function
 * of (seed, trial number, pool state): the same seed and trial count replays it, as
 * long as the operations end the same way. Wall-clock timing (how far an operation got
 * when the kill landed) still varies from run to run.
 */
import os from 'node:os';
import { Cluster } from '../support/cluster.ts';
import { RunEvidence, type ViolationKind } from './checks.ts';
import { reviveAll } from './faults.ts';
import { OPS, type ChaosSuite } from './ops.ts';
import { runTrial, type TrialRecord, type TrialSettings } from './trial.ts';

export interface ChaosOptions {
  trials: number;
  seed: number;
  signers: number;
  threshold: number;
  suites: readonly ChaosSuite[];
  /** Most active keys at once (dkg stops applying at this many). */
  maxKeys: number;
  retries: number;
  failFast: boolean;
  /** Round timeout of the coordinator and signers (ms). */
  roundTimeoutMs: number;
  attemptTimeoutMs: number;
}

export const DEFAULT_OPTIONS: Omit<ChaosOptions, 'seed'> = {
  trials: 20,
  signers: 3,
  threshold: 2,
  suites: ['frost-secp256k1-tr', 'frost-ed25519', 'ecdsa-secp256k1'],
  maxKeys: 3,
  retries: 3,
  failFast: false,
  roundTimeoutMs: 10_000,
  attemptTimeoutMs: 180_000,
};

export interface ChaosSummary {
  /** False in the file written after each trial while the run goes on. */
  finished: boolean;
  seed: number;
  options: Omit<ChaosOptions, 'seed'>;
  startedAt: string;
  durationMs: number;
  machine: { cpus: number; node: string; platform: string };
  trialsRun: number;
  passed: number;
  failed: number;
  perOp: Record<string, { trials: number; ok: number; retried: number; unrecovered: number }>;
  kills: { total: number; coordinator: number; signer: number; duringOp: number };
  violations: Record<ViolationKind, number>;
  sharesLost: number;
  noncesReused: number;
  auditFailures: number;
  signaturesScanned: number;
  failures: Array<Pick<TrialRecord, 'trial' | 'op' | 'keyId' | 'suite' | 'detail' | 'victim' | 'delayMs' | 'errors' | 'violations'> & { seed: number }>;
  trials: TrialRecord[];
}

const VIOLATION_KINDS: ViolationKind[] = ['unrecovered', 'unsignable', 'bad-signature', 'share-lost', 'nonce-reused', 'audit', 'harness'];

export function summarise(seed: number, options: Omit<ChaosOptions, 'seed'>, startedAt: Date, trials: TrialRecord[], evidence: RunEvidence, finished: boolean): ChaosSummary {
  const perOp: ChaosSummary['perOp'] = Object.fromEntries(OPS.map((o) => [o.name, { trials: 0, ok: 0, retried: 0, unrecovered: 0 }]));
  for (const t of trials) {
    const o = (perOp[t.op] ??= { trials: 0, ok: 0, retried: 0, unrecovered: 0 });
    o.trials++;
    o[t.outcome]++;
  }
  const violations = Object.fromEntries(VIOLATION_KINDS.map((k) => [k, 0])) as Record<ViolationKind, number>;
  for (const v of trials.flatMap((t) => t.violations)) violations[v.kind]++;
  const failedTrials = trials.filter((t) => t.violations.length > 0);
  return {
    finished,
    seed,
    options,
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    machine: { cpus: os.cpus().length, node: process.version, platform: `${os.platform()} ${os.release()}` },
    trialsRun: trials.length,
    passed: trials.length - failedTrials.length,
    failed: failedTrials.length,
    perOp,
    kills: {
      total: trials.length,
      coordinator: trials.filter((t) => t.victim === 'coordinator').length,
      signer: trials.filter((t) => t.victim !== 'coordinator').length,
      duringOp: trials.filter((t) => t.killedDuringOp).length,
    },
    violations,
    sharesLost: violations['share-lost'],
    noncesReused: violations['nonce-reused'],
    auditFailures: violations.audit,
    signaturesScanned: evidence.signatures.size,
    failures: failedTrials.map((t) => ({ seed, trial: t.trial, op: t.op, keyId: t.keyId, suite: t.suite, detail: t.detail, victim: t.victim, delayMs: t.delayMs, errors: t.errors, violations: t.violations })),
    trials,
  };
}

/** Runs the trials on a fresh cluster (stopped and removed at the end); `progress` gets the summary so far after each trial. */
export async function runChaos(o: ChaosOptions, log: (line: string) => void, progress?: (s: ChaosSummary) => void): Promise<ChaosSummary> {
  const { seed, ...options } = o;
  const startedAt = new Date();
  const settings: TrialSettings = { seed, threshold: o.threshold, suites: o.suites, maxKeys: o.maxKeys, retries: o.retries, attemptTimeoutMs: o.attemptTimeoutMs };
  log(`chaos: seed ${seed}, ${o.trials} trials, ${o.threshold}-of-${o.signers}, suites ${o.suites.join(',')} (replay: --seed ${seed} --trials ${o.trials})`);
  const cluster = await Cluster.start({ initInProcess: true, signers: o.signers, roundTimeoutMs: o.roundTimeoutMs });
  const evidence = new RunEvidence();
  const trials: TrialRecord[] = [];
  try {
    for (let trial = 1; trial <= o.trials; trial++) {
      let record: TrialRecord;
      try {
        record = await runTrial(cluster, trial, settings, evidence, log);
      } catch (e) {
        // A trial the harness could not finish (e.g. a restart that never connected) is a failure, not a skip.
        const revived = await reviveAll(cluster).catch((err: unknown) => [`revive failed: ${String(err)}`]);
        log(`trial ${trial}: harness error: ${String(e)}; revived ${revived.join(', ') || 'nothing'}`);
        record = harnessFailure(trial, e);
      }
      trials.push(record);
      progress?.(summarise(seed, options, startedAt, trials, evidence, false));
      if (o.failFast && record.violations.length > 0) {
        log(`chaos: stopping at trial ${trial} (--fail-fast)`);
        break;
      }
    }
  } finally {
    await cluster.stop();
  }
  return summarise(seed, options, startedAt, trials, evidence, true);
}

function harnessFailure(trial: number, e: unknown): TrialRecord {
  const detail = e instanceof Error ? e.message.split('\n').slice(0, 3).join(' ') : String(e);
  return { trial, op: 'none', keyId: '', suite: 'none', detail: 'the harness failed before the trial finished', victim: '', delayMs: 0, killedAtMs: 0, killedDuringOp: false, attempts: 0, outcome: 'unrecovered', errors: [detail], violations: [{ kind: 'harness', detail }], durationMs: 0 };
}

/** One line for README's reliability section. */
export function markdownLine(s: ChaosSummary, file: string): string {
  const ops = Object.entries(s.perOp)
    .filter(([, v]) => v.trials > 0)
    .map(([k, v]) => `${k} ${v.trials}`)
    .join(', ');
  return (
    `Chaos (${s.startedAt.slice(0, 10)}, seed ${s.seed}): ${s.trialsRun} trials of kill -9 (${s.kills.coordinator} coordinator, ${s.kills.signer} signer; ${ops}), ` +
    `${s.options.threshold}-of-${s.options.signers}, ${s.options.suites.join('/')}: ${s.failed} failed trials, ${s.sharesLost} shares lost, ` +
    `${s.noncesReused} nonces reused over ${s.signaturesScanned} signatures, ${s.auditFailures} audit failures, ${s.violations.unsignable} unsignable, ` +
    `${s.violations.unrecovered} unrecovered operations (${Math.round(s.durationMs / 60_000)} min; \`${file}\`).`
  );
}
