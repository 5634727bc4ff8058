/**
 * The journal of single-use signing nonces (RFC 9591 §5.1 commit; DKLs23 presignature
 * state). Each is stored 'fresh', sealed under the KEK with AD ('keyquorum/nonce/v1',
 * nonce id, key id, epoch, signer id). `consume` marks it 'consumed' and zeroes its
 * sealed copy in the transaction that returns it, so nothing computed from it can
 * leave the signer before the mark is durable. A nonce outstanding at a restart, a
 * refresh, a retirement or an aborted attempt is 'discarded' and zeroed instead.
 * `prune` deletes consumed and discarded rows created before the replay window (their
 * sealed copies are zeroes already; no request that could name them is still fresh),
 * and never a fresh one: an outstanding nonce goes only once discarded (at a restart,
 * by `discardAll`). Methods run inside the caller's transaction.
 */
import { NONCE_AD_LABEL } from './constants.ts';
import { type StoreContext, associatedData, blob, now } from './database.ts';
import { SignerError } from '../errors.ts';
import type { Kek } from './kek.ts';

interface NonceRow {
  nonce_id: string;
  key_id: string;
  epoch: number;
  sealed: Uint8Array;
  state: 'fresh' | 'consumed' | 'discarded';
}

const DISCARD = "UPDATE nonces SET state = 'discarded', sealed = zeroblob(length(sealed)) WHERE state = 'fresh'";

function prepare(ctx: StoreContext) {
  const { db } = ctx;
  return {
    nonce: db.prepare<[string], NonceRow>('SELECT nonce_id, key_id, epoch, sealed, state FROM nonces WHERE nonce_id = ?'),
    insertNonce: db.prepare<[string, string, number, Buffer, number]>(
      "INSERT INTO nonces (nonce_id, key_id, epoch, sealed, state, created_at) VALUES (?, ?, ?, ?, 'fresh', ?)",
    ),
    markConsumed: db.prepare<[string]>(
      "UPDATE nonces SET state = 'consumed', sealed = zeroblob(length(sealed)) WHERE nonce_id = ? AND state = 'fresh'",
    ),
    discardNonce: db.prepare<[string]>(`${DISCARD} AND nonce_id = ?`),
    discardAllFresh: db.prepare<[]>(DISCARD),
    discardFreshOfKey: db.prepare<[string]>(`${DISCARD} AND key_id = ?`),
    discardFreshOfOtherEpochs: db.prepare<[string, number]>(`${DISCARD} AND key_id = ? AND epoch <> ?`),
    freshRows: db.prepare<[], NonceRow>("SELECT nonce_id, key_id, epoch, sealed, state FROM nonces WHERE state = 'fresh'"),
    setSealed: db.prepare<[Buffer, string]>('UPDATE nonces SET sealed = ? WHERE nonce_id = ?'),
    prune: db.prepare<[number]>("DELETE FROM nonces WHERE state IN ('consumed', 'discarded') AND created_at < ?"),
    countFresh: db.prepare<[], number>("SELECT count(*) FROM nonces WHERE state = 'fresh'").pluck(),
    countFreshOfKey: db.prepare<[string], number>("SELECT count(*) FROM nonces WHERE key_id = ? AND state = 'fresh'").pluck(),
  };
}

export class NonceJournal {
  readonly #ctx: StoreContext;
  readonly #sql: ReturnType<typeof prepare>;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
    this.#sql = prepare(ctx);
  }

  /** Seals and journals a fresh nonce; 'EXISTS' if the id was ever used. */
  store(nonceId: string, keyId: string, epoch: number, secretNonce: Uint8Array): void {
    const sealed = this.#ctx.kek.seal(secretNonce, this.#ad(nonceId, keyId, epoch));
    if (this.#sql.nonce.get(nonceId)) throw new SignerError('EXISTS', { field: 'nonceId', message: nonceId });
    this.#sql.insertNonce.run(nonceId, keyId, epoch, blob(sealed), now(this.#ctx));
  }

  /** Unseals a fresh nonce and marks it consumed (zeroed); 'NONCE_CONSUMED', 'NONCE_DISCARDED' or 'NONCE_UNKNOWN' otherwise. */
  consume(nonceId: string): Uint8Array {
    const row = this.#sql.nonce.get(nonceId);
    if (!row) throw new SignerError('NONCE_UNKNOWN', { field: 'nonceId', message: nonceId });
    if (row.state === 'consumed') throw new SignerError('NONCE_CONSUMED', { field: 'nonceId', message: nonceId });
    if (row.state === 'discarded') throw new SignerError('NONCE_DISCARDED', { field: 'nonceId', message: nonceId });
    const secret = this.#ctx.kek.unseal(row.sealed, this.#ad(nonceId, row.key_id, row.epoch), `nonces[${nonceId}].sealed`);
    this.#sql.markConsumed.run(nonceId);
    return secret;
  }

  /** Discards one fresh nonce; false if it was not fresh. */
  discard(nonceId: string): boolean {
    return this.#sql.discardNonce.run(nonceId).changes === 1;
  }

  /** Discards every fresh nonce; returns how many. */
  discardAll(): number {
    return this.#sql.discardAllFresh.run().changes;
  }

  /** Discards the fresh nonces of a key (it is being retired). */
  discardOfKey(keyId: string): void {
    this.#sql.discardFreshOfKey.run(keyId);
  }

  /** Discards the fresh nonces of every epoch of a key but `epoch` (it is being activated). */
  discardOfOtherEpochs(keyId: string, epoch: number): void {
    this.#sql.discardFreshOfOtherEpochs.run(keyId, epoch);
  }

  /** Deletes the consumed and discarded rows created before `beforeMs`; returns how many. Fresh rows stay. */
  prune(beforeMs: number): number {
    return this.#sql.prune.run(beforeMs).changes;
  }

  /** Re-seals every fresh nonce under `to` (the KEK is being replaced; consumed and discarded rows are zeroes). */
  reseal(to: Kek): void {
    for (const row of this.#sql.freshRows.all()) {
      const ad = this.#ad(row.nonce_id, row.key_id, row.epoch);
      const secret = this.#ctx.kek.unseal(row.sealed, ad, `nonces[${row.nonce_id}].sealed`);
      this.#sql.setSealed.run(blob(to.seal(secret, ad)), row.nonce_id);
      secret.fill(0);
    }
  }

  countFresh(keyId?: string): number {
    return keyId === undefined ? this.#sql.countFresh.get()! : this.#sql.countFreshOfKey.get(keyId)!;
  }

  #ad(nonceId: string, keyId: string, epoch: number): Uint8Array {
    return associatedData(NONCE_AD_LABEL, nonceId, keyId, epoch, this.#ctx.signerId);
  }
}
