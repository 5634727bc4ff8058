/**
 * The `meta` rows written once when a keystore is created: the signer it belongs to,
 * how its KEK is derived (kind, salt, scrypt parameters) and the KEK check value that
 * makes a wrong passphrase fail at open. None of them is secret.
 */
import { bytesToHex } from '@noble/hashes/utils.js';
import type Database from 'better-sqlite3';
import { KEK_LENGTH, SALT_LENGTH } from './constants.ts';
import { blob } from './database.ts';
import { SignerError } from '../errors.ts';
import { type KekKind, type ScryptParams, validateScryptParams } from './kek.ts';

export interface Meta {
  signerId: string;
  kekKind: KekKind;
  salt: Uint8Array;
  scrypt: ScryptParams | null;
  verifier: Uint8Array;
}

/** Reads and checks the creation rows; 'CORRUPT' names the first bad one. */
export function readMeta(db: Database.Database): Meta {
  const rows = db.prepare<[], { name: string; value: unknown }>('SELECT name, value FROM meta').all();
  const meta = new Map(rows.map((r) => [r.name, r.value]));
  const int = (name: string): number => {
    const v = meta.get(name);
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new SignerError('CORRUPT', { field: `meta.${name}` });
    return v;
  };
  const bytes = (name: string, len: number): Uint8Array => {
    const v = meta.get(name);
    if (!(v instanceof Uint8Array) || v.length !== len) throw new SignerError('CORRUPT', { field: `meta.${name}` });
    return new Uint8Array(v);
  };
  const signerId = meta.get('signer_id');
  const kind = meta.get('kek_kind');
  if (typeof signerId !== 'string') throw new SignerError('CORRUPT', { field: 'meta.signer_id' });
  if (kind !== 'passphrase' && kind !== 'keyFile') throw new SignerError('CORRUPT', { field: 'meta.kek_kind' });
  let scrypt: ScryptParams | null = null;
  if (kind === 'passphrase') {
    try {
      scrypt = validateScryptParams({ N: int('scrypt_n'), r: int('scrypt_r'), p: int('scrypt_p') }, 'meta.scrypt');
    } catch (cause) {
      throw new SignerError('CORRUPT', { field: 'meta.scrypt', cause });
    }
  }
  return { signerId, kekKind: kind, salt: bytes('salt', SALT_LENGTH), scrypt, verifier: bytes('verifier', KEK_LENGTH) };
}

/** Writes the creation rows of a new keystore (after `schema_version`), with its creation time. */
export function writeMeta(db: Database.Database, meta: Meta, createdAt: number): void {
  const rows: [string, string | number | Buffer][] = [
    ['signer_id', meta.signerId],
    ['kek_kind', meta.kekKind],
    ['salt', blob(meta.salt)],
    ['verifier', blob(meta.verifier)],
    ['created_at', createdAt],
    ...(meta.scrypt ? ([['scrypt_n', meta.scrypt.N], ['scrypt_r', meta.scrypt.r], ['scrypt_p', meta.scrypt.p]] as [string, number][]) : []),
  ];
  const insert = db.prepare<[string, string | number | Buffer]>('INSERT INTO meta (name, value) VALUES (?, ?)');
  for (const [name, value] of rows) insert.run(name, value);
}

/**
 * The highest coordinator leader token this signer has accepted (docs/ha.md §2), kept
 * in the meta row `leader_token` (none: 0) beside `leader_token_key`, the coordinator
 * identity key it was accepted from. A token counts only for that key: the coordinators'
 * key can raise the token without bound (2^53 - 1 locks every later leader out), and an
 * operator recovers from a compromised coordinator key by rotating it, which starts a new
 * sequence here. A row without its key (written before the key was kept) counts for
 * whichever key is configured. Runs inside the caller's transaction.
 */
export class LeaderTokens {
  readonly #db: Database.Database;

  constructor(ctx: { readonly db: Database.Database }) {
    this.#db = ctx.db;
  }

  /** The highest token accepted from `coordinatorKey` (0: none); 'CORRUPT' if a row is malformed. */
  highest(coordinatorKey: Uint8Array): number {
    const row = (name: string) => this.#db.prepare<[string], unknown>('SELECT value FROM meta WHERE name = ?').pluck().get(name);
    const v = row('leader_token');
    if (v === undefined) return 0;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new SignerError('CORRUPT', { field: 'meta.leader_token' });
    const key = row('leader_token_key');
    if (key === undefined) return v;
    if (typeof key !== 'string' || !/^[0-9a-f]{64}$/.test(key)) throw new SignerError('CORRUPT', { field: 'meta.leader_token_key' });
    return key === bytesToHex(coordinatorKey) ? v : 0;
  }

  /** Records `token` from `coordinatorKey` unless it is below the highest accepted from that key (then false, nothing written). */
  accept(token: number, coordinatorKey: Uint8Array): boolean {
    const highest = this.highest(coordinatorKey);
    if (token < highest) return false;
    const upsert = this.#db.prepare('INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value');
    upsert.run('leader_token', token);
    upsert.run('leader_token_key', bytesToHex(coordinatorKey));
    return true;
  }
}
