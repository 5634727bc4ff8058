/**
 * FROST signing (docs/cluster-protocol.md "Signing"; rounds `SIGN_ROUND`; RFC 9591 §5).
 * Started once `authoriseUse` has passed (client request, digest, key active at the
 * epoch, derivation target): run commit() and journal the nonces sealed under the
 * proposal id; answer COMMITMENT. SIGN: check the quorum's COMMITMENT envelopes against
 * the pinned keys and this signer's own commitment, durably consume the nonce (the
 * mark made at once, its commit awaited: group commit), and only then compute the share
 * and answer SHARE. ABORT, a timeout or a dropped link
 * discard the nonce. Nonce pool ("Nonce pool"): `poolCommit` makes a commitment ahead
 * of any message; `signPooled` answers POOLED (START checks already passed) in one
 * round: the quorum's OFFERs checked as SIGN's COMMITMENTs are, then the same share.
 */
import { concatBytes } from '@noble/hashes/utils.js';
import { COORDINATOR_ID, SIGN_ROUND, type DeliverBody, type Envelope, type SignCommitmentBody, type SignOfferBody, type SignStartBody } from '@keyquorum/protocol';
import { commit, type KeyShare, type SigningCommitments, type SigningPackage, type SigningTarget } from '@keyquorum/crypto';
import { SignerError } from '../errors.ts';
import { activeShareAt, type HeldShare, type ShareCodec, type SharePublicPart } from '../held-share.ts';
import { hex, openRelayed, sendBody, type SessionContext } from '../sessions/context.ts';
import type { CloseReason, Session } from '../sessions/session.ts';

const NONCE_BYTES = 32;

export class FrostSignSession implements Session {
  readonly kind = 'sign';
  readonly suite: string;
  readonly keyId: string;
  readonly confirmed = false;
  readonly #ctx: SessionContext;
  readonly #proposalId: Uint8Array;
  readonly #epoch: number;
  readonly #publicPart: SharePublicPart;
  readonly #body: SignStartBody;
  readonly #target: SigningTarget | undefined;
  readonly #codec: ShareCodec;
  readonly #ownCommitment: Uint8Array;
  #nonceOpen = true;

  constructor(ctx: SessionContext, proposalId: Uint8Array, share: HeldShare, body: SignStartBody, target: SigningTarget | undefined, codec: ShareCodec) {
    this.#ctx = ctx;
    this.#proposalId = proposalId;
    this.#epoch = share.epoch;
    this.#publicPart = share.publicPart;
    this.#body = body;
    this.#target = target;
    this.#codec = codec;
    this.suite = share.suite;
    this.keyId = share.keyId;
    // RFC 9591 §5.1 commit(); the nonces are sealed in the journal before anything is sent.
    const { nonces, commitments } = commit(share.keyShare);
    const secret = concatBytes(nonces.hiding, nonces.binding);
    try {
      ctx.keystore.storeNonce(hex(proposalId), share.keyId, share.epoch, secret);
    } finally {
      secret.fill(0);
      nonces.hiding.fill(0);
      nonces.binding.fill(0);
    }
    const commitment: SignCommitmentBody = { hiding: commitments.hiding, binding: commitments.binding };
    this.#ownCommitment = sendBody(ctx, { kind: 'sign', suite: this.suite, sessionId: proposalId, round: SIGN_ROUND.COMMITMENT }, commitment).payload;
  }

  get currentId(): Uint8Array {
    return this.#proposalId;
  }

