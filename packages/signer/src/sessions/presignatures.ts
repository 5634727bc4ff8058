/**
 * The presignature pool of ecdsa-secp256k1 (docs/cluster-protocol.md "Presignature
 * pool"): the DKLs23 presignatures this process made with a quorum on the current
 * coordinator connection, by presignature id (the presign session id, hex). Only
 * public facts are here (key, epoch, quorum, R); each secret u_i || v_i || phi_i is
 * sealed in the nonce journal under the same id, bound to key id and epoch.
 *
 * A POOLED sign claims one: only an id made here, on this connection, for the
 * START's key and epoch, not yet claimed; the claim takes it out before any durable
 * step, and the sign then consumes the journal entry (or discards it when refused).
 * Never reused: the daemon discards every outstanding journal entry at start (a
 * presignature of an earlier process is unknown here), this pool discards its own
 * when the link drops (the coordinator forgets them with the connection), and the
 * activation of another epoch discards the key's fresh journal entries.
 */
import type { ParticipantRef } from '@keyquorum/protocol';
import { SignerError } from '../errors.ts';
import type { PresignatureView, SessionContext } from './context.ts';

export interface PresignatureRecord {
  keyId: string;
  epoch: number;
  /** The quorum that made it, by participant index. */
  quorum: ParticipantRef[];
  /** R (33 bytes), before re-randomisation. */
  instancePoint: Uint8Array;
}

export class PresignaturePool implements PresignatureView {
  readonly #ctx: SessionContext;
  readonly #items = new Map<string, PresignatureRecord>();
  /** Presign sessions running, by key: they count towards the key's cap. */
  readonly #making = new Map<string, number>();

  /** Presignatures kept (made or being made) per key: config `noncePool` (0 makes none). */
  readonly #size: number;

  constructor(ctx: SessionContext, size: number) {
    this.#ctx = ctx;
    this.#size = size;
  }

  /** Presignatures held (for `keyId`, or every key). */
  count(keyId?: string): number {
    return [...this.#items.values()].filter((p) => keyId === undefined || p.keyId === keyId).length;
  }

  /**
   * A presign session of `keyId` at `epoch` starts: WRONG_STATUS when the key already has `size` presignatures
   * (made or being made). Those of another epoch go first: their journal entries were discarded at activation,
   * and left here they would fill the key's cap until the link drops.
   */
  reserve(keyId: string, epoch: number): () => void {
    for (const [id, p] of this.#items) {
      if (p.keyId === keyId && p.epoch !== epoch) {
        this.#items.delete(id);
        this.discard(id);
      }
    }
    const making = this.#making.get(keyId) ?? 0;
    if (this.count(keyId) + making >= this.#size) throw new SignerError('WRONG_STATUS', { field: 'keyId', message: `${keyId} already has ${this.#size} presignatures here (config noncePool)` });
    this.#making.set(keyId, making + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const n = (this.#making.get(keyId) ?? 1) - 1;
      if (n === 0) this.#making.delete(keyId);
      else this.#making.set(keyId, n);
    };
  }

  add(id: string, record: PresignatureRecord): void {
    this.#items.set(id, record);
  }

  claim(id: string, keyId: string, epoch: number): PresignatureRecord {
    const item = this.#items.get(id);
    if (item === undefined) throw new SignerError('NONCE_UNKNOWN', { field: 'presignature', message: `${id} is not one of this signer's unused presignatures` });
    if (item.keyId !== keyId || item.epoch !== epoch) throw new SignerError('NONCE_UNKNOWN', { field: 'presignature', message: `${id} is a presignature of ${item.keyId} epoch ${item.epoch}, not ${keyId} epoch ${epoch}` });
    this.#items.delete(id);
    return item;
  }

  discard(id: string): void {
    if (this.#ctx.keystore.discardNonce(id)) this.#ctx.log.info('presignature discarded', { presignature: id });
  }

  /** Discards every presignature (the link dropped, or the daemon stops). */
  discardAll(reason: string): void {
    const ids = [...this.#items.keys()];
    this.#items.clear();
    let discarded = 0;
    for (const id of ids) if (this.#ctx.keystore.discardNonce(id)) discarded++;
    if (ids.length > 0) this.#ctx.log.info('presignatures discarded', { reason, discarded });
  }
}
