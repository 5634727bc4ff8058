import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesToHex } from '@noble/hashes/utils.js';
import { createKeyDigest, generateIdentity, signClientRequest, signDigest, signHttpRequest, type ClientRequest, type IdentityKey } from '@keyquorum/protocol';
import { parseRequestJson, routeTable } from '../src/index.ts';
import { startCluster, type Cluster } from './helpers.ts';

let c: Cluster;
let base: string;

beforeAll(async () => {
  c = await startCluster(['s1', 's2', 's3'], { connected: [] });
  base = c.coordinator.url;
});
afterAll(async () => c.stop());

function toJson(r: ClientRequest) {
  return { v: r.v, op: r.op, keyId: r.keyId, digest: bytesToHex(r.digest), timestamp: r.timestamp, nonce: bytesToHex(r.nonce), clientKey: bytesToHex(r.clientKey), sig: bytesToHex(r.sig) };
}

/** An API call authenticated (request-level signature headers) as `as`, the admin by default; `as: null` sends none. */
async function call(method: string, path: string, body?: unknown, raw?: string, as: IdentityKey | null = c.admin, headers: Record<string, string> = {}) {
  const text = raw ?? (body === undefined ? '' : JSON.stringify(body));
  const auth = as === null ? {} : signHttpRequest(as, { method, target: path, body: new TextEncoder().encode(text) });
  const init: RequestInit = { method, headers: { ...auth, ...headers } };
  if (body !== undefined || raw !== undefined) {
    init.body = text;
    init.headers = { 'content-type': 'application/json', ...auth, ...headers };
  }
  const res = await fetch(`${base}${path}`, init);
  return { status: res.status, json: (await res.json()) as { error?: { code: string; field?: string; message: string } } & Record<string, unknown> };
}

const keyParams = { keyId: 'k1', suite: 'frost-secp256k1-tr', threshold: 2, signers: ['s1', 's2', 's3'] };
const createBody = (client = c.admin, over: Partial<typeof keyParams> = {}) => {
  const p = { ...keyParams, ...over };
  return { ...p, request: toJson(signClientRequest(client, { op: 'createKey', keyId: p.keyId, digest: createKeyDigest(p) })) };
};