  ids(): string[] {
    return [hex(this.#proposalId)];
  }

  handle(env: Envelope, body: unknown): Promise<boolean> {
    if (env.header.round !== SIGN_ROUND.SIGN) throw new SignerError('WRONG_ROUND', { field: 'header.round', message: `sign does not accept round ${env.header.round} here` });
    // One SIGN only: a second one while the first waits for its consume's commit is refused here, before any durable step.
    if (!this.#nonceOpen) throw new SignerError('WRONG_ROUND', { field: 'header.round', message: 'this session has answered its SIGN' });
    const publicPart = this.#publicPart;
    const commitments = openRelayed<SignCommitmentBody>(this.#ctx, (body as DeliverBody).envelopes, {
      kind: 'sign', suite: this.suite, round: SIGN_ROUND.COMMITMENT, sessionId: this.#proposalId, to: COORDINATOR_ID,
      required: [this.#ctx.signerId], optional: publicPart.participants.map((p) => p.signer), own: this.#ownCommitment,
    });
    const signing = signingPackage(this.#body.message, publicPart, commitments);
    const { keyShare } = activeShareAt(this.#ctx.keystore, this.keyId, this.#epoch, this.#codec);
    this.#nonceOpen = false;
    return sendShare(this.#ctx, { suite: this.suite, keyId: this.keyId, epoch: this.#epoch, sessionId: this.#proposalId, nonceId: hex(this.#proposalId), keyShare, signing, target: this.#target })
      .finally(() => keyShare.signingShare.fill(0))
      .then(() => {
        this.#ctx.log.info('signature share sent', { keyId: this.keyId, epoch: this.#epoch, sessionId: hex(this.#proposalId), quorum: [...commitments.keys()] });
        return true;
      });
  }

  close(reason: CloseReason): void {
    if (!this.#nonceOpen) return;
    this.#nonceOpen = false;
    if (this.#ctx.keystore.discardNonce(hex(this.#proposalId))) this.#ctx.log.info('nonce discarded', { keyId: this.keyId, sessionId: hex(this.#proposalId), reason });
  }
}

function signingPackage(message: Uint8Array, publicPart: SharePublicPart, commitments: ReadonlyMap<string, SignCommitmentBody>): SigningPackage {
  const { threshold } = publicPart.publicKey;
  if (commitments.size < threshold) throw new SignerError('BAD_TRANSCRIPT', { field: 'envelopes', message: `a quorum needs ${threshold} commitments, got ${commitments.size}` });
  return {
    message,
    commitments: [...commitments].map(([signer, c]): SigningCommitments => ({ id: publicPart.participants.find((p) => p.signer === signer)!.index, hiding: c.hiding, binding: c.binding })),
  };
}

interface ShareJob {
  suite: string;
  keyId: string;
  epoch: number;
  /** The attempt's proposal id: SHARE goes under it. */
  sessionId: Uint8Array;
  /** The journalled nonce (hex id). */
  nonceId: string;
  keyShare: KeyShare;
  signing: SigningPackage;
  target: SigningTarget | undefined;
}

/**
 * Durably consumes the nonce, and only then computes the share (RFC 9591 §5.2) and answers
 * SHARE. The consume is marked at once (a second one throws NONCE_CONSUMED here, synchronously),
 * its commit awaited (group commit: one fsync with the other sessions' steps); the promise
 * settles once SHARE is sent; a failed commit computes nothing.
 */
function sendShare(ctx: SessionContext, j: ShareJob): Promise<void> {
  // Durably consumed before anything computed from the nonce exists.
  return ctx.keystore.consumeNonceDurably(j.nonceId).then((secret) => computeAndSend(ctx, j, secret));
}

function computeAndSend(ctx: SessionContext, j: ShareJob, secret: Uint8Array): void {
  const nonces = { id: j.keyShare.id, hiding: secret.slice(0, NONCE_BYTES), binding: secret.slice(NONCE_BYTES) };
  secret.fill(0);
  try {
    const share = ctx.behaviour.computeSignatureShare({
      keyId: j.keyId, epoch: j.epoch, sessionId: hex(j.sessionId), keyShare: j.keyShare, nonces, signingPackage: j.signing, target: j.target,
    });
    sendBody(ctx, { kind: 'sign', suite: j.suite, sessionId: j.sessionId, round: SIGN_ROUND.SHARE }, { share: share.share });
  } finally {
    nonces.hiding.fill(0);
    nonces.binding.fill(0);
  }
}

/** RFC 9591 §5.1 commit() ahead of any message (nonce pool): the sealed secret to journal and the public commitment. */
export function poolCommit(share: HeldShare): { secret: Uint8Array; commitment: SignCommitmentBody } {
  const { nonces, commitments } = commit(share.keyShare);
  const secret = concatBytes(nonces.hiding, nonces.binding);
  nonces.hiding.fill(0);
  nonces.binding.fill(0);
  return { secret, commitment: { hiding: commitments.hiding, binding: commitments.binding } };
}

/**
 * POOLED, once every START check passed for `share`: the quorum's OFFERs (each signed by
 * its pinned key, for this key and epoch; this signer's own exactly the one it claimed
 * from its pool), then the nonce consumed and SHARE, as after SIGN.
 */
export function signPooled(ctx: SessionContext, proposalId: Uint8Array, body: SignStartBody, share: HeldShare, envelopes: readonly Envelope[], own: { nonceId: string; payload: Uint8Array }, target: SigningTarget | undefined): Promise<void> {
  const { publicPart } = share;
  const offers = openRelayed<SignOfferBody>(ctx, envelopes, {
    kind: 'sign', suite: share.suite, round: SIGN_ROUND.OFFER, sessionId: undefined, to: COORDINATOR_ID,
    required: [ctx.signerId], optional: publicPart.participants.map((p) => p.signer), own: own.payload,
  });
  for (const [signer, o] of offers) {
    if (o.keyId !== share.keyId || o.epoch !== share.epoch) throw new SignerError('BAD_TRANSCRIPT', { field: 'envelopes', message: `${signer}'s commitment is pooled for ${o.keyId} epoch ${o.epoch}` });
  }
  const signing = signingPackage(body.message, publicPart, offers);
  return sendShare(ctx, { suite: share.suite, keyId: share.keyId, epoch: share.epoch, sessionId: proposalId, nonceId: own.nonceId, keyShare: share.keyShare, signing, target }).then(() => {
    ctx.log.info('signature share sent', { keyId: share.keyId, epoch: share.epoch, sessionId: hex(proposalId), pooled: own.nonceId, quorum: [...offers.keys()] });
  });
}
