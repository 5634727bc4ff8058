/**
 * The coordinator side of per-key policy and approval quorums (docs/governance.md),
 * over real HTTP on loopback with in-process signers that talk the real protocol
 * (fake-signer.ts): policy set/get and its version rules, delivery and re-delivery,
 * operations waiting for approvals (Ed25519 and passkey approvers), a forged
 * approval, expiry, a restart with operations pending, early refusal by each sign
 * rule, and a signer's POLICY_DENIED ABORT.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import {
  approvalToJson,
  createKeyDigest,
  generateIdentity,
  parsePolicy,
  policyDigest,
  policyRequestDigest,
  requestToJson,
  signApproval,
  signClientRequest,
  refreshDigest,
  signDigest,
  signHttpRequest,
  stateDigest,
  type Approval,
  type ClientRequest,
  type IdentityKey,
  type PendingOperationJson,
} from '@keyquorum/protocol';
import { SoftwarePasskey, ed25519Approver } from '../../../test/support/passkey.ts';
import { SqliteStore } from '../src/index.ts';
import { eventually, freePort, startCluster, type Cluster } from './helpers.ts';

const KEY = 'gov-1';
const alice = generateIdentity();
const bob = generateIdentity();
const mallory = generateIdentity();
const carol = new SoftwarePasskey();
const APPROVERS = [
  ed25519Approver('alice', alice),
  ed25519Approver('bob', bob),
  carol.approver('carol'),
];

let c: Cluster;
let port: number;
let version = 0;
let epoch = 0;
/** How far the coordinator's clock runs ahead of the test's (the client signs with the same clock). */
let skew = 0;

type Json = Record<string, unknown> & { error?: { code: string; rule?: string; message: string; field?: string } };

async function call(method: string, path: string, body?: unknown, as: IdentityKey = c.admin): Promise<{ status: number; json: Json; location: string | null }> {
  const text = body === undefined ? '' : JSON.stringify(body);
  const auth = signHttpRequest(as, { method, target: path, body: new TextEncoder().encode(text) }, { timestamp: Date.now() + skew });
  const init: RequestInit = body === undefined ? { method, headers: auth } : { method, body: text, headers: { 'content-type': 'application/json', ...auth } };
  const res = await fetch(`${c.coordinator.url}${path}`, init);
  return { status: res.status, json: (await res.json()) as Json, location: res.headers.get('location') };
}

/** Sets the key's next policy (the JSON form without format/version) over HTTP; answers the HTTP result. */
function setPolicy(rest: Record<string, unknown>, o: { version?: number; approvals?: Approval[] } = {}) {
  const json = { format: 1, version: o.version ?? version + 1, ...rest };
  const request = signClientRequest(c.admin, { op: 'policy', keyId: KEY, digest: policyRequestDigest({ keyId: KEY, policy: parsePolicy(json) }), timestamp: Date.now() + skew });
  return call('POST', `/v1/keys/${KEY}/policy`, { policy: json, request: requestToJson(o.approvals === undefined ? request : { ...request, approvals: o.approvals }) });
}

async function setPolicyOk(rest: Record<string, unknown>): Promise<Json> {
  const r = await setPolicy(rest);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  version += 1;
  return r.json;
}

function signRequest(message: Uint8Array, path?: string, client = c.admin, timestamp?: number): ClientRequest {
  return signClientRequest(client, { op: 'sign', keyId: KEY, digest: signDigest({ keyId: KEY, epoch, message, ...(path === undefined ? {} : { path }) }), timestamp: timestamp ?? Date.now() + skew });
}

function sign(message: Uint8Array, o: { path?: string; approvals?: Approval[]; request?: ClientRequest } = {}) {
  const request = o.request ?? signRequest(message, o.path);
  const withApprovals = o.approvals === undefined ? request : { ...request, approvals: o.approvals };
  return call('POST', `/v1/keys/${KEY}/sign`, { message: bytesToHex(message), request: requestToJson(withApprovals), ...(o.path === undefined ? {} : { path: o.path }) });
}