describe('HTTP API input handling (no signers connected)', () => {
  it('answers health and readiness', async () => {
    expect(await call('GET', '/healthz')).toEqual({ status: 200, json: { status: 'ok' } });
    // No signer connected: the registry is writable, but fewer than 2 signers cannot create a key.
    expect(await call('GET', '/readyz')).toEqual({
      status: 503,
      json: { ready: false, registryWritable: true, signersConnected: 0, signersNeeded: 2, role: 'single', reason: '0 signers connected, 2 needed (no active key yet, 2 needed to create one)' },
    });
  });

  it('lists signers with their connection state and keys (none yet)', async () => {
    const { json } = await call('GET', '/v1/signers');
    expect(json.signers).toEqual(['s1', 's2', 's3'].map((id) => ({ id, connected: false, lastSeen: null, epochs: {} })));
    expect((await call('GET', '/v1/keys')).json).toEqual({ keys: [] });
  });

  it('refuses malformed JSON with 400', async () => {
    const r = await call('POST', '/v1/keys', undefined, '{"keyId": ');
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ code: 'BAD_REQUEST', field: 'body' });
  });

  it.each([
    ['threshold', { threshold: '2' }],
    ['suite', { suite: 'rsa' }],
    ['keyId', { keyId: '../etc' }],
    ['signers[1]', { signers: ['s1', 'mallory'] }],
    ['signers', { signers: 's1,s2' }],
  ])('refuses a wrong %s with 400 naming the field', async (field, patch) => {
    const r = await call('POST', '/v1/keys', { ...createBody(), ...patch });
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ code: 'BAD_REQUEST', field });
  });

  it('refuses unknown fields and malformed request hex with 400', async () => {
    expect((await call('POST', '/v1/keys', { ...createBody(), extra: 1 })).json.error).toMatchObject({ code: 'BAD_REQUEST', field: 'extra' });
    const body = createBody();
    expect((await call('POST', '/v1/keys', { ...body, request: { ...body.request, sig: 'xyz' } })).json.error).toMatchObject({ field: 'request.sig' });
    expect((await call('POST', '/v1/keys', { ...body, request: { ...body.request, nonce: 'abcd' } })).status).toBe(400);
  });

  it('answers 404 for an unknown key on every key route', async () => {
    const msg = new Uint8Array(32);
    const request = toJson(signClientRequest(c.admin, { op: 'sign', keyId: 'nope', digest: signDigest({ keyId: 'nope', epoch: 0, message: msg }) }));
    for (const [method, path, body] of [
      ['GET', '/v1/keys/nope', undefined],
      ['GET', '/v1/keys/nope/derive?path=m/0', undefined],
      ['POST', '/v1/keys/nope/sign', { message: bytesToHex(msg), request }],
      ['POST', '/v1/keys/nope/refresh', { request }],
      ['POST', '/v1/keys/nope/retire', { request }],
    ] as const) {
      const r = await call(method, path, body);
      expect([path, r.status, r.json.error?.code]).toEqual([path, 404, 'UNKNOWN_KEY']);
    }
  });

  it('answers 404 for an unknown route and 405 for a wrong method', async () => {
    expect((await call('GET', '/v2/keys')).status).toBe(404);
    expect((await call('DELETE', '/v1/keys')).status).toBe(405);
  });

  it('refuses a request with a bad client signature with 401', async () => {
    const body = createBody();
    const sig = body.request.sig;
    const flipped = (sig.slice(0, -2) + (sig.endsWith('00') ? '01' : '00')) as string;
    const r = await call('POST', '/v1/keys', { ...body, request: { ...body.request, sig: flipped } });
    expect(r.status).toBe(401);
    expect(r.json.error).toMatchObject({ code: 'UNAUTHENTICATED', field: 'request.sig' });
  });

  it('refuses an untrusted client and a role that may not create keys with 403', async () => {
    expect((await call('POST', '/v1/keys', createBody(generateIdentity()))).json.error).toMatchObject({ code: 'UNAUTHORISED' });
    const r = await call('POST', '/v1/keys', createBody(c.auditor));
    expect(r.status).toBe(403);
  });

  it('refuses a request whose digest covers other parameters with 403', async () => {
    const body = createBody();
    const r = await call('POST', '/v1/keys', { ...body, threshold: 3 });
    expect(r.status).toBe(403);
    expect(r.json.error).toMatchObject({ code: 'UNAUTHORISED', field: 'request.digest' });
  });

  it('answers 503 when the signers are not connected, and refuses the replayed request with 401', async () => {
    const body = createBody();
    const first = await call('POST', '/v1/keys', body);
    expect(first.status).toBe(503);
    expect(first.json.error?.code).toBe('NOT_ENOUGH_SIGNERS');
    const replay = await call('POST', '/v1/keys', body);
    expect(replay.status).toBe(401);
    expect(replay.json.error?.message).toMatch(/REPLAY/);
    expect(await c.coordinator.listKeys()).toEqual([]);
  });

  it('refuses a stale request with 401', async () => {
    const p = keyParams;
    const request = toJson(signClientRequest(c.admin, { op: 'createKey', keyId: p.keyId, digest: createKeyDigest(p), timestamp: Date.now() - 10 * 60_000 }));
    const r = await call('POST', '/v1/keys', { ...p, request });
    expect([r.status, r.json.error?.message]).toEqual([401, expect.stringMatching(/STALE/)]);
  });

  it('refuses an oversized body with 413', async () => {
    const r = await fetch(`${base}/v1/keys`, { method: 'POST', body: 'x'.repeat(300 * 1024) });
    expect(r.status).toBe(413);
  });

  it('converts request JSON to bytes and refuses missing fields', () => {
    const body = createBody();
    expect(parseRequestJson(body.request).digest).toHaveLength(32);
    expect(() => parseRequestJson({ ...body.request, sig: undefined })).toThrow(/request.sig/);
  });

  it('audits nothing for refused input and keeps a valid chain', async () => {
    const r = await call('GET', '/v1/audit');
    expect(r.json).toEqual({ entries: [], next: null, verification: { ok: true, count: 0, head: '00'.repeat(32) }, checkpoints: [] });
  });
});

