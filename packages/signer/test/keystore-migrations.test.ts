/**
 * Keystore schema migrations: a keystore written before the keystore was split into
 * stores (fixtures/keystore-v1, made by fixtures/make-keystore-fixture.ts with that
 * code) opens with today's code and reads back everything it holds; a new keystore
 * gets every migration and the same layout; a keystore from newer code is refused.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hexToBytes } from '@noble/hashes/utils.js';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { KEYSTORE_DB_FILE, Keystore, SCRYPT_N_MIN } from '../src/keystore/index.ts';
import { SignerError } from '../src/errors.ts';
import { MIGRATIONS, SCHEMA_VERSION } from '../src/keystore/schema.ts';
import { removeTempDirs, tempDir } from './helpers/cluster.ts';

const FIXTURE_DIR = fileURLToPath(new URL('./fixtures/keystore-v1', import.meta.url));

interface FixtureNonce {
  nonceId: string;
  keyId: string;
  epoch: number;
  secret: string;
}

interface FixtureContents {
  schemaVersion: number;
  signerId: string;
  passphrase: string;
  createdAt: number;
  identity: { seed: string; publicKey: string };
  shares: { keyId: string; epoch: number; suite: string; state: 'active' | 'pending'; secret: string; public: string }[];
  retired: { keyId: string; retiredAt: number; attestationDigest: string; attestation: string };
  nonces: { consumed: FixtureNonce; fresh: FixtureNonce; discarded: FixtureNonce };
  requests: { clientKey: string; nonce: string; timestamp: number }[];
  bans: { keyId: string; peer: string; reason: string; bannedAt: number }[];
}

const contents = JSON.parse(fs.readFileSync(path.join(FIXTURE_DIR, 'contents.json'), 'utf8')) as FixtureContents;

const stores: Keystore[] = [];
afterEach(() => {
  for (const ks of stores.splice(0)) ks.close();
  removeTempDirs();
});

/** A copy of the fixture keystore in a fresh temp dir (the committed one is never written). */
function fixtureCopy(): string {
  const dataDir = path.join(tempDir(), 'data');
  fs.mkdirSync(dataDir, { mode: 0o700 });
  fs.copyFileSync(path.join(FIXTURE_DIR, KEYSTORE_DB_FILE), path.join(dataDir, KEYSTORE_DB_FILE));
  return dataDir;
}

function openFixture(dataDir: string): Keystore {
  // The fixture was sealed at N = SCRYPT_N_MIN; naming it keeps these tests off the (slow) re-seal at the default N.
  const ks = Keystore.open({ dataDir, kek: { passphrase: contents.passphrase }, signerId: contents.signerId, scryptN: SCRYPT_N_MIN });
  stores.push(ks);
  return ks;
}

