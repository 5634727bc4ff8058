import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { auditHash, SqliteStore, type AuditEventType } from '../src/index.ts';
import { tempDir } from './helpers.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function openRegistry(): Promise<SqliteStore> {
  const dir = tempDir();
  dirs.push(dir);
  let now = 1_000_000;
  return await SqliteStore.open(dir, { now: () => now++ });
}

/** Every audit event; a missing or unknown name does not compile. */
const EVENTS: Record<AuditEventType, true> = {
  'key.pending': true,
  'key.created': true,
  'key.create_failed': true,
  'key.refreshed': true,
  'key.refresh_failed': true,
  'key.reshared': true,
  'key.reshare_failed': true,
  'key.signed': true,
  'key.sign_attempt_failed': true,
  'key.retired': true,
  'key.attested': true,
  'key.attestation_refused': true,
  'commit.acked': true,
  'signer.unbanned': true,
  'key.repaired': true,
  'key.repair_failed': true,
  'key.suspended': true,
  'key.resumed': true,
  'key.deactivated': true,
  'key.compromised': true,
  'key.destroy_scheduled': true,
  'key.destroy_cancelled': true,
  'key.destroyed': true,
  'key.state_applied': true,
  'key.state_refused': true,
  'key.policy_set': true,
  'key.policy_applied': true,
  'key.policy_refused': true,
  'policy.denied': true,
  'operation.pending': true,
  'operation.approved': true,
  'operation.expired': true,
  'operation.finished': true,
};

/** Events added after the registry-v1 fixture was written (share repair, refused retirement COMMITs, key states). */
const SINCE_V1 = ['key.repaired', 'key.repair_failed', 'key.attestation_refused', 'key.suspended', 'key.resumed', 'key.deactivated', 'key.compromised',
  'key.destroy_scheduled', 'key.destroy_cancelled', 'key.destroyed', 'key.state_applied', 'key.state_refused',
  'key.policy_set', 'key.policy_applied', 'key.policy_refused', 'policy.denied', 'operation.pending', 'operation.approved', 'operation.expired', 'operation.finished'];

describe('audit events', () => {
  it('names the 33 events the coordinator writes, each of them found in the registry-v1 fixture but those added since', () => {
    const listing = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, 'fixtures', 'registry-v1', 'registry-v1.json'), 'utf8')) as { audit: { events: string[] } };
    expect(Object.keys(EVENTS)).toHaveLength(33);
    expect(Object.keys(EVENTS).filter((e) => !SINCE_V1.includes(e)).sort()).toEqual([...new Set(listing.audit.events)].sort());
  });

  it('does not compile an unknown event or a payload missing a field', () => {
    const misuse = async (r: SqliteStore) => {
      // @ts-expect-error: not an audit event
      await r.append('key.exploded', 'k1', {});
      // @ts-expect-error: commit.acked names the epoch acknowledged
      await r.append('commit.acked', 'k1', { signer: 's1', kind: 'dkg' });
      // `by` is optional: an unban by an unknown operator
      await r.append('signer.unbanned', 'k1', { signer: 's1', reason: 'invalid share', bannedAt: 1 });
    };
    expect(misuse).toBeTypeOf('function');
  });

  it('stores the payload as the JSON of the object given and chains its hash over exactly those bytes', async () => {
    const r = await openRegistry();
    const data = { signer: 's2', reason: 'reported by s1', bannedAt: 7, by: 'c1' };
    const row = await r.append('signer.unbanned', 'k1', data);
    expect(await r.audit('k1')).toEqual([row]);
    const db = new Database(r.file, { readonly: true });
    const stored = db.prepare<[], { data: string }>('SELECT data FROM audit WHERE seq = 1').get()!;
    db.close();
    expect(stored.data).toBe(JSON.stringify(data));
    expect(row.hash).toBe(auditHash('00'.repeat(32), { seq: 1, ts: row.ts, event: 'signer.unbanned', keyId: 'k1', data: stored.data }));
    await r.stop();
  });

  it('writes an audited state change whole or not at all: a ban and its audit row roll back together', async () => {
    const r = await openRegistry();
    await expect(
      r.transaction(async (tx) => {
        await tx.ban('k1', 's3', 'invalid share');
        await tx.append('key.sign_attempt_failed', 'k1', { epoch: 0, attempt: 1, quorum: ['s1', 's3'], reason: 'invalid-share', excluded: ['s3'], culprits: ['s3'], banned: true });
        throw new Error('crash before commit');
      }),
    ).rejects.toThrow('crash before commit');
    expect(await r.bannedSigners('k1')).toEqual([]);
    expect(await r.audit()).toEqual([]);
    expect(await r.verifyAudit()).toEqual({ ok: true, count: 0, head: '00'.repeat(32) });
    await r.stop();
  });
});
