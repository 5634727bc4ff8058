/**
 * The signer daemon's keystore: one SQLite file (`keystore.db`, mode 0600, in a 0700
 * data dir; WAL, synchronous=FULL, secure_delete) holding
 * - threshold key shares, each sealed with XChaCha20-Poly1305 under the KEK, with
 *   associated data binding ('keyquorum/share/v1', key id, epoch, signer id, suite),
 *   moved through the lifecycle of ARCHITECTURE.md "Key lifecycle": pending ->
 *   active (refresh is two-phase: the old epoch is deleted in the transaction that
 *   activates the new one) -> retired (shares wiped, a `retired_keys` row kept);
 * - the journal of single-use signing nonces: a nonce is marked consumed on disk,
 *   and its sealed copy zeroed, in the transaction that returns it, so nothing
 *   computed from it can leave the signer before the mark is durable;
 * - the replay window of client requests, so a restart does not forget it;
 * - the signer's Ed25519 identity seed, sealed like a share, with its public key
 *   readable without the KEK (`readIdentityPublicKey`);
 * - the signed destruction attestation of each retired key, so it can be sent again;
 * - per key, the peers this signer caught cheating (ecdsa-secp256k1: the pairwise OT
 *   state is reused across sessions, so a caught peer gets no further session of the
 *   key until an operator clears the ban).
 * No networking and no protocol logic; the clock is injected.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from '@noble/ciphers/utils.js';
import { concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import Database from 'better-sqlite3';
import { aBytes, aHex, aId, aString, aUint } from './assert.ts';
import {
  ATTESTATION_DIGEST_LENGTH,
  BLOB_MAX_BYTES,
  BUSY_TIMEOUT_MS,
  DATA_DIR_MODE,
  KEK_LENGTH,
  KEYSTORE_DB_FILE,
  ED25519_KEY_LENGTH,
  IDENTITY_AD_LABEL,
  NONCE_AD_LABEL,
  SALT_LENGTH,
  SCHEMA_VERSION,
  SCRYPT_N_DEFAULT,
  SCRYPT_P,
  SCRYPT_R,
  SECRET_FILE_MODE,
  SHARE_AD_LABEL,
} from './constants.ts';
import { KeystoreError } from './errors.ts';
import { Kek, type KekKind, type KekSource, type ScryptParams, kekKind, validateScryptParams } from './kek.ts';

/** Remembers (client key, request nonce) pairs; false when the pair was seen before. */
export interface ReplayGuard {
  checkAndRemember(clientKeyHex: string, nonceHex: string, timestamp: number): boolean;
}

export interface KeystoreOpenOptions {
  dataDir: string;
  kek: KekSource;
  /** When given, must equal the signer id the keystore was created for. */
  signerId?: string;
  /** Milliseconds since the epoch; defaults to Date.now. */
  now?: () => number;
}

export interface KeystoreCreateOptions {
  dataDir: string;
  kek: KekSource;
  /** This signer's id; bound into every sealed share and nonce. */
  signerId: string;
  /** scrypt cost for a passphrase KEK (power of two); defaults to SCRYPT_N_DEFAULT. */
  scryptN?: number;
  now?: () => number;
}

/** A share with its secret unsealed. */
export interface ShareRecord {
  keyId: string;
  epoch: number;
  signerId: string;
  suite: string;
  state: 'pending' | 'active';
  secret: Uint8Array;
  public: Uint8Array;
  createdAt: number;
  updatedAt: number;
}

/** What `listKeys` says about a key; never a secret. */
export type KeySummary =
  | { keyId: string; state: 'active'; epoch: number; suite: string; pendingEpoch: number | null }
  | { keyId: string; state: 'pending'; epoch: number; suite: string }
  | { keyId: string; state: 'retired'; retiredAt: number; attestationDigest: Uint8Array };

/** A peer this signer banned from sessions of a key (`banPeer`), until `clearPeerBan`. */
export interface PeerBan {
  keyId: string;
  peer: string;
  reason: string;
  /** ms since the Unix epoch. */
  bannedAt: number;
}

export interface RetireResult {
  keyId: string;
  retiredAt: number;
  /** The epochs whose shares were wiped, ascending. */
  wipedEpochs: number[];
}

interface ShareRow {
  key_id: string;
  epoch: number;
  signer_id: string;
  state: 'pending' | 'active' | 'retired';
  suite: string;
  sealed: Uint8Array;
  public: Uint8Array;
  created_at: number;
  updated_at: number;
}

interface NonceRow {
  nonce_id: string;
  key_id: string;
  epoch: number;
  sealed: Uint8Array;
  state: 'fresh' | 'consumed' | 'discarded';
}

interface Meta {
  signerId: string;
  kekKind: KekKind;
  salt: Uint8Array;
  scrypt: ScryptParams | null;
  verifier: Uint8Array;
}

const TABLES = ['meta', 'shares', 'retired_keys', 'nonces', 'requests'] as const;

