/**
 * The signer's crypto pool (issue 10, finding 6: a DKLs23 DKG round took seconds of CPU
 * on the event loop, the coordinator missed a pong and dropped the signer mid-DKG).
 * `cryptoWorkers` worker threads (`worker.ts`: from source booted by `entry.mjs`, in the
 * bundles `crypto-worker.mjs`, see ENTRY) run the key rounds of every scheme (DKG,
 * refresh, reshare) and the ecdsa-secp256k1 signing rounds
 * (DKLs23: round 1, round 2, presign, round 3); the event loop only decodes, checks
 * envelopes, seals, stores and sends. A session's rounds stay on the worker that opened them
 * (their secret state lives there, see `api.ts`); a new session goes to the worker
 * with the fewest open sessions. With `cryptoWorkers: 0` the same rounds run inline.
 *
 * A worker that dies (crash, out of memory, terminated) fails every call it owed and
 * every session opened on it with SignerError('WORKER_FAILED'), never a hang, and is
 * replaced. Nothing a worker returns leaves the process before the main thread has
 * done what must come first (store the pending share, then CONFIRM; journal a
 * signing's nonce sealed, then send round 1).
 */
import { Worker } from 'node:worker_threads';
import type { Startable } from '@keyquorum/protocol';
import type { Logger } from '@keyquorum/protocol/logger';
import { SignerError } from '../errors.ts';
import type { AsyncEcdsaSignRounds, AsyncKeyRounds, CryptoRunner, JobSpec, KeyOutcome, KeyRoundsSpec } from './api.ts';
import type { HeldShare } from '../held-share.ts';
import { deserializeError, openJob, wipeSpec, type RoundName, type SerializedError } from './jobs.ts';

/** Messages to a worker; a call is answered with `FromWorker`. */
export type ToWorker =
  | { type: 'open'; job: number; spec: JobSpec }
  | { type: 'call'; job: number; call: number; round: RoundName; arg: unknown }
  | { type: 'wipe'; job: number };

type FromWorker = { ready: true } | { call: number; ok: true; value: unknown } | { call: number; ok: false; error: SerializedError };

interface Pending {
  job: number;
  resolve(value: unknown): void;
  reject(e: Error): void;
}

interface Thread {
  worker: Worker;
  jobs: Set<number>;
  pending: Map<number, Pending>;
}

/** Defined (true) by scripts/build.ts in the bundles only. */
declare const KEYQUORUM_BUNDLE: boolean | undefined;
/**
 * The worker's script: in the bundles, `crypto-worker.mjs` (worker.ts bundled) beside the
 * signer's bundle; from source, entry.mjs, which boots tsx and loads worker.ts.
 */
const ENTRY = typeof KEYQUORUM_BUNDLE !== 'undefined' ? new URL('./crypto-worker.mjs', import.meta.url) : new URL('./entry.mjs', import.meta.url);
const MODULE = new URL('./worker.ts', import.meta.url).href;

export class CryptoPool implements CryptoRunner, Startable {
  readonly size: number;
  readonly #log: Logger;
  #threads: Thread[] = [];
  /** Jobs whose thread died: every call fails at once. */
  readonly #dead = new Set<number>();
  #nextJob = 1;
  #nextCall = 1;
  #stopping = false;
  /** Rounds asked for and not yet answered (`callsRunning`). */
  #callsRunning = 0;

  constructor(opts: { size: number; log: Logger }) {
    this.size = opts.size;
    this.#log = opts.log;
  }

  /** The live worker threads (for inspection and fault tests). */
  get workers(): readonly Worker[] {
    return this.#threads.map((t) => t.worker);
  }

  /**
   * Spawns the workers without waiting for them to load (a worker loads the crypto
   * modules, from source through tsx: on a loaded host that takes seconds the link need
   * not wait for); rounds posted meanwhile queue on the worker's port.
   */
  start(): void {
    this.#stopping = false;
    for (let i = 0; i < this.size; i++) this.#spawn();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    const threads = this.#threads;
    this.#threads = [];
    for (const t of threads) this.#fail(t, 'the crypto pool stopped');
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }

  /**
   * Rounds asked for and not yet answered: on a worker (queued or computing) while the
   * event loop goes on. An inline round (`cryptoWorkers: 0`) counts only while it blocks
   * the loop, so nothing the loop serves (a /metrics scrape) ever sees it.
   */
  get callsRunning(): number {
    return this.#callsRunning;
  }

  /** Sessions open on the workers (their secret state is held there until wiped). */
  get openJobs(): number {
    return this.#threads.reduce((n, t) => n + t.jobs.size, 0);
  }

  keyRounds(spec: KeyRoundsSpec): AsyncKeyRounds {
    const job = this.#open(spec);
    return {
      round1: (sessionId) => job.call('round1', sessionId),
      round2: (r1) => job.call('round2', r1) as Promise<Map<string, { signingShare: Uint8Array }>>,
      round3: (r2) => job.call('round3', r2) as Promise<KeyOutcome>,
      wipe: job.wipe,
    };
  }

