/**
 * The optional health and metrics HTTP server (ARCHITECTURE.md "packages/signer"):
 * GET /healthz is 200 while the process serves; GET /readyz is 200 only when the
 * keystore is open and the coordinator link is authenticated, 503 otherwise;
 * GET /metrics is plain-text counters. Nothing else is served.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ListenAddress } from './config.ts';

export interface HealthSource {
  ready(): boolean;
  metrics(): Readonly<Record<string, number>>;
}

export class HealthServer {
  readonly #server: http.Server;

  constructor(source: HealthSource) {
    this.#server = http.createServer((req, res) => {
      const reply = (status: number, body: string, type = 'application/json') => {
        res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
        res.end(body);
      };
      if (req.method !== 'GET') return reply(405, '{"error":"method not allowed"}');
      const path = (req.url ?? '').split('?')[0];
      if (path === '/healthz') return reply(200, '{"status":"ok"}');
      if (path === '/readyz') return source.ready() ? reply(200, '{"status":"ready"}') : reply(503, '{"status":"not ready"}');
      if (path === '/metrics') {
        const lines = Object.entries(source.metrics()).map(([name, value]) => `keyquorum_signer_${name} ${value}`);
        return reply(200, `${lines.join('\n')}\n`, 'text/plain; version=0.0.4');
      }
      reply(404, '{"error":"not found"}');
    });
  }

  async listen(at: ListenAddress): Promise<ListenAddress> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(at.port, at.host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const a = this.#server.address() as AddressInfo;
    return { host: a.address, port: a.port };
  }

  async close(): Promise<void> {
    if (!this.#server.listening) return;
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
