/**
 * The coordinator's side of the nonce pool (docs/cluster-protocol.md "Nonce pool"):
 * the OFFERs (FROST commitments made ahead of the message, RFC 9591 §5.1) each signer
 * sent on its current connection, per (signer, key, epoch), in memory only. An OFFER
 * is kept only if it is signed by the signer's pinned key, addressed to the
 * coordinator, for a key the registry holds active at that epoch in that suite with
 * the signer as a participant, while fewer than MAX_POOLED_PER_KEY of its are kept.
 * `take` hands out one per quorum member, all or none, and forgets them: a commitment
 * is used at most once, whatever the attempt's outcome. A signer's pool goes with its
 * connection (`dropSigner`); a key's items of an older epoch go at the next `take`
 * or `wants` for that key.
 */
import { COORDINATOR_ID, SIGN_ROUND, WireError, decodeBody, openEnvelope, type Envelope, type SignOfferBody } from '@keyquorum/protocol';
import { MAX_POOLED_PER_KEY, POOL_LOW_WATER } from '../constants.ts';
import type { CoordinatorStore } from '../store/types.ts';

interface KeyPool {
  epoch: number;
  offers: Envelope[];
}

export class CommitmentPool {
  /** signer -> key id -> its offers at one epoch. */
  readonly #pools = new Map<string, Map<string, KeyPool>>();

  /** Keeps a signer's OFFER after checking it; WireError (the server answers ERROR) otherwise. */
  async offer(registry: CoordinatorStore, signer: string, pinned: Uint8Array, envelope: Envelope): Promise<void> {
    const h = envelope.header;
    openEnvelope(envelope, pinned, { expect: { to: COORDINATOR_ID } });
    const body = decodeBody<SignOfferBody>('sign', SIGN_ROUND.OFFER, h.suite, envelope.payload);
    const key = await registry.getKey(body.keyId);
    if (key === undefined || key.state !== 'active' || key.suite !== h.suite || key.epoch !== body.epoch || !key.participants.some((p) => p.signer === signer)) {
      throw new WireError('WRONG_SESSION', { field: 'keyId', message: `WRONG_SESSION: no active ${h.suite} key ${body.keyId} at epoch ${body.epoch} with ${signer} as participant` });
    }
    const pool = this.#keyPool(signer, body.keyId, body.epoch);
    if (pool.offers.length >= MAX_POOLED_PER_KEY) throw new WireError('BAD_FIELD', { field: 'header.round', message: `BAD_FIELD: ${signer} already has ${MAX_POOLED_PER_KEY} commitments pooled for ${body.keyId}` });
    pool.offers.push(envelope);
  }

  /** One pooled OFFER of each of `signers` for the key at `epoch`, taken out of the pool; undefined (nothing taken) unless every one has one. */
  take(signers: readonly string[], keyId: string, epoch: number): Envelope[] | undefined {
    const pools = signers.map((s) => this.#keyPool(s, keyId, epoch));
    if (pools.some((p) => p.offers.length === 0)) return undefined;
    return pools.map((p) => p.offers.shift()!);
  }

  /** Those of `signers` whose pool for the key at `epoch` is below the low-water mark (to ask for a top-up). */
  wants(signers: readonly string[], keyId: string, epoch: number): string[] {
    return signers.filter((s) => this.#keyPool(s, keyId, epoch).offers.length < POOL_LOW_WATER);
  }

  /** Commitments pooled for a signer's key (any epoch), for tests and logs. */
  size(signer: string, keyId: string): number {
    return this.#pools.get(signer)?.get(keyId)?.offers.length ?? 0;
  }

  /** Commitments pooled now, every signer and key. */
  total(): number {
    let n = 0;
    for (const keys of this.#pools.values()) for (const p of keys.values()) n += p.offers.length;
    return n;
  }

  /** Forgets every commitment of `signer` (its connection dropped or was replaced). */
  dropSigner(signer: string): void {
    this.#pools.delete(signer);
  }

  #keyPool(signer: string, keyId: string, epoch: number): KeyPool {
    let keys = this.#pools.get(signer);
    if (keys === undefined) {
      keys = new Map();
      this.#pools.set(signer, keys);
    }
    let pool = keys.get(keyId);
    if (pool === undefined || pool.epoch !== epoch) {
      // Another epoch's commitments are never used (the signer discarded their nonces at activation).
      pool = { epoch, offers: [] };
      keys.set(keyId, pool);
    }
    return pool;
  }
}
