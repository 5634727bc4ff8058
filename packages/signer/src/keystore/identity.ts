/**
 * The signer's Ed25519 identity key (RFC 8032), kept in `meta`: the 32-byte seed
 * sealed under the KEK with AD ('keyquorum/identity/v1', signer id, public key), and
 * the public key in clear so `readIdentityPublicKey` needs no KEK. Stored once.
 * Methods run inside the caller's transaction.
 */
import type Database from 'better-sqlite3';
import { ED25519_KEY_LENGTH, IDENTITY_AD_LABEL } from './constants.ts';
import { type StoreContext, associatedData, blob } from './database.ts';
import { SignerError } from '../errors.ts';
import type { Kek } from './kek.ts';

const PUBLIC_KEY_ROW = 'identity_public';
const SEALED_SEED_ROW = 'identity_sealed';

function prepare(ctx: StoreContext) {
  return {
    value: ctx.db.prepare<[string], unknown>('SELECT value FROM meta WHERE name = ?').pluck(),
    insert: ctx.db.prepare<[string, Buffer]>('INSERT INTO meta (name, value) VALUES (?, ?)'),
    update: ctx.db.prepare<[Buffer, string]>('UPDATE meta SET value = ? WHERE name = ?'),
  };
}

export class IdentityStore {
  readonly #ctx: StoreContext;
  readonly #sql: ReturnType<typeof prepare>;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
    this.#sql = prepare(ctx);
  }

  /** Seals and stores the seed with its public key; 'EXISTS' if one is stored. */
  put(seed: Uint8Array, publicKey: Uint8Array): void {
    const sealed = this.#ctx.kek.seal(seed, this.#ad(publicKey));
    if (this.#sql.value.get(SEALED_SEED_ROW) !== undefined) throw new SignerError('EXISTS', { field: 'identity' });
    this.#sql.insert.run(SEALED_SEED_ROW, blob(sealed));
    this.#sql.insert.run(PUBLIC_KEY_ROW, blob(publicKey));
  }

  /** The seed, unsealed, and its public key; 'NOT_FOUND' if none was stored. */
  get(): { seed: Uint8Array; publicKey: Uint8Array } {
    const sealed = this.#sql.value.get(SEALED_SEED_ROW);
    const publicKey = this.#sql.value.get(PUBLIC_KEY_ROW);
    if (sealed === undefined) throw notFound();
    if (!(sealed instanceof Uint8Array) || !(publicKey instanceof Uint8Array) || publicKey.length !== ED25519_KEY_LENGTH) {
      throw new SignerError('CORRUPT', { field: 'meta.identity' });
    }
    const pub = new Uint8Array(publicKey);
    return { seed: this.#ctx.kek.unseal(sealed, this.#ad(pub), `meta.${SEALED_SEED_ROW}`), publicKey: pub };
  }

  /** Re-seals the seed, if one is stored, under `to` (the KEK is being replaced). */
  reseal(to: Kek): void {
    if (this.#sql.value.get(SEALED_SEED_ROW) === undefined) return;
    const { seed, publicKey } = this.get();
    this.#sql.update.run(blob(to.seal(seed, this.#ad(publicKey))), SEALED_SEED_ROW);
    seed.fill(0);
  }

  /** The public key, from a read-only connection; 'NOT_FOUND' if none was stored. */
  static readPublicKey(db: Database.Database): Uint8Array {
    const value = db.prepare<[string], unknown>('SELECT value FROM meta WHERE name = ?').pluck().get(PUBLIC_KEY_ROW);
    if (value === undefined) throw notFound();
    if (!(value instanceof Uint8Array) || value.length !== ED25519_KEY_LENGTH) throw new SignerError('CORRUPT', { field: `meta.${PUBLIC_KEY_ROW}` });
    return new Uint8Array(value);
  }

  #ad(publicKey: Uint8Array): Uint8Array {
    return associatedData(IDENTITY_AD_LABEL, this.#ctx.signerId, publicKey);
  }
}

function notFound(): SignerError {
  return new SignerError('NOT_FOUND', { field: 'identity', message: 'no identity key in this keystore' });
}
