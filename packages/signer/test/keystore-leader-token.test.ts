/**
 * The keystore's memory of coordinator leader tokens (keystore/meta.ts `LeaderTokens`,
 * docs/ha.md §2): the highest token accepted counts only for the coordinator identity key
 * it came from, a row written before the key was kept counts for the configured key, and
 * a damaged row is refused as CORRUPT rather than read as 0 (which would let a deposed
 * leader back in). The daemon-level twin is coordinators.test.ts.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { Keystore, SCRYPT_N_MIN } from '../src/keystore/index.ts';
import { KEYSTORE_DB_FILE } from '../src/keystore/constants.ts';
import { SignerError } from '../src/errors.ts';
import { removeTempDirs, tempDir } from './helpers/cluster.ts';

const stores: Keystore[] = [];
afterEach(() => {
  for (const ks of stores.splice(0)) ks.close();
  removeTempDirs();
});

const keyA = new Uint8Array(32).fill(0xa1);
const keyB = new Uint8Array(32).fill(0xb2);

function create(): { ks: Keystore; dataDir: string } {
  const dataDir = path.join(tempDir(), 'd');
  const ks = Keystore.create({ dataDir, kek: { passphrase: 'p' }, signerId: 's1', scryptN: SCRYPT_N_MIN });
  stores.push(ks);
  return { ks, dataDir };
}

function reopen(dataDir: string): Keystore {
  const ks = Keystore.open({ dataDir, kek: { passphrase: 'p' } });
  stores.push(ks);
  return ks;
}

/** Edits the keystore's meta table behind its back (the keystore closed), as an old version or a damaged disk would leave it. */
function editMeta(ks: Keystore, dataDir: string, sql: string): void {
  ks.close();
  const db = new Database(path.join(dataDir, KEYSTORE_DB_FILE));
  try {
    db.exec(sql);
  } finally {
    db.close();
  }
}

describe('leader tokens in the keystore', () => {
  it('refuses a token below the highest from the same key and accepts the first token of another key', () => {
    const { ks } = create();
    expect(ks.acceptLeaderToken(9, keyA)).toBe(true);
    expect(ks.acceptLeaderToken(8, keyA)).toBe(false);
    expect(ks.acceptLeaderToken(9, keyA)).toBe(true);
    expect(ks.acceptLeaderToken(1, keyB)).toBe(true);
    expect(ks.acceptLeaderToken(0, keyB)).toBe(false);
  });

  it('a token row written before the key was kept still counts for the configured key (an upgrade lets no deposed leader in)', () => {
    const { ks, dataDir } = create();
    expect(ks.acceptLeaderToken(7, keyA)).toBe(true);
    editMeta(ks, dataDir, "DELETE FROM meta WHERE name = 'leader_token_key'");
    const again = reopen(dataDir);
    expect(again.acceptLeaderToken(6, keyA)).toBe(false);
    expect(again.acceptLeaderToken(7, keyA)).toBe(true);
  });

  it('a damaged token or key row is refused as CORRUPT, never read as no token', () => {
    for (const sql of ["UPDATE meta SET value = 'x' WHERE name = 'leader_token_key'", "UPDATE meta SET value = -1 WHERE name = 'leader_token'"]) {
      const { ks, dataDir } = create();
      expect(ks.acceptLeaderToken(7, keyA)).toBe(true);
      editMeta(ks, dataDir, sql);
      const again = reopen(dataDir);
      let thrown: unknown;
      try {
        again.acceptLeaderToken(1, keyA);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(SignerError);
      expect((thrown as SignerError).code).toBe('CORRUPT');
    }
  });
});
