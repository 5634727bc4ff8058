/**
 * Retired keys: a `retired_keys` row (when, and the digest of the destruction
 * attestation) outlives the key's wiped shares, so any later use of the key is refused
 * with 'WRONG_STATE', and the signed attestation itself is kept so it can be sent again.
 * Methods run inside the caller's transaction.
 */
import { type StoreContext, blob } from './database.ts';
import { SignerError } from '../errors.ts';

export interface RetiredKey {
  keyId: string;
  retiredAt: number;
  attestationDigest: Uint8Array;
}

function prepare(ctx: StoreContext) {
  const { db } = ctx;
  return {
    isRetired: db.prepare<[string], number>('SELECT 1 FROM retired_keys WHERE key_id = ?').pluck(),
    insertRetired: db.prepare<[string, number, Buffer]>('INSERT INTO retired_keys (key_id, retired_at, attestation_digest) VALUES (?, ?, ?)'),
    allRetired: db.prepare<[], { key_id: string; retired_at: number; attestation_digest: Uint8Array }>(
      'SELECT key_id, retired_at, attestation_digest FROM retired_keys ORDER BY key_id',
    ),
    insertAttestation: db.prepare<[string, Buffer]>('INSERT INTO attestations (key_id, payload) VALUES (?, ?)'),
    attestation: db.prepare<[string], Uint8Array>('SELECT payload FROM attestations WHERE key_id = ?').pluck(),
  };
}

export class RetiredKeys {
  readonly #sql: ReturnType<typeof prepare>;

  constructor(ctx: StoreContext) {
    this.#sql = prepare(ctx);
  }

  /** 'WRONG_STATE' if the key is retired. */
  refuseRetired(keyId: string): void {
    if (this.#sql.isRetired.get(keyId) !== undefined) {
      throw new SignerError('WRONG_STATE', { field: 'keyId', message: `${keyId} is retired` });
    }
  }

  /** Records the retirement, and the attestation bytes when given. */
  record(retired: RetiredKey, attestation: Uint8Array | undefined): void {
    this.#sql.insertRetired.run(retired.keyId, retired.retiredAt, blob(retired.attestationDigest));
    if (attestation !== undefined) this.#sql.insertAttestation.run(retired.keyId, blob(attestation));
  }

  /** Every retired key, by key id. */
  all(): RetiredKey[] {
    return this.#sql.allRetired.all().map((row) => ({
      keyId: row.key_id,
      retiredAt: row.retired_at,
      attestationDigest: new Uint8Array(row.attestation_digest),
    }));
  }

  /** The attestation stored at retirement; 'NOT_FOUND' if none. */
  attestation(keyId: string): Uint8Array {
    const payload = this.#sql.attestation.get(keyId);
    if (payload === undefined) throw new SignerError('NOT_FOUND', { field: 'keyId', message: `${keyId} has no attestation` });
    return new Uint8Array(payload);
  }
}