const approve = (id: string, a: Approval, as: IdentityKey = c.auditor) => call('POST', `/v1/operations/${id}/approve`, { approval: approvalToJson(a) }, as);
const events = async (event: string) => (await c.coordinator.audit(KEY)).filter((e) => e.event === event);
const startsOf = () => c.signers.reduce((n, s) => n + s.signStarts, 0);

beforeAll(async () => {
  port = await freePort();
  // No scheduled refresh (refresh-schedule.ts) while the 'refresh' case below moves the clock past a refresh period: it asks for a refusal.
  c = await startCluster(['s1', 's2', 's3'], { options: { port, host: '127.0.0.1', now: () => Date.now() + skew, refreshCheckMs: 3600_000 } });
  const request = c.request('createKey', KEY, createKeyDigest({ keyId: KEY, suite: 'frost-ed25519', threshold: 2, signers: ['s1', 's2', 's3'] }));
  const key = await c.coordinator.createKey({ request, keyId: KEY, suite: 'frost-ed25519', threshold: 2, signers: ['s1', 's2', 's3'] });
  epoch = key.epoch;
  await eventually(async () => (await events('commit.acked')).length === 3, 10_000);
}, 60_000);
afterAll(async () => c?.stop());

describe('per-key policy at the coordinator', () => {
  it('answers the default policy, refuses a version that does not follow, records and delivers the next one to every holder', async () => {
    const none = await call('GET', `/v1/keys/${KEY}/policy`, undefined, c.auditor);
    expect(none.status).toBe(200);
    expect(none.json).toMatchObject({ keyId: KEY, version: 0, policy: null });

    const skip = await setPolicy({}, { version: 2 });
    expect(skip.status).toBe(403);
    expect(skip.json.error).toMatchObject({ code: 'POLICY_DENIED', rule: 'version' });
    expect((await events('policy.denied')).at(-1)?.data).toMatchObject({ rule: 'version', where: 'coordinator', op: 'policy' });

    const set = await setPolicyOk({ approvers: APPROVERS, approvals: { sign: 2 }, approvalTtlSeconds: 600 });
    const expected = parsePolicy({ format: 1, version: 1, approvers: APPROVERS, approvals: { sign: 2 }, approvalTtlSeconds: 600 });
    expect(set).toMatchObject({ keyId: KEY, version: 1, digest: bytesToHex(policyDigest(expected)), delivered: ['s1', 's2', 's3'], pending: [] });
    expect(c.signers.map((s) => s.policies.get(KEY))).toEqual([1, 1, 1]);
    const got = await call('GET', `/v1/keys/${KEY}/policy`);
    expect(got.json).toMatchObject({ version: 1, digest: set.digest, policy: { version: 1, approvals: { sign: 2 } } });

    // The same version again (a replayed or rolled-back change) is refused.
    const again = await setPolicy({}, { version: 1 });
    expect(again.json.error).toMatchObject({ code: 'POLICY_DENIED', rule: 'version' });
    expect((await events('key.policy_set')).map((e) => e.data.version)).toEqual([1]);
    expect((await events('key.policy_applied')).map((e) => e.data.signer).sort()).toEqual(['s1', 's2', 's3']);
  });
});

