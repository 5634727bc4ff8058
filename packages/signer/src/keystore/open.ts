/**
 * Creating a keystore and opening one: the data dir (0700) and `keystore.db` (0600),
 * the KEK derived from the passphrase or key file and checked against the stored check
 * value, and the schema brought to `SCHEMA_VERSION` (all migrations of a new file, the
 * missing ones of an older file) in one transaction. No row or table is changed
 * before the KEK is known to be right.
 *
 * Transparent re-seal: a passphrase keystore whose scrypt N is below the target (the
 * open options' `scryptN`, else SCRYPT_N_DEFAULT) is re-sealed on unlock: a new salt,
 * the KEK derived at the target N, every live sealed blob (shares, fresh nonces, the
 * identity seed) opened under the old KEK and sealed under the new one, and `meta`'s
 * salt, N and check value replaced, all in one transaction (a crash leaves the old
 * keystore whole); then the WAL is truncated so no blob under the old KEK stays in it
 * (secure_delete zeroes the freed pages). A keystore created with an explicit
 * `scryptN` (meta `scrypt_n_chosen`) keeps it unless the open options ask for more.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from '@noble/ciphers/utils.js';
import type Database from 'better-sqlite3';
import { aId, aString, aUint } from './assert.ts';
import { DATA_DIR_MODE, KEYSTORE_DB_FILE, SALT_LENGTH, SCRYPT_N_DEFAULT, SCRYPT_P, SCRYPT_R, SECRET_FILE_MODE } from './constants.ts';
import { type StoreContext, blob, databaseFile, databaseFiles, openDatabase, sqliteToKeystore, tightenModes } from './database.ts';
import { SignerError } from '../errors.ts';
import { IdentityStore } from './identity.ts';
import { Kek, type KekSource, kekKind, validateScryptParams } from './kek.ts';
import { readMeta, writeMeta } from './meta.ts';
import { NonceJournal } from './nonces.ts';
import { ShareStore } from './shares.ts';
import { SCHEMA_VERSION, migrate, readSchemaVersion, requireTables } from './schema.ts';
import type { KeystoreCreateOptions, KeystoreOpenOptions } from './types.ts';

/** An open, unlocked keystore: what its stores work over, and where it lives. */
export interface UnlockedKeystore extends StoreContext {
  readonly dataDir: string;
}

function aNow(now: unknown): () => number {
  if (now === undefined) return Date.now;
  if (typeof now !== 'function') throw new SignerError('BAD_FIELD', { field: 'now', message: 'expected a function' });
  return now as () => number;
}

function aOptions(options: unknown): Record<string, unknown> {
  if (typeof options !== 'object' || options === null) {
    throw new SignerError('BAD_FIELD', { field: 'options', message: 'expected an object' });
  }
  return options as Record<string, unknown>;
}

/** Initialises a new keystore in `dataDir` (created 0700 if absent); 'EXISTS' if one is there. */
export function createKeystore(options: KeystoreCreateOptions): UnlockedKeystore {
  const o = aOptions(options);
  const dataDir = path.resolve(aString(o.dataDir, 'dataDir'));
  const signerId = aId(o.signerId, 'signerId');
  const clock = aNow(o.now);
  const source = o.kek as KekSource;
  const kind = kekKind(source);
  if (kind === 'keyFile' && o.scryptN !== undefined) {
    throw new SignerError('BAD_FIELD', { field: 'scryptN', message: 'applies to a passphrase, not a key file' });
  }
  const scrypt =
    kind === 'passphrase' ? validateScryptParams({ N: (o.scryptN ?? SCRYPT_N_DEFAULT) as number, r: SCRYPT_R, p: SCRYPT_P }, 'scryptN') : null;
  const salt = randomBytes(SALT_LENGTH);
  const kek = scrypt ? Kek.fromPassphrase(source.passphrase as string, salt, scrypt) : Kek.fromKeyFile(source.keyFile as string, salt);

  const file = databaseFile(dataDir);
  let fd: number;
  try {
    fs.mkdirSync(dataDir, { recursive: true, mode: DATA_DIR_MODE });
    fs.chmodSync(dataDir, DATA_DIR_MODE);
  } catch (cause) {
    kek.destroy();
    throw new SignerError('BAD_FIELD', { field: 'dataDir', message: 'cannot create the data dir', cause });
  }
  try {
    fd = fs.openSync(file, 'wx', SECRET_FILE_MODE);
  } catch (cause) {
    kek.destroy();
    const exists = (cause as NodeJS.ErrnoException).code === 'EEXIST';
    throw new SignerError(exists ? 'EXISTS' : 'BAD_FIELD', { field: 'dataDir', message: `cannot create ${KEYSTORE_DB_FILE}`, cause });
  }
  let db: Database.Database | undefined;
  try {
    try {
      fs.fchmodSync(fd, SECRET_FILE_MODE);
    } finally {
      fs.closeSync(fd);
    }
    db = openDatabase(file);
    const conn = db;
    const createdAt = aUint(clock(), 'now');
    conn.transaction(() => {
      migrate(conn, 0);
      writeMeta(conn, { signerId, kekKind: kind, salt, scrypt, verifier: kek.checkValue() }, createdAt);
      if (scrypt !== null && o.scryptN !== undefined) conn.prepare("INSERT INTO meta (name, value) VALUES ('scrypt_n_chosen', 1)").run();
    }).immediate();
    return { db: conn, kek, signerId, dataDir, clock };
  } catch (e) {
    db?.close();
    kek.destroy();
    for (const f of databaseFiles(file)) fs.rmSync(f, { force: true });
    throw sqliteToKeystore(e);
  }
}

