import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/index.ts';
import { tempDir } from './helpers.ts';

const dirs: string[] = [];
async function openRegistry(now = () => 1_000_000): Promise<SqliteStore> {
  const dir = tempDir();
  dirs.push(dir);
  return await SqliteStore.open(dir, { now, replayWindowMs: 60_000 });
}

afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const participants = [
  { signer: 's1', index: 1 },
  { signer: 's2', index: 2 },
];

describe('registry', () => {
  it('creates its database file 0600 and reports itself writable', async () => {
    const r = await openRegistry();
    expect(fs.statSync(r.file).mode & 0o777).toBe(0o600);
    expect(await r.writable()).toBe(true);
    await r.stop();
  });

  it('refuses a second key with the same id and forgets a pending key that is deleted', async () => {
    const r = await openRegistry();
    await r.insertPendingKey({ id: 'k1', suite: 'frost-ed25519', threshold: 2, participants });
    await expect(r.insertPendingKey({ id: 'k1', suite: 'frost-ed25519', threshold: 2, participants })).rejects.toThrow(/KEY_EXISTS/);
    expect(await r.getKey('k1')).toMatchObject({ state: 'pending', epoch: 0, publicKey: undefined, participants });
    await r.deleteKey('k1');
    expect(await r.getKey('k1')).toBeUndefined();
    await r.stop();
  });

  it('keeps pending commits per signer in order until acknowledged', async () => {
    const r = await openRegistry();
    const base = { keyId: 'k1', kind: 'refresh', epoch: 1, frame: new Uint8Array([1, 2]) };
    await r.addPendingCommit({ ...base, signer: 's1', sessionId: 'aa' });
    await r.addPendingCommit({ ...base, signer: 's1', sessionId: 'bb', kind: 'retire' });
    await r.addPendingCommit({ ...base, signer: 's2', sessionId: 'aa' });
    expect((await r.pendingCommits('s1')).map((c) => c.sessionId)).toEqual(['aa', 'bb']);
    await r.removePendingCommit((await r.findPendingCommit('s1', 'aa'))!.seq);
    expect((await r.pendingCommits('s1')).map((c) => c.kind)).toEqual(['retire']);
    expect(await r.pendingCommits('s2')).toHaveLength(1);
    await r.stop();
  });

  it('refuses a replayed client nonce and one older than the window', async () => {
    let now = 1_000_000;
    const r = await openRegistry(() => now);
    expect(await r.checkAndRemember('ab', 'cd', now)).toBe(true);
    expect(await r.checkAndRemember('ab', 'cd', now)).toBe(false);
    expect(await r.checkAndRemember('ab', 'ce', now - 60_001)).toBe(false);
    now += 120_000;
    expect(await r.checkAndRemember('ab', 'cd', now)).toBe(true);
    await r.stop();
  });

  it("tracks the epoch each signer holds per key from its acknowledgements: a leaver's ACK and an attestation forget it", async () => {
    const r = await openRegistry();
    await r.insertPendingKey({ id: 'k1', suite: 'frost-ed25519', threshold: 2, participants });
    await r.acknowledgeEpoch('k1', 's1', 0);
    await r.acknowledgeEpoch('k1', 's2', 0);
    await r.acknowledgeEpoch('k1', 's1', 1);
    expect(await r.signerEpochs()).toEqual([
      { signer: 's1', keyId: 'k1', epoch: 1 },
      { signer: 's2', keyId: 'k1', epoch: 0 },
    ]);
    await r.acknowledgeEpoch('k1', 's3', 2);
    expect((await r.signerEpochs()).map((e) => e.signer)).toEqual(['s1', 's2']);
    await r.addAttestation({ keyId: 'k1', signer: 's2', epoch: 0, destroyedAt: 1, verifyingShare: new Uint8Array(33), envelope: new Uint8Array(1) });
    expect(await r.signerEpochs()).toEqual([{ signer: 's1', keyId: 'k1', epoch: 1 }]);
    await r.stop();
  });

  it('fills the signer epochs of a registry created before they were tracked from its audit log', async () => {
    const r = await openRegistry();
    await r.insertPendingKey({ id: 'k1', suite: 'frost-ed25519', threshold: 2, participants });
    await r.append('commit.acked', 'k1', { signer: 's1', kind: 'dkg', epoch: 0 });
    await r.append('commit.acked', 'k1', { signer: 's2', kind: 'dkg', epoch: 0 });
    await r.append('commit.acked', 'k1', { signer: 's1', kind: 'refresh', epoch: 1 });
    await r.append('key.attested', 'k1', { signer: 's2', epoch: 0, destroyedAt: 1, verifyingShare: '00' });
    await r.stop();
    const db = new Database(r.file);
    db.exec('DROP TABLE signer_epochs');
    db.exec('ALTER TABLE keys DROP COLUMN session_id'); // nor had it the columns of later migrations
    db.pragma('user_version = 0'); // a file of that age predates numbered schema versions
    db.close();
    const again = await SqliteStore.open(path.dirname(r.file));
    expect(await again.signerEpochs()).toEqual([{ signer: 's1', keyId: 'k1', epoch: 1 }]);
    await again.stop();
  });

  it('records bans per key', async () => {
    const r = await openRegistry();
    await r.ban('k1', 's2', 'invalid share');
    await r.ban('k1', 's2', 'again');
    expect(await r.bannedSigners('k1')).toEqual(['s2']);
    expect(await r.bannedSigners('k2')).toEqual([]);
    await r.stop();
  });
});