describe('policy delivery', () => {
  it('a holder offline when the policy is set gets it when it reconnects (re-sent until it ACKs)', async () => {
    const s3 = c.signers[2]!;
    await s3.close();
    await eventually(async () => !(await c.coordinator.listSigners()).find((x) => x.id === 's3')!.connected, 10_000);
    const set = await setPolicyOk({ approvers: APPROVERS, approvals: { sign: 2 }, approvalTtlSeconds: 600 });
    expect(set).toMatchObject({ version, delivered: ['s1', 's2'], pending: ['s3'] });
    expect(s3.policies.get(KEY)).toBe(version - 1);
    await s3.connect();
    await eventually(() => s3.policies.get(KEY) === version, 10_000);
    await eventually(async () => (await events('key.policy_applied')).some((e) => e.data.signer === 's3' && e.data.version === version), 10_000);
  }, 30_000);

  it("a holder's refusal is final: audited with its rule, and not re-sent on reconnect", async () => {
    const s2 = c.signers[1]!;
    s2.misbehave.refusePolicy = true;
    try {
      const set = await setPolicyOk({ approvers: APPROVERS, approvals: { sign: 2 }, approvalTtlSeconds: 600 });
      expect(set).toMatchObject({ delivered: ['s1', 's3'], pending: [] });
      expect((await events('key.policy_refused')).at(-1)?.data).toMatchObject({ signer: 's2', version, rule: 'version' });
      expect((await events('policy.denied')).at(-1)?.data).toMatchObject({ rule: 'version', where: 's2', op: 'policy' });
      const starts = s2.policyStarts;
      await s2.close();
      await s2.connect();
      // Re-sent commits go out on reconnect; a later frame proves the link is past that point.
      expect((await call('GET', `/v1/keys/${KEY}/policy`)).json).toMatchObject({ version });
      expect(s2.policyStarts).toBe(starts);
    } finally {
      s2.misbehave.refusePolicy = false;
      s2.policies.set(KEY, version); // the operator brought this signer up to date
    }
  }, 30_000);
});