/** Opens and unlocks an existing keystore; 'NOT_FOUND' if none, 'BAD_PASSPHRASE' if the KEK is wrong. */
export function openKeystore(options: KeystoreOpenOptions): UnlockedKeystore {
  const o = aOptions(options);
  const dataDir = path.resolve(aString(o.dataDir, 'dataDir'));
  const expectedSigner = o.signerId === undefined ? undefined : aId(o.signerId, 'signerId');
  const clock = aNow(o.now);
  const source = o.kek as KekSource;
  const kind = kekKind(source);
  const file = databaseFile(dataDir);
  if (!fs.existsSync(file)) throw new SignerError('NOT_FOUND', { field: 'dataDir', message: `no ${KEYSTORE_DB_FILE}` });
  tightenModes(dataDir, file);

  let db: Database.Database | undefined;
  let kek: Kek | undefined;
  try {
    db = openDatabase(file);
    const conn = db;
    const version = readSchemaVersion(conn);
    const meta = readMeta(conn);
    if (meta.kekKind !== kind) {
      throw new SignerError('BAD_PASSPHRASE', { field: 'kek', message: `this keystore is unlocked by its ${meta.kekKind}` });
    }
    if (expectedSigner !== undefined && expectedSigner !== meta.signerId) {
      throw new SignerError('BAD_FIELD', { field: 'signerId', message: `this keystore belongs to signer ${meta.signerId}` });
    }
    kek = meta.scrypt
      ? Kek.fromPassphrase(source.passphrase as string, meta.salt, meta.scrypt)
      : Kek.fromKeyFile(source.keyFile as string, meta.salt);
    if (!kek.matches(meta.verifier)) {
      throw new SignerError('BAD_PASSPHRASE', { field: 'kek', message: 'the passphrase or key file does not unlock this keystore' });
    }
    if (version < SCHEMA_VERSION) conn.transaction(() => migrate(conn, version)).immediate();
    requireTables(conn);
    const unlocked = { db: conn, kek, signerId: meta.signerId, dataDir, clock };
    const target = resealTarget(conn, meta.scrypt?.N, o.scryptN);
    if (target !== undefined) kek = reseal(unlocked, source.passphrase as string, target);
    return { ...unlocked, kek };
  } catch (e) {
    kek?.destroy();
    db?.close();
    throw sqliteToKeystore(e);
  }
}

/** The N to re-seal a passphrase keystore at, or undefined to keep it as it is. */
function resealTarget(db: Database.Database, stored: number | undefined, requested: unknown): number | undefined {
  if (stored === undefined) return undefined;
  const explicit = requested !== undefined;
  const target = explicit ? validateScryptParams({ N: requested as number, r: SCRYPT_R, p: SCRYPT_P }, 'scryptN').N : SCRYPT_N_DEFAULT;
  if (stored >= target) return undefined;
  const chosen = db.prepare<[], unknown>("SELECT value FROM meta WHERE name = 'scrypt_n_chosen'").pluck().get() !== undefined;
  return chosen && !explicit ? undefined : target;
}

/**
 * Re-seals every live blob of an unlocked keystore under a KEK derived at scrypt N =
 * `N` with a new salt, and records salt, N and check value, in one transaction; returns
 * the new KEK (the old one is destroyed). On failure nothing changed and the new KEK is destroyed.
 */
function reseal(ks: UnlockedKeystore, passphrase: string, N: number): Kek {
  const salt = randomBytes(SALT_LENGTH);
  const next = Kek.fromPassphrase(passphrase, salt, { N, r: SCRYPT_R, p: SCRYPT_P });
  try {
    ks.db
      .transaction(() => {
        new ShareStore(ks).reseal(next);
        new NonceJournal(ks).reseal(next);
        new IdentityStore(ks).reseal(next);
        const set = ks.db.prepare<[Buffer | number, string]>('UPDATE meta SET value = ? WHERE name = ?');
        set.run(blob(salt), 'salt');
        set.run(blob(next.checkValue()), 'verifier');
        set.run(N, 'scrypt_n');
      })
      .immediate();
  } catch (e) {
    next.destroy();
    throw e;
  }
  ks.db.pragma('wal_checkpoint(TRUNCATE)');
  ks.kek.destroy();
  return next;
}
