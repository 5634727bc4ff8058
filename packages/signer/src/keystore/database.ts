/**
 * The SQLite file under the keystore: `keystore.db` (mode 0600, in a 0700 data dir),
 * opened with WAL, synchronous=FULL (a committed transaction is on disk when it
 * returns) and secure_delete; read-only peeks that need no KEK; and what every store
 * shares: the open database, the KEK that seals, the signer id bound into every
 * associated data (AD), and the clock.
 */
import fs from 'node:fs';
import path from 'node:path';
import { concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import Database from 'better-sqlite3';
import { aString, aUint } from './assert.ts';
import { BUSY_TIMEOUT_MS, DATA_DIR_MODE, KEYSTORE_DB_FILE, SECRET_FILE_MODE } from './constants.ts';
import { SignerError } from '../errors.ts';
import type { Kek } from './kek.ts';

/** What every store works over; the `Keystore` front owns it and its transactions. */
export interface StoreContext {
  readonly db: Database.Database;
  readonly kek: Kek;
  /** This signer's id, bound into the AD of every sealed blob. */
  readonly signerId: string;
  readonly clock: () => number;
}

/** The clock's reading, checked (ms since the Unix epoch). */
export function now(ctx: StoreContext): number {
  return aUint(ctx.clock(), 'now');
}

/**
 * Associated data of a sealed blob: its domain label then its parts, each preceded by
 * its u32 big-endian length (strings as UTF-8, numbers as u64 big-endian).
 */
export function associatedData(label: string, ...parts: (string | number | Uint8Array)[]): Uint8Array {
  return concatBytes(
    ...[label, ...parts].flatMap((part) => {
      const bytes = typeof part === 'string' ? utf8ToBytes(part) : typeof part === 'number' ? u64be(part) : part;
      const len = new Uint8Array(4);
      new DataView(len.buffer).setUint32(0, bytes.length, false);
      return [len, bytes];
    }),
  );
}

function u64be(n: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), false);
  return out;
}

/** better-sqlite3 binds Buffers as BLOBs; this views the same memory without a copy. */
export function blob(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The database file of a data dir. */
export function databaseFile(dataDir: string): string {
  return path.join(dataDir, KEYSTORE_DB_FILE);
}

/** Opens the file as SQLite with the pragmas every connection needs. */
export function openDatabase(file: string): Database.Database {
  const db = new Database(file, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
  try {
    if (db.pragma('journal_mode = WAL', { simple: true }) !== 'wal') {
      throw new SignerError('CORRUPT', { field: 'journal_mode', message: 'cannot switch to WAL' });
    }
    db.pragma('synchronous = FULL');
    db.pragma('secure_delete = ON');
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

/**
 * Runs `read` over a read-only connection to the keystore of `dataDir`, without the KEK
 * (a running daemon may hold the database meanwhile); 'NOT_FOUND' without a keystore.
 */
export function readWithoutKek<T>(dataDir: string, read: (db: Database.Database) => T): T {
  const file = databaseFile(path.resolve(aString(dataDir, 'dataDir')));
  if (!fs.existsSync(file)) throw new SignerError('NOT_FOUND', { field: 'dataDir', message: `no ${KEYSTORE_DB_FILE}` });
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
    return read(db);
  } catch (e) {
    throw sqliteToKeystore(e);
  } finally {
    db?.close();
  }
}

/** SQLite's "this is not a database" and "malformed" become 'CORRUPT'; other errors pass through. */
export function sqliteToKeystore(e: unknown): unknown {
  if (e instanceof Database.SqliteError && (e.code === 'SQLITE_NOTADB' || e.code === 'SQLITE_CORRUPT')) {
    return new SignerError('CORRUPT', { field: KEYSTORE_DB_FILE, message: e.message, cause: e });
  }
  return e;
}

/** The database file and its WAL companions. */
export function databaseFiles(file: string): string[] {
  return [file, `${file}-wal`, `${file}-shm`];
}

/** Tightens the data dir and any existing database files to 0700 / 0600. */
export function tightenModes(dataDir: string, file: string): void {
  fs.chmodSync(dataDir, DATA_DIR_MODE);
  for (const f of databaseFiles(file)) {
    try {
      fs.chmodSync(f, SECRET_FILE_MODE);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}