describe('operations waiting for approvals', () => {
  let pending: PendingOperationJson;
  const message = new Uint8Array(32).fill(9);

  it('a sign the policy requires approvals for answers 202 with the operation, listed as pending; no signer is contacted', async () => {
    const before = startsOf();
    const r = await sign(message);
    expect(r.status, JSON.stringify(r.json)).toBe(202);
    pending = r.json.operation as PendingOperationJson;
    expect(pending).toMatchObject({ kind: 'approval', keyId: KEY, op: 'sign', action: 'sign', state: 'pending', required: 2, approvals: [], params: { message: bytesToHex(message) } });
    expect(r.location).toBe(`/v1/operations/${pending.id}`);
    expect(startsOf()).toBe(before);
    const list = await call('GET', '/v1/operations?state=pending', undefined, c.auditor);
    expect((list.json.operations as PendingOperationJson[]).map((o) => o.id)).toContain(pending.id);
    expect((await call('GET', `/v1/operations/${pending.id}`)).json).toMatchObject({ id: pending.id, state: 'pending' });
    expect((await events('operation.pending')).at(-1)?.data).toMatchObject({ id: pending.id, op: 'sign', required: 2 });
  });

  it('records an Ed25519 approval; refuses a forged one (403 rule approvals) and records nothing', async () => {
    const parsed = parseRequest(pending);
    const ok = await approve(pending.id, signApproval(alice, 'alice', parsed));
    expect(ok.status, JSON.stringify(ok.json)).toBe(200);
    expect(ok.json.operation).toMatchObject({ state: 'pending', approvals: ['alice'] });

    const forged = await approve(pending.id, signApproval(mallory, 'bob', parsed));
    expect(forged.status).toBe(403);
    expect(forged.json.error).toMatchObject({ code: 'POLICY_DENIED', rule: 'approvals' });
    const stranger = await approve(pending.id, signApproval(mallory, 'mallory', parsed));
    expect(stranger.json.error).toMatchObject({ code: 'POLICY_DENIED', rule: 'approvals' });
    expect((await call('GET', `/v1/operations/${pending.id}`)).json).toMatchObject({ state: 'pending', approvals: ['alice'] });
    expect((await events('operation.approved')).map((e) => e.data.approver)).toEqual(['alice']);
  });

  it('a passkey approval completes the quorum: the sign runs with the approvals and its result is in the operation, once', async () => {
    const parsed = parseRequest(pending);
    const done = await approve(pending.id, carol.approve('carol', hexToBytes(pending.challenge)));
    expect(done.status, JSON.stringify(done.json)).toBe(200);
    const op = done.json.operation as PendingOperationJson & { result: { signature: string; publicKey: string } };
    expect(op).toMatchObject({ state: 'succeeded', approvals: ['alice', 'carol'] });
    expect(ed25519.verify(hexToBytes(op.result.signature), message, hexToBytes(op.result.publicKey))).toBe(true);
    expect((await events('key.signed')).at(-1)?.data).toMatchObject({ approvers: ['alice', 'carol'] });
    expect((await events('operation.finished')).at(-1)?.data).toMatchObject({ id: pending.id, state: 'succeeded', approvers: ['alice', 'carol'] });

    // Never twice: the approved request, approvals attached, is refused as a replay; a later approval finds it finished.
    const replay = await sign(message, { request: parsed, approvals: [signApproval(alice, 'alice', parsed), signApproval(bob, 'bob', parsed)] });
    expect(replay.status).toBe(401);
    expect(replay.json.error?.message).toMatch(/REPLAY/);
    expect((await approve(pending.id, signApproval(bob, 'bob', parsed))).json.error).toMatchObject({ code: 'WRONG_STATE' });
  });

  it('a request that carries enough valid approvals runs at once; one forged approval among them refuses it (403 approvals, nothing signed)', async () => {
    const m = new Uint8Array(32).fill(11);
    const r1 = signRequest(m);
    const forged = await sign(m, { request: r1, approvals: [signApproval(alice, 'alice', r1), signApproval(mallory, 'bob', r1)] });
    expect(forged.status).toBe(403);
    expect(forged.json.error).toMatchObject({ code: 'POLICY_DENIED', rule: 'approvals' });
    const signed = (await events('key.signed')).length;
    const r2 = signRequest(m);
    const ok = await sign(m, { request: r2, approvals: [signApproval(alice, 'alice', r2), signApproval(bob, 'bob', r2)] });
    expect(ok.status, JSON.stringify(ok.json)).toBe(200);
    expect(ed25519.verify(hexToBytes(ok.json.signature as string), m, hexToBytes(ok.json.publicKey as string))).toBe(true);
    expect(await events('key.signed')).toHaveLength(signed + 1);
  });

  it('pending operations survive a coordinator restart (same SQLite file) and run once approved after it', async () => {
    const m = new Uint8Array(32).fill(12);
    const r = await sign(m);
    expect(r.status).toBe(202);
    const op = r.json.operation as PendingOperationJson;
    expect((await approve(op.id, signApproval(bob, 'bob', parseRequest(op)))).json.operation).toMatchObject({ approvals: ['bob'] });
    await c.coordinator.stop();
    await c.coordinator.start();
    await Promise.all(c.signers.map((s) => s.connect()));
    const after = await call('GET', '/v1/operations?state=pending');
    expect((after.json.operations as PendingOperationJson[]).find((o) => o.id === op.id)).toMatchObject({ state: 'pending', approvals: ['bob'], required: 2 });
    const done = await approve(op.id, signApproval(alice, 'alice', parseRequest(op)));
    expect(done.json.operation, JSON.stringify(done.json)).toMatchObject({ state: 'succeeded', approvals: ['bob', 'alice'] });
  }, 60_000);

  it('an approved operation interrupted by a restart while it ran is marked failed, saying so', async () => {
    const r = await sign(new Uint8Array(32).fill(14));
    expect(r.status).toBe(202);
    const op = r.json.operation as PendingOperationJson;
    await c.coordinator.stop();
    // As if the previous process died between reaching quorum and recording the outcome.
    const registry = await SqliteStore.open(c.coordinator.options.dataDir);
    expect(await registry.setOperationState(op.id, 'pending', 'running')).toBe(true);
    await registry.stop();
    await c.coordinator.start();
    await Promise.all(c.signers.map((s) => s.connect()));
    const got = (await call('GET', `/v1/operations/${op.id}`)).json;
    expect(got).toMatchObject({ state: 'failed', error: { code: 'INTERNAL', message: expect.stringMatching(/interrupted by a coordinator restart/) } });
    expect((await events('operation.finished')).at(-1)?.data).toMatchObject({ id: op.id, state: 'failed', error: 'INTERRUPTED' });
  }, 60_000);

  it('an operation past its approval deadline is expired: approving answers 409 OPERATION_EXPIRED', async () => {
    await setPolicyOk({ approvers: APPROVERS, approvals: { sign: 2 }, approvalTtlSeconds: 1 });
    const r = await sign(new Uint8Array(32).fill(13));
    expect(r.status).toBe(202);
    const op = r.json.operation as PendingOperationJson;
    await eventually(() => Date.now() > op.expiresAt + 50, 5000);
    // Listed as pending no more once past its deadline (expired by the listing itself).
    const listed = (await call('GET', '/v1/operations?state=pending')).json.operations as PendingOperationJson[];
    expect(listed.map((o) => o.id)).not.toContain(op.id);
    const late = await approve(op.id, signApproval(alice, 'alice', parseRequest(op)));
    expect(late.status).toBe(409);
    expect(late.json.error).toMatchObject({ code: 'OPERATION_EXPIRED' });
    expect((await call('GET', `/v1/operations/${op.id}`)).json).toMatchObject({ state: 'expired', approvals: [] });
    expect((await events('operation.expired')).map((e) => e.data.id)).toContain(op.id);
  });

  it("a policy change the current policy requires approvals for waits for them, then is delivered", async () => {
    await setPolicyOk({ approvers: APPROVERS, approvals: { policy: 1 } });
    const r = await setPolicy({ approvers: APPROVERS });
    expect(r.status).toBe(202);
    const op = r.json.operation as PendingOperationJson;
    expect(op).toMatchObject({ op: 'policy', action: 'policy', required: 1, params: { policy: { version: version + 1 } } });
    const done = await approve(op.id, carol.approve('carol', hexToBytes(op.challenge)));
    expect(done.json.operation, JSON.stringify(done.json)).toMatchObject({ state: 'succeeded', result: { version: version + 1, delivered: ['s1', 's2', 's3'] } });
    version += 1;
    expect((await events('key.policy_set')).at(-1)?.data).toMatchObject({ version, approvers: ['carol'] });
    expect(c.signers.map((s) => s.policies.get(KEY))).toEqual([version, version, version]);
  });
});