const SCHEMA = `
CREATE TABLE meta (
  name TEXT PRIMARY KEY,
  value ANY NOT NULL
) STRICT;
CREATE TABLE shares (
  key_id TEXT NOT NULL,
  epoch INTEGER NOT NULL CHECK (epoch >= 0),
  signer_id TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'active', 'retired')),
  suite TEXT NOT NULL,
  sealed BLOB NOT NULL,
  public BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (key_id, epoch)
) STRICT;
CREATE UNIQUE INDEX shares_one_active ON shares (key_id) WHERE state = 'active';
CREATE UNIQUE INDEX shares_one_pending ON shares (key_id) WHERE state = 'pending';
CREATE TABLE retired_keys (
  key_id TEXT PRIMARY KEY,
  retired_at INTEGER NOT NULL,
  attestation_digest BLOB NOT NULL
) STRICT;
CREATE TABLE nonces (
  nonce_id TEXT PRIMARY KEY,
  key_id TEXT NOT NULL,
  epoch INTEGER NOT NULL CHECK (epoch >= 0),
  sealed BLOB NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('fresh', 'consumed', 'discarded')),
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX nonces_fresh ON nonces (key_id) WHERE state = 'fresh';
CREATE TABLE requests (
  client_key TEXT NOT NULL,
  nonce TEXT NOT NULL,
  timestamp INTEGER NOT NULL,
  PRIMARY KEY (client_key, nonce)
) STRICT;
CREATE INDEX requests_timestamp ON requests (timestamp);
`;

/** Added after schema version 1 shipped: created on open when absent, so no version bump. */
const ATTESTATIONS_SCHEMA = `
CREATE TABLE IF NOT EXISTS attestations (
  key_id TEXT PRIMARY KEY,
  payload BLOB NOT NULL
) STRICT;
`;

/** Added after schema version 1 shipped (like attestations): peers banned per key by this signer. */
const PEER_BANS_SCHEMA = `
CREATE TABLE IF NOT EXISTS peer_bans (
  key_id TEXT NOT NULL,
  peer TEXT NOT NULL,
  reason TEXT NOT NULL,
  banned_at INTEGER NOT NULL,
  PRIMARY KEY (key_id, peer)
) STRICT;
`;

/** Canonical encoding: each part preceded by its u32 big-endian length. */
function lengthPrefixed(parts: Uint8Array[]): Uint8Array {
  return concatBytes(
    ...parts.flatMap((part) => {
      const len = new Uint8Array(4);
      new DataView(len.buffer).setUint32(0, part.length, false);
      return [len, part];
    }),
  );
}

function u64be(n: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), false);
  return out;
}

function shareAd(keyId: string, epoch: number, signerId: string, suite: string): Uint8Array {
  return lengthPrefixed([utf8ToBytes(SHARE_AD_LABEL), utf8ToBytes(keyId), u64be(epoch), utf8ToBytes(signerId), utf8ToBytes(suite)]);
}

function identityAd(signerId: string, publicKey: Uint8Array): Uint8Array {
  return lengthPrefixed([utf8ToBytes(IDENTITY_AD_LABEL), utf8ToBytes(signerId), publicKey]);
}

function nonceAd(nonceId: string, keyId: string, epoch: number, signerId: string): Uint8Array {
  return lengthPrefixed([utf8ToBytes(NONCE_AD_LABEL), utf8ToBytes(nonceId), utf8ToBytes(keyId), u64be(epoch), utf8ToBytes(signerId)]);
}

