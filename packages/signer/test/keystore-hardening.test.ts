/**
 * Keystore hardening (issue 10, finding 5): the nonce journal does not grow without
 * bound, and a keystore sealed at a weaker scrypt N than today's default is re-sealed
 * at the default on its next unlock, in one transaction, readable afterwards with the
 * same passphrase and nothing else.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hexToBytes } from '@noble/hashes/utils.js';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { KEYSTORE_DB_FILE, Keystore, SCRYPT_N_DEFAULT, SCRYPT_N_MIN } from '../src/keystore/index.ts';
import { removeTempDirs, tempDir } from './helpers/cluster.ts';

const FIXTURE_DIR = fileURLToPath(new URL('./fixtures/keystore-v1', import.meta.url));
const contents = JSON.parse(fs.readFileSync(path.join(FIXTURE_DIR, 'contents.json'), 'utf8')) as {
  signerId: string;
  passphrase: string;
  identity: { seed: string; publicKey: string };
  shares: { keyId: string; epoch: number; state: 'active' | 'pending'; secret: string }[];
  nonces: { fresh: { nonceId: string; keyId: string; secret: string } };
};

const stores: Keystore[] = [];
afterEach(() => {
  for (const ks of stores.splice(0)) ks.close();
  removeTempDirs();
});

function withRaw<T>(dataDir: string, fn: (db: Database.Database) => T): T {
  const db = new Database(path.join(dataDir, KEYSTORE_DB_FILE));
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

const meta = (dataDir: string, name: string) => withRaw(dataDir, (db) => db.prepare('SELECT value FROM meta WHERE name = ?').pluck().get(name));
const nonceRows = (dataDir: string) => withRaw(dataDir, (db) => db.prepare<[], { nonce_id: string; state: string }>('SELECT nonce_id, state FROM nonces ORDER BY nonce_id').all());

describe('the nonce journal', () => {
  it('the nonce journal is pruned past the replay window', () => {
    let clock = 1_700_000_000_000;
    const dataDir = path.join(tempDir(), 'data');
    const ks = Keystore.create({ dataDir, kek: { passphrase: 'p' }, signerId: 's1', scryptN: SCRYPT_N_MIN, now: () => clock });
    stores.push(ks);
    ks.putPending('k1', 0, 'frost-ed25519', new Uint8Array(32).fill(1), new Uint8Array(33).fill(2));
    ks.activate('k1', 0);
    ks.storeNonce('consumed', 'k1', 0, new Uint8Array(64).fill(3));
    ks.storeNonce('discarded', 'k1', 0, new Uint8Array(64).fill(4));
    ks.storeNonce('outstanding', 'k1', 0, new Uint8Array(64).fill(5));
    ks.consumeNonce('consumed');
    ks.discardNonce('discarded');
    const windowMs = 60_000;

    // Inside the window nothing goes: a request naming these is still fresh.
    clock += windowMs - 1;
    expect(ks.pruneNonces(windowMs)).toBe(0);
    expect(nonceRows(dataDir)).toHaveLength(3);

    // Past it, the consumed and the discarded rows go; the outstanding nonce stays.
    clock += 2;
    expect(ks.pruneNonces(windowMs)).toBe(2);
    expect(nonceRows(dataDir)).toEqual([{ nonce_id: 'outstanding', state: 'fresh' }]);
    expect(ks.countFreshNonces('k1')).toBe(1);

    // Discarded at a restart, it goes with the next prune; it was never usable again.
    expect(ks.discardOutstandingNonces()).toBe(1);
    expect(() => ks.consumeNonce('outstanding')).toThrow(/NONCE_DISCARDED/);
    expect(ks.pruneNonces(windowMs)).toBe(1);
    expect(nonceRows(dataDir)).toEqual([]);
  });
});

/** A copy of the keystore-v1 fixture (sealed at N = SCRYPT_N_MIN by older code). */
function fixtureCopy(): string {
  const dataDir = path.join(tempDir(), 'data');
  fs.mkdirSync(dataDir, { mode: 0o700 });
  fs.copyFileSync(path.join(FIXTURE_DIR, KEYSTORE_DB_FILE), path.join(dataDir, KEYSTORE_DB_FILE));
  return dataDir;
}

const sealedBlobs = (dataDir: string) =>
  withRaw(dataDir, (db) => [
    ...db.prepare<[], Buffer>("SELECT sealed FROM shares WHERE state <> 'retired' ORDER BY key_id, epoch").pluck().all(),
    ...db.prepare<[], Buffer>("SELECT sealed FROM nonces WHERE state = 'fresh' ORDER BY nonce_id").pluck().all(),
    db.prepare<[], Buffer>("SELECT value FROM meta WHERE name = 'identity_sealed'").pluck().get()!,
  ]);