describe('a key state transition the policy requires approvals for', () => {
  const state = (transition: 'suspend' | 'resume') => {
    const request = signClientRequest(c.admin, { op: 'state', keyId: KEY, digest: stateDigest({ keyId: KEY, transition, afterMs: 0 }), timestamp: Date.now() + skew });
    return call('POST', `/v1/keys/${KEY}/state`, { transition, request: requestToJson(request) });
  };

  it('suspend waits for its approval, then runs through the state route; the audit row names the approver', async () => {
    await setPolicyOk({ approvers: APPROVERS, approvals: { suspend: 1 } });
    const r = await state('suspend');
    expect(r.status, JSON.stringify(r.json)).toBe(202);
    const op = r.json.operation as PendingOperationJson;
    expect(op).toMatchObject({ op: 'state', action: 'suspend', required: 1, params: { transition: 'suspend' } });
    expect((await call('GET', `/v1/keys/${KEY}`)).json).toMatchObject({ state: 'active' });
    const done = await approve(op.id, signApproval(alice, 'alice', parseRequest(op)));
    expect(done.json.operation, JSON.stringify(done.json)).toMatchObject({ state: 'succeeded', result: { id: KEY, state: 'suspended' } });
    expect((await events('key.suspended')).at(-1)?.data).toMatchObject({ from: 'active', to: 'suspended', approvers: ['alice'] });
    expect((await state('resume')).json).toMatchObject({ state: 'active' });
  }, 30_000);

  it('a refresh the policy requires an approval for (with ?wait=false) waits for it, then runs as the refresh route does', async () => {
    await setPolicyOk({ approvers: APPROVERS, approvals: { refresh: 1 } });
    const request = signClientRequest(c.admin, { op: 'refresh', keyId: KEY, digest: refreshDigest({ keyId: KEY }), timestamp: Date.now() + skew });
    const r = await call('POST', `/v1/keys/${KEY}/refresh?wait=false`, { request: requestToJson(request) });
    expect(r.status, JSON.stringify(r.json)).toBe(202);
    const op = r.json.operation as PendingOperationJson;
    expect(op).toMatchObject({ kind: 'approval', op: 'refresh', state: 'pending', required: 1 });
    const done = await approve(op.id, carol.approve('carol', hexToBytes(op.challenge)));
    expect(done.json.operation, JSON.stringify(done.json)).toMatchObject({ state: 'succeeded', result: { id: KEY, epoch: epoch + 1 } });
    epoch += 1;
    await eventually(() => c.signers.every((s) => s.keys.get(KEY)?.epoch === epoch), 10_000);
    expect((await events('operation.finished')).at(-1)?.data).toMatchObject({ id: op.id, op: 'refresh', state: 'succeeded', approvers: ['carol'] });
  }, 60_000);
});

