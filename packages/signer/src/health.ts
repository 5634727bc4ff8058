/**
 * The optional health and metrics HTTP server (ARCHITECTURE.md "packages/signer"):
 * GET /healthz is 200 while the process serves; GET /readyz is 200 only when the
 * keystore is open and the coordinator link is authenticated, 503 otherwise (its JSON
 * names the coordinator URL the link is authenticated to, `coordinator`);
 * GET /metrics is the Prometheus exposition (prom-client, one registry per server):
 * the daemon's frame and session counters, its connection state, the crypto rounds
 * running on its worker threads (`cryptoCallsRunning`) and the sessions whose secret
 * round state they hold (`cryptoJobsOpen`), the number of active
 * keys it holds a share of, and, only with `keyLabels` (config `metricsKeyLabels`), the
 * epoch of each such key labelled with its id. Nothing else is served.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import type { Startable } from '@keyquorum/protocol';
import type { ListenAddress } from './config.ts';

export interface HealthSource {
  ready(): boolean;
  /** The coordinator URL the link is authenticated to (several coordinators: docs/ha.md §2). */
  coordinator?(): string | undefined;
  /** Monotonic counters, plus the gauges named in `GAUGES`. */
  metrics(): Readonly<Record<string, number>>;
  /** Active keys and their epochs (ids only). */
  keys?(): ReadonlyArray<{ keyId: string; epoch: number; suite: string }>;
}

/** Values of `metrics()` that go up and down; every other one is a counter. */
const GAUGES = new Set(['connected', 'leaderToken', 'liveSessions', 'cryptoCallsRunning', 'cryptoJobsOpen']);

function prometheus(source: HealthSource, keyLabels: boolean): Registry {
  const registry = new Registry();
  for (const name of Object.keys(source.metrics())) {
    const metric = `keyquorum_signer_${name}`;
    const read = () => source.metrics()[name] ?? 0;
    if (GAUGES.has(name)) {
      new Gauge({
        name: metric,
        help: `signer ${name}`,
        registers: [registry],
        collect() {
          this.set(read());
        },
      });
    } else {
      new Counter({
        name: metric,
        help: `signer ${name} since start`,
        registers: [registry],
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    }
  }
  new Gauge({
    name: 'keyquorum_signer_active_keys',
    help: 'Active keys this signer holds a share of',
    registers: [registry],
    collect() {
      this.set(source.keys?.().length ?? 0);
    },
  });
  if (!keyLabels) return registry;
  new Gauge({
    name: 'keyquorum_signer_key_epoch',
    help: 'Epoch of the active share this signer holds, per key',
    labelNames: ['key', 'scheme'],
    registers: [registry],
    collect() {
      this.reset();
      for (const k of source.keys?.() ?? []) this.set({ key: k.keyId, scheme: k.suite }, k.epoch);
    },
  });
  return registry;
}

/** The health endpoint as a lifecycle part: listens on `at` from `start()` until `stop()`. */
export class HealthServer implements Startable {
  readonly #server: http.Server;
  readonly #at: ListenAddress;
  #bound: ListenAddress | undefined;

  constructor(source: HealthSource, at: ListenAddress, options: { keyLabels?: boolean } = {}) {
    this.#at = at;
    const registry = prometheus(source, options.keyLabels === true);
    this.#server = http.createServer((req, res) => {
      const reply = (status: number, body: string, type = 'application/json') => {
        res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
        res.end(body);
      };
      if (req.method !== 'GET') return reply(405, '{"error":"method not allowed"}');
      const path = (req.url ?? '').split('?')[0];
      if (path === '/healthz') return reply(200, '{"status":"ok"}');
      if (path === '/readyz') {
        const coordinator = source.coordinator?.();
        return source.ready() ? reply(200, JSON.stringify({ status: 'ready', coordinator })) : reply(503, '{"status":"not ready"}');
      }
      if (path === '/metrics') {
        registry.metrics().then(
          (text) => reply(200, text, registry.contentType),
          () => reply(500, '{"error":"metrics failed"}'),
        );
        return;
      }
      reply(404, '{"error":"not found"}');
    });
  }

  /** Where the server listens once started (the real port when `at` asked for 0). */
  get address(): ListenAddress | undefined {
    return this.#bound;
  }

  async start(): Promise<void> {
    const at = this.#at;
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(at.port, at.host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const a = this.#server.address() as AddressInfo;
    this.#bound = { host: a.address, port: a.port };
  }

  async stop(): Promise<void> {
    this.#bound = undefined;
    if (!this.#server.listening) return;
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
