/**
 * A crypto worker thread (`pool.ts` starts them): it holds the secret state of the key
 * rounds opened on it, by job id, and answers each call with the round's output or
 * its typed error as data (`jobs.ts`). It keeps no state beyond its open jobs, logs
 * nothing (secrets never reach a log from here), and does no I/O: outputs go back to
 * the main thread, which stores and sends them in the order the protocol requires.
 */
import { parentPort } from 'node:worker_threads';
import { SignerError } from '../errors.ts';
import type { KeyRounds } from '../schemes/driver.ts';
import { callRound, openKeyRounds, rewrapSpec, serializeError } from './jobs.ts';
import type { ToWorker } from './pool.ts';

const port = parentPort!;
port.postMessage({ ready: true });
const jobs = new Map<number, { rounds: KeyRounds } | { failed: unknown }>();

port.on('message', (m: ToWorker) => {
  if (m.type === 'open') {
    try {
      jobs.set(m.job, { rounds: openKeyRounds(rewrapSpec(m.spec)) });
    } catch (e) {
      jobs.set(m.job, { failed: e });
    }
    return;
  }
  const job = jobs.get(m.job);
  if (m.type === 'wipe') {
    if (job && 'rounds' in job) job.rounds.wipe();
    jobs.delete(m.job);
    return;
  }
  try {
    if (job === undefined) throw new SignerError('WORKER_FAILED', { message: `no open job ${m.job}` });
    if ('failed' in job) throw job.failed;
    port.postMessage({ call: m.call, ok: true, value: callRound(job.rounds, m.round, m.arg) });
  } catch (e) {
    port.postMessage({ call: m.call, ok: false, error: serializeError(e) });
  }
});
