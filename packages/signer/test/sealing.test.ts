/**
 * The nonce journal's sealing binds each entry to its key id and epoch (AD
 * 'keyquorum/nonce/v1', nonce id, key id, epoch, signer id), as shares are bound to
 * theirs: an entry relabelled, or its sealed bytes moved, to another key or epoch fails
 * to open with CORRUPT and stays fresh, so no nonce of one key (a FROST commitment
 * pair, or an ECDSA instance key and mask (r, phi)) is ever used for another.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { KEYSTORE_DB_FILE, Keystore, SCRYPT_N_MIN } from '../src/keystore/index.ts';
import { SignerError } from '../src/errors.ts';

const PASSPHRASE = 'sealing test passphrase';
const dirs: string[] = [];
const open: Keystore[] = [];

afterEach(() => {
  for (const ks of open.splice(0)) ks.close();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function created(): Keystore {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyquorum-sealing-'));
  dirs.push(dataDir);
  const ks = Keystore.create({ dataDir, kek: { passphrase: PASSPHRASE }, signerId: 'signer-1', scryptN: SCRYPT_N_MIN });
  open.push(ks);
  return ks;
}

function reopened(ks: Keystore): Keystore {
  ks.close();
  const again = Keystore.open({ dataDir: ks.dataDir, kek: { passphrase: PASSPHRASE } });
  open.push(again);
  return again;
}

function raw(ks: Keystore, fn: (db: Database.Database) => void): void {
  const db = new Database(path.join(ks.dataDir, KEYSTORE_DB_FILE));
  try {
    fn(db);
  } finally {
    db.close();
  }
}

function active(ks: Keystore, keyId: string, epoch: number): void {
  ks.putPending(keyId, epoch, 'ecdsa-secp256k1', new Uint8Array(randomBytes(48)), new Uint8Array(randomBytes(33)));
  ks.activate(keyId, epoch);
}

function expectCorrupt(fn: () => unknown): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(SignerError);
  expect((error as SignerError).code).toBe('CORRUPT');
}

/** One journal holds both: a FROST nonce pair (hiding || binding) and an ECDSA entry (r || phi), 64 sealed bytes each. */
describe('a signing nonce in the journal', () => {
  it('relabelled to another key id fails to open (CORRUPT) and stays fresh', () => {
    const ks = created();
    active(ks, 'k1', 0);
    active(ks, 'k2', 0);
    ks.storeNonce('n1', 'k1', 0, new Uint8Array(randomBytes(64)));
    ks.close();
    raw(ks, (db) => db.prepare("UPDATE nonces SET key_id = 'k2' WHERE nonce_id = 'n1'").run());
    const again = reopened(ks);
    expectCorrupt(() => again.consumeNonce('n1'));
    expect(again.countFreshNonces('k2')).toBe(1);
  });

  it('relabelled to another epoch of the same key fails to open (CORRUPT) and stays fresh', () => {
    const ks = created();
    active(ks, 'k1', 3);
    ks.storeNonce('n1', 'k1', 3, new Uint8Array(randomBytes(64)));
    ks.close();
    raw(ks, (db) => db.prepare("UPDATE nonces SET epoch = 4 WHERE nonce_id = 'n1'").run());
    const again = reopened(ks);
    expectCorrupt(() => again.consumeNonce('n1'));
    expect(again.countFreshNonces('k1')).toBe(1);
  });

  it('opens where it was stored (the refusals above are the binding, not the set-up)', () => {
    const ks = created();
    active(ks, 'k1', 0);
    const nonce = new Uint8Array(randomBytes(64));
    ks.storeNonce('n1', 'k1', 0, nonce);
    expect(Buffer.from(reopened(ks).consumeNonce('n1'))).toEqual(Buffer.from(nonce));
  });
});
