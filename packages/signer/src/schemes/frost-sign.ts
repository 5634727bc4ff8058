/**
 * FROST signing (docs/cluster-protocol.md "Signing"; rounds `SIGN_ROUND`; RFC 9591 §5).
 * Started once `authoriseUse` has passed (client request, digest, key active at the
 * epoch, derivation target): run commit() and journal the nonces sealed under the
 * proposal id; answer COMMITMENT. SIGN: check the quorum's COMMITMENT envelopes against
 * the pinned keys and this signer's own commitment, durably consume the nonce, and
 * only then compute the share and answer SHARE. ABORT, a timeout or a dropped link
 * discard the nonce.
 */
import { concatBytes } from '@noble/hashes/utils.js';
import { COORDINATOR_ID, SIGN_ROUND, type DeliverBody, type Envelope, type SignCommitmentBody, type SignStartBody } from '@keyquorum/protocol';
import { commit, type SigningCommitments, type SigningTarget } from '@keyquorum/crypto';
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

  handle(env: Envelope, body: unknown): boolean {
    if (env.header.round !== SIGN_ROUND.SIGN) throw new SignerError('WRONG_ROUND', { field: 'header.round', message: `sign does not accept round ${env.header.round} here` });
    const publicPart = this.#publicPart;
    const commitments = openRelayed<SignCommitmentBody>(this.#ctx, (body as DeliverBody).envelopes, {
      kind: 'sign', suite: this.suite, round: SIGN_ROUND.COMMITMENT, sessionId: this.#proposalId, to: COORDINATOR_ID,
      required: [this.#ctx.signerId], optional: publicPart.participants.map((p) => p.signer), own: this.#ownCommitment,
    });
    const { threshold } = publicPart.publicKey;
    if (commitments.size < threshold) throw new SignerError('BAD_TRANSCRIPT', { field: 'envelopes', message: `a quorum needs ${threshold} commitments, got ${commitments.size}` });
    const signing = {
      message: this.#body.message,
      commitments: [...commitments].map(([signer, c]): SigningCommitments => ({ id: publicPart.participants.find((p) => p.signer === signer)!.index, hiding: c.hiding, binding: c.binding })),
    };
    const { keyShare } = activeShareAt(this.#ctx.keystore, this.keyId, this.#epoch, this.#codec);
    // Durably consumed before anything computed from the nonce exists.
    this.#nonceOpen = false;
    const secret = this.#ctx.keystore.consumeNonce(hex(this.#proposalId));
    const nonces = { id: keyShare.id, hiding: secret.slice(0, NONCE_BYTES), binding: secret.slice(NONCE_BYTES) };
    secret.fill(0);
    try {
      const share = this.#ctx.behaviour.computeSignatureShare({
        keyId: this.keyId, epoch: this.#epoch, sessionId: hex(this.#proposalId), keyShare, nonces, signingPackage: signing, target: this.#target,
      });
      sendBody(this.#ctx, { kind: 'sign', suite: this.suite, sessionId: this.#proposalId, round: SIGN_ROUND.SHARE }, { share: share.share });
    } finally {
      nonces.hiding.fill(0);
      nonces.binding.fill(0);
      keyShare.signingShare.fill(0);
    }
    this.#ctx.log.info('signature share sent', { keyId: this.keyId, epoch: this.#epoch, sessionId: hex(this.#proposalId), quorum: [...commitments.keys()] });
    return true;
  }

  close(reason: CloseReason): void {
    if (!this.#nonceOpen) return;
    this.#nonceOpen = false;
    if (this.#ctx.keystore.discardNonce(hex(this.#proposalId))) this.#ctx.log.info('nonce discarded', { keyId: this.keyId, sessionId: hex(this.#proposalId), reason });
  }
}
