import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyDigest, signHttpRequest } from '@keyquorum/protocol';
import { OPENAPI_DOCUMENT, routeTable } from '../src/index.ts';
import { startCluster, type Cluster } from './helpers.ts';

let c: Cluster;
beforeAll(async () => {
  c = await startCluster(['s1', 's2', 's3'], { connected: [] });
});
afterAll(async () => c.stop());

type Doc = { paths: Record<string, Record<string, { parameters?: Array<{ name: string; in: string }>; security?: unknown[] }>>; components: Record<string, Record<string, unknown>> };

describe('the OpenAPI document', () => {
  it('is served at /v1/openapi.json as OpenAPI 3, without authentication', async () => {
    const res = await fetch(`${c.coordinator.url}/v1/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as Doc & { openapi: string };
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc).toEqual(JSON.parse(JSON.stringify(OPENAPI_DOCUMENT)));
  });

  it('documents every route the router serves, and no route the router does not serve', () => {
    const doc = OPENAPI_DOCUMENT as unknown as Doc;
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    const served = routeTable().map((r) => `${r.method} ${r.path}`);
    expect([...documented].sort()).toEqual([...served].sort());
  });

  it('marks exactly the unauthenticated routes as public and declares every path parameter', () => {
    const doc = OPENAPI_DOCUMENT as unknown as Doc;
    for (const r of routeTable()) {
      const op = doc.paths[r.path]![r.method.toLowerCase()]!;
      expect([r.path, op.security === undefined ? 'signed' : 'public']).toEqual([r.path, r.access === 'public' ? 'public' : 'signed']);
      for (const name of [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1])) {
        expect(op.parameters?.some((p) => p.name === name && p.in === 'path')).toBe(true);
      }
    }
  });

  it('describes a GET /v1/signers answer field for field, with the epoch each signer holds per key', async () => {
    const cluster = await startCluster(['s1', 's2']);
    try {
      const p = { keyId: 'k-doc', suite: 'frost-ed25519', threshold: 2, signers: ['s1', 's2'] };
      await cluster.coordinator.createKey({ ...p, request: cluster.request('createKey', p.keyId, createKeyDigest(p)) });
      const headers = signHttpRequest(cluster.admin, { method: 'GET', target: '/v1/signers', body: new Uint8Array(0) });
      const { signers } = (await (await fetch(`${cluster.coordinator.url}/v1/signers`, { headers })).json()) as { signers: Array<Record<string, unknown>> };
      const schema = OPENAPI_DOCUMENT.components.schemas.SignerStatus;
      expect(signers).toHaveLength(2);
      for (const s of signers) {
        expect(Object.keys(s).sort()).toEqual(Object.keys(schema.properties).sort());
        expect(Object.keys(s)).toEqual(expect.arrayContaining([...schema.required]));
        expect(s.epochs).toEqual({ 'k-doc': 0 });
      }
    } finally {
      await cluster.stop();
    }
  });

  it('resolves every $ref', () => {
    const refs = [...JSON.stringify(OPENAPI_DOCUMENT).matchAll(/"\$ref":"#\/components\/(\w+)\/(\w+)"/g)];
    expect(refs.length).toBeGreaterThan(10);
    const doc = OPENAPI_DOCUMENT as unknown as Doc;
    for (const [, section, name] of refs) expect([section, name, doc.components[section!]?.[name!] !== undefined]).toEqual([section, name, true]);
  });
});
