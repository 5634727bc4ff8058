/**
 * Threshold key shares through the lifecycle of ARCHITECTURE.md "Key lifecycle":
 * pending -> active -> retired. Each secret is sealed with XChaCha20-Poly1305 under
 * the KEK with AD ('keyquorum/share/v1', key id, epoch, signer id, suite), so a row
 * moved to another key, epoch, signer or suite fails to unseal. A refresh is
 * two-phase: the new epoch is stored pending, and the transaction that activates it
 * zeroes and deletes every other epoch. Retiring zeroes, marks and deletes every row.
 * Methods run inside the caller's transaction; a zeroed row is on disk when it commits.
 */
import { SignerError } from '../errors.ts';
import { SHARE_AD_LABEL } from './constants.ts';
import { type StoreContext, associatedData, blob, now } from './database.ts';
import type { Kek } from './kek.ts';
import type { HeldKeySummary, UnsealedShare } from './types.ts';

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

function prepare(ctx: StoreContext) {
  const { db } = ctx;
  return {
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
    liveShares: db.prepare<[], ShareRow>("SELECT * FROM shares WHERE state <> 'retired'"),
    setSealed: db.prepare<[Buffer, string, number]>('UPDATE shares SET sealed = ? WHERE key_id = ? AND epoch = ?'),
    allShares: db.prepare<[], Pick<ShareRow, 'key_id' | 'epoch' | 'state' | 'suite'>>(
      'SELECT key_id, epoch, state, suite FROM shares ORDER BY key_id, epoch',
    ),
  };
}

export class ShareStore {
  readonly #ctx: StoreContext;
  readonly #sql: ReturnType<typeof prepare>;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
    this.#sql = prepare(ctx);
  }

  /** Seals and stores a new epoch's share as 'pending'; one pending epoch at a time, above the active one. */
  putPending(keyId: string, epoch: number, suite: string, secret: Uint8Array, publicBytes: Uint8Array): void {
    const sql = this.#sql;
    const sealed = this.#ctx.kek.seal(secret, this.#ad(keyId, epoch, suite));
    if (sql.share.get(keyId, epoch)) throw new SignerError('EXISTS', { field: 'epoch', message: `${keyId} epoch ${epoch}` });
    const pending = sql.pendingEpoch.get(keyId);
    if (pending !== undefined) {
      throw new SignerError('WRONG_STATE', { field: 'epoch', message: `${keyId} already has pending epoch ${pending}` });
    }
    const active = sql.activeShare.get(keyId);
    if (active && active.epoch >= epoch) {
      throw new SignerError('WRONG_STATE', { field: 'epoch', message: `${keyId} is active at epoch ${active.epoch}` });
    }
    const at = now(this.#ctx);
    sql.insertShare.run(keyId, epoch, this.#ctx.signerId, suite, blob(sealed), blob(publicBytes), at, at);
  }

  /** Makes a pending epoch 'active'; every other epoch of the key is zeroed and deleted. */
  activate(keyId: string, epoch: number): void {
    this.#requirePending(keyId, epoch);
    this.#sql.wipeOtherEpochs.run(keyId, epoch);
    this.#sql.deleteOtherEpochs.run(keyId, epoch);
    this.#sql.setActive.run(now(this.#ctx), keyId, epoch);
  }

  /** Zeroes and deletes a pending share; the active one is untouched. */
  discardPending(keyId: string, epoch: number): void {
    this.#requirePending(keyId, epoch);
    this.#sql.wipeShare.run(keyId, epoch);
    this.#sql.deleteShare.run(keyId, epoch);
  }

  /** The active share, unsealed: 'NOT_FOUND' for an unknown key, 'WRONG_STATE' if only pending. */
  active(keyId: string): UnsealedShare {
    const row = this.#sql.activeShare.get(keyId);
    if (!row) {
      const known = this.#sql.epochs.all(keyId).length > 0;
      throw new SignerError(known ? 'WRONG_STATE' : 'NOT_FOUND', { field: 'keyId', message: `${keyId} has no active share` });
    }
    return this.#unseal(row);
  }

  /** 'NOT_FOUND' unless the key has an active share, 'WRONG_STATE' unless it is at `epoch`. */
  requireActiveAt(keyId: string, epoch: number): void {
    const active = this.#sql.activeShare.get(keyId);
    if (!active) throw new SignerError('NOT_FOUND', { field: 'keyId', message: `${keyId} has no active share` });
    if (active.epoch !== epoch) {
      throw new SignerError('WRONG_STATE', { field: 'epoch', message: `${keyId} is active at epoch ${active.epoch}` });
    }
  }

  /** One epoch's share (pending or active), unsealed. */
  get(keyId: string, epoch: number): UnsealedShare {
    const row = this.#sql.share.get(keyId, epoch);
    if (!row) throw new SignerError('NOT_FOUND', { field: 'epoch', message: `${keyId} epoch ${epoch}` });
    return this.#unseal(row);
  }

  /** Zeroes, marks 'retired' and deletes every share of the key; returns their epochs ('NOT_FOUND' if none). */
  wipeAll(keyId: string, retiredAt: number): number[] {
    const epochs = this.#sql.epochs.all(keyId);
    if (epochs.length === 0) throw new SignerError('NOT_FOUND', { field: 'keyId', message: `${keyId} has no share` });
    this.#sql.retireShares.run(retiredAt, keyId);
    this.#sql.deleteShares.run(keyId);
    return epochs;
  }

  /** Each key holding a share, with its state and epochs (an active key names its pending epoch). */
  summaries(): HeldKeySummary[] {
    const byKey = new Map<string, HeldKeySummary>();
    for (const row of this.#sql.allShares.all()) {
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
    return [...byKey.values()];
  }

  /** Re-seals every pending and active share under `to` (the KEK is being replaced). */
  reseal(to: Kek): void {
    for (const row of this.#sql.liveShares.all()) {
      const share = this.#unseal(row);
      this.#sql.setSealed.run(blob(to.seal(share.secret, this.#ad(row.key_id, row.epoch, row.suite))), row.key_id, row.epoch);
      share.secret.fill(0);
    }
  }

  #ad(keyId: string, epoch: number, suite: string): Uint8Array {
    return associatedData(SHARE_AD_LABEL, keyId, epoch, this.#ctx.signerId, suite);
  }

  #requirePending(keyId: string, epoch: number): void {
    const row = this.#sql.share.get(keyId, epoch);
    if (!row) throw new SignerError('NOT_FOUND', { field: 'epoch', message: `${keyId} epoch ${epoch}` });
    if (row.state !== 'pending') {
      throw new SignerError('WRONG_STATE', { field: 'epoch', message: `${keyId} epoch ${epoch} is ${row.state}` });
    }
  }

  #unseal(row: ShareRow): UnsealedShare {
    const field = `shares[${row.key_id}/${row.epoch}].sealed`;
    if (row.signer_id !== this.#ctx.signerId || row.state === 'retired') {
      throw new SignerError('CORRUPT', { field, message: 'row does not belong to this signer or is retired' });
    }
    return {
      keyId: row.key_id,
      epoch: row.epoch,
      signerId: row.signer_id,
      suite: row.suite,
      state: row.state,
      secret: this.#ctx.kek.unseal(row.sealed, this.#ad(row.key_id, row.epoch, row.suite), field),
      public: new Uint8Array(row.public),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }
}