describe('early refusal with the coordinator\'s copy of the policy (no signer contacted)', () => {
  async function refused(rest: Record<string, unknown>, rule: string, o: { path?: string; client?: IdentityKey } = {}) {
    await setPolicyOk(rest);
    const before = startsOf();
    const m = new Uint8Array(32).fill(20);
    const request = signRequest(m, o.path, o.client ?? c.admin);
    const r = await call('POST', `/v1/keys/${KEY}/sign`, { message: bytesToHex(m), request: requestToJson(request), ...(o.path === undefined ? {} : { path: o.path }) }, o.client ?? c.admin);
    expect(r.status, JSON.stringify(r.json)).toBe(403);
    expect(r.json.error).toMatchObject({ code: 'POLICY_DENIED', rule });
    expect(startsOf()).toBe(before);
    expect((await events('policy.denied')).at(-1)?.data).toMatchObject({ rule, where: 'coordinator', op: 'sign' });
  }

  it('clients: a client outside the allow-list', () => refused({ clients: { sign: ['ab'.repeat(32)] } }, 'clients'));
  it('validity: before the cryptoperiod', () => refused({ notBefore: '2099-01-01T00:00:00Z' }, 'validity'));
  it('validity: after it', () => refused({ notAfter: '2001-01-01T00:00:00Z' }, 'validity'));
  it('a sign that needs approvals is refused by its rules before it waits for them (no pending operation)', async () => {
    const pendingBefore = (await call('GET', '/v1/operations')).json.operations as unknown[];
    await refused({ approvers: APPROVERS, approvals: { sign: 2 }, notAfter: '2001-01-01T00:00:00Z' }, 'validity');
    expect((await call('GET', '/v1/operations')).json.operations).toHaveLength(pendingBefore.length);
  });
  it('derivation: an index above the deepest allowed', () => refused({ maxDerivationIndex: 5 }, 'derivation', { path: 'm/7' }));
  it('refresh: shares overdue for refresh (counted from the DKG, on the coordinator clock)', async () => {
    // The coordinator's clock (and so the client's, to stay fresh) two minutes on: the DKG's shares are overdue.
    skew = 120_000;
    try {
      await refused({ refresh: { periodSeconds: 60, graceSeconds: 0 } }, 'refresh');
    } finally {
      skew = 0;
    }
  });
  it('velocity: the coordinator keeps its own count per key, durably (across a restart)', async () => {
    await setPolicyOk({ velocity: [{ limit: 2, windowSeconds: 3600, per: 'key' }] });
    for (const fill of [30, 31]) expect((await sign(new Uint8Array(32).fill(fill))).status).toBe(200);
    // Durable: the count survives a restart.
    await c.coordinator.stop();
    await c.coordinator.start();
    await Promise.all(c.signers.map((s) => s.connect()));
    const before = startsOf();
    const third = await sign(new Uint8Array(32).fill(32));
    expect(third.status).toBe(403);
    expect(third.json.error).toMatchObject({ code: 'POLICY_DENIED', rule: 'velocity' });
    expect(startsOf()).toBe(before);
  }, 30_000);
});

