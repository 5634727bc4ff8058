/**
 * Prometheus metrics of one coordinator (prom-client, a registry per instance so
 * several coordinators can share a process): lifecycle sessions by kind and outcome
 * with their latency, the latency of each protocol round, connected signers, each
 * keys by suite and state, signatures produced, and API errors by code. Served as
 * text at GET /metrics, which is public (scrapers do not sign requests): by default no
 * label names a key (`keyquorum_keys` counts them by suite and state); an operator who
 * wants each key's epoch sets `metricsKeyLabels` and gets `keyquorum_key_epoch{key}`.
 * Labels carry ids and error codes only. The label holding a key's
 * suite keeps its published name `scheme` (dashboards and alerts select on it, and
 * the signers' metrics use the same name).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { publicError } from './errors.ts';

export type SessionKind = 'dkg' | 'sign' | 'refresh' | 'reshare' | 'repair' | 'retire';

/** What the gauges read at scrape time. */
export interface MetricsSource {
  connectedSigners(): number;
  /** FROST commitments pooled ahead of the message, all signers and keys (sessions/nonce-pool.ts). */
  pooledCommitments(): number;
  pooledPresignatures(): number;
  keys(): Promise<ReadonlyArray<{ id: string; suite: string; state: string; epoch: number }>>;
}

export class CoordinatorMetrics {
  readonly registry = new Registry();
  readonly #sessions: Counter<'kind' | 'outcome'>;
  readonly #latency: Histogram<'kind'>;
  readonly #rounds: Histogram<'kind' | 'round'>;
  readonly #signatures: Counter<'scheme'>;
  readonly #errors: Counter<'code'>;
  readonly #checkpoints: Counter<'outcome'>;

  constructor(source: () => MetricsSource | undefined, opts: { keyLabels: boolean } = { keyLabels: false }) {
    const registers = [this.registry];
    this.#sessions = new Counter({ name: 'keyquorum_sessions_total', help: 'Lifecycle sessions by kind and outcome (ok, or the error code)', labelNames: ['kind', 'outcome'], registers });
    this.#latency = new Histogram({
      name: 'keyquorum_session_duration_seconds',
      help: 'Wall time of a session, all protocol rounds included, by kind',
      labelNames: ['kind'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.#rounds = new Histogram({
      name: 'keyquorum_round_duration_seconds',
      help: "Wall time of one completed protocol round, from the coordinator's request to the last expected message, by session kind and round",
      labelNames: ['kind', 'round'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.#signatures = new Counter({ name: 'keyquorum_signatures_total', help: 'Threshold signatures produced and verified', labelNames: ['scheme'], registers });
    this.#errors = new Counter({ name: 'keyquorum_api_errors_total', help: 'API requests answered with an error, by error code', labelNames: ['code'], registers });
    this.#checkpoints = new Counter({ name: 'keyquorum_audit_checkpoints_total', help: 'Audit checkpoint answers from signers: cosigned, or the refusal code', labelNames: ['outcome'], registers });
    new Gauge({
      name: 'keyquorum_signers_connected',
      help: 'Signers authenticated to the coordinator now',
      registers,
      collect() {
        this.set(source()?.connectedSigners() ?? 0);
      },
    });
    new Gauge({
      name: 'keyquorum_pooled_commitments',
      help: "FROST nonce commitments signers offered ahead of the message and the coordinator holds unused (memory only)",
      registers,
      collect() {
        this.set(source()?.pooledCommitments() ?? 0);
      },
    });
    new Gauge({
      name: 'keyquorum_pooled_presignatures',
      help: 'ecdsa-secp256k1 presignatures made ahead of the message for a quorum, held unused (memory only)',
      registers,
      collect() {
        this.set(source()?.pooledPresignatures() ?? 0);
      },
    });
    new Gauge({
      name: 'keyquorum_keys',
      help: 'Keys in the registry by suite and state',
      labelNames: ['scheme', 'state'],
      registers,
      async collect() {
        const keys = (await source()?.keys()) ?? [];
        this.reset();
        const counts = new Map<string, { scheme: string; state: string; n: number }>();
        for (const k of keys) {
          const c = counts.get(`${k.suite}/${k.state}`) ?? { scheme: k.suite, state: k.state, n: 0 };
          c.n++;
          counts.set(`${k.suite}/${k.state}`, c);
        }
        for (const c of counts.values()) this.set({ scheme: c.scheme, state: c.state }, c.n);
      },
    });
    if (!opts.keyLabels) return;
    new Gauge({
      name: 'keyquorum_key_epoch',
      help: 'Current share epoch of each key (increments on refresh and reshare)',
      labelNames: ['key', 'scheme', 'state'],
      registers,
      async collect() {
        const keys = (await source()?.keys()) ?? [];
        this.reset();
        for (const k of keys) this.set({ key: k.id, scheme: k.suite, state: k.state }, k.epoch);
      },
    });
  }

  /** Times `run` as a session of `kind` and counts its outcome. */
  async session<T>(kind: SessionKind, run: () => Promise<T>): Promise<T> {
    const stop = this.#latency.startTimer({ kind });
    try {
      const out = await run();
      this.#sessions.inc({ kind, outcome: 'ok' });
      return out;
    } catch (e) {
      // Only the coordinator's own codes: a stray error's code would be an unbounded label.
      this.#sessions.inc({ kind, outcome: publicError(e).code });
      throw e;
    } finally {
      stop();
    }
  }

  /** Starts timing one round of a session of `kind`; call the result when the round completes. */
  round(kind: string, round: string): () => void {
    const stop = this.#rounds.startTimer({ kind, round });
    return () => void stop();
  }

  signature(suite: string): void {
    this.#signatures.inc({ scheme: suite });
  }

  error(code: string): void {
    this.#errors.inc({ code });
  }

  /** A signer's answer to an audit checkpoint: 'cosigned', or its refusal code (a bounded set). */
  checkpoint(outcome: 'cosigned' | 'AUDIT_INCONSISTENT' | 'STALE_CHECKPOINT' | 'BAD_CHECKPOINT' | 'other'): void {
    this.#checkpoints.inc({ outcome });
  }
}
