/**
 * Per-key signer bans over HTTP: GET /v1/keys/{id}/bans lists them (any role),
 * DELETE /v1/keys/{id}/bans/{signer} lifts one (admin only, 204), audited as
 * 'signer.unbanned' with the lifted ban and the client that lifted it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesToHex } from '@noble/hashes/utils.js';
import { signHttpRequest, type IdentityKey } from '@keyquorum/protocol';
import type { SqliteStore } from '../src/index.ts';
import { startCluster, type Cluster } from './helpers.ts';

let c: Cluster;
let registry: SqliteStore;

beforeAll(async () => {
  c = await startCluster(['s1', 's2', 's3'], { connected: [] });
  registry = (c.coordinator as unknown as { parts: { registry: SqliteStore } }).parts.registry;
  await registry.insertPendingKey({ id: 'k1', suite: 'ecdsa-secp256k1', threshold: 2, participants: ['s1', 's2', 's3'].map((signer, i) => ({ signer, index: i + 1 })) });
});
afterAll(async () => c.stop());

async function call(method: string, path: string, as: IdentityKey = c.admin) {
  const headers = signHttpRequest(as, { method, target: path, body: new Uint8Array(0) });
  const res = await fetch(`${c.coordinator.url}${path}`, { method, headers });
  const text = await res.text();
  return { status: res.status, text, json: (text === '' ? undefined : JSON.parse(text)) as { bans?: unknown[]; error?: { code: string; field?: string } } | undefined };
}

describe('signer bans over HTTP', () => {
  it('lists no bans, and answers 404 for an unknown key', async () => {
    expect(await call('GET', '/v1/keys/k1/bans')).toMatchObject({ status: 200, json: { bans: [] } });
    const r = await call('GET', '/v1/keys/nope/bans');
    expect([r.status, r.json?.error?.code]).toEqual([404, 'UNKNOWN_KEY']);
  });

  it('lists the bans the engine recorded, to any role', async () => {
    const before = Date.now();
    await registry.ban('k1', 's2', 'signature share does not verify');
    await registry.ban('k1', 's3', 'OT consistency check failed');
    await registry.ban('other', 's1', 'another key');
    for (const as of [c.admin, c.auditor]) {
      const r = await call('GET', '/v1/keys/k1/bans', as);
      expect(r.status).toBe(200);
      expect(r.json?.bans).toEqual([
        { signer: 's2', reason: 'signature share does not verify', at: expect.any(Number) },
        { signer: 's3', reason: 'OT consistency check failed', at: expect.any(Number) },
      ]);
      expect((r.json?.bans as Array<{ at: number }>)[0]!.at).toBeGreaterThanOrEqual(before);
    }
  });

  it('lets only an admin lift a ban: 403 for an auditor, 204 for the admin, audited as signer.unbanned', async () => {
    const denied = await call('DELETE', '/v1/keys/k1/bans/s2', c.auditor);
    expect([denied.status, denied.json?.error?.code]).toEqual([403, 'UNAUTHORISED']);
    expect(await registry.bannedSigners('k1')).toEqual(['s2', 's3']);

    const ok = await call('DELETE', '/v1/keys/k1/bans/s2');
    expect([ok.status, ok.text]).toEqual([204, '']);
    expect(await registry.bannedSigners('k1')).toEqual(['s3']);
    expect(await registry.bannedSigners('other')).toEqual(['s1']);
    expect((await call('GET', '/v1/keys/k1/bans')).json?.bans).toEqual([{ signer: 's3', reason: 'OT consistency check failed', at: expect.any(Number) }]);

    const entries = (await c.coordinator.audit('k1')).filter((e) => e.event === 'signer.unbanned');
    expect(entries).toEqual([
      expect.objectContaining({ keyId: 'k1', data: { signer: 's2', reason: 'signature share does not verify', bannedAt: expect.any(Number), by: bytesToHex(c.admin.publicKey) } }),
    ]);
    expect(await c.coordinator.verifyAudit()).toMatchObject({ ok: true });
  });

  it('answers 404 for a signer not banned (audits nothing), 400 for a malformed signer id, 404 for an unknown key', async () => {
    const count = (await c.coordinator.audit()).length;
    const again = await call('DELETE', '/v1/keys/k1/bans/s2');
    expect([again.status, again.json?.error]).toEqual([404, expect.objectContaining({ code: 'NOT_FOUND', field: 'signer' })]);
    const bad = await call('DELETE', '/v1/keys/k1/bans/NOT%20A%20SIGNER');
    expect([bad.status, bad.json?.error]).toEqual([400, expect.objectContaining({ code: 'BAD_REQUEST', field: 'signer' })]);
    expect((await call('DELETE', '/v1/keys/nope/bans/s2')).status).toBe(404);
    expect((await c.coordinator.audit()).length).toBe(count);
  });

  it('refuses an unsigned DELETE with 401 and keeps the ban', async () => {
    const r = await fetch(`${c.coordinator.url}/v1/keys/k1/bans/s3`, { method: 'DELETE' });
    expect(r.status).toBe(401);
    expect(await registry.bannedSigners('k1')).toEqual(['s3']);
  });
});
