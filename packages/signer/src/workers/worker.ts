/**
 * A crypto worker thread (`pool.ts` starts them): it holds the secret state of the jobs
 * opened on it (key rounds, ecdsa-secp256k1 signings), by job id, and answers each call
 * with the step's output or its typed error as data (`jobs.ts`). Once an output is
 * posted (a structured clone, made synchronously) the secrets it carried are zeroed on
 * this side. It keeps no state beyond its open jobs, logs nothing (secrets never reach
 * a log from here), and does no I/O: outputs go back to the main thread, which seals,
 * stores and sends them in the order the protocol requires.
 */
import { parentPort } from 'node:worker_threads';
import { SignerError } from '../errors.ts';
import { openJob, rewrapSpec, serializeError, type Job } from './jobs.ts';
import type { ToWorker } from './pool.ts';

const port = parentPort!;
port.postMessage({ ready: true });
const jobs = new Map<number, { job: Job } | { failed: unknown }>();

port.on('message', (m: ToWorker) => {
  if (m.type === 'open') {
    try {
      jobs.set(m.job, { job: openJob(rewrapSpec(m.spec)) });
    } catch (e) {
      jobs.set(m.job, { failed: e });
    }
    return;
  }
  const open = jobs.get(m.job);
  if (m.type === 'wipe') {
    if (open && 'job' in open) open.job.wipe();
    jobs.delete(m.job);
    return;
  }
  try {
    if (open === undefined) throw new SignerError('WORKER_FAILED', { message: `no open job ${m.job}` });
    if ('failed' in open) throw open.failed;
    port.postMessage({ call: m.call, ok: true, value: open.job.call(m.round, m.arg) });
    open.job.sent();
  } catch (e) {
    port.postMessage({ call: m.call, ok: false, error: serializeError(e) });
  }
});
