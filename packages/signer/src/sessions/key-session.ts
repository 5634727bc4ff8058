/**
 * The key-session engine: dkg, refresh and reshare on one round shape
 * (docs/cluster-protocol.md "Key sessions"; round numbers `KEY_ROUND`). START ->
 * CONTRIBUTION; CONTRIBUTIONS -> the session id, then the scheme's round 1, broadcast
 * (`contributed.ts`); R1_DELIVER -> check the R1 bodies (round 2), send each peer its
 * R2 encrypted; R2_DELIVER -> decrypt, round 3, store the new share pending, CONFIRM.
 * The rounds are the scheme's (`schemes/`); who sends and receives what is the
 * session's plan (`start.ts`). COMMIT and ABORT are handled from the keystore
 * (`key-commit.ts`) so they also work after a restart. The rounds run through
 * `ctx.crypto` (a worker thread, `workers/`); what they return is stored and sent here,
 * on the event loop: the pending share is in the keystore before CONFIRM leaves.
 */
import { BROADCAST, KEY_ROUND, encodeEnvelope, toWirePublicKey, type Envelope, type SessionKeyState, type ParticipantRef, type SecretShareBody } from '@keyquorum/protocol';
import { SignerError } from '../errors.ts';
import type { AsyncKeyRounds, KeyOutcome } from '../workers/api.ts';
import { encodeSharePublicPart, type PolicyHandover } from '../held-share.ts';
import { attribute, hex, openRelayed, sendBody, sendSecret, type SessionContext } from './context.ts';
import { ContributedSession } from './contributed.ts';
import { sealConfirm } from './pending.ts';

export interface KeySessionPlan {
  kind: 'dkg' | 'refresh' | 'reshare';
  suite: string;
  keyId: string;
  /** The epoch the new share is stored at. */
  epoch: number;
  proposalId: Uint8Array;
  requestDigest: Uint8Array;
  /** The key the session starts from in this signer's records (null for a dkg), bound into the session id. */
  keyState: SessionKeyState | null;
  /** Every signer of the session, in order: each contributes, and the session id binds them. */
  signers: string[];
  /** R1 senders: each required one exactly once, each optional one at most once. */
  r1From: { required: string[]; optional: string[] };
  /** Whose R2 this signer receives; undefined when it gets no new share (a dealer leaving the key). */
  r2From: string[] | undefined;
  /** The participants whose indices the scheme's crypto failures name. */
  culpritIndices: ParticipantRef[];
  /** The new share's participants and this signer's index among them. */
  participants: ParticipantRef[];
  self: number;
  /** A new member of a reshare: the policy handed over, kept with the pending share (held-share.ts). */
  handover?: PolicyHandover;
  /** The scheme's rounds, run by `ctx.crypto` (a worker thread unless `cryptoWorkers` is 0). */
  rounds: AsyncKeyRounds;
}

export class KeySession extends ContributedSession {
  readonly #plan: KeySessionPlan;
  #ownR1: Uint8Array | undefined;

  constructor(ctx: SessionContext, plan: KeySessionPlan) {
    super(ctx, { kind: plan.kind, suite: plan.suite, keyId: plan.keyId, proposalId: plan.proposalId, requestDigest: plan.requestDigest, keyState: plan.keyState, rounds: KEY_ROUND });
    this.#plan = plan;
  }

  protected contributors() {
    return { required: this.#plan.signers };
  }

  protected quorum(): string[] {
    return this.#plan.signers;
  }

  protected release(): void {
    this.#plan.rounds.wipe();
  }

  #header(round: number) {
    return { kind: this.kind, suite: this.suite, sessionId: this.sessionId, round };
  }

  /** Round 1 under the session id; a signer with nothing to deal sends no R1. */
  protected async onSessionId(sessionId: Uint8Array): Promise<void> {
    const r1 = await this.#plan.rounds.round1(sessionId);
    this.assertOpen();
    if (r1 !== undefined) this.#ownR1 = sendBody(this.ctx, { ...this.#header(KEY_ROUND.R1), to: BROADCAST }, r1).payload;
  }

  /** R1_DELIVER: check every R1 body (round 2), then send each peer its R2, encrypted. */
  protected async onRound1(envelopes: Envelope[]): Promise<boolean> {
    const bodies = openRelayed<unknown>(this.ctx, envelopes, {
      kind: this.kind, suite: this.suite, round: KEY_ROUND.R1, sessionId: this.sessionId, to: BROADCAST, ...this.#plan.r1From, own: this.#ownR1,
    });
    let shares: Map<string, { signingShare: Uint8Array }>;
    try {
      shares = await this.#plan.rounds.round2(bodies);
    } catch (e) {
      throw attribute(e, this.#plan.culpritIndices);
    }
    try {
      this.assertOpen();
    } catch (e) {
      for (const r2 of shares.values()) r2.signingShare.fill(0);
      throw e;
    }
    for (const [to, r2] of shares) {
      sendSecret(this.ctx, { ...this.#header(KEY_ROUND.R2), to }, r2);
      r2.signingShare.fill(0);
    }
    return this.#plan.r2From === undefined;
  }

  /** R2_DELIVER: decrypt and check the shares (round 3), store the new share pending, CONFIRM. */
  protected async onRound2(envelopes: Envelope[]): Promise<boolean> {
    const { r2From, rounds, epoch } = this.#plan;
    if (r2From === undefined) throw new SignerError('WRONG_ROUND', { field: 'header.round', message: 'this signer receives no share' });
    const bodies = openRelayed<SecretShareBody>(this.ctx, envelopes, {
      kind: this.kind, suite: this.suite, round: KEY_ROUND.R2, sessionId: this.sessionId, to: this.ctx.signerId, required: r2From, encrypted: true,
    });
    let out: KeyOutcome;
    try {
      out = await rounds.round3(bodies);
    } catch (e) {
      throw attribute(e, this.#plan.culpritIndices);
    } finally {
      for (const b of bodies.values()) b.signingShare.fill(0);
      rounds.wipe();
    }
    try {
      this.assertOpen();
    } catch (e) {
      out.secret.fill(0);
      throw e;
    }
    const publicKey = toWirePublicKey(out.publicKey);
    const handover = this.#plan.handover === undefined ? {} : { handover: this.#plan.handover };
    const publicPart = encodeSharePublicPart({ publicKey, participants: this.#plan.participants, self: this.#plan.self, sessionId: this.sessionId, transcriptHash: out.transcriptHash, ...handover });
    // The CONFIRM is kept with the share (pending.ts answers a RESOLVE with it), so it is sealed first.
    const confirm = sealConfirm(this.ctx, this.#header(KEY_ROUND.CONFIRM), { keyId: this.keyId, epoch, transcriptHash: out.transcriptHash, publicKey });
    try {
      this.ctx.keystore.putPending(this.keyId, epoch, this.suite, out.secret, publicPart, { sessionId: this.sessionId, confirm: encodeEnvelope(confirm) });
    } finally {
      out.secret.fill(0);
    }
    this.confirm(epoch);
    this.ctx.send(confirm);
    this.ctx.log.info('share stored pending', { kind: this.kind, keyId: this.keyId, epoch, sessionId: hex(this.sessionId) });
    return false;
  }
}
