/**
 * Keystore tests against real SQLite files in a temporary directory: file modes,
 * no plaintext on disk, KEK checks, AEAD binding of shares and nonces, two-phase
 * refresh, single-use nonces across restarts and a SIGKILL, retirement, and the
 * persistent replay window.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import util from 'node:util';
import { isMainThread } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Kek,
  KEYSTORE_DB_FILE,
  Keystore,
  type KeystoreCreateOptions,
  SCRYPT_N_DEFAULT,
  SCRYPT_N_MIN,
  writeKeyFile,
} from '../src/keystore/index.ts';
import { SignerError, type SignerErrorCode } from '../src/errors.ts';
import { SCHEMA_VERSION } from '../src/keystore/schema.ts';

const PASSPHRASE = 'correct horse battery staple';
const SUITE = 'FROST-secp256k1-SHA256-TR-v1';
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const KEYSTORE_MODULE = fileURLToPath(new URL('../src/keystore/index.ts', import.meta.url));

const tempDirs: string[] = [];
const openStores: Keystore[] = [];

afterEach(() => {
  for (const ks of openStores.splice(0)) ks.close();
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyquorum-keystore-'));
  tempDirs.push(dir);
  return dir;
}

function track(ks: Keystore): Keystore {
  openStores.push(ks);
  return ks;
}

function create(dataDir: string, extra: Partial<KeystoreCreateOptions> = {}): Keystore {
  return track(Keystore.create({ dataDir, kek: { passphrase: PASSPHRASE }, signerId: 'signer-1', scryptN: SCRYPT_N_MIN, ...extra }));
}

function reopen(ks: Keystore): Keystore {
  ks.close();
  return track(Keystore.open({ dataDir: ks.dataDir, kek: { passphrase: PASSPHRASE } }));
}

function bytes(n: number): Uint8Array {
  return new Uint8Array(randomBytes(n));
}

/** An active share at `epoch` with a fresh random secret; returns the secret. */
function activeShare(ks: Keystore, keyId: string, epoch = 0): Uint8Array {
  const secret = bytes(48);
  ks.putPending(keyId, epoch, SUITE, secret, bytes(33));
  ks.activate(keyId, epoch);
  return secret;
}

function expectCode(fn: () => unknown, code: SignerErrorCode, field?: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(SignerError);
  expect((caught as SignerError).code).toBe(code);
  if (field !== undefined) expect((caught as SignerError).field).toBe(field);
}

function dbFile(dataDir: string): string {
  return path.join(dataDir, KEYSTORE_DB_FILE);
}

/** The raw bytes of keystore.db, its WAL and its SHM, each that exists. */
function diskImages(dataDir: string): Map<string, Buffer> {
  const images = new Map<string, Buffer>();
  for (const suffix of ['', '-wal', '-shm']) {
    const f = dbFile(dataDir) + suffix;
    if (fs.existsSync(f)) images.set(f, fs.readFileSync(f));
  }
  return images;
}

function onDisk(dataDir: string, needle: Uint8Array): boolean {
  return [...diskImages(dataDir).values()].some((image) => image.indexOf(Buffer.from(needle)) !== -1);
}