/** better-sqlite3 binds Buffers as BLOBs; this views the same memory without a copy. */
function blob(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function aNow(now: unknown): () => number {
  if (now === undefined) return Date.now;
  if (typeof now !== 'function') throw new KeystoreError('BAD_FIELD', { field: 'now', message: 'expected a function' });
  return now as () => number;
}

function aOptions(options: unknown): Record<string, unknown> {
  if (typeof options !== 'object' || options === null) {
    throw new KeystoreError('BAD_FIELD', { field: 'options', message: 'expected an object' });
  }
  return options as Record<string, unknown>;
}

/** Opens the file as SQLite with the pragmas every connection needs. */
function openDatabase(file: string): Database.Database {
  const db = new Database(file, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
  try {
    if (db.pragma('journal_mode = WAL', { simple: true }) !== 'wal') {
      throw new KeystoreError('CORRUPT', { field: 'journal_mode', message: 'cannot switch to WAL' });
    }
    db.pragma('synchronous = FULL');
    db.pragma('secure_delete = ON');
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

/** SQLite's "this is not a database" and "malformed" become 'CORRUPT'; other errors pass through. */
function sqliteToKeystore(e: unknown): unknown {
  if (e instanceof Database.SqliteError && (e.code === 'SQLITE_NOTADB' || e.code === 'SQLITE_CORRUPT')) {
    return new KeystoreError('CORRUPT', { field: KEYSTORE_DB_FILE, message: e.message, cause: e });
  }
  return e;
}

function readMeta(db: Database.Database): Meta {
  const present = new Set(
    db.prepare<[], string>("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all(),
  );
  for (const table of TABLES) {
    if (!present.has(table)) throw new KeystoreError('CORRUPT', { field: table, message: 'table missing' });
  }
  const rows = db.prepare<[], { name: string; value: unknown }>('SELECT name, value FROM meta').all();
  const meta = new Map(rows.map((r) => [r.name, r.value]));
  const int = (name: string): number => {
    const v = meta.get(name);
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new KeystoreError('CORRUPT', { field: `meta.${name}` });
    return v;
  };
  const bytes = (name: string, len: number): Uint8Array => {
    const v = meta.get(name);
    if (!(v instanceof Uint8Array) || v.length !== len) throw new KeystoreError('CORRUPT', { field: `meta.${name}` });
    return new Uint8Array(v);
  };
  const version = int('schema_version');
  if (version !== SCHEMA_VERSION) {
    throw new KeystoreError('SCHEMA_VERSION', { field: 'meta.schema_version', message: `found ${version}, read ${SCHEMA_VERSION}` });
  }
  const signerId = meta.get('signer_id');
  const kind = meta.get('kek_kind');
  if (typeof signerId !== 'string') throw new KeystoreError('CORRUPT', { field: 'meta.signer_id' });
  if (kind !== 'passphrase' && kind !== 'keyFile') throw new KeystoreError('CORRUPT', { field: 'meta.kek_kind' });
  let scrypt: ScryptParams | null = null;
  if (kind === 'passphrase') {
    try {
      scrypt = validateScryptParams({ N: int('scrypt_n'), r: int('scrypt_r'), p: int('scrypt_p') }, 'meta.scrypt');
    } catch (cause) {
      throw new KeystoreError('CORRUPT', { field: 'meta.scrypt', cause });
    }
  }
  return { signerId, kekKind: kind, salt: bytes('salt', SALT_LENGTH), scrypt, verifier: bytes('verifier', KEK_LENGTH) };
}

/** Tightens the data dir and any existing database files to 0700 / 0600. */
function tightenModes(dataDir: string, file: string): void {
  fs.chmodSync(dataDir, DATA_DIR_MODE);
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      fs.chmodSync(f, SECRET_FILE_MODE);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}

function prepareStatements(db: Database.Database) {
  return {
    isRetired: db.prepare<[string], number>('SELECT 1 FROM retired_keys WHERE key_id = ?').pluck(),
    share: db.prepare<[string, number], ShareRow>('SELECT * FROM shares WHERE key_id = ? AND epoch = ?'),
    activeShare: db.prepare<[string], ShareRow>("SELECT * FROM shares WHERE key_id = ? AND state = 'active'"),
    pendingEpoch: db.prepare<[string], number>("SELECT epoch FROM shares WHERE key_id = ? AND state = 'pending'").pluck(),
    epochs: db.prepare<[string], number>('SELECT epoch FROM shares WHERE key_id = ? ORDER BY epoch').pluck(),
    insertShare: db.prepare<[string, number, string, string, Buffer, Buffer, number, number]>(
      "INSERT INTO shares (key_id, epoch, signer_id, state, suite, sealed, public, created_at, updated_at) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?)",
    ),
    wipeOtherEpochs: db.prepare<[string, number]>(
      'UPDATE shares SET sealed = zeroblob(length(sealed)) WHERE key_id = ? AND epoch <> ?',
    ),
    deleteOtherEpochs: db.prepare<[string, number]>('DELETE FROM shares WHERE key_id = ? AND epoch <> ?'),
    setActive: db.prepare<[number, string, number]>("UPDATE shares SET state = 'active', updated_at = ? WHERE key_id = ? AND epoch = ?"),
    wipeShare: db.prepare<[string, number]>('UPDATE shares SET sealed = zeroblob(length(sealed)) WHERE key_id = ? AND epoch = ?'),
    deleteShare: db.prepare<[string, number]>('DELETE FROM shares WHERE key_id = ? AND epoch = ?'),
    retireShares: db.prepare<[number, string]>(
      "UPDATE shares SET state = 'retired', sealed = zeroblob(length(sealed)), updated_at = ? WHERE key_id = ?",
    ),
    deleteShares: db.prepare<[string]>('DELETE FROM shares WHERE key_id = ?'),
    insertBan: db.prepare<[string, string, string, number]>('INSERT OR IGNORE INTO peer_bans (key_id, peer, reason, banned_at) VALUES (?, ?, ?, ?)'),
    bannedPeers: db.prepare<[string], string>('SELECT peer FROM peer_bans WHERE key_id = ? ORDER BY peer').pluck(),
    clearBan: db.prepare<[string, string]>('DELETE FROM peer_bans WHERE key_id = ? AND peer = ?'),
    insertAttestation: db.prepare<[string, Buffer]>('INSERT INTO attestations (key_id, payload) VALUES (?, ?)'),
    attestation: db.prepare<[string], Uint8Array>('SELECT payload FROM attestations WHERE key_id = ?').pluck(),
    metaValue: db.prepare<[string], unknown>('SELECT value FROM meta WHERE name = ?').pluck(),
    insertMeta: db.prepare<[string, Buffer]>('INSERT INTO meta (name, value) VALUES (?, ?)'),
    insertRetired: db.prepare<[string, number, Buffer]>('INSERT INTO retired_keys (key_id, retired_at, attestation_digest) VALUES (?, ?, ?)'),
    allShares: db.prepare<[], Pick<ShareRow, 'key_id' | 'epoch' | 'state' | 'suite'>>(
      'SELECT key_id, epoch, state, suite FROM shares ORDER BY key_id, epoch',
    ),
    allRetired: db.prepare<[], { key_id: string; retired_at: number; attestation_digest: Uint8Array }>(
      'SELECT key_id, retired_at, attestation_digest FROM retired_keys ORDER BY key_id',
    ),
    nonce: db.prepare<[string], NonceRow>('SELECT nonce_id, key_id, epoch, sealed, state FROM nonces WHERE nonce_id = ?'),
    insertNonce: db.prepare<[string, string, number, Buffer, number]>(
      "INSERT INTO nonces (nonce_id, key_id, epoch, sealed, state, created_at) VALUES (?, ?, ?, ?, 'fresh', ?)",
    ),
    markConsumed: db.prepare<[string]>(
      "UPDATE nonces SET state = 'consumed', sealed = zeroblob(length(sealed)) WHERE nonce_id = ? AND state = 'fresh'",
    ),
    discardNonce: db.prepare<[string]>("UPDATE nonces SET state = 'discarded', sealed = zeroblob(length(sealed)) WHERE nonce_id = ? AND state = 'fresh'"),
    discardAllFresh: db.prepare<[]>("UPDATE nonces SET state = 'discarded', sealed = zeroblob(length(sealed)) WHERE state = 'fresh'"),
    discardFreshOfKey: db.prepare<[string]>(
      "UPDATE nonces SET state = 'discarded', sealed = zeroblob(length(sealed)) WHERE key_id = ? AND state = 'fresh'",
    ),
    discardFreshOfOtherEpochs: db.prepare<[string, number]>(
      "UPDATE nonces SET state = 'discarded', sealed = zeroblob(length(sealed)) WHERE key_id = ? AND epoch <> ? AND state = 'fresh'",
    ),
    countFresh: db.prepare<[], number>("SELECT count(*) FROM nonces WHERE state = 'fresh'").pluck(),
    countFreshOfKey: db.prepare<[string], number>("SELECT count(*) FROM nonces WHERE key_id = ? AND state = 'fresh'").pluck(),
    rememberRequest: db.prepare<[string, string, number]>(
      'INSERT OR IGNORE INTO requests (client_key, nonce, timestamp) VALUES (?, ?, ?)',
    ),
    pruneRequests: db.prepare<[number]>('DELETE FROM requests WHERE timestamp < ?'),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

export class Keystore implements ReplayGuard {
  /** The signer this keystore belongs to (bound into every sealed blob). */
  readonly signerId: string;
  readonly dataDir: string;
  #db: Database.Database | null;
  #sql: Statements;
  #kek: Kek;
  #clock: () => number;

  private constructor(db: Database.Database, kek: Kek, signerId: string, dataDir: string, now: () => number) {
    this.#sql = prepareStatements(db);
    this.#db = db;
    this.#kek = kek;
    this.signerId = signerId;
    this.dataDir = dataDir;
    this.#clock = now;
  }

  /** Initialises a new keystore in `dataDir` (created 0700 if absent); 'EXISTS' if one is there. */
  static create(options: KeystoreCreateOptions): Keystore {
    const o = aOptions(options);
    const dataDir = path.resolve(aString(o.dataDir, 'dataDir'));
    const signerId = aId(o.signerId, 'signerId');
    const now = aNow(o.now);
    const source = o.kek as KekSource;
    const kind = kekKind(source);
    if (kind === 'keyFile' && o.scryptN !== undefined) {
      throw new KeystoreError('BAD_FIELD', { field: 'scryptN', message: 'applies to a passphrase, not a key file' });
    }
    const scrypt =
      kind === 'passphrase' ? validateScryptParams({ N: (o.scryptN ?? SCRYPT_N_DEFAULT) as number, r: SCRYPT_R, p: SCRYPT_P }, 'scryptN') : null;
    const salt = randomBytes(SALT_LENGTH);
    const kek = scrypt
      ? Kek.fromPassphrase(source.passphrase as string, salt, scrypt)
      : Kek.fromKeyFile(source.keyFile as string, salt);

    const file = path.join(dataDir, KEYSTORE_DB_FILE);
    let fd: number;
    try {
      fs.mkdirSync(dataDir, { recursive: true, mode: DATA_DIR_MODE });
      fs.chmodSync(dataDir, DATA_DIR_MODE);
    } catch (cause) {
      kek.destroy();
      throw new KeystoreError('BAD_FIELD', { field: 'dataDir', message: 'cannot create the data dir', cause });
    }
    try {
      fd = fs.openSync(file, 'wx', SECRET_FILE_MODE);
    } catch (cause) {
      kek.destroy();
      const exists = (cause as NodeJS.ErrnoException).code === 'EEXIST';
      throw new KeystoreError(exists ? 'EXISTS' : 'BAD_FIELD', { field: 'dataDir', message: `cannot create ${KEYSTORE_DB_FILE}`, cause });
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
      const created = aUint(now(), 'now');
      const meta: [string, string | number | Buffer][] = [
        ['schema_version', SCHEMA_VERSION],
        ['signer_id', signerId],
        ['kek_kind', kind],
        ['salt', blob(salt)],
        ['verifier', blob(kek.checkValue())],
        ['created_at', created],
        ...(scrypt ? ([['scrypt_n', scrypt.N], ['scrypt_r', scrypt.r], ['scrypt_p', scrypt.p]] as [string, number][]) : []),
      ];
      conn.transaction(() => {
        conn.exec(SCHEMA);
        conn.exec(ATTESTATIONS_SCHEMA);
        conn.exec(PEER_BANS_SCHEMA);
        const insert = conn.prepare<[string, string | number | Buffer]>('INSERT INTO meta (name, value) VALUES (?, ?)');
        for (const [name, value] of meta) insert.run(name, value);
      }).immediate();
      return new Keystore(conn, kek, signerId, dataDir, now);
    } catch (e) {
      db?.close();
      kek.destroy();
      for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
      throw sqliteToKeystore(e);
    }
  }

  /** Opens and unlocks an existing keystore; 'NOT_FOUND' if none, 'BAD_PASSPHRASE' if the KEK is wrong. */
  static open(options: KeystoreOpenOptions): Keystore {
    const o = aOptions(options);
    const dataDir = path.resolve(aString(o.dataDir, 'dataDir'));
    const expectedSigner = o.signerId === undefined ? undefined : aId(o.signerId, 'signerId');
    const now = aNow(o.now);
    const source = o.kek as KekSource;
    const kind = kekKind(source);
    const file = path.join(dataDir, KEYSTORE_DB_FILE);
    if (!fs.existsSync(file)) throw new KeystoreError('NOT_FOUND', { field: 'dataDir', message: `no ${KEYSTORE_DB_FILE}` });
    tightenModes(dataDir, file);

    let db: Database.Database | undefined;
    let kek: Kek | undefined;
    try {
      db = openDatabase(file);
      const meta = readMeta(db);
      if (meta.kekKind !== kind) {
        throw new KeystoreError('BAD_PASSPHRASE', { field: 'kek', message: `this keystore is unlocked by its ${meta.kekKind}` });
      }
      if (expectedSigner !== undefined && expectedSigner !== meta.signerId) {
        throw new KeystoreError('BAD_FIELD', { field: 'signerId', message: `this keystore belongs to signer ${meta.signerId}` });
      }
      kek = meta.scrypt
        ? Kek.fromPassphrase(source.passphrase as string, meta.salt, meta.scrypt)
        : Kek.fromKeyFile(source.keyFile as string, meta.salt);
      if (!kek.matches(meta.verifier)) {
        throw new KeystoreError('BAD_PASSPHRASE', { field: 'kek', message: 'the passphrase or key file does not unlock this keystore' });
      }
      db.exec(ATTESTATIONS_SCHEMA);
      db.exec(PEER_BANS_SCHEMA);
      return new Keystore(db, kek, meta.signerId, dataDir, now);
    } catch (e) {
      kek?.destroy();
      db?.close();
      throw sqliteToKeystore(e);
    }
  }

  /** Stores the share of a new epoch (DKG, refresh or reshare) as 'pending'; the active epoch stays in use. */
  putPending(keyId: string, epoch: number, suite: string, secret: Uint8Array, publicBytes: Uint8Array): void {
    aId(keyId, 'keyId');
    aUint(epoch, 'epoch');
    aId(suite, 'suite');
    aBytes(secret, 'secret', { min: 1, max: BLOB_MAX_BYTES });
    aBytes(publicBytes, 'public', { min: 1, max: BLOB_MAX_BYTES });
    const sql = this.#statements();
    const sealed = this.#kek.seal(secret, shareAd(keyId, epoch, this.signerId, suite));
    this.#write(() => {
      this.#refuseRetired(keyId);
      if (sql.share.get(keyId, epoch)) throw new KeystoreError('EXISTS', { field: 'epoch', message: `${keyId} epoch ${epoch}` });
      const pending = sql.pendingEpoch.get(keyId);
      if (pending !== undefined) {
        throw new KeystoreError('WRONG_STATE', { field: 'epoch', message: `${keyId} already has pending epoch ${pending}` });
      }
      const active = sql.activeShare.get(keyId);
      if (active && active.epoch >= epoch) {
        throw new KeystoreError('WRONG_STATE', { field: 'epoch', message: `${keyId} is active at epoch ${active.epoch}` });
      }
      const at = this.#now();
      sql.insertShare.run(keyId, epoch, this.signerId, suite, blob(sealed), blob(publicBytes), at, at);
    });
  }

  /**
   * Commits a pending epoch: in one transaction it becomes 'active', every other epoch of
   * the key is zeroed and deleted, and their fresh nonces are discarded; then the WAL is
   * purged of the old epochs' pages.
   */
  activate(keyId: string, epoch: number): void {
    aId(keyId, 'keyId');
    aUint(epoch, 'epoch');
    const sql = this.#statements();
    this.#write(() => {
      this.#refuseRetired(keyId);
      this.#requirePending(keyId, epoch);
      sql.wipeOtherEpochs.run(keyId, epoch);
      sql.deleteOtherEpochs.run(keyId, epoch);
      sql.discardFreshOfOtherEpochs.run(keyId, epoch);
      sql.setActive.run(this.#now(), keyId, epoch);
    });
    this.#purgeWal();
  }

  /** Rolls back an interrupted refresh: zeroes and deletes the pending share; the active one is untouched. */
  discardPending(keyId: string, epoch: number): void {
    aId(keyId, 'keyId');
    aUint(epoch, 'epoch');
    const sql = this.#statements();
    this.#write(() => {
      this.#requirePending(keyId, epoch);
      sql.wipeShare.run(keyId, epoch);
      sql.deleteShare.run(keyId, epoch);
    });
    this.#purgeWal();
  }

  /** The active share, unsealed: 'NOT_FOUND' for an unknown key, 'WRONG_STATE' if retired or only pending. */
  getActive(keyId: string): ShareRecord {
    aId(keyId, 'keyId');
    const sql = this.#statements();
    this.#refuseRetired(keyId);
    const row = sql.activeShare.get(keyId);
    if (!row) {
      const known = sql.epochs.all(keyId).length > 0;
      throw new KeystoreError(known ? 'WRONG_STATE' : 'NOT_FOUND', { field: 'keyId', message: `${keyId} has no active share` });
    }
    return this.#unsealShare(row);
  }

  /** One epoch's share (pending or active), unsealed. */
  getShare(keyId: string, epoch: number): ShareRecord {
    aId(keyId, 'keyId');
    aUint(epoch, 'epoch');
    const sql = this.#statements();
    this.#refuseRetired(keyId);
    const row = sql.share.get(keyId, epoch);
    if (!row) throw new KeystoreError('NOT_FOUND', { field: 'epoch', message: `${keyId} epoch ${epoch}` });
    return this.#unsealShare(row);
  }

  /** Every key this signer knows, with its state and epochs; no secret and no public package. */
  listKeys(): KeySummary[] {
    const sql = this.#statements();
    const byKey = new Map<string, KeySummary>();
    for (const row of sql.allShares.all()) {
      const seen = byKey.get(row.key_id);
      if (row.state === 'active') {
        const pendingEpoch = seen?.state === 'pending' ? seen.epoch : null;
        byKey.set(row.key_id, { keyId: row.key_id, state: 'active', epoch: row.epoch, suite: row.suite, pendingEpoch });
      } else if (seen?.state === 'active') {
        seen.pendingEpoch = row.epoch;
      } else {
        byKey.set(row.key_id, { keyId: row.key_id, state: 'pending', epoch: row.epoch, suite: row.suite });
      }
    }
    for (const row of sql.allRetired.all()) {
      byKey.set(row.key_id, {
        keyId: row.key_id,
        state: 'retired',
        retiredAt: row.retired_at,
        attestationDigest: new Uint8Array(row.attestation_digest),
      });
    }
    return [...byKey.values()].sort((a, b) => (a.keyId < b.keyId ? -1 : a.keyId > b.keyId ? 1 : 0));
  }

  /**
   * Retires a key: every share row is zeroed, marked 'retired' and deleted, its fresh
   * nonces are discarded, and a `retired_keys` row keeps the attestation digest; then the
   * WAL is purged of pre-wipe pages. Later use of the key is refused with 'WRONG_STATE'.
   * `attestation` (public bytes, e.g. the signed attestation) is kept for `getAttestation`.
   */
  retire(keyId: string, attestationDigest: Uint8Array, attestation?: Uint8Array): RetireResult {
    aId(keyId, 'keyId');
    aBytes(attestationDigest, 'attestationDigest', { len: ATTESTATION_DIGEST_LENGTH });
    if (attestation !== undefined) aBytes(attestation, 'attestation', { min: 1, max: BLOB_MAX_BYTES });
    const sql = this.#statements();
    const result = this.#write(() => {
      this.#refuseRetired(keyId);
      const wipedEpochs = sql.epochs.all(keyId);
      if (wipedEpochs.length === 0) throw new KeystoreError('NOT_FOUND', { field: 'keyId', message: `${keyId} has no share` });
      const retiredAt = this.#now();
      sql.retireShares.run(retiredAt, keyId);
      sql.deleteShares.run(keyId);
      sql.discardFreshOfKey.run(keyId);
      sql.insertRetired.run(keyId, retiredAt, blob(attestationDigest));
      if (attestation !== undefined) sql.insertAttestation.run(keyId, blob(attestation));
      return { keyId, retiredAt, wipedEpochs };
    });
    this.#purgeWal();
    return result;
  }

  /** Bans `peer` from sessions of `keyId` here (durably) until `clearPeerBan`; false if it already was. */
  banPeer(keyId: string, peer: string, reason: string): boolean {
    aId(keyId, 'keyId');
    aId(peer, 'peer');
    if (typeof reason !== 'string') throw new KeystoreError('BAD_FIELD', { field: 'reason', message: 'expected a string' });
    const sql = this.#statements();
    return this.#write(() => sql.insertBan.run(keyId, peer, reason.slice(0, 512), this.#now()).changes === 1);
  }

  /** The peers banned from sessions of `keyId` here, sorted. */
  bannedPeers(keyId: string): string[] {
    aId(keyId, 'keyId');
    return this.#statements().bannedPeers.all(keyId);
  }

  /** Lifts a ban (an operator's decision); false if there was none. */
  clearPeerBan(keyId: string, peer: string): boolean {
    aId(keyId, 'keyId');
    aId(peer, 'peer');
    const sql = this.#statements();
    return this.#write(() => sql.clearBan.run(keyId, peer).changes === 1);
  }

  /**
   * Every peer ban of this keystore (all keys), read without the KEK (bans hold no
   * secret; a running daemon may hold the database meanwhile); 'NOT_FOUND' without a keystore.
   */
  static readPeerBans(dataDir: string): PeerBan[] {
    const file = path.join(path.resolve(aString(dataDir, 'dataDir')), KEYSTORE_DB_FILE);
    if (!fs.existsSync(file)) throw new KeystoreError('NOT_FOUND', { field: 'dataDir', message: `no ${KEYSTORE_DB_FILE}` });
    let db: Database.Database | undefined;
    try {
      db = new Database(file, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
      // A keystore not opened since peer bans were added has no table yet: no bans.
      if (db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'peer_bans'").get() === undefined) return [];
      return db
        .prepare<[], { key_id: string; peer: string; reason: string; banned_at: number }>('SELECT key_id, peer, reason, banned_at FROM peer_bans ORDER BY key_id, peer')
        .all()
        .map((r) => ({ keyId: r.key_id, peer: r.peer, reason: r.reason, bannedAt: r.banned_at }));
    } catch (e) {
      throw sqliteToKeystore(e);
    } finally {
      db?.close();
    }
  }

  /** The attestation bytes stored when `keyId` was retired; 'NOT_FOUND' if none. */
  getAttestation(keyId: string): Uint8Array {
    aId(keyId, 'keyId');
    const payload = this.#statements().attestation.get(keyId);
    if (payload === undefined) throw new KeystoreError('NOT_FOUND', { field: 'keyId', message: `${keyId} has no attestation` });
    return new Uint8Array(payload);
  }

  /** Seals this signer's 32-byte Ed25519 identity seed with its public key; 'EXISTS' if one is stored. */
  putIdentity(seed: Uint8Array, publicKey: Uint8Array): void {
    aBytes(seed, 'seed', { len: ED25519_KEY_LENGTH });
    aBytes(publicKey, 'publicKey', { len: ED25519_KEY_LENGTH });
    const sql = this.#statements();
    const sealed = this.#kek.seal(seed, identityAd(this.signerId, publicKey));
    this.#write(() => {
      if (sql.metaValue.get('identity_sealed') !== undefined) throw new KeystoreError('EXISTS', { field: 'identity' });
      sql.insertMeta.run('identity_sealed', blob(sealed));
      sql.insertMeta.run('identity_public', blob(publicKey));
    });
  }

  /** The identity seed, unsealed, and its public key; 'NOT_FOUND' if none was stored. */
  getIdentity(): { seed: Uint8Array; publicKey: Uint8Array } {
    const sql = this.#statements();
    const sealed = sql.metaValue.get('identity_sealed');
    const publicKey = sql.metaValue.get('identity_public');
    if (sealed === undefined) throw new KeystoreError('NOT_FOUND', { field: 'identity', message: 'no identity key in this keystore' });
    if (!(sealed instanceof Uint8Array) || !(publicKey instanceof Uint8Array) || publicKey.length !== ED25519_KEY_LENGTH) {
      throw new KeystoreError('CORRUPT', { field: 'meta.identity' });
    }
    const pub = new Uint8Array(publicKey);
    return { seed: this.#kek.unseal(sealed, identityAd(this.signerId, pub), 'meta.identity_sealed'), publicKey: pub };
  }

  /** The stored identity public key, read without the KEK; 'NOT_FOUND' without a keystore or identity. */
  static readIdentityPublicKey(dataDir: string): Uint8Array {
    const file = path.join(path.resolve(aString(dataDir, 'dataDir')), KEYSTORE_DB_FILE);
    if (!fs.existsSync(file)) throw new KeystoreError('NOT_FOUND', { field: 'dataDir', message: `no ${KEYSTORE_DB_FILE}` });
    let db: Database.Database | undefined;
    try {
      db = new Database(file, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
      const value = db.prepare<[], unknown>("SELECT value FROM meta WHERE name = 'identity_public'").pluck().get();
      if (value === undefined) throw new KeystoreError('NOT_FOUND', { field: 'identity', message: 'no identity key in this keystore' });
      if (!(value instanceof Uint8Array) || value.length !== ED25519_KEY_LENGTH) throw new KeystoreError('CORRUPT', { field: 'meta.identity_public' });
      return new Uint8Array(value);
    } catch (e) {
      throw sqliteToKeystore(e);
    } finally {
      db?.close();
    }
  }

  /** Journals a fresh single-use signing nonce for the active epoch of a key, sealed. */
  storeNonce(nonceId: string, keyId: string, epoch: number, secretNonce: Uint8Array): void {
    aId(nonceId, 'nonceId');
    aId(keyId, 'keyId');
    aUint(epoch, 'epoch');
    aBytes(secretNonce, 'secretNonce', { min: 1, max: BLOB_MAX_BYTES });
    const sql = this.#statements();
    const sealed = this.#kek.seal(secretNonce, nonceAd(nonceId, keyId, epoch, this.signerId));
    this.#write(() => {
      this.#refuseRetired(keyId);
      const active = sql.activeShare.get(keyId);
      if (!active) throw new KeystoreError('NOT_FOUND', { field: 'keyId', message: `${keyId} has no active share` });
      if (active.epoch !== epoch) {
        throw new KeystoreError('WRONG_STATE', { field: 'epoch', message: `${keyId} is active at epoch ${active.epoch}` });
      }
      if (sql.nonce.get(nonceId)) throw new KeystoreError('EXISTS', { field: 'nonceId', message: nonceId });
      sql.insertNonce.run(nonceId, keyId, epoch, blob(sealed), this.#now());
    });
  }

  /**
   * Returns a nonce's secret bytes after marking it consumed and zeroing its sealed copy
   * in a committed (synchronous=FULL) transaction: by the time the caller holds the bytes,
   * the mark is on disk. 'NONCE_CONSUMED' the second time, 'NONCE_DISCARDED' after a
   * discard, 'NONCE_UNKNOWN' for an id never stored.
   */
  consumeNonce(nonceId: string): Uint8Array {
    aId(nonceId, 'nonceId');
    const sql = this.#statements();
    return this.#write(() => {
      const row = sql.nonce.get(nonceId);
      if (!row) throw new KeystoreError('NONCE_UNKNOWN', { field: 'nonceId', message: nonceId });
      if (row.state === 'consumed') throw new KeystoreError('NONCE_CONSUMED', { field: 'nonceId', message: nonceId });
      if (row.state === 'discarded') throw new KeystoreError('NONCE_DISCARDED', { field: 'nonceId', message: nonceId });
      const secret = this.#kek.unseal(row.sealed, nonceAd(nonceId, row.key_id, row.epoch, this.signerId), `nonces[${nonceId}].sealed`);
      sql.markConsumed.run(nonceId);
      return secret;
    });
  }

  /** Discards (and zeroes) one fresh nonce (an aborted signing attempt); false if it was not fresh. */
  discardNonce(nonceId: string): boolean {
    aId(nonceId, 'nonceId');
    const sql = this.#statements();
    return this.#write(() => sql.discardNonce.run(nonceId).changes === 1);
  }

  /** Discards (and zeroes) every fresh nonce; run at startup so none outstanding before a crash is reused. */
  discardOutstandingNonces(): number {
    const sql = this.#statements();
    return this.#write(() => sql.discardAllFresh.run().changes);
  }

  countFreshNonces(keyId?: string): number {
    const sql = this.#statements();
    return keyId === undefined ? sql.countFresh.get()! : sql.countFreshOfKey.get(aId(keyId, 'keyId'))!;
  }

  /** Records a client request (key and nonce hex, any case); false if the pair was seen before. */
  rememberRequest(clientKeyHex: string, nonceHex: string, timestampMs: number): boolean {
    const clientKey = aHex(clientKeyHex, 'clientKeyHex');
    const nonce = aHex(nonceHex, 'nonceHex');
    aUint(timestampMs, 'timestampMs');
    const sql = this.#statements();
    return this.#write(() => sql.rememberRequest.run(clientKey, nonce, timestampMs).changes === 1);
  }

  checkAndRemember(clientKeyHex: string, nonceHex: string, timestamp: number): boolean {
    return this.rememberRequest(clientKeyHex, nonceHex, timestamp);
  }

  /**
   * Forgets requests whose timestamp is more than `olderThanMs` before now; the caller
   * must reject such requests by their timestamp. Returns how many were forgotten.
   */
  pruneRequests(olderThanMs: number): number {
    aUint(olderThanMs, 'olderThanMs');
    const sql = this.#statements();
    return this.#write(() => sql.pruneRequests.run(this.#now() - olderThanMs).changes);
  }

  /** Closes the database and zeroes the KEK; later calls throw 'LOCKED'. Idempotent. */
  close(): void {
    const db = this.#db;
    if (!db) return;
    this.#db = null;
    this.#kek.destroy();
    db.close();
  }

  #connection(): Database.Database {
    if (!this.#db) throw new KeystoreError('LOCKED', { message: 'the keystore is closed' });
    return this.#db;
  }

  #statements(): Statements {
    this.#connection();
    return this.#sql;
  }

  #write<T>(fn: () => T): T {
    return this.#connection().transaction(fn).immediate();
  }

  /**
   * Copies the committed (wiped) pages into keystore.db and truncates the WAL, so no
   * frame written before a wipe survives in it. Run after every share wipe.
   */
  #purgeWal(): void {
    this.#connection().pragma('wal_checkpoint(TRUNCATE)');
  }

  #now(): number {
    return aUint(this.#clock(), 'now');
  }

  #refuseRetired(keyId: string): void {
    if (this.#sql.isRetired.get(keyId) !== undefined) {
      throw new KeystoreError('WRONG_STATE', { field: 'keyId', message: `${keyId} is retired` });
    }
  }

  #requirePending(keyId: string, epoch: number): void {
    const row = this.#sql.share.get(keyId, epoch);
    if (!row) throw new KeystoreError('NOT_FOUND', { field: 'epoch', message: `${keyId} epoch ${epoch}` });
    if (row.state !== 'pending') {
      throw new KeystoreError('WRONG_STATE', { field: 'epoch', message: `${keyId} epoch ${epoch} is ${row.state}` });
    }
  }

  #unsealShare(row: ShareRow): ShareRecord {
    const field = `shares[${row.key_id}/${row.epoch}].sealed`;
    if (row.signer_id !== this.signerId || row.state === 'retired') {
      throw new KeystoreError('CORRUPT', { field, message: 'row does not belong to this signer or is retired' });
    }
    const secret = this.#kek.unseal(row.sealed, shareAd(row.key_id, row.epoch, this.signerId, row.suite), field);
    return {
      keyId: row.key_id,
      epoch: row.epoch,
      signerId: row.signer_id,
      suite: row.suite,
      state: row.state,
      secret,
      public: new Uint8Array(row.public),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }
}
