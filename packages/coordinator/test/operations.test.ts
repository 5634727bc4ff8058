/**
 * Long operations over HTTP: `?wait=false` answers 202 with a running operation and
 * its Location, GET /v1/operations/:id reports running / succeeded (result) / failed
 * (error); refusals answer as when awaited and record nothing; the history is bounded.
 * Also GET /readyz: registry writable and enough signers connected.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { bytesToHex } from '@noble/hashes/utils.js';
import { createKeyDigest, refreshDigest, reshareDigest, retireDigest, signClientRequest, signHttpRequest, type ClientRequest, type IdentityKey } from '@keyquorum/protocol';
import { CoordinatorError, OperationLog, type OperationRecord } from '../src/index.ts';
import { eventually, startCluster, type Cluster } from './helpers.ts';
import type { FakeSigner } from './fake-signer.ts';

type Answer = { status: number; headers: Headers; json: Record<string, any> };

function toJson(r: ClientRequest) {
  return { v: r.v, op: r.op, keyId: r.keyId, digest: bytesToHex(r.digest), timestamp: r.timestamp, nonce: bytesToHex(r.nonce), clientKey: bytesToHex(r.clientKey), sig: bytesToHex(r.sig) };
}

async function call(c: Cluster, method: 'GET' | 'POST', path: string, body?: unknown, as: IdentityKey = c.admin): Promise<Answer> {
  const text = body === undefined ? '' : JSON.stringify(body);
  const headers: Record<string, string> = signHttpRequest(as, { method, target: path, body: new TextEncoder().encode(text) });
  const init: RequestInit = { method, headers };
  if (body !== undefined) init.body = text;
  const res = await fetch(`${c.coordinator.url}${path}`, init);
  return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, any> };
}

const createBody = (c: Cluster, keyId: string, signers = ['s1', 's2', 's3'], threshold = 2) => {
  const p = { keyId, suite: 'frost-ed25519', threshold, signers };
  return { ...p, request: toJson(c.request('createKey', keyId, createKeyDigest(p))) };
};

/** Polls GET /v1/operations/:id until it has finished. */
async function settle(c: Cluster, id: string): Promise<OperationRecord> {
  const until = Date.now() + 10_000;
  for (;;) {
    const r = await call(c, 'GET', `/v1/operations/${id}`);
    expect(r.status).toBe(200);
    if (r.json.state !== 'running') return r.json as OperationRecord;
    if (Date.now() > until) throw new Error(`operation ${id} still running`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Holds every frame `signer` sends until the returned release is called (order kept). */
function hold(signer: FakeSigner): () => void {
  const s = signer as unknown as { send: (...a: unknown[]) => void };
  const send = s.send.bind(s);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  s.send = (...a) => void gate.then(() => send(...a));
  return () => {
    s.send = send;
    release();
  };
}

describe('long operations with ?wait=false', () => {
  let c: Cluster;
  beforeAll(async () => {
    // 3 s: long enough for a DKG round of these in-process signers on a loaded machine; the
    // reshare below (which they do not speak) waits it out once.
    c = await startCluster(['s1', 's2', 's3'], { options: { roundTimeoutMs: 3000 } });
  });
  afterAll(async () => c.stop());

  it('creates a key: 202 with a running operation and its Location, then succeeded with the key', async () => {
    const release = hold(c.signers[0]!);
    const r = await call(c, 'POST', '/v1/keys?wait=false', createBody(c, 'k-op'));
    expect(r.status).toBe(202);
    const op = r.json.operation as OperationRecord;
    expect(op).toMatchObject({ kind: 'createKey', keyId: 'k-op', state: 'running' });
    expect(op.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.headers.get('location')).toBe(`/v1/operations/${op.id}`);

    // While the session waits on s1: running, and readable by any role.
    const running = await call(c, 'GET', r.headers.get('location')!, undefined, c.auditor);
    expect([running.status, running.json]).toEqual([200, { ...op }]);
    expect((await call(c, 'GET', '/v1/keys/k-op')).json.state).toBe('pending');

    release();
    const done = await settle(c, op.id);
    expect(done).toMatchObject({ id: op.id, kind: 'createKey', keyId: 'k-op', state: 'succeeded' });
    expect(done.finishedAt).toBeGreaterThanOrEqual(done.startedAt);
    expect(done.result).toEqual((await call(c, 'GET', '/v1/keys/k-op')).json);
    expect(done.result).toMatchObject({ state: 'active', epoch: 0 });
    expect(done.error).toBeUndefined();
  });

  it('refreshes and retires in the background; the result is what the awaited call answers', async () => {
    const refreshed = await call(c, 'POST', '/v1/keys/k-op/refresh?wait=false', { request: toJson(c.request('refresh', 'k-op', refreshDigest({ keyId: 'k-op' }))) });
    expect(refreshed.status).toBe(202);
    expect(refreshed.json.operation).toMatchObject({ kind: 'refresh', keyId: 'k-op', state: 'running' });
    expect(await settle(c, refreshed.json.operation.id)).toMatchObject({ state: 'succeeded', result: { id: 'k-op', epoch: 1, state: 'active' } });

    const retired = await call(c, 'POST', '/v1/keys/k-op/retire?wait=false', { request: toJson(c.request('retire', 'k-op', retireDigest({ keyId: 'k-op' }))) });
    expect([retired.status, retired.json.operation.kind]).toEqual([202, 'retire']);
    const done = await settle(c, retired.json.operation.id);
    expect(done).toMatchObject({ state: 'succeeded', result: { key: { id: 'k-op', state: 'retired' } } });
    expect((done.result as { attestations: unknown[] }).attestations).toHaveLength(3);
  });

  it('records a failed session with its error', async () => {
    const key = (await call(c, 'POST', '/v1/keys', createBody(c, 'k-fail'))).json;
    expect(key.state).toBe('active');
    const signers = ['s1', 's2', 's3'];
    const digest = reshareDigest({ keyId: 'k-fail', groupKey: Buffer.from(key.groupKey, 'hex'), newThreshold: 3, signers });
    // These fake signers do not speak reshare: the session times out.
    const r = await call(c, 'POST', '/v1/keys/k-fail/reshare?wait=false', { signers, threshold: 3, request: toJson(c.request('reshare', 'k-fail', digest)) });
    expect([r.status, r.json.operation.kind, r.json.operation.state]).toEqual([202, 'reshare', 'running']);
    const done = await settle(c, r.json.operation.id);
    expect(done).toMatchObject({ state: 'failed', error: { code: 'TIMEOUT', message: expect.any(String) } });
    expect(done.result).toBeUndefined();
    expect((await call(c, 'GET', '/v1/keys/k-fail')).json).toMatchObject({ epoch: 0, threshold: 2 });
  });

  it('answers refusals as when awaited and records no operation', async () => {
    const before = c.coordinator.operations.running().length;
    const bad = await call(c, 'POST', '/v1/keys?wait=maybe', createBody(c, 'k-x'));
    expect([bad.status, bad.json.error.code, bad.json.error.field]).toEqual([400, 'BAD_REQUEST', 'wait']);
    const unknown = await call(c, 'POST', '/v1/keys/nope/refresh?wait=false', { request: toJson(c.request('refresh', 'nope', refreshDigest({ keyId: 'nope' }))) });
    expect([unknown.status, unknown.json.error.code]).toEqual([404, 'UNKNOWN_KEY']);
    const retiredKey = await call(c, 'POST', '/v1/keys/k-op/refresh?wait=false', { request: toJson(c.request('refresh', 'k-op', refreshDigest({ keyId: 'k-op' }))) });
    expect([retiredKey.status, retiredKey.json.error.code]).toEqual([409, 'WRONG_STATE']);
    const exists = await call(c, 'POST', '/v1/keys?wait=false', createBody(c, 'k-fail'));
    expect([exists.status, exists.json.error.code]).toEqual([409, 'KEY_EXISTS']);
    const stranger = await call(c, 'POST', '/v1/keys?wait=false', createBody(c, 'k-y', ['s1', 's9']));
    expect([stranger.status, stranger.json.error.field]).toEqual([400, 'signers[1]']);
    const auditor = await call(c, 'POST', '/v1/keys?wait=false', createBody(c, 'k-z'), c.auditor);
    expect([auditor.status, auditor.json.error.code]).toEqual([403, 'UNAUTHORISED']);
    expect(c.coordinator.operations.running()).toHaveLength(before);
    expect((await call(c, 'GET', '/v1/keys')).json.keys.map((k: { id: string }) => k.id).sort()).toEqual(['k-fail', 'k-op']);
  });

  it('refuses a second session of a busy key with 409 while the first runs', async () => {
    await call(c, 'POST', '/v1/keys', createBody(c, 'k-busy'));
    const release = hold(c.signers[1]!);
    const first = await call(c, 'POST', '/v1/keys/k-busy/refresh?wait=false', { request: toJson(c.request('refresh', 'k-busy', refreshDigest({ keyId: 'k-busy' }))) });
    expect(first.status).toBe(202);
    const second = await call(c, 'POST', '/v1/keys/k-busy/refresh?wait=false', { request: toJson(c.request('refresh', 'k-busy', refreshDigest({ keyId: 'k-busy' }))) });
    expect([second.status, second.json.error.code]).toEqual([409, 'BUSY']);
    release();
    expect(await settle(c, first.json.operation.id)).toMatchObject({ state: 'succeeded', result: { epoch: 1 } });
  });

  it('answers 404 for an unknown operation, and 401 without authentication', async () => {
    const r = await call(c, 'GET', '/v1/operations/00000000-0000-0000-0000-000000000000');
    expect([r.status, r.json.error.code]).toEqual([404, 'NOT_FOUND']);
    expect((await fetch(`${c.coordinator.url}/v1/operations/x`)).status).toBe(401);
  });

  it('still awaits by default and with ?wait=true', async () => {
    const r = await call(c, 'POST', '/v1/keys?wait=true', createBody(c, 'k-wait'));
    expect([r.status, r.json.state]).toEqual([201, 'active']);
  });
});

describe('the operation history', () => {
  it('keeps every running operation and only the most recent finished ones', async () => {
    const log = new OperationLog({ limit: 2 });
    const never = await log.start('refresh', 'k0', () => new Promise<number>(() => {}), String);
    const done: OperationRecord[] = [];
    for (const i of [1, 2, 3]) {
      let resolve!: (v: number) => void;
      done.push(await log.start('refresh', `k${i}`, () => new Promise<number>((r) => (resolve = r)), String));
      resolve(i);
    }
    await new Promise((r) => setImmediate(r));
    expect(log.get(never.id)).toMatchObject({ state: 'running' });
    expect(log.get(done[0]!.id)).toBeUndefined();
    expect(log.get(done[1]!.id)).toMatchObject({ state: 'succeeded', result: '2' });
    expect(log.get(done[2]!.id)).toMatchObject({ state: 'succeeded', result: '3' });
  });

  it('refuses a call that fails its checks without recording it', async () => {
    const log = new OperationLog();
    const refused = log.start('retire', 'k', async () => {
      throw new CoordinatorError('WRONG_STATE');
    }, String);
    await expect(refused).rejects.toMatchObject({ code: 'WRONG_STATE' });
    expect(log.running()).toEqual([]);
  });

  it('records an unexpected failure as INTERNAL without its details', async () => {
    const seen: string[] = [];
    const log = new OperationLog({ onError: (e) => seen.push(e.code) });
    let reject!: (e: Error) => void;
    const op = await log.start('createKey', 'k', () => new Promise<number>((_, r) => (reject = r)), String);
    reject(new Error('secret detail'));
    await new Promise((r) => setImmediate(r));
    expect(log.get(op.id)).toMatchObject({ state: 'failed', error: { code: 'INTERNAL', message: 'INTERNAL: internal error' } });
    expect(seen).toEqual(['INTERNAL']);
  });
});

describe('GET /readyz', () => {
  it('is ready only with a writable registry and as many connected signers as the smallest active threshold (2 without keys)', async () => {
    // A generous round timeout: the DKGs below must not time out on a loaded machine.
    const c = await startCluster(['s1', 's2', 's3'], { connected: ['s1'], options: { roundTimeoutMs: 15_000 } });
    try {
      const readyz = async () => {
        const res = await fetch(`${c.coordinator.url}/readyz`);
        return { status: res.status, json: (await res.json()) as Record<string, unknown> };
      };
      expect(await readyz()).toEqual({
        status: 503,
        json: { ready: false, registryWritable: true, signersConnected: 1, signersNeeded: 2, role: 'single', reason: '1 signers connected, 2 needed (no active key yet, 2 needed to create one)' },
      });
      const s2 = c.newSigner('s2');
      const s3 = c.newSigner('s3');
      await Promise.all([s2.connect(), s3.connect()]);
      expect(await readyz()).toEqual({ status: 200, json: { ready: true, registryWritable: true, signersConnected: 3, signersNeeded: 2, role: 'single' } });

      const p = { keyId: 'k3', suite: 'frost-ed25519', threshold: 3, signers: ['s1', 's2', 's3'] };
      await c.coordinator.createKey({ ...p, request: c.request('createKey', p.keyId, createKeyDigest(p)) });
      await s3.close();
      await eventually(async () => (await c.coordinator.readiness()).signersConnected === 2);
      const r = await readyz();
      expect(r.status).toBe(503);
      expect(r.json).toMatchObject({ ready: false, signersConnected: 2, signersNeeded: 3, reason: expect.stringMatching(/2 signers connected, 3 needed \(the smallest threshold among active keys\)/) });

      const q = { keyId: 'k2', suite: 'frost-ed25519', threshold: 2, signers: ['s1', 's2'] };
      await c.coordinator.createKey({ ...q, request: c.request('createKey', q.keyId, createKeyDigest(q)) });
      expect(await readyz()).toMatchObject({ status: 200, json: { ready: true, signersNeeded: 2 } });

      const registry = (c.coordinator as unknown as { parts: { registry: { writable: () => Promise<boolean> } } }).parts.registry;
      const spy = vi.spyOn(registry, 'writable').mockResolvedValue(false);
      try {
        expect(await readyz()).toMatchObject({ status: 503, json: { ready: false, registryWritable: false, reason: 'the registry does not accept writes' } });
      } finally {
        spy.mockRestore();
      }
      expect((await readyz()).status).toBe(200);
    } finally {
      await c.stop();
    }
  });

  it('is not ready once stopped', async () => {
    const c = await startCluster(['s1', 's2']);
    await c.stop();
    expect(await c.coordinator.readiness()).toMatchObject({ ready: false, reason: 'coordinator stopped' });
  });
});