describe('audit log', () => {
  async function withRows(): Promise<SqliteStore> {
    const r = await openRegistry();
    const signers = ['s1', 's2'];
    await r.append('key.pending', 'k1', { suite: 'frost-ed25519', threshold: 2, signers });
    await r.append('key.created', 'k1', { suite: 'frost-ed25519', threshold: 2, signers, epoch: 0, publicKey: 'aa', transcriptHash: 'bb' });
    await r.append('key.signed', 'k1', { epoch: 0, quorum: signers, attempts: 1, messageSha256: 'cc', path: '', taproot: '', publicKey: 'aa', signature: 'dd', clientKey: 'ee' });
    return r;
  }

  it('chains every row to the previous one and verifies', async () => {
    const r = await withRows();
    const rows = await r.audit();
    expect(rows.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(rows[1]!.prevHash).toBe(rows[0]!.hash);
    expect(await r.verifyAudit()).toEqual({ ok: true, count: 3, head: rows[2]!.hash });
    expect(await r.audit('k2')).toEqual([]);
    await r.stop();
  });

  it('detects a tampered row', async () => {
    const r = await withRows();
    await r.stop();
    const db = new Database(r.file);
    db.prepare("UPDATE audit SET data = '{\"quorum\":[\"s1\",\"s3\"]}' WHERE seq = 3").run();
    db.close();
    const again = await SqliteStore.open(r.file.replace(/\/registry\.db$/, ''));
    expect(await again.verifyAudit()).toEqual({ ok: false, seq: 3, reason: 'hash does not match the row' });
    await again.stop();
  });

  it('detects a deleted row', async () => {
    const r = await withRows();
    await r.stop();
    const db = new Database(r.file);
    db.prepare('DELETE FROM audit WHERE seq = 2').run();
    db.close();
    const again = await SqliteStore.open(r.file.replace(/\/registry\.db$/, ''));
    expect(await again.verifyAudit()).toMatchObject({ ok: false, seq: 3 });
    await again.stop();
  });

  it('detects a row whose hash was recomputed without relinking the chain', async () => {
    const r = await withRows();
    await r.stop();
    const db = new Database(r.file);
    db.prepare("UPDATE audit SET hash = '00' || substr(hash, 3) WHERE seq = 1").run();
    db.close();
    const again = await SqliteStore.open(r.file.replace(/\/registry\.db$/, ''));
    expect(await again.verifyAudit()).toMatchObject({ ok: false, seq: 1 });
    await again.stop();
  });
});
