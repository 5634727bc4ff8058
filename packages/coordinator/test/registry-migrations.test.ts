import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { bytesToHex } from '@noble/hashes/utils.js';
import { afterEach, describe, expect, it } from 'vitest';
import { CoordinatorError, SqliteStore } from '../src/index.ts';
import { SCHEMA_VERSION } from '../src/registry/schema.ts';
import { tempDir } from './helpers.ts';

/** test/fixtures/registry-v1: written by the registry before numbered migrations (make-registry-v1.ts). */
const FIXTURE = path.join(import.meta.dirname, 'fixtures', 'registry-v1');
const listing = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'registry-v1.json'), 'utf8'));

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A data directory holding a copy of the fixture's registry.db. */
function fixtureCopy(): string {
  const dir = tempDir();
  dirs.push(dir);
  fs.copyFileSync(path.join(FIXTURE, 'registry.db'), path.join(dir, 'registry.db'));
  return dir;
}

function withFile<T>(dir: string, fn: (db: Database.Database) => T): T {
  const db = new Database(path.join(dir, 'registry.db'));
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

const userVersion = (db: Database.Database) => db.pragma('user_version', { simple: true });

/** The schema and every row of every table, as stored. */
function dump(db: Database.Database): Record<string, unknown> {
  const tables = db.prepare<[], { name: string; sql: string }>("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name").all();
  return Object.fromEntries(tables.map((t) => [t.name, { sql: t.sql, rows: db.prepare(`SELECT * FROM "${t.name}" ORDER BY rowid`).all() }]));
}

const openFixture = async (dir: string) => await SqliteStore.open(dir, { now: () => listing.clock, replayWindowMs: listing.replayWindowMs });

describe('registry schema migrations', () => {
  it('migrates a registry written before numbered migrations to the latest version without changing a stored byte (version 2 only adds keys.session_id, null; version 3 an empty key_states; version 4 the empty governance tables; version 5 an empty audit_checkpoints)', async () => {
    const dir = fixtureCopy();
    const before = withFile(dir, (db) => {
      expect(userVersion(db)).toBe(0);
      return dump(db);
    });
    await (await openFixture(dir)).stop();
    withFile(dir, (db) => {
      expect(userVersion(db)).toBe(SCHEMA_VERSION);
      const after = dump(db) as Record<string, { sql: string; rows: Record<string, unknown>[] }>;
      const keys = (before as typeof after).keys!;
      expect(after.keys!.sql).toBe(keys.sql.replace(/\)$/, ', session_id TEXT)'));
      expect(after.keys!.rows).toEqual(keys.rows.map((row) => ({ ...row, session_id: null })));
      expect(after.key_states!.rows).toEqual([]);
      const governance = ['policies', 'pending_operations', 'approved_requests', 'sign_uses'] as const;
      for (const t of governance) expect(after[t]!.rows).toEqual([]);
      expect(after.audit_checkpoints!.rows).toEqual([]);
      const without = Object.fromEntries([...governance, 'keys', 'key_states', 'audit_checkpoints'].map((t) => [t, undefined]));
      expect({ ...after, ...without }).toEqual({ ...before, keys: undefined });
    });
  });

  it("version 2: a pending key read from an old registry has no DKG session id; one recorded later is read back after a restart (only on a pending key)", async () => {
    const dir = fixtureCopy();
    let r = await openFixture(dir);
    expect((await r.getKey('k-pending'))!.sessionId).toBeUndefined();
    await r.setKeySession('k-pending', 'ab'.repeat(32));
    await r.setKeySession('k-active', 'cd'.repeat(32));
    await r.stop();
    r = await openFixture(dir);
    expect((await r.getKey('k-pending'))!.sessionId).toBe('ab'.repeat(32));
    expect((await r.getKey('k-active'))!.sessionId).toBeUndefined();
    await r.stop();
  });

  it('reads back every key, commit, signer epoch, attestation, ban and replay entry the old registry wrote, and its audit chain still verifies', async () => {
    const r = await openFixture(fixtureCopy());
    expect(
      (await r.listKeys()).map((k) => ({ id: k.id, suite: k.suite, state: k.state, epoch: k.epoch, threshold: k.threshold, participants: k.participants, groupKey: k.publicKey === undefined ? null : bytesToHex(k.publicKey.groupKey), createdAt: k.createdAt, updatedAt: k.updatedAt })),
    ).toEqual(listing.keys);
    const retired = (await r.getKey('k-retired'))!;
    expect(Object.keys(retired.publicKey!.verifyingShares)).toHaveLength(3);
    expect((await r.pendingCommits()).map((c) => ({ ...c, frame: bytesToHex(c.frame) }))).toEqual(listing.pendingCommits);
    expect(await r.unacknowledged('k-retired')).toEqual(['s3']);
    expect(await r.signerEpochs()).toEqual(listing.signerEpochs);
    expect((await r.attestations('k-retired')).map((a) => ({ ...a, verifyingShare: bytesToHex(a.verifyingShare), envelope: bytesToHex(a.envelope) }))).toEqual(listing.attestations);
    expect(await r.bans('k-active')).toEqual(listing.bans['k-active']);
    for (const cleared of listing.clearedBans) expect(await r.bannedSigners(cleared.keyId)).not.toContain(cleared.signer);
    for (const e of listing.replay) expect(await r.checkAndRemember(e.clientKey, e.nonce, e.ts)).toBe(false);
    expect((await r.audit()).map((e) => e.event)).toEqual(listing.audit.events);
    expect(await r.verifyAudit()).toEqual(listing.audit.verification);
    await r.stop();
  });

  it('keeps the audit chain of the old registry going: a row appended after migration links to its head', async () => {
    const r = await openFixture(fixtureCopy());
    const row = await r.append('key.retired', 'k-active', { epoch: 1, approvers: ['s1', 's2'] });
    expect(row.prevHash).toBe(listing.audit.verification.head);
    expect(await r.verifyAudit()).toEqual({ ok: true, count: listing.audit.verification.count + 1, head: row.hash });
    await r.stop();
  });

  it('refuses, with BAD_CONFIG naming dataDir, a registry written by a newer coordinator, and leaves it as it was', async () => {
    const dir = fixtureCopy();
    const before = withFile(dir, (db) => {
      db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
      return dump(db);
    });
    let error: unknown;
    try {
      await openFixture(dir);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CoordinatorError);
    expect(error).toMatchObject({ code: 'BAD_CONFIG', field: 'dataDir', message: expect.stringContaining(`schema version ${SCHEMA_VERSION + 1}`) });
    withFile(dir, (db) => {
      expect(userVersion(db)).toBe(SCHEMA_VERSION + 1);
      expect(dump(db)).toEqual(before);
    });
  });

  it('leaves a registry as it was when a migration fails half-way (migrations and the version commit together)', async () => {
    const dir = fixtureCopy();
    const before = withFile(dir, (db) => {
      db.exec('DROP TABLE signer_epochs');
      db.prepare("INSERT INTO audit (seq, ts, event, key_id, data, prev_hash, hash) VALUES (999, 0, 'commit.acked', 'k-active', 'not json', '', '')").run();
      return dump(db);
    });
    await expect(openFixture(dir)).rejects.toThrow(SyntaxError);
    withFile(dir, (db) => {
      expect(userVersion(db)).toBe(0);
      expect(dump(db)).toEqual(before);
    });
  });

  it('gives a new registry every migration: the latest version and the same layout a migrated old registry has', async () => {
    const fresh = tempDir();
    dirs.push(fresh);
    await (await SqliteStore.open(fresh)).stop();
    const migrated = fixtureCopy();
    await (await openFixture(migrated)).stop();
    const layout = (db: Database.Database) => db.prepare("SELECT type, name, sql FROM sqlite_master ORDER BY name").all();
    withFile(fresh, (db) => {
      expect(userVersion(db)).toBe(SCHEMA_VERSION);
      expect(layout(db)).toEqual(withFile(migrated, layout));
    });
  });
});
