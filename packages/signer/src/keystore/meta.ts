/**
 * The `meta` rows written once when a keystore is created: the signer it belongs to,
 * how its KEK is derived (kind, salt, scrypt parameters) and the KEK check value that
 * makes a wrong passphrase fail at open. None of them is secret.
 */
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
 * in the meta row `leader_token` (none: 0). Runs inside the caller's transaction.
 */
export class LeaderTokens {
  readonly #db: Database.Database;

  constructor(ctx: { readonly db: Database.Database }) {
    this.#db = ctx.db;
  }

  /** The highest accepted token; 'CORRUPT' if the row is not a safe integer. */
  highest(): number {
    const v = this.#db.prepare<[], unknown>("SELECT value FROM meta WHERE name = 'leader_token'").pluck().get();
    if (v === undefined) return 0;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new SignerError('CORRUPT', { field: 'meta.leader_token' });
    return v;
  }

  /** Records `token` when it is above the highest accepted one; false (nothing written) when it is below. */
  accept(token: number): boolean {
    const highest = this.highest();
    if (token < highest) return false;
    if (token > highest) this.#db.prepare("INSERT INTO meta (name, value) VALUES ('leader_token', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value").run(token);
    return true;
  }
}
