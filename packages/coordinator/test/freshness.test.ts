/**
 * The coordinator's clock-skew checks, by behaviour: an operation request (checks.ts
 * `authorise`, protocol `verifyClientRequest`) and an API call's signature headers
 * (http.ts, protocol `verifyHttpHeaders`) dated more than `maxSkewMs` before or after
 * the coordinator's clock are refused, typed (UNAUTHENTICATED naming the timestamp),
 * with nothing changed: no key, no audit row, the nonce not spent (the same request
 * is accepted once it is fresh). Dated exactly `maxSkewMs` away, they are accepted.
 *
 * The coordinator's clock is frozen per test (`now`), so the edges are exact; its
 * skew is 30 s, not the protocol default (60 s), so a coordinator that ignored its
 * configured skew would accept the requests 31 s away. Without the freshness checks a
 * future-dated request would be accepted, and an old one refused only by the replay
 * window (REPLAY, naming the nonce).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { HTTP_AUTH_HEADERS, createKeyDigest, signClientRequest, signDigest, signHttpRequest, type ClientRequest } from '@keyquorum/protocol';
import { CoordinatorError } from '../src/index.ts';
import { startCluster, type Cluster } from './helpers.ts';

const IDS = ['s1', 's2', 's3'];
const SKEW = 30_000;
let c: Cluster;
let clock = Date.now();

beforeAll(async () => {
  c = await startCluster(IDS, { options: { now: () => clock, maxSkewMs: SKEW, roundTimeoutMs: 10_000 } });
}, 60_000);
afterAll(async () => c?.stop());
// The fake signers check requests against the real clock (60 s skew): keep the frozen one near it.
beforeEach(() => {
  clock = Date.now();
});

const params = (keyId: string) => ({ keyId, suite: 'frost-secp256k1-tr', threshold: 2, signers: IDS });

function createRequest(keyId: string, timestamp: number, nonce?: Uint8Array): ClientRequest {
  return signClientRequest(c.admin, { op: 'createKey', keyId, digest: createKeyDigest(params(keyId)), timestamp, ...(nonce === undefined ? {} : { nonce }) });
}

const createKey = (request: ClientRequest) => c.coordinator.createKey({ request, ...params(request.keyId) });

async function refusal(p: Promise<unknown>): Promise<CoordinatorError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(CoordinatorError);
  return e as CoordinatorError;
}

const auditCount = async () => (await c.coordinator.audit()).length;

describe('operation requests: the clock-skew check (checks.ts authorise)', () => {
  it('accepts a createKey request dated exactly maxSkewMs in the past, and one exactly maxSkewMs ahead', async () => {
    expect((await createKey(createRequest('k-edge-past', clock - SKEW))).state).toBe('active');
    expect((await createKey(createRequest('k-edge-ahead', clock + SKEW))).state).toBe('active');
  });

  it.each([
    ['1 ms older than the skew', -SKEW - 1],
    ['1 ms further ahead than the skew', SKEW + 1],
    ['10 minutes ahead', 10 * 60_000],
  ])('refuses a createKey request dated %s (UNAUTHENTICATED, STALE, request.timestamp); nothing changes and its nonce is not spent', async (_, offset) => {
    const keyId = `k-stale-${offset}`;
    const request = createRequest(keyId, clock + offset);
    const before = await auditCount();
    const e = await refusal(createKey(request));
    expect([e.code, e.field]).toEqual(['UNAUTHENTICATED', 'request.timestamp']);
    expect(e.message).toMatch(/\bSTALE\b/);
    expect((await c.coordinator.listKeys()).map((k) => k.id)).not.toContain(keyId);
    expect(await auditCount()).toBe(before);
    // The refusal remembered nothing: the very same request, once the clock reaches it, is accepted
    // (not for the 10-minute one: the fake signers check it against the real clock).
    if (Math.abs(offset) > SKEW + 1) return;
    clock = request.timestamp + Math.sign(offset) * -SKEW;
    expect((await createKey(request)).state).toBe('active');
  });

  it('refuses a sign request dated 1 ms beyond the skew either way: no signature, no audit row', async () => {
    const keyId = 'k-sign';
    await createKey(createRequest(keyId, clock));
    const message = new Uint8Array(32).fill(5);
    const before = await auditCount();
    for (const offset of [-SKEW - 1, SKEW + 1]) {
      const request = signClientRequest(c.admin, { op: 'sign', keyId, digest: signDigest({ keyId, epoch: 0, message }), timestamp: clock + offset });
      const e = await refusal(c.coordinator.sign({ request, keyId, message }));
      expect([e.code, e.field]).toEqual(['UNAUTHENTICATED', 'request.timestamp']);
    }
    expect(await auditCount()).toBe(before);
    // At the edge the same key signs.
    const request = signClientRequest(c.admin, { op: 'sign', keyId, digest: signDigest({ keyId, epoch: 0, message }), timestamp: clock + SKEW });
    expect((await c.coordinator.sign({ request, keyId, message })).signature).toHaveLength(64);
  });
});

describe('API calls: the clock-skew check of the signature headers (http.ts)', () => {
  const get = (headers: Record<string, string>) => fetch(`${c.coordinator.url}/v1/keys`, { headers });
  const headersAt = (timestamp: number, nonce?: Uint8Array) => signHttpRequest(c.admin, { method: 'GET', target: '/v1/keys', body: new Uint8Array(0) }, { timestamp, ...(nonce === undefined ? {} : { nonce }) });

  it('accepts a call dated exactly maxSkewMs in the past, and one exactly maxSkewMs ahead', async () => {
    expect((await get(headersAt(clock - SKEW))).status).toBe(200);
    expect((await get(headersAt(clock + SKEW))).status).toBe(200);
  });

  it.each([
    ['1 ms older than the skew', -SKEW - 1],
    ['1 ms further ahead than the skew', SKEW + 1],
    ['10 minutes ahead', 10 * 60_000],
  ])('refuses a call dated %s with 401 UNAUTHENTICATED naming the timestamp header; its nonce is not spent', async (_, offset) => {
    const headers = headersAt(clock + offset);
    const res = await get(headers);
    const body = (await res.json()) as { error: { code: string; field?: string; message: string } };
    expect([res.status, body.error.code, body.error.field]).toEqual([401, 'UNAUTHENTICATED', HTTP_AUTH_HEADERS.timestamp]);
    expect(body.error.message).toMatch(/\bSTALE\b/);
    // The same nonce, in a fresh call, is accepted: the refused call did not consume it.
    expect((await get(headersAt(clock, hexToBytes(headers[HTTP_AUTH_HEADERS.nonce]!)))).status).toBe(200);
  });

  it('refuses a mutation whose headers are 1 ms beyond the skew ahead before reading it: no key, no audit row', async () => {
    const keyId = 'k-http-ahead';
    const r = createRequest(keyId, clock);
    const json = { v: r.v, op: r.op, keyId, digest: bytesToHex(r.digest), timestamp: r.timestamp, nonce: bytesToHex(r.nonce), clientKey: bytesToHex(r.clientKey), sig: bytesToHex(r.sig) };
    const text = JSON.stringify({ ...params(keyId), request: json });
    const auth = signHttpRequest(c.admin, { method: 'POST', target: '/v1/keys', body: new TextEncoder().encode(text) }, { timestamp: clock + SKEW + 1 });
    const before = await auditCount();
    const res = await fetch(`${c.coordinator.url}/v1/keys`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: text });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { field?: string } }).error.field).toBe(HTTP_AUTH_HEADERS.timestamp);
    expect((await c.coordinator.listKeys()).map((k) => k.id)).not.toContain(keyId);
    expect(await auditCount()).toBe(before);
  });
});