describe('request-level authentication of every /v1 route', () => {
  const authenticated = routeTable().filter((r) => r.access !== 'public');

  it('covers every /v1 route but the OpenAPI document, and lets signer-role clients call sign and sign-tx (and approve) only', () => {
    expect(authenticated.map((r) => `${r.method} ${r.path}`).sort()).toEqual(
      routeTable()
        .filter((r) => r.path.startsWith('/v1/') && r.path !== '/v1/openapi.json')
        .map((r) => `${r.method} ${r.path}`)
        .sort(),
    );
    for (const r of authenticated) {
      const roles = r.access as readonly string[];
      if (r.method === 'GET') expect(roles).toEqual(['admin', 'signer', 'auditor']);
      // Approving a pending operation is any role's: the approval itself is the approver's signature (docs/governance.md).
      else if (r.path === '/v1/operations/{id}/approve') expect(roles).toEqual(['admin', 'signer', 'auditor']);
      else expect(roles).toEqual(r.path === '/v1/keys/{id}/sign' || r.path === '/v1/keys/{id}/sign-tx' ? ['admin', 'signer'] : ['admin']);
    }
  });

  it('refuses an unsigned request on every authenticated route with 401 before reading its meaning', async () => {
    for (const r of authenticated) {
      const path = r.path.replace('{id}', 'k1') + (r.path.endsWith('/derive') ? '?path=m/0' : '');
      const res = await call(r.method, path, r.method === 'POST' ? {} : undefined, undefined, null);
      expect([path, res.status, res.json.error?.code]).toEqual([path, 401, 'UNAUTHENTICATED']);
    }
  });

  it('refuses a request whose body, path or method differs from what was signed with 401', async () => {
    const body = JSON.stringify(createBody());
    const auth = signHttpRequest(c.admin, { method: 'POST', target: '/v1/keys', body: new TextEncoder().encode(body) });
    const tampered = body.replace('"threshold":2', '"threshold":3');
    expect((await call('POST', '/v1/keys', undefined, tampered, null, auth)).status).toBe(401);
    const other = signHttpRequest(c.admin, { method: 'GET', target: '/v1/keys', body: new Uint8Array(0) });
    expect((await call('GET', '/v1/signers', undefined, undefined, null, other)).status).toBe(401);
    const asPost = signHttpRequest(c.admin, { method: 'POST', target: '/v1/keys', body: new Uint8Array(0) });
    expect((await call('GET', '/v1/keys', undefined, undefined, null, asPost)).status).toBe(401);
  });

  it('refuses a replayed and a stale request with 401', async () => {
    const auth = signHttpRequest(c.admin, { method: 'GET', target: '/v1/keys', body: new Uint8Array(0) });
    expect((await call('GET', '/v1/keys', undefined, undefined, null, auth)).status).toBe(200);
    const replay = await call('GET', '/v1/keys', undefined, undefined, null, auth);
    expect([replay.status, replay.json.error?.message]).toEqual([401, expect.stringMatching(/REPLAY/)]);
    const stale = signHttpRequest(c.admin, { method: 'GET', target: '/v1/keys', body: new Uint8Array(0) }, { timestamp: Date.now() - 10 * 60_000 });
    const r = await call('GET', '/v1/keys', undefined, undefined, null, stale);
    expect([r.status, r.json.error?.message]).toEqual([401, expect.stringMatching(/STALE/)]);
  });

  it('refuses an untrusted client with 403, and an auditor on mutations with 403 while it may read', async () => {
    expect((await call('GET', '/v1/keys', undefined, undefined, generateIdentity())).status).toBe(403);
    expect((await call('GET', '/v1/keys', undefined, undefined, c.auditor)).status).toBe(200);
    expect((await call('GET', '/v1/audit', undefined, undefined, c.auditor)).status).toBe(200);
    const r = await call('POST', '/v1/keys', createBody(c.admin), undefined, c.auditor);
    expect([r.status, r.json.error?.code]).toEqual([403, 'UNAUTHORISED']);
    const sign = await call('POST', '/v1/keys/k1/sign', { message: '00', request: {} }, undefined, c.auditor);
    expect(sign.status).toBe(403);
  });

  it('serves /metrics and /v1/openapi.json without authentication', async () => {
    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toMatch(/^keyquorum_signers_connected 0$/m);
    expect(text).toMatch(/^keyquorum_api_errors_total\{code="UNAUTHENTICATED"\} [1-9]/m);
    expect((await fetch(`${base}/v1/openapi.json`)).status).toBe(200);
  });
});