describe('scrypt cost', () => {
  it('a keystore sealed at an older, lower scrypt N is re-sealed at the default N on its next unlock', () => {
    const dataDir = fixtureCopy();
    expect(meta(dataDir, 'scrypt_n')).toBe(SCRYPT_N_MIN);
    expect(SCRYPT_N_DEFAULT).toBe(2 ** 17);
    const before = { salt: meta(dataDir, 'salt'), verifier: meta(dataDir, 'verifier'), blobs: sealedBlobs(dataDir) };

    const ks = Keystore.open({ dataDir, kek: { passphrase: contents.passphrase }, signerId: contents.signerId });
    stores.push(ks);
    expect(meta(dataDir, 'scrypt_n')).toBe(SCRYPT_N_DEFAULT);
    expect(meta(dataDir, 'salt')).not.toEqual(before.salt);
    expect(meta(dataDir, 'verifier')).not.toEqual(before.verifier);
    const after = sealedBlobs(dataDir);
    expect(after).toHaveLength(before.blobs.length);
    after.forEach((b, i) => expect(b).not.toEqual(before.blobs[i]));

    // Everything reads back, in this session and after a reopen with the same passphrase.
    const check = (k: Keystore) => {
      for (const s of contents.shares) expect(k.getShare(s.keyId, s.epoch).secret).toEqual(hexToBytes(s.secret));
      expect(k.getIdentity().seed).toEqual(hexToBytes(contents.identity.seed));
    };
    check(ks);
    ks.close();
    const again = Keystore.open({ dataDir, kek: { passphrase: contents.passphrase } });
    stores.push(again);
    check(again);
    expect(again.consumeNonce(contents.nonces.fresh.nonceId)).toEqual(hexToBytes(contents.nonces.fresh.secret));
    expect(() => Keystore.open({ dataDir, kek: { passphrase: 'wrong' } })).toThrow(/BAD_PASSPHRASE/);
  });

  it('a re-seal that meets a damaged fresh nonce stops with CORRUPT naming that nonce, and changes nothing', () => {
    const dataDir = fixtureCopy();
    const { nonceId } = contents.nonces.fresh;
    withRaw(dataDir, (db) => db.prepare('UPDATE nonces SET sealed = zeroblob(length(sealed)) WHERE nonce_id = ?').run(nonceId));
    const before = { salt: meta(dataDir, 'salt'), blobs: sealedBlobs(dataDir) };
    let error: unknown;
    try {
      stores.push(Keystore.open({ dataDir, kek: { passphrase: contents.passphrase }, signerId: contents.signerId }));
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'CORRUPT', field: `nonces[${nonceId}].sealed` });
    expect(meta(dataDir, 'scrypt_n')).toBe(SCRYPT_N_MIN);
    expect(meta(dataDir, 'salt')).toEqual(before.salt);
    expect(sealedBlobs(dataDir)).toEqual(before.blobs);
  });

  it('a re-seal that fails part-way changes nothing: the keystore stays whole at its old N', () => {
    const dataDir = fixtureCopy();
    // One share's sealed blob is damaged: the re-seal reaches it after re-sealing others, then fails.
    withRaw(dataDir, (db) => db.prepare("UPDATE shares SET sealed = zeroblob(length(sealed)) WHERE key_id = 'frost-k' AND epoch = 1").run());
    const before = { salt: meta(dataDir, 'salt'), blobs: sealedBlobs(dataDir) };
    expect(() => Keystore.open({ dataDir, kek: { passphrase: contents.passphrase }, signerId: contents.signerId })).toThrow(/CORRUPT/);
    expect(meta(dataDir, 'scrypt_n')).toBe(SCRYPT_N_MIN);
    expect(meta(dataDir, 'salt')).toEqual(before.salt);
    expect(sealedBlobs(dataDir)).toEqual(before.blobs);
    // Still opens as it was when asked not to raise N.
    const ks = Keystore.open({ dataDir, kek: { passphrase: contents.passphrase }, scryptN: SCRYPT_N_MIN });
    stores.push(ks);
    expect(ks.getIdentity().seed).toEqual(hexToBytes(contents.identity.seed));
  });

  it('a keystore created with an explicit N keeps it on unlock unless a higher one is asked for', () => {
    const dataDir = path.join(tempDir(), 'data');
    Keystore.create({ dataDir, kek: { passphrase: 'p' }, signerId: 's1', scryptN: SCRYPT_N_MIN }).close();
    const ks = Keystore.open({ dataDir, kek: { passphrase: 'p' } });
    ks.close();
    expect(meta(dataDir, 'scrypt_n')).toBe(SCRYPT_N_MIN);
    Keystore.open({ dataDir, kek: { passphrase: 'p' }, scryptN: SCRYPT_N_MIN * 4 }).close();
    expect(meta(dataDir, 'scrypt_n')).toBe(SCRYPT_N_MIN * 4);
  });
});
