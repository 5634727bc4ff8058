/**
 * One fuzz run against live processes (harness.ts): `count` frame inputs (coordinator,
 * signer and handshake targets) and/or `count` HTTP inputs, the oracles checked after
 * every batch and at the end (oracles.ts), then a real sign that must still verify.
 * Returns the summary committed as docs/results/fuzz.json.
 */
import { FrameFuzzer, type FrameResult } from './frames.ts';
import { FUZZ_SIGNER, signStillWorks, startLive, type Live } from './harness.ts';
import { HttpFuzzer, impossibleCalls, type HttpResult } from './http.ts';
import { Histogram, crashLines, diffState, knownCodes, snapshotState, type StateSnapshot, type Verdict } from './oracles.ts';
import { Rand } from './random.ts';

export type FuzzTarget = 'frames' | 'http' | 'all';

export interface FuzzOptions {
  seed: number;
  count: number;
  target: FuzzTarget;
  /** Oracles are checked after every `batch` inputs. */
  batch?: number;
  progress?: (msg: string) => void;
  /** Keep at most this many failing inputs in the summary. */
  keepFailures?: number;
  /** Use an already started live system (tests); otherwise one is started and stopped. */
  live?: Live;
}

export interface Failure {
  target: string;
  mutation: string;
  origin: string;
  outcome: string;
  detail?: string;
  codes: string[];
}

export interface FuzzSummary {
  seed: number;
  startedAt: string;
  durationMs: number;
  inputs: Record<string, number>;
  outcomes: Record<string, number>;
  crashes: number;
  crashLines: string[];
  stateChanges: string[];
  untypedErrors: number;
  hangs: number;
  silent: number;
  errorCodes: Record<string, number>;
  mutations: Record<string, number>;
  roundsFuzzed: { coordinator: string[]; signer: string[] };
  signAfterFuzz: boolean;
  failures: Failure[];
}

function dataDirs(live: Live) {
  return { coordinator: live.cluster.dataDir('coordinator'), signers: Object.fromEntries(live.cluster.signerIds.map((id) => [id, live.cluster.dataDir(id)])) };
}

/** Oracle 1: every process alive and the coordinator answering, every signer connected again. */
async function aliveProblems(live: Live): Promise<string[]> {
  const problems: string[] = [];
  for (const p of [live.cluster.coordinator, ...live.cluster.signers.values()]) if (!p.alive) problems.push(`${p.name} exited (${p.child.exitCode ?? p.child.signalCode})`);
  if (problems.length > 0) return problems;
  try {
    if (!(await live.cluster.client.health())) problems.push('coordinator /healthz not ok');
    for (const id of live.cluster.signerIds) await live.cluster.waitSignerState(id, true, 60_000);
  } catch (e) {
    problems.push(`health: ${(e as Error).message}`);
  }
  return problems;
}

export async function runFuzz(o: FuzzOptions): Promise<FuzzSummary> {
  const started = Date.now();
  const progress = o.progress ?? (() => {});
  const live = o.live ?? (await startLive(progress));
  const rand = new Rand(o.seed);
  const known = knownCodes();
  const batch = o.batch ?? 500;
  const keep = o.keepFailures ?? 50;
  const inputs = new Histogram();
  const outcomes = new Histogram();
  const codes = new Histogram();
  const mutations = new Histogram();
  const failures: Failure[] = [];
  const crashes: string[] = [];
  const stateChanges: string[] = [];
  const outputMark = new Map([live.cluster.coordinator, ...live.cluster.signers.values()].map((p) => [p, p.output.length]));
  const frames = new FrameFuzzer(live, rand, known);
  progress('building HTTP bases');
  const httpFuzz = new HttpFuzzer(live, rand, known, await impossibleCalls(live));
  let baseline: StateSnapshot = snapshotState(dataDirs(live));
  progress('fuzzing');

  const record = (target: string, mutation: string, origin: string, v: Verdict) => {
    inputs.add(target);
    outcomes.add(`${target}.${v.outcome}`);
    mutations.add(`${target}.${mutation}`);
    for (const c of v.codes) codes.add(c);
    if (process.env.FUZZ_TRACE && v.outcome !== 'refused') progress(`  ${target} ${mutation} ${origin} -> ${JSON.stringify(v)}`);
    if ((v.outcome === 'untyped' || v.outcome === 'hang' || v.outcome === 'silent') && failures.length < keep) failures.push({ target, mutation, origin, outcome: v.outcome, codes: v.codes, ...(v.detail ? { detail: v.detail } : {}) });
  };
  const check = async (label: string) => {
    crashes.push(...(await aliveProblems(live)));
    for (const [p, mark] of outputMark) {
      crashes.push(...crashLines(p.output.slice(mark)).map((l) => `${p.name}: ${l}`.slice(0, 500)));
      outputMark.set(p, p.output.length);
    }
    const now = snapshotState(dataDirs(live));
    const diffs = diffState(baseline, now);
    stateChanges.push(...diffs.map((d) => `${label}: ${d}`));
    baseline = now;
  };

  const wantFrames = o.target !== 'http';
  const wantHttp = o.target !== 'frames';
  try {
    for (let i = 0; i < o.count; i++) {
      if (wantFrames) {
        const roll = rand.int(20);
        const target: FrameResult['target'] = roll < 9 ? 'coordinator' : roll < 18 ? 'signer' : 'handshake';
        if (process.env.FUZZ_TRACE) progress(`frame ${i} ${target}`);
        const r = await frames.one(target);
        record(`frames.${target}`, r.input.mutation, r.input.origin, r.verdict);
      }
      if (wantHttp) {
        if (process.env.FUZZ_TRACE) progress(`http ${i}`);
        const r: HttpResult = await httpFuzz.one();
        record('http', r.input.mutation, `${r.input.method} ${r.input.target.slice(0, 80)}`, r.verdict);
      }
      if ((i + 1) % 50 === 0) progress(`${i + 1}/${o.count}`);
      if ((i + 1) % batch === 0 || i + 1 === o.count) {
        await check(`after ${i + 1}`);
        progress(`${i + 1}/${o.count} inputs per target; ${JSON.stringify(outcomes.toJSON())}; crashes ${crashes.length}, state changes ${stateChanges.length}`);
      }
    }
    live.proxy.muted = { up: false, down: false };
    // After the last state check: the sign itself legitimately appends to the audit log.
    const signAfterFuzz = await signStillWorks(live).catch((e: unknown) => {
      crashes.push(`sign after fuzz failed: ${(e as Error).message}`);
      return false;
    });
    const count = (suffix: string) => Object.entries(outcomes.toJSON()).filter(([k]) => k.endsWith(suffix)).reduce((n, [, v]) => n + v, 0);
    return {
      seed: o.seed,
      startedAt: new Date(started).toISOString(),
      durationMs: Date.now() - started,
      inputs: inputs.toJSON(),
      outcomes: outcomes.toJSON(),
      crashes: crashes.length,
      crashLines: crashes.slice(0, 20),
      stateChanges,
      untypedErrors: count('.untyped'),
      hangs: count('.hang'),
      silent: count('.silent'),
      errorCodes: codes.toJSON(),
      mutations: mutations.toJSON(),
      roundsFuzzed: { coordinator: frames.origins().up, signer: frames.origins().down },
      signAfterFuzz,
      failures,
    };
  } finally {
    httpFuzz.close();
    if (o.live === undefined) await live.stop();
  }
}

export { FUZZ_SIGNER };
