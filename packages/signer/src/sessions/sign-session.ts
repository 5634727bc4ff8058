/**
 * Signing (docs/cluster-protocol.md "Signing"; rounds `SIGN_ROUND`; RFC 9591 §5).
 * START: check the client request (at most MAX_ATTEMPTS_PER_REQUEST starts each), its
 * digest, and that the key is active at the epoch here; run commit() and journal the
 * nonces sealed under the proposal id; answer COMMITMENT. SIGN: check the quorum's
 * COMMITMENT envelopes against the pinned keys and this signer's own commitment,
 * durably consume the nonce, and only then compute the share and answer SHARE.
 * ABORT, a timeout or a dropped link discard the nonce.
 */
import { concatBytes } from '@noble/hashes/utils.js';
import { COORDINATOR_ID, SIGN_ROUND, signDigest, type DeliverBody, type Envelope, type SignCommitmentBody, type SignStartBody } from '@keyquorum/protocol';
import { commit, targetPublicKey, type SigningCommitments, type SigningTarget } from '@keyquorum/crypto';
import { SignerError } from '../errors.ts';
import { loadShare, type LoadedShare, type SharePublicRecord } from '../share-record.ts';
import { checkRequest, hex, openRelayed, sendBody, type SessionContext } from './context.ts';
import type { CloseReason, Session } from './session.ts';

const NONCE_BYTES = 32;

export class SignSession implements Session {
  readonly kind = 'sign';
  readonly suite: string;
  readonly keyId: string;
  readonly confirmed = false;
  readonly #ctx: SessionContext;
  readonly #proposalId: Uint8Array;
  readonly #epoch: number;
  readonly #record: SharePublicRecord;
  readonly #body: SignStartBody;
  readonly #target: SigningTarget | undefined;
  readonly #ownCommitment: Uint8Array;
  #nonceOpen = true;

  private constructor(ctx: SessionContext, proposalId: Uint8Array, share: LoadedShare, body: SignStartBody, target: SigningTarget | undefined) {
    this.#ctx = ctx;
    this.#proposalId = proposalId;
    this.#epoch = share.epoch;
    this.#record = share.record;
    this.#body = body;
    this.#target = target;
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

  static start(ctx: SessionContext, env: Envelope, body: SignStartBody): SignSession {
    const share = loadShare(ctx.keystore.getActive(body.keyId));
    try {
      if (share.epoch !== body.epoch) throw new SignerError('WRONG_KEY_STATE', { field: 'epoch', message: `${body.keyId} is active at epoch ${share.epoch}` });
      if (share.suite !== env.header.suite) throw new SignerError('WRONG_SUITE', { field: 'header.suite', message: `${body.keyId} is ${share.suite}` });
      const target = body.path === undefined && body.taproot === undefined ? undefined : { ...(body.path === undefined ? {} : { path: body.path }), ...(body.taproot === undefined ? {} : { taproot: body.taproot }) };
      targetPublicKey(share.keyShare.publicKey, target);
      checkRequest(ctx, body.request, 'sign', body.keyId, signDigest(body));
      return new SignSession(ctx, env.header.sessionId, share, body, target);
    } finally {
      share.keyShare.signingShare.fill(0);
    }
  }

  get currentId(): Uint8Array {
    return this.#proposalId;
  }

  ids(): string[] {
    return [hex(this.#proposalId)];
  }

  handle(env: Envelope, body: unknown): boolean {
    if (env.header.round !== SIGN_ROUND.SIGN) throw new SignerError('WRONG_ROUND', { field: 'header.round', message: `sign does not accept round ${env.header.round} here` });
    const record = this.#record;
    const commitments = openRelayed<SignCommitmentBody>(this.#ctx, (body as DeliverBody).envelopes, {
      kind: 'sign', suite: this.suite, round: SIGN_ROUND.COMMITMENT, sessionId: this.#proposalId, to: COORDINATOR_ID,
      required: [this.#ctx.signerId], optional: record.participants.map((p) => p.signer), own: this.#ownCommitment,
    });
    const { threshold } = record.publicKey;
    if (commitments.size < threshold) throw new SignerError('BAD_TRANSCRIPT', { field: 'envelopes', message: `a quorum needs ${threshold} commitments, got ${commitments.size}` });
    const signing = {
      message: this.#body.message,
      commitments: [...commitments].map(([signer, c]): SigningCommitments => ({ id: record.participants.find((p) => p.signer === signer)!.index, hiding: c.hiding, binding: c.binding })),
    };
    const { keyShare } = this.#activeShare();
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

  /** The share is read again at SIGN: a refresh or retirement since START is honoured. */
  #activeShare(): LoadedShare {
    const share = loadShare(this.#ctx.keystore.getActive(this.keyId));
    if (share.epoch !== this.#epoch) {
      share.keyShare.signingShare.fill(0);
      throw new SignerError('WRONG_KEY_STATE', { field: 'epoch', message: `${this.keyId} is now active at epoch ${share.epoch}` });
    }
    return share;
  }

  close(reason: CloseReason): void {
    if (!this.#nonceOpen) return;
    this.#nonceOpen = false;
    if (this.#ctx.keystore.discardNonce(hex(this.#proposalId))) this.#ctx.log.info('nonce discarded', { keyId: this.keyId, sessionId: hex(this.#proposalId), reason });
  }
}