describe("a signer's refusal", () => {
  // First: the refusals of the next test make the signers suspected, and the liar must be asked first here.
  it("one lying signer's policy refusal only delays a signature: it is left out, audited, and the others sign (a liar cannot block)", async () => {
    await setPolicyOk({});
    const liar = c.signers[0]!;
    const before = (await events('policy.denied')).length;
    const asked = liar.signStarts;
    liar.misbehave.policyDeny = 'velocity';
    try {
      const r = await sign(new Uint8Array(32).fill(41));
      // The liar was asked first (quorum choice: least suspected, in order), else this test proves nothing.
      expect(liar.signStarts).toBe(asked + 1);
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      expect((await events('policy.denied')).slice(before).map((d) => d.data)).toEqual([expect.objectContaining({ rule: 'velocity', where: liar.id, op: 'sign' })]);
      expect((await events('key.signed')).at(-1)!.data.quorum).not.toContain(liar.id);
    } finally {
      delete liar.misbehave.policyDeny;
    }
  });

  it("once every quorum met a signer's ABORT 'POLICY_DENIED (<rule>): ...', answers 403 POLICY_DENIED with that rule; each refusal audited", async () => {
    const before = (await events('policy.denied')).length;
    for (const s of c.signers) s.misbehave.policyDeny = 'velocity';
    try {
      const r = await sign(new Uint8Array(32).fill(40));
      expect(r.status, JSON.stringify(r.json)).toBe(403);
      expect(r.json.error).toMatchObject({ code: 'POLICY_DENIED', rule: 'velocity' });
      // Each refusing signer is left out in turn until no quorum of the others is left (3 signers, t = 2: two refusals, not three).
      const denied = (await events('policy.denied')).slice(before);
      expect(denied).toHaveLength(2);
      expect(new Set(denied.map((d) => d.data.where)).size).toBe(2);
      for (const d of denied) expect(d.data).toMatchObject({ rule: 'velocity', op: 'sign', where: expect.stringMatching(/^s[123]$/) });
    } finally {
      for (const s of c.signers) delete s.misbehave.policyDeny;
    }
  });
});

function parseRequest(op: PendingOperationJson): ClientRequest {
  const j = op.request;
  return { v: 1, op: j.op, keyId: j.keyId, digest: hexToBytes(j.digest), timestamp: j.timestamp, nonce: hexToBytes(j.nonce), clientKey: hexToBytes(j.clientKey), sig: hexToBytes(j.sig) };
}

describe('client allow-list of any operation (last: it locks this key\'s policy)', () => {
  it("a policy change by a client outside the policy's allow-list for 'policy' is refused (403 clients) and not recorded", async () => {
    await setPolicyOk({ clients: { policy: ['cd'.repeat(32)] } });
    const r = await setPolicy({});
    expect(r.status).toBe(403);
    expect(r.json.error).toMatchObject({ code: 'POLICY_DENIED', rule: 'clients' });
    expect((await events('policy.denied')).at(-1)?.data).toMatchObject({ rule: 'clients', where: 'coordinator', op: 'policy' });
    expect((await call('GET', `/v1/keys/${KEY}/policy`)).json).toMatchObject({ version });
  });
});