function withRaw<T>(dataDir: string, fn: (db: Database.Database) => T): T {
  const db = new Database(path.join(dataDir, KEYSTORE_DB_FILE));
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

const schemaVersion = (db: Database.Database) => db.prepare("SELECT value FROM meta WHERE name = 'schema_version'").pluck().get();
const layout = (db: Database.Database) =>
  db.prepare('SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name').all();

describe('keystore migrations', () => {
  it('the fixture was written at schema version 1, the layout migration 1 creates', () => {
    expect(contents.schemaVersion).toBe(1);
    expect(withRaw(fixtureCopy(), schemaVersion)).toBe(1);
    expect(MIGRATIONS.map((m) => m.version)).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
  });

  it('a keystore written by the pre-split code opens at the latest schema version and reads back every item it holds', () => {
    const dataDir = fixtureCopy();
    const ks = openFixture(dataDir);
    expect(withRaw(dataDir, schemaVersion)).toBe(SCHEMA_VERSION);

    expect(ks.signerId).toBe(contents.signerId);
    expect(ks.getIdentity()).toEqual({ seed: hexToBytes(contents.identity.seed), publicKey: hexToBytes(contents.identity.publicKey) });
    expect(Keystore.readIdentityPublicKey(dataDir)).toEqual(hexToBytes(contents.identity.publicKey));

    for (const share of contents.shares) {
      const expected = {
        keyId: share.keyId,
        epoch: share.epoch,
        signerId: contents.signerId,
        suite: share.suite,
        state: share.state,
        secret: hexToBytes(share.secret),
        public: hexToBytes(share.public),
        createdAt: contents.createdAt,
        updatedAt: contents.createdAt,
      };
      expect(ks.getShare(share.keyId, share.epoch)).toEqual(expected);
      if (share.state === 'active') expect(ks.getActive(share.keyId)).toEqual(expected);
    }

    const { retired } = contents;
    expect(ks.listKeys()).toEqual([
      { keyId: 'ecdsa-k', state: 'active', epoch: 0, suite: 'ecdsa-secp256k1', pendingEpoch: null },
      { keyId: 'frost-k', state: 'active', epoch: 0, suite: 'frost-ed25519', pendingEpoch: 1 },
      { keyId: retired.keyId, state: 'retired', retiredAt: retired.retiredAt, attestationDigest: hexToBytes(retired.attestationDigest) },
    ]);
    expect(ks.getAttestation(retired.keyId)).toEqual(hexToBytes(retired.attestation));
    expect(() => ks.getActive(retired.keyId)).toThrow(/WRONG_STATE/);

    const { consumed, fresh, discarded } = contents.nonces;
    expect(ks.countFreshNonces()).toBe(1);
    expect(ks.countFreshNonces(fresh.keyId)).toBe(1);
    expect(() => ks.consumeNonce(consumed.nonceId)).toThrow(/NONCE_CONSUMED/);
    expect(() => ks.consumeNonce(discarded.nonceId)).toThrow(/NONCE_DISCARDED/);
    expect(ks.consumeNonce(fresh.nonceId)).toEqual(hexToBytes(fresh.secret));

    for (const r of contents.requests) expect(ks.rememberRequest(r.clientKey, r.nonce, r.timestamp)).toBe(false);
    expect(ks.rememberRequest(contents.requests[0]!.clientKey, '03'.repeat(16), contents.createdAt)).toBe(true);

    for (const ban of contents.bans) expect(ks.bannedPeers(ban.keyId)).toEqual([ban.peer]);
    expect(Keystore.readPeerBans(dataDir)).toEqual(contents.bans);
  });

  it('a new keystore gets every migration: the latest version, and the same layout as a migrated old one', () => {
    const fresh = path.join(tempDir(), 'fresh');
    stores.push(Keystore.create({ dataDir: fresh, kek: { passphrase: 'p' }, signerId: 's1', scryptN: SCRYPT_N_MIN }));
    const migrated = fixtureCopy();
    openFixture(migrated);
    expect(withRaw(fresh, schemaVersion)).toBe(SCHEMA_VERSION);
    expect(withRaw(fresh, layout)).toEqual(withRaw(migrated, layout));
  });

  it('a keystore written by newer code (a schema version above the last migration) is refused with SCHEMA_VERSION, untouched', () => {
    const dataDir = fixtureCopy();
    withRaw(dataDir, (db) => db.prepare("UPDATE meta SET value = ? WHERE name = 'schema_version'").run(SCHEMA_VERSION + 1));
    const before = withRaw(dataDir, layout);
    let thrown: unknown;
    try {
      openFixture(dataDir);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(SignerError);
    expect(thrown).toMatchObject({ code: 'SCHEMA_VERSION', field: 'meta.schema_version' });
    expect(withRaw(dataDir, schemaVersion)).toBe(SCHEMA_VERSION + 1);
    expect(withRaw(dataDir, layout)).toEqual(before);
  });

  it('migration 6 adds the spend ledger to a version-5 keystore: amounts summed as BigInt, a request counted once, kept across a reopen, pruned past its retention', () => {
    const dataDir = fixtureCopy();
    openFixture(dataDir).close();
    withRaw(dataDir, (db) => {
      db.exec('DROP TABLE spend_ledger');
      db.prepare("UPDATE meta SET value = 5 WHERE name = 'schema_version'").run();
    });
    let ks = openFixture(dataDir);
    expect(withRaw(dataDir, schemaVersion)).toBe(SCHEMA_VERSION);
    const clientKeyHex = 'ab'.repeat(32);
    const request = (n: number) => new Uint8Array(32).fill(n);
    const big = (1n << 200n) + 7n;
    const at = 1_000_000;
    const spend = (n: number, amount: bigint, when = at, asset = 'native') => ({ keyId: 'frost-k', requestId: request(n), asset, amount, at: when, retainMs: 10_000 });
    // Request 1 admitted twice (two inputs or attempts): its amount counts once.
    expect(ks.admitRequest({ clientKeyHex, nonces: ['0100000000'], stamp: at, spend: [spend(1, big), spend(1, big, at, 'spl:Mint1')] })).toBe(true);
    expect(ks.admitRequest({ clientKeyHex, nonces: ['0100010000'], stamp: at, spend: [spend(1, big)] })).toBe(true);
    expect(ks.admitRequest({ clientKeyHex, nonces: ['0200000000'], stamp: at, spend: [spend(2, big, at + 5)] })).toBe(true);
    // A replayed nonce writes nothing, its spend included.
    expect(ks.admitRequest({ clientKeyHex, nonces: ['0200000000'], stamp: at, spend: [spend(3, 1n, at + 5)] })).toBe(false);
    ks.close();
    ks = openFixture(dataDir);
    const none = request(0);
    expect(ks.spentSince('frost-k', 'native', at - 1, none)).toBe(2n * big);
    expect(ks.spentSince('frost-k', 'spl:Mint1', at - 1, none)).toBe(big);
    expect(ks.spentSince('frost-k', 'native', at - 1, request(1))).toBe(big);
    expect(ks.spentSince('frost-k', 'native', at, none)).toBe(big);
    expect(ks.spentSince('ecdsa-k', 'native', 0, none)).toBe(0n);
    expect(() => ks.spentSince('frost-k', 'na tive', 0, none)).toThrow(/BAD_FIELD/);
    expect(() => ks.admitRequest({ clientKeyHex, nonces: ['0400000000'], stamp: at, spend: [spend(4, -1n)] })).toThrow(/BAD_FIELD/);
    // A write 10 s later prunes what was kept for 10 s (request 1's rows, not request 2's).
    expect(ks.admitRequest({ clientKeyHex, nonces: ['0500000000'], stamp: at, spend: [spend(5, 1n, at + 10_001)] })).toBe(true);
    expect(ks.spentSince('frost-k', 'native', 0, none)).toBe(big + 1n);
    expect(ks.spentSince('frost-k', 'spl:Mint1', 0, none)).toBe(0n);
  });
});