/** A raw connection for inspecting or tampering with the file while the keystore is closed. */
function withRaw<T>(dataDir: string, fn: (db: Database.Database) => T): T {
  const db = new Database(dbFile(dataDir));
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

function mode(f: string): number {
  return fs.statSync(f).mode & 0o777;
}

describe('keystore files', () => {
  // process.umask() cannot be set in a worker thread: Stryker's vitest runner forces
  // pool 'threads', so there (only) this one test is skipped; `npm test` runs it in forks.
  it.skipIf(!isMainThread)('creates the data dir 0700 and keystore.db, its WAL and SHM 0600 even under umask 000', () => {
    const dataDir = path.join(tempDir(), 'nested', 'data');
    const previous = process.umask(0);
    try {
      const ks = create(dataDir);
      activeShare(ks, 'k1');
      expect(mode(dataDir)).toBe(0o700);
      for (const suffix of ['', '-wal', '-shm']) expect(mode(dbFile(dataDir) + suffix)).toBe(0o600);
    } finally {
      process.umask(previous);
    }
  });

  it('tightens a pre-existing world-readable data dir to 0700', () => {
    const dataDir = tempDir();
    fs.chmodSync(dataDir, 0o755);
    create(dataDir);
    expect(mode(dataDir)).toBe(0o700);
  });

  it("never writes a share's or a nonce's plaintext to keystore.db, its WAL or its SHM, before or after a checkpoint", () => {
    const dataDir = tempDir();
    const ks = create(dataDir);
    const secret = bytes(64);
    const publicBytes = bytes(64);
    const nonce = bytes(64);
    ks.putPending('k1', 0, SUITE, secret, publicBytes);
    ks.activate('k1', 0);
    ks.storeNonce('n1', 'k1', 0, nonce);
    expect(Buffer.from(ks.getActive('k1').secret)).toEqual(Buffer.from(secret));

    // The scan does find what is stored in the clear, so its silence about secrets means something.
    expect(onDisk(dataDir, publicBytes)).toBe(true);
    expect(onDisk(dataDir, secret)).toBe(false);
    expect(onDisk(dataDir, nonce)).toBe(false);

    withRaw(dataDir, (db) => db.pragma('wal_checkpoint(TRUNCATE)'));
    expect(fs.statSync(`${dbFile(dataDir)}-wal`).size).toBe(0);
    expect(onDisk(dataDir, publicBytes)).toBe(true);
    expect(onDisk(dataDir, secret)).toBe(false);
    expect(onDisk(dataDir, nonce)).toBe(false);

    expect(Buffer.from(ks.consumeNonce('n1'))).toEqual(Buffer.from(nonce));
    ks.close();
    expect(onDisk(dataDir, publicBytes)).toBe(true);
    expect(onDisk(dataDir, secret)).toBe(false);
    expect(onDisk(dataDir, nonce)).toBe(false);
  });

  it('create refuses a data dir that already holds a keystore, with EXISTS', () => {
    const dataDir = tempDir();
    create(dataDir);
    expectCode(() => create(dataDir), 'EXISTS', 'dataDir');
  });

  it('open refuses a data dir without a keystore, with NOT_FOUND', () => {
    expectCode(() => Keystore.open({ dataDir: tempDir(), kek: { passphrase: PASSPHRASE } }), 'NOT_FOUND', 'dataDir');
  });

  it('open refuses a keystore.db that is not SQLite, with CORRUPT', () => {
    const dataDir = tempDir();
    fs.writeFileSync(dbFile(dataDir), bytes(8192), { mode: 0o600 });
    expectCode(() => Keystore.open({ dataDir, kek: { passphrase: PASSPHRASE } }), 'CORRUPT');
  });

  it('open refuses a keystore written by a newer schema version, with SCHEMA_VERSION', () => {
    const dataDir = tempDir();
    create(dataDir).close();
    withRaw(dataDir, (db) => db.prepare("UPDATE meta SET value = ? WHERE name = 'schema_version'").run(SCHEMA_VERSION + 1));
    expectCode(() => Keystore.open({ dataDir, kek: { passphrase: PASSPHRASE } }), 'SCHEMA_VERSION');
  });
});

describe('key-encryption key', () => {
  it('a wrong passphrase is refused at open with BAD_PASSPHRASE', () => {
    const dataDir = tempDir();
    activeShare(create(dataDir), 'k1');
    openStores.splice(0).forEach((ks) => ks.close());
    expectCode(() => Keystore.open({ dataDir, kek: { passphrase: `${PASSPHRASE}!` } }), 'BAD_PASSPHRASE', 'kek');
    const ks = track(Keystore.open({ dataDir, kek: { passphrase: PASSPHRASE } }));
    expect(ks.getActive('k1').epoch).toBe(0);
  });

  it('a missing or empty passphrase is refused with BAD_PASSPHRASE', () => {
    const dataDir = tempDir();
    create(dataDir).close();
    for (const kek of [undefined, {}, { passphrase: '' }, { passphrase: undefined }]) {
      expectCode(() => Keystore.open({ dataDir, kek } as never), 'BAD_PASSPHRASE');
    }
    expectCode(() => Keystore.create({ dataDir: tempDir(), kek: { passphrase: '' }, signerId: 's' }), 'BAD_PASSPHRASE');
  });

  it('a key file unlocks its keystore; another key file or a passphrase is refused with BAD_PASSPHRASE', () => {
    const dir = tempDir();
    const keyFile = path.join(dir, 'kek.key');
    const otherKeyFile = path.join(dir, 'other.key');
    writeKeyFile(keyFile);
    writeKeyFile(otherKeyFile);
    expect(mode(keyFile)).toBe(0o600);
    expectCode(() => writeKeyFile(keyFile), 'EXISTS', 'keyFile');

    const dataDir = path.join(dir, 'data');
    const secret = activeShare(track(Keystore.create({ dataDir, kek: { keyFile }, signerId: 'signer-1' })), 'k1');
    openStores.splice(0).forEach((ks) => ks.close());
    expectCode(() => Keystore.open({ dataDir, kek: { keyFile: otherKeyFile } }), 'BAD_PASSPHRASE', 'kek');
    expectCode(() => Keystore.open({ dataDir, kek: { passphrase: PASSPHRASE } }), 'BAD_PASSPHRASE', 'kek');
    const ks = track(Keystore.open({ dataDir, kek: { keyFile } }));
    expect(Buffer.from(ks.getActive('k1').secret)).toEqual(Buffer.from(secret));
  });

  it('a key file of the wrong length is refused with BAD_FIELD', () => {
    const dir = tempDir();
    const keyFile = path.join(dir, 'short.key');
    fs.writeFileSync(keyFile, bytes(31), { mode: 0o600 });
    expectCode(() => Keystore.create({ dataDir: path.join(dir, 'data'), kek: { keyFile }, signerId: 's' }), 'BAD_FIELD', 'kek.keyFile');
    expect(fs.existsSync(path.join(dir, 'data'))).toBe(false);
  });

  it('the KEK redacts itself in JSON.stringify and util.inspect and refuses use once destroyed', () => {
    const kek = Kek.fromKey(bytes(32), bytes(16));
    expect(JSON.stringify({ kek })).toBe('{"kek":"<redacted>"}');
    expect(util.inspect(kek)).toBe('<redacted>');
    expect(util.inspect({ kek }, { showHidden: true, depth: null })).toBe('{ kek: <redacted> }');
    const ad = bytes(8);
    const sealed = kek.seal(new Uint8Array([1, 2, 3]), ad);
    expect([...kek.unseal(sealed, ad, 'x')]).toEqual([1, 2, 3]);
    kek.destroy();
    expectCode(() => kek.unseal(sealed, ad, 'x'), 'LOCKED');
  });

  it('a keystore created at the default scrypt N reopens with its passphrase and refuses another', () => {
    const dataDir = tempDir();
    const secret = activeShare(track(Keystore.create({ dataDir, kek: { passphrase: PASSPHRASE }, signerId: 'signer-1' })), 'k1');
    openStores.splice(0).forEach((ks) => ks.close());
    expect(withRaw(dataDir, (db) => db.prepare("SELECT value FROM meta WHERE name = 'scrypt_n'").pluck().get())).toBe(SCRYPT_N_DEFAULT);
    expectCode(() => Keystore.open({ dataDir, kek: { passphrase: 'not it' } }), 'BAD_PASSPHRASE');
    const ks = track(Keystore.open({ dataDir, kek: { passphrase: PASSPHRASE } }));
    expect(Buffer.from(ks.getActive('k1').secret)).toEqual(Buffer.from(secret));
  });

  it('open refuses to unlock a keystore for another signer id, with BAD_FIELD', () => {
    const dataDir = tempDir();
    create(dataDir).close();
    expectCode(() => Keystore.open({ dataDir, kek: { passphrase: PASSPHRASE }, signerId: 'signer-2' }), 'BAD_FIELD', 'signerId');
    expect(track(Keystore.open({ dataDir, kek: { passphrase: PASSPHRASE }, signerId: 'signer-1' })).signerId).toBe('signer-1');
  });
});

describe('sealed shares', () => {
  function swap(dataDir: string, table: string, where: string, a: unknown[], b: unknown[]): void {
    withRaw(dataDir, (db) => {
      const get = db.prepare(`SELECT sealed FROM ${table} WHERE ${where}`).pluck();
      const set = db.prepare(`UPDATE ${table} SET sealed = ? WHERE ${where}`);
      const blobA = get.get(...a);
      const blobB = get.get(...b);
      set.run(blobB, ...a);
      set.run(blobA, ...b);
    });
  }

  it('a sealed share moved to another key id fails with CORRUPT, not garbage', () => {
    const dataDir = tempDir();
    const ks = create(dataDir);
    activeShare(ks, 'k1');
    activeShare(ks, 'k2');
    ks.close();
    swap(dataDir, 'shares', 'key_id = ? AND epoch = ?', ['k1', 0], ['k2', 0]);
    const again = reopen(ks);
    expectCode(() => again.getActive('k1'), 'CORRUPT', 'shares[k1/0].sealed');
    expectCode(() => again.getActive('k2'), 'CORRUPT', 'shares[k2/0].sealed');
  });

  it('a sealed share moved to another epoch fails with CORRUPT', () => {
    const dataDir = tempDir();
    const ks = create(dataDir);
    activeShare(ks, 'k1', 0);
    ks.putPending('k1', 1, SUITE, bytes(48), bytes(33));
    ks.close();
    swap(dataDir, 'shares', 'key_id = ? AND epoch = ?', ['k1', 0], ['k1', 1]);
    const again = reopen(ks);
    expectCode(() => again.getActive('k1'), 'CORRUPT');
    expectCode(() => again.getShare('k1', 1), 'CORRUPT');
  });

  it('a flipped ciphertext bit, a rewritten suite, signer id or state fails with CORRUPT', () => {
    const dataDir = tempDir();
    const ks = create(dataDir);
    activeShare(ks, 'k1');
    activeShare(ks, 'k2');
    activeShare(ks, 'k3');
    activeShare(ks, 'k4');
    ks.close();
    withRaw(dataDir, (db) => {
      const sealed = Buffer.from(db.prepare("SELECT sealed FROM shares WHERE key_id = 'k1'").pluck().get() as Buffer);
      sealed[sealed.length - 20]! ^= 1;
      db.prepare("UPDATE shares SET sealed = ? WHERE key_id = 'k1'").run(sealed);
      db.prepare("UPDATE shares SET suite = 'ed25519' WHERE key_id = 'k2'").run();
      db.prepare("UPDATE shares SET signer_id = 'signer-9' WHERE key_id = 'k3'").run();
      db.prepare("UPDATE shares SET state = 'retired' WHERE key_id = 'k4'").run();
    });
    const again = reopen(ks);
    for (const keyId of ['k1', 'k2', 'k3']) expectCode(() => again.getActive(keyId), 'CORRUPT');
    expectCode(() => again.getShare('k4', 0), 'CORRUPT', 'shares[k4/0].sealed');
  });

  it('a sealed nonce moved to another nonce id fails with CORRUPT and is not marked consumed', () => {
    const dataDir = tempDir();
    const ks = create(dataDir);
    activeShare(ks, 'k1');
    ks.storeNonce('n1', 'k1', 0, bytes(64));
    ks.storeNonce('n2', 'k1', 0, bytes(64));
    ks.close();
    swap(dataDir, 'nonces', 'nonce_id = ?', ['n1'], ['n2']);
    const again = reopen(ks);
    expectCode(() => again.consumeNonce('n1'), 'CORRUPT', 'nonces[n1].sealed');
    expect(again.countFreshNonces('k1')).toBe(2);
  });
});

describe('key lifecycle', () => {
  it('refresh is two-phase: a pending epoch leaves the active one in use, discardPending rolls back, activate deletes the old epoch', () => {
    const dataDir = tempDir();
    let ks = create(dataDir);
    const secret0 = activeShare(ks, 'k1', 0);
    const secret1 = bytes(48);
    const public1 = bytes(33);

    ks.putPending('k1', 1, SUITE, secret1, public1);
    expect(ks.getActive('k1')).toMatchObject({ epoch: 0, state: 'active', secret: secret0 });
    expect(ks.getShare('k1', 1)).toMatchObject({ epoch: 1, state: 'pending', secret: secret1, public: public1 });
    expect(ks.listKeys()).toEqual([{ keyId: 'k1', state: 'active', epoch: 0, suite: SUITE, pendingEpoch: 1 }]);

    ks.discardPending('k1', 1);
    expectCode(() => ks.getShare('k1', 1), 'NOT_FOUND', 'epoch');
    expect(ks.getActive('k1')).toMatchObject({ epoch: 0, secret: secret0 });

    ks.putPending('k1', 1, SUITE, secret1, public1);
    ks = reopen(ks);
    expect(ks.getActive('k1').epoch).toBe(0);
    const sealed0 = withRaw(dataDir, (db) => db.prepare('SELECT sealed FROM shares WHERE epoch = 0').pluck().get() as Buffer);
    expect(onDisk(dataDir, sealed0)).toBe(true);
    ks.activate('k1', 1);
    expect(onDisk(dataDir, sealed0)).toBe(false);
    ks = reopen(ks);
    expect(ks.getActive('k1')).toMatchObject({ epoch: 1, state: 'active', secret: secret1 });
    expectCode(() => ks.getShare('k1', 0), 'NOT_FOUND');
    expect(ks.listKeys()).toEqual([{ keyId: 'k1', state: 'active', epoch: 1, suite: SUITE, pendingEpoch: null }]);
    ks.close();
    expect(withRaw(dataDir, (db) => db.prepare('SELECT epoch FROM shares').pluck().all())).toEqual([1]);
  });

  it('a key whose DKG has not committed is pending: getActive says WRONG_STATE, an unknown key NOT_FOUND', () => {
    const ks = create(tempDir());
    ks.putPending('k1', 0, SUITE, bytes(48), bytes(33));
    expect(ks.listKeys()).toEqual([{ keyId: 'k1', state: 'pending', epoch: 0, suite: SUITE }]);
    expectCode(() => ks.getActive('k1'), 'WRONG_STATE', 'keyId');
    expectCode(() => ks.getActive('k2'), 'NOT_FOUND', 'keyId');
  });

  it('putPending refuses an epoch that does not advance, a second pending epoch, and a duplicate', () => {
    const ks = create(tempDir());
    activeShare(ks, 'k1', 3);
    expectCode(() => ks.putPending('k1', 3, SUITE, bytes(48), bytes(33)), 'EXISTS', 'epoch');
    expectCode(() => ks.putPending('k1', 2, SUITE, bytes(48), bytes(33)), 'WRONG_STATE', 'epoch');
    ks.putPending('k1', 4, SUITE, bytes(48), bytes(33));
    expectCode(() => ks.putPending('k1', 5, SUITE, bytes(48), bytes(33)), 'WRONG_STATE', 'epoch');
    expectCode(() => ks.activate('k1', 3), 'WRONG_STATE', 'epoch');
    expectCode(() => ks.discardPending('k1', 3), 'WRONG_STATE', 'epoch');
    expectCode(() => ks.activate('k1', 9), 'NOT_FOUND', 'epoch');
  });

  it('activating a new epoch discards and zeroes the fresh nonces of the old one', () => {
    const dataDir = tempDir();
    const ks = create(dataDir);
    activeShare(ks, 'k1', 0);
    ks.storeNonce('n0', 'k1', 0, bytes(64));
    ks.putPending('k1', 1, SUITE, bytes(48), bytes(33));
    expectCode(() => ks.storeNonce('n1', 'k1', 1, bytes(64)), 'WRONG_STATE', 'epoch');
    ks.activate('k1', 1);
    expect(ks.countFreshNonces('k1')).toBe(0);
    expectCode(() => ks.consumeNonce('n0'), 'NONCE_DISCARDED', 'nonceId');
    ks.close();
    const sealed = withRaw(dataDir, (db) => db.prepare("SELECT sealed FROM nonces WHERE nonce_id = 'n0'").pluck().get() as Buffer);
    expect(sealed.length).toBeGreaterThan(0);
    expect(sealed.every((b) => b === 0)).toBe(true);
  });

  it('retire wipes the sealed shares from every file on disk and refuses any later use of the key with WRONG_STATE', () => {
    const dataDir = tempDir();
    let ks = create(dataDir);
    activeShare(ks, 'k1', 0);
    ks.putPending('k1', 1, SUITE, bytes(48), bytes(33));
    ks.storeNonce('n1', 'k1', 0, bytes(64));
    activeShare(ks, 'k2', 0);
    ks.close();
    const sealedK1 = withRaw(dataDir, (db) =>
      db.prepare("SELECT sealed FROM shares WHERE key_id = 'k1'").pluck().all() as Buffer[],
    );
    expect(sealedK1).toHaveLength(2);
    for (const sealed of sealedK1) expect(onDisk(dataDir, sealed)).toBe(true);

    ks = reopen(ks);
    const digest = bytes(32);
    expect(ks.retire('k1', digest)).toMatchObject({ keyId: 'k1', wipedEpochs: [0, 1] });
    expect(ks.countFreshNonces('k1')).toBe(0);
    for (const sealed of sealedK1) expect(onDisk(dataDir, sealed)).toBe(false);
    ks.close();
    for (const sealed of sealedK1) expect(onDisk(dataDir, sealed)).toBe(false);

    ks = reopen(ks);
    expect(ks.listKeys()).toEqual([
      { keyId: 'k1', state: 'retired', retiredAt: expect.any(Number), attestationDigest: digest },
      { keyId: 'k2', state: 'active', epoch: 0, suite: SUITE, pendingEpoch: null },
    ]);
    expectCode(() => ks.getActive('k1'), 'WRONG_STATE', 'keyId');
    expectCode(() => ks.getShare('k1', 0), 'WRONG_STATE', 'keyId');
    expectCode(() => ks.putPending('k1', 2, SUITE, bytes(48), bytes(33)), 'WRONG_STATE', 'keyId');
    expectCode(() => ks.activate('k1', 1), 'WRONG_STATE', 'keyId');
    expectCode(() => ks.storeNonce('n2', 'k1', 0, bytes(64)), 'WRONG_STATE', 'keyId');
    expectCode(() => ks.consumeNonce('n1'), 'NONCE_DISCARDED');
    expectCode(() => ks.retire('k1', digest), 'WRONG_STATE', 'keyId');
    expectCode(() => ks.retire('k3', digest), 'NOT_FOUND', 'keyId');
    expect(ks.getActive('k2').epoch).toBe(0);
  });
});

describe('nonce journal', () => {
  it('a consumed nonce cannot be consumed again, even after the keystore is closed and reopened', () => {
    const dataDir = tempDir();
    let ks = create(dataDir);
    activeShare(ks, 'k1');
    const nonce = bytes(64);
    ks.storeNonce('n1', 'k1', 0, nonce);
    expectCode(() => ks.storeNonce('n1', 'k1', 0, bytes(64)), 'EXISTS', 'nonceId');
    expect(ks.countFreshNonces()).toBe(1);
    expect(Buffer.from(ks.consumeNonce('n1'))).toEqual(Buffer.from(nonce));
    expectCode(() => ks.consumeNonce('n1'), 'NONCE_CONSUMED', 'nonceId');
    ks = reopen(ks);
    expectCode(() => ks.consumeNonce('n1'), 'NONCE_CONSUMED', 'nonceId');
    expectCode(() => ks.storeNonce('n1', 'k1', 0, nonce), 'EXISTS', 'nonceId');
    expectCode(() => ks.consumeNonce('n9'), 'NONCE_UNKNOWN', 'nonceId');
    ks.close();
    const row = withRaw(dataDir, (db) => db.prepare("SELECT state, sealed FROM nonces WHERE nonce_id = 'n1'").get()) as {
      state: string;
      sealed: Buffer;
    };
    expect(row.state).toBe('consumed');
    expect(row.sealed.every((b) => b === 0)).toBe(true);
  });

  it('discardOutstandingNonces after a restart makes every fresh nonce unusable and zeroes it', () => {
    const dataDir = tempDir();
    let ks = create(dataDir);
    activeShare(ks, 'k1');
    activeShare(ks, 'k2');
    ks.storeNonce('a', 'k1', 0, bytes(64));
    ks.storeNonce('b', 'k2', 0, bytes(64));
    ks.storeNonce('c', 'k1', 0, bytes(64));
    ks.consumeNonce('c');
    expect(ks.countFreshNonces('k1')).toBe(1);
    expect(ks.countFreshNonces()).toBe(2);

    ks = reopen(ks);
    expect(ks.discardOutstandingNonces()).toBe(2);
    expect(ks.countFreshNonces()).toBe(0);
    expectCode(() => ks.consumeNonce('a'), 'NONCE_DISCARDED');
    expectCode(() => ks.consumeNonce('b'), 'NONCE_DISCARDED');
    expectCode(() => ks.consumeNonce('c'), 'NONCE_CONSUMED');
    ks.close();
    const blobs = withRaw(dataDir, (db) => db.prepare('SELECT sealed FROM nonces').pluck().all() as Buffer[]);
    expect(blobs.every((b) => b.every((x) => x === 0))).toBe(true);
  });

  it('a nonce consumed by a process killed with SIGKILL right after consumeNonce returns stays consumed', () => {
    const dir = tempDir();
    const dataDir = path.join(dir, 'data');
    const ks = create(dataDir);
    activeShare(ks, 'k1');
    const nonce = bytes(64);
    ks.storeNonce('n1', 'k1', 0, nonce);
    ks.storeNonce('n2', 'k1', 0, bytes(64));
    ks.close();

    const script = path.join(dir, 'consume-and-die.mts');
    fs.writeFileSync(
      script,
      [
        "import fs from 'node:fs';",
        `import { Keystore } from ${JSON.stringify(pathToFileURL(KEYSTORE_MODULE).href)};`,
        'const [dataDir, nonceId, passphrase] = process.argv.slice(2);',
        'const ks = Keystore.open({ dataDir, kek: { passphrase } });',
        'const secret = ks.consumeNonce(nonceId);',
        "fs.writeSync(1, Buffer.from(secret).toString('hex') + '\\n');",
        "process.kill(process.pid, 'SIGKILL');",
      ].join('\n'),
    );
    const child = spawnSync(process.execPath, ['--import', 'tsx', script, dataDir, 'n1', PASSPHRASE], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(child.stderr).toBe('');
    expect(child.signal).toBe('SIGKILL');
    expect(child.stdout.trim()).toBe(Buffer.from(nonce).toString('hex'));

    const again = track(Keystore.open({ dataDir, kek: { passphrase: PASSPHRASE } }));
    expectCode(() => again.consumeNonce('n1'), 'NONCE_CONSUMED');
    expect(again.countFreshNonces('k1')).toBe(1);
  });
});

describe('replay window', () => {
  it('remembers a request across a restart, treats hex case as one value, and prunes by age', () => {
    let clock = 1_000_000;
    const dataDir = tempDir();
    let ks = create(dataDir, { now: () => clock });
    expect(ks.rememberRequest('aa01', 'bb02', clock)).toBe(true);
    expect(ks.rememberRequest('aa01', 'bb02', clock)).toBe(false);
    expect(ks.checkAndRemember('AA01', 'BB02', clock)).toBe(false);
    expect(ks.rememberRequest('aa01', 'bb03', clock + 5_000)).toBe(true);

    ks.close();
    ks = track(Keystore.open({ dataDir, kek: { passphrase: PASSPHRASE }, now: () => clock }));
    expect(ks.checkAndRemember('aa01', 'bb02', clock)).toBe(false);

    clock += 10_000;
    expect(ks.pruneRequests(8_000)).toBe(1);
    expect(ks.rememberRequest('aa01', 'bb02', clock)).toBe(true);
    expect(ks.rememberRequest('aa01', 'bb03', clock)).toBe(false);
  });
});

describe('argument checks', () => {
  const cases: [string, (ks: Keystore) => unknown, string][] = [
    ['a key id with a slash', (ks) => ks.putPending('k/1', 0, SUITE, bytes(8), bytes(8)), 'keyId'],
    ['an empty key id', (ks) => ks.getActive(''), 'keyId'],
    ['a 129-character key id', (ks) => ks.getActive('k'.repeat(129)), 'keyId'],
    ['a negative epoch', (ks) => ks.putPending('k1', -1, SUITE, bytes(8), bytes(8)), 'epoch'],
    ['a fractional epoch', (ks) => ks.getShare('k1', 1.5), 'epoch'],
    ['an unsafe-integer epoch', (ks) => ks.activate('k1', 2 ** 53), 'epoch'],
    ['a suite with a space', (ks) => ks.putPending('k1', 0, 'bad suite', bytes(8), bytes(8)), 'suite'],
    ['a secret that is an array', (ks) => ks.putPending('k1', 0, SUITE, [1, 2] as never, bytes(8)), 'secret'],
    ['an empty secret', (ks) => ks.putPending('k1', 0, SUITE, new Uint8Array(0), bytes(8)), 'secret'],
    ['public bytes as a string', (ks) => ks.putPending('k1', 0, SUITE, bytes(8), 'ab' as never), 'public'],
    ['a 31-byte attestation digest', (ks) => ks.retire('k1', bytes(31)), 'attestationDigest'],
    ['a nonce id with a space', (ks) => ks.consumeNonce('n 1'), 'nonceId'],
    ['a secret nonce that is a string', (ks) => ks.storeNonce('n1', 'k1', 0, 'x' as never), 'secretNonce'],
    ['a client key that is not hex', (ks) => ks.rememberRequest('zz', 'aa', 0), 'clientKeyHex'],
    ['a nonce of odd hex length', (ks) => ks.rememberRequest('aa', 'abc', 0), 'nonceHex'],
    ['a negative timestamp', (ks) => ks.rememberRequest('aa', 'bb', -1), 'timestampMs'],
    ['a non-integer prune age', (ks) => ks.pruneRequests(Number.NaN), 'olderThanMs'],
  ];

  it.each(cases)('refuses %s with BAD_FIELD naming the field', (_name, call, field) => {
    const ks = create(tempDir());
    expectCode(() => call(ks), 'BAD_FIELD', field);
  });

  it('refuses bad create options with BAD_FIELD naming the option, before touching the disk', () => {
    const dataDir = path.join(tempDir(), 'data');
    const base = { dataDir, kek: { passphrase: PASSPHRASE }, signerId: 'signer-1' };
    expectCode(() => Keystore.create({ ...base, signerId: 'signer 1' }), 'BAD_FIELD', 'signerId');
    expectCode(() => Keystore.create({ ...base, scryptN: 1000 }), 'BAD_FIELD', 'scryptN');
    expectCode(() => Keystore.create({ ...base, scryptN: 2 }), 'BAD_FIELD', 'scryptN');
    expectCode(() => Keystore.create({ ...base, dataDir: '' }), 'BAD_FIELD', 'dataDir');
    expectCode(() => Keystore.create({ ...base, now: 5 as never }), 'BAD_FIELD', 'now');
    expect(fs.existsSync(dataDir)).toBe(false);
  });

  it('a clock that returns a non-integer is refused with BAD_FIELD and writes nothing', () => {
    let clock = 1;
    const ks = create(tempDir(), { now: () => clock });
    clock = 1.5;
    expectCode(() => ks.putPending('k1', 0, SUITE, bytes(8), bytes(8)), 'BAD_FIELD', 'now');
    expect(ks.listKeys()).toEqual([]);
  });

  it('a closed keystore refuses every call with LOCKED', () => {
    const ks = create(tempDir());
    activeShare(ks, 'k1');
    ks.close();
    ks.close();
    expectCode(() => ks.getActive('k1'), 'LOCKED');
    expectCode(() => ks.consumeNonce('n1'), 'LOCKED');
    expectCode(() => ks.listKeys(), 'LOCKED');
    expectCode(() => ks.rememberRequest('aa', 'bb', 0), 'LOCKED');
  });
});

describe('peer bans (ecdsa-secp256k1: OT state is reused, a caught peer gets no further session of the key)', () => {
  it('a ban is per key, durable across reopen, idempotent, and lifted only by clearPeerBan', () => {
    const ks = create(tempDir());
    expect(ks.bannedPeers('k1')).toEqual([]);
    expect(ks.banPeer('k1', 'signer-3', 'INVALID_SHARE')).toBe(true);
    expect(ks.banPeer('k1', 'signer-3', 'again')).toBe(false);
    expect(ks.banPeer('k1', 'signer-2', 'INVALID_PROOF')).toBe(true);
    const again = reopen(ks);
    expect(again.bannedPeers('k1')).toEqual(['signer-2', 'signer-3']);
    expect(again.bannedPeers('k2')).toEqual([]);
    expect(again.clearPeerBan('k1', 'signer-3')).toBe(true);
    expect(again.clearPeerBan('k1', 'signer-3')).toBe(false);
    expect(again.bannedPeers('k1')).toEqual(['signer-2']);
    expectCode(() => again.banPeer('k1', 'bad id!', 'x'), 'BAD_FIELD', 'peer');
  });
});
