/**
 * The nonce pool (docs/cluster-protocol.md "Nonce pool"; RFC 9591 §5.1: commitments
 * do not depend on the message). When the coordinator asks (POOL {keyId, epoch}), this
 * signer tops its pool for that key's epoch up to `size` in the background, a few
 * commitments per event-loop turn so signing never waits on it: each is RFC 9591
 * commit(), its nonces journalled sealed (bound to key id and epoch, durable) before
 * its OFFER (sessionId = the nonce id, signed by this signer) leaves.
 *
 * A POOLED sign claims its own OFFER: only a commitment this process made and offered
 * on the current connection, for the sign's key and epoch, not yet claimed; the claim
 * takes it out of the pool before any durable step, and the sign then consumes the
 * nonce (or discards it when refused). Pooled nonces are never reused: the daemon
 * discards every outstanding nonce at start, and this pool discards its own when the
 * link drops (the coordinator forgets a signer's pool with its connection); items of
 * another epoch of a key are discarded at its next POOL (activation already discarded
 * their nonces in the journal).
 */
import { bytesToHex, randomBytes } from '@noble/hashes/utils.js';
import { SIGN_ROUND, type Envelope, type SignOfferBody, type SignPoolBody } from '@keyquorum/protocol';
import { SignerError } from '../errors.ts';
import { findScheme, loadShare, wipeHeldShare } from '../schemes/index.ts';
import { sendBody, type NoncePoolView, type SessionContext } from './context.ts';

/** Commitments made per event-loop turn while topping up. */
const BATCH = 4;

interface Pooled {
  keyId: string;
  epoch: number;
  suite: string;
  /** The OFFER payload this signer signed. */
  payload: Uint8Array;
}

export class NoncePool implements NoncePoolView {
  readonly #ctx: SessionContext;
  readonly #size: number;
  /** Pooled, unclaimed commitments by nonce id (hex). */
  readonly #items = new Map<string, Pooled>();
  /** Top-ups asked for and not done, by `${keyId}/${epoch}`. */
  readonly #queue = new Map<string, SignPoolBody & { suite: string }>();
  #timer: NodeJS.Immediate | undefined;

  constructor(ctx: SessionContext, size: number) {
    this.#ctx = ctx;
    this.#size = size;
  }

  /** Pooled commitments held for `keyId` (every epoch), for tests and metrics. */
  count(keyId?: string): number {
    return [...this.#items.values()].filter((p) => keyId === undefined || p.keyId === keyId).length;
  }

  /** POOL: queues a top-up of `keyId` at `epoch`; WRONG_SUITE for a scheme without a pool. */
  request(suite: string, body: SignPoolBody): void {
    if (findScheme(suite)?.pool === undefined) throw new SignerError('WRONG_SUITE', { field: 'header.suite', message: `${suite} signs without a nonce pool` });
    if (this.#size === 0) return;
    this.#queue.set(`${body.keyId}/${body.epoch}`, { ...body, suite });
    this.#schedule();
  }

  claim(envelopes: readonly Envelope[], keyId: string, epoch: number): { nonceId: string; payload: Uint8Array } {
    const own = envelopes.filter((e) => e.header.from === this.#ctx.signerId);
    if (own.length !== 1) throw new SignerError('BAD_TRANSCRIPT', { field: 'envelopes', message: `${own.length} commitments of this signer, expected 1` });
    const nonceId = bytesToHex(own[0]!.header.sessionId);
    const item = this.#items.get(nonceId);
    if (item === undefined) throw new SignerError('NONCE_UNKNOWN', { field: 'envelopes', message: `${nonceId} is not one of this signer's pooled, unused commitments` });
    if (item.keyId !== keyId || item.epoch !== epoch) throw new SignerError('NONCE_UNKNOWN', { field: 'envelopes', message: `${nonceId} is pooled for ${item.keyId} epoch ${item.epoch}, not ${keyId} epoch ${epoch}` });
    this.#items.delete(nonceId);
    return { nonceId, payload: item.payload };
  }

  discard(nonceId: string): void {
    if (this.#ctx.keystore.discardNonce(nonceId)) this.#ctx.log.info('pooled nonce discarded', { nonceId });
  }

  /** Discards every pooled nonce and queued top-up (the link dropped, or the daemon stops). */
  discardAll(reason: string): void {
    clearImmediate(this.#timer);
    this.#timer = undefined;
    this.#queue.clear();
    const ids = [...this.#items.keys()];
    this.#items.clear();
    let discarded = 0;
    for (const id of ids) if (this.#ctx.keystore.discardNonce(id)) discarded++;
    if (ids.length > 0) this.#ctx.log.info('nonce pool discarded', { reason, discarded });
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#queue.size === 0) return;
    this.#timer = setImmediate(() => {
      this.#timer = undefined;
      const [key, job] = this.#queue.entries().next().value!;
      try {
        if (this.#topUp(job)) this.#queue.delete(key);
      } catch (e) {
        this.#queue.delete(key);
        this.#ctx.log.warn('nonce pool top-up refused', { keyId: job.keyId, epoch: job.epoch, code: e instanceof SignerError ? e.code : 'INTERNAL', reason: (e as Error).message });
      }
      this.#schedule();
    });
  }

  /** Makes up to BATCH commitments for the job; true when its pool is full. */
  #topUp(job: SignPoolBody & { suite: string }): boolean {
    const { keyId, epoch, suite } = job;
    for (const [id, p] of this.#items) {
      if (p.keyId === keyId && p.epoch !== epoch) {
        this.#items.delete(id);
        this.discard(id);
      }
    }
    const missing = this.#size - [...this.#items.values()].filter((p) => p.keyId === keyId).length;
    if (missing <= 0) return true;
    const share = loadShare(this.#ctx.keystore.getActive(keyId));
    try {
      if (share.epoch !== epoch || share.suite !== suite) throw new SignerError('WRONG_KEY_STATE', { field: 'epoch', message: `${keyId} is ${share.suite} at epoch ${share.epoch} here` });
      const scheme = findScheme(suite)!.pool!;
      for (let i = 0; i < Math.min(missing, BATCH); i++) {
        const id = randomBytes(32);
        const { secret, commitment } = scheme.commit(share);
        try {
          this.#ctx.keystore.storeNonce(bytesToHex(id), keyId, epoch, secret);
        } finally {
          secret.fill(0);
        }
        const offer: SignOfferBody = { keyId, epoch, hiding: commitment.hiding, binding: commitment.binding };
        const env = sendBody(this.#ctx, { kind: 'sign', suite, sessionId: id, round: SIGN_ROUND.OFFER }, offer);
        this.#items.set(bytesToHex(id), { keyId, epoch, suite, payload: env.payload });
      }
      return missing <= BATCH;
    } finally {
      wipeHeldShare(share);
    }
  }
}
