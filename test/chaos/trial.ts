/**
 * One chaos trial: draw the operation, its key and parameters, the victim and the kill
 * delay from the trial's seeded stream; start the operation as a client; kill -9 the
 * victim after the delay (or as soon as the operation ended, if sooner); restart it;
 * retry the operation as a client would (bounded); wait for the cluster to settle;
 * check the invariants.
 */
import type { Cluster } from '../support/cluster.ts';
import { checkInvariants, keystoreViews, leftSigners, type RunEvidence, type Violation } from './checks.ts';
import { COORDINATOR, allConnected, commitsAcknowledged, errorLine, kill, restart, sleep } from './faults.ts';
import { BadSignature, chooseOp, spanOf, type ChaosOp, type ChaosSuite, type OpName, type OpPlan } from './ops.ts';
import type { SignatureRecord } from './invariants.ts';
import { Prng } from './prng.ts';

export interface TrialSettings {
  seed: number;
  threshold: number;
  suites: readonly ChaosSuite[];
  maxKeys: number;
  /** Attempts after the first (each after the cluster is whole again). */
  retries: number;
  /** Longest wait for one attempt of an operation before it counts as hung. */
  attemptTimeoutMs: number;
  ops?: readonly ChaosOp[];
}

export interface TrialRecord {
  trial: number;
  /** 'none' when the harness failed before drawing one. */
  op: OpName | 'none';
  keyId: string;
  suite: ChaosSuite | 'none';
  detail: string;
  victim: string;
  /** Drawn delay from the operation's start (after any `prepare`) to the kill; `killedAtMs` is when it happened. */
  delayMs: number;
  killedAtMs: number;
  /** False when the operation had already ended before the kill. */
  killedDuringOp: boolean;
  attempts: number;
  /** ok: the first attempt succeeded; retried: a retry (or the check that it took effect) did; unrecovered: never. */
  outcome: 'ok' | 'retried' | 'unrecovered';
  errors: string[];
  violations: Violation[];
  durationMs: number;
}


type Settled = { ok: true } | { ok: false; error: unknown };

function settle(p: Promise<void>, timeoutMs: number): Promise<Settled> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Settled>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, error: new Error(`no answer within ${timeoutMs} ms (harness timeout)`) }), timeoutMs);
  });
  const done = p.then(
    (): Settled => ({ ok: true }),
    (error: unknown): Settled => ({ ok: false, error }),
  );
  return Promise.race([done, timeout]).finally(() => clearTimeout(timer));
}

/** The trial's draws: operation and plan, victim, kill delay (in this order, from the trial's own stream). */
async function draw(cluster: Cluster, trial: number, s: TrialSettings, evidence: RunEvidence): Promise<{ plan: OpPlan; victim: string; delayMs: number }> {
  const rng = Prng.forTrial(s.seed, trial);
  const active = (await cluster.client.listKeys()).filter((k) => k.state === 'active').sort((a, b) => (a.id < b.id ? -1 : 1));
  const ctx = {
    client: cluster.client,
    signerIds: cluster.signerIds,
    threshold: s.threshold,
    suites: s.suites,
    maxKeys: s.maxKeys,
    trial,
    active,
    left: leftSigners(keystoreViews(cluster)),
    // Signatures the operation makes go into the run's evidence for the nonce scan.
    recordSignature: (r: SignatureRecord) => evidence.record(r),
    loseSigner: async (id: string) => {
      await cluster.killSigner(id, 'SIGKILL');
      await cluster.repin(id, await cluster.reinitSigner(id));
    },
  };
  const op = chooseOp(ctx, rng, s.ops);
  const plan = op.plan(ctx, rng);
  const victim = rng.pick([COORDINATOR, ...cluster.signerIds]);
  const delayMs = Math.floor(rng.next() * spanOf(op, plan.suite));
  return { plan, victim, delayMs };
}

export async function runTrial(cluster: Cluster, trial: number, s: TrialSettings, evidence: RunEvidence, log: (line: string) => void): Promise<TrialRecord> {
  const started = Date.now();
  const { plan, victim, delayMs } = await draw(cluster, trial, s, evidence);
  log(`trial ${trial}: ${plan.op} ${plan.keyId} (${plan.suite}; ${plan.detail}), kill -9 ${victim} after ${delayMs} ms`);
  const errors: string[] = [];
  const violations: Violation[] = [];

  // The operation's own set-up (a repair's lost disk) is not timed and no kill lands in it.
  await plan.prepare?.();
  const opStarted = Date.now();
  const first = settle(plan.attempt(), s.attemptTimeoutMs);
  let ended = false;
  void first.then(() => (ended = true));
  await Promise.race([sleep(delayMs), first]);
  const killedDuringOp = !ended;
  const killedAtMs = Date.now() - opStarted;
  await kill(cluster, victim);
  await restart(cluster, victim);

  let result = await first;
  let attempts = 1;
  while (!result.ok && !(result.error instanceof BadSignature) && attempts <= s.retries) {
    errors.push(errorLine(result.error));
    if (!(await allConnected(cluster))) errors.push('not every signer reconnected within 30 s');
    if (await plan.done().catch(() => false)) {
      result = { ok: true };
      break;
    }
    await sleep(1000 * attempts);
    attempts++;
    result = await settle(plan.attempt(), s.attemptTimeoutMs);
  }
  if (!result.ok) {
    errors.push(errorLine(result.error));
    if (result.error instanceof BadSignature) violations.push({ kind: 'bad-signature', detail: result.error.message });
    else {
      const state = await cluster.client.getKey(plan.keyId).then((k) => `${k.state} at epoch ${k.epoch}`, errorLine);
      violations.push({ kind: 'unrecovered', detail: `${plan.op} ${plan.keyId} failed ${attempts} attempts (key now: ${state}); last: ${errorLine(result.error)}` });
    }
  }

  if (!(await allConnected(cluster))) violations.push({ kind: 'unrecovered', detail: 'not every signer reconnected within 30 s' });
  if (!(await commitsAcknowledged(cluster))) log(`trial ${trial}: some commit still unacknowledged after 30 s (the share check follows)`);
  violations.push(...(await checkInvariants(cluster, evidence)));

  const record: TrialRecord = {
    trial,
    op: plan.op,
    keyId: plan.keyId,
    suite: plan.suite,
    detail: plan.detail,
    victim,
    delayMs,
    killedAtMs,
    killedDuringOp,
    attempts,
    outcome: !result.ok ? 'unrecovered' : attempts === 1 && errors.length === 0 ? 'ok' : 'retried',
    errors,
    violations,
    durationMs: Date.now() - started,
  };
  const verdict = violations.length === 0 ? 'pass' : `FAIL: ${violations.map((v) => `${v.kind}: ${v.detail}`).join(' | ')}`;
  log(`trial ${trial}: ${record.outcome} after ${attempts} attempt(s)${killedDuringOp ? '' : ' (killed after the op ended)'}, ${record.durationMs} ms: ${verdict}`);
  return record;
}