  ecdsaSignRounds(share: HeldShare): AsyncEcdsaSignRounds {
    const job = this.#open({ op: 'ecdsa-sign', share });
    return {
      round1: (params) => job.call('round1', params) as ReturnType<AsyncEcdsaSignRounds['round1']>,
      round2: (r1) => job.call('round2', r1) as ReturnType<AsyncEcdsaSignRounds['round2']>,
      presign: (direct) => job.call('presign', direct) as ReturnType<AsyncEcdsaSignRounds['presign']>,
      round3: (input) => job.call('round3', input) as ReturnType<AsyncEcdsaSignRounds['round3']>,
      keep: () => job.call('keep', undefined) as ReturnType<AsyncEcdsaSignRounds['keep']>,
      wipe: job.wipe,
    };
  }

  /** Opens `spec` on the least busy worker (or inline with `cryptoWorkers: 0`). */
  #open(spec: JobSpec): { call(round: RoundName, arg: unknown): Promise<unknown>; wipe(): void } {
    if (this.size === 0) {
      const inline = openJob(spec);
      return { call: (round, arg) => this.#counted(async () => inline.call(round, arg)), wipe: () => inline.wipe() };
    }
    const thread = this.#threads.reduce<Thread | undefined>((a, t) => (a === undefined || t.jobs.size < a.jobs.size ? t : a), undefined);
    if (thread === undefined) throw new SignerError('WORKER_FAILED', { message: 'the crypto pool is not running' });
    const job = this.#nextJob++;
    thread.jobs.add(job);
    thread.worker.postMessage({ type: 'open', job, spec } satisfies ToWorker);
    // The worker holds its own copy (posting clones synchronously); ours is wiped now.
    wipeSpec(spec);
    return {
      call: (round, arg) => this.#counted(() => this.#call(thread, job, round, arg)),
      wipe: () => {
        thread.jobs.delete(job);
        this.#dead.delete(job);
        for (const [id, p] of thread.pending) {
          if (p.job !== job) continue;
          thread.pending.delete(id);
          p.reject(new SignerError('WORKER_FAILED', { message: 'the session was closed while its round ran' }));
        }
        if (this.#threads.includes(thread)) thread.worker.postMessage({ type: 'wipe', job } satisfies ToWorker);
      },
    };
  }

  #counted(run: () => Promise<unknown>): Promise<unknown> {
    this.#callsRunning++;
    return run().finally(() => this.#callsRunning--);
  }

  #call(thread: Thread, job: number, round: RoundName, arg: unknown): Promise<unknown> {
    if (this.#dead.has(job) || !this.#threads.includes(thread)) {
      return Promise.reject(new SignerError('WORKER_FAILED', { message: 'the crypto worker holding this session died' }));
    }
    const id = this.#nextCall++;
    return new Promise((resolve, reject) => {
      thread.pending.set(id, { job, resolve, reject });
      thread.worker.postMessage({ type: 'call', job, call: id, round, arg } satisfies ToWorker);
    });
  }

  #spawn(): void {
    const worker = new Worker(ENTRY, { workerData: { module: MODULE } });
    const thread: Thread = { worker, jobs: new Set(), pending: new Map() };
    this.#threads.push(thread);
    let ready = false;
    worker.on('message', (m: FromWorker) => {
      if ('ready' in m) {
        ready = true;
        return;
      }
      const p = thread.pending.get(m.call);
      if (p === undefined) return;
      thread.pending.delete(m.call);
      if (m.ok) p.resolve(m.value);
      else p.reject(deserializeError(m.error));
    });
    worker.on('error', (e) => this.#log.error('crypto worker failed', { threadId: worker.threadId, error: e.message }));
    worker.on('exit', (code) => {
      if (!this.#threads.includes(thread)) return;
      this.#threads = this.#threads.filter((t) => t !== thread);
      const sessionsFailed = thread.jobs.size;
      this.#fail(thread, `the crypto worker exited (code ${code})`);
      if (this.#stopping) return;
      // A worker that never loaded would fail the same way again: it is not replaced (its sessions fail typed).
      if (!ready) return this.#log.error('crypto worker exited before it loaded; not replaced', { code });
      this.#log.warn('crypto worker exited; replacing it', { threadId: worker.threadId, code, sessionsFailed });
      this.#spawn();
    });
  }

  /** Fails every call a thread owed and marks its sessions dead. */
  #fail(thread: Thread, message: string): void {
    for (const job of thread.jobs) this.#dead.add(job);
    thread.jobs.clear();
    for (const p of thread.pending.values()) p.reject(new SignerError('WORKER_FAILED', { message }));
    thread.pending.clear();
  }
}
