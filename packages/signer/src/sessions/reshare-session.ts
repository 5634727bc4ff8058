/**
 * Reshare (docs/cluster-protocol.md "Key sessions"; rounds `KEY_ROUND`): a quorum of
 * old holders (dealers) moves the key to a new participant set and threshold; the
 * group key stays. Session participants are the dealers and the new members.
 * CONTRIBUTIONS -> session id; a dealer broadcasts R1 {commitment} (reshareDeal);
 * R1_DELIVER -> a dealer sends each other new member its share, encrypted (R2);
 * R2_DELIVER -> a new member checks every dealer's commitment and share
 * (reshareReceive), stores the new share pending at epoch + 1 and CONFIRMs. COMMIT
 * runs from the keystore (`key-commit.ts`); an old holder leaving the key (a dealer,
 * or a holder the session did not involve, which gets the COMMIT only) wipes its old
 * share there once every new member has confirmed.
 */
import { equalBytes } from '@noble/curves/utils.js';
import {
  BROADCAST,
  COORDINATOR_ID,
  KEY_ROUND,
  WireError,
  deriveSessionId,
  encodeBody,
  fromWirePublicKey,
  reshareDigest,
  sessionContribution,
  toWirePublicKey,
  type CommitmentBody,
  type ContributionBody,
  type DeliverBody,
  type Envelope,
  type ParticipantRef,
  type ReshareStartBody,
  type SecretShareBody,
} from '@keyquorum/protocol';
import { reshareDeal, reshareReceive, type KeyShare, type ReshareCommitment, type ReshareParams, type ReshareSharePackage } from '@keyquorum/crypto';
import { SignerError } from '../errors.ts';
import { KeystoreError } from '../keystore/index.ts';
import { encodeShareRecord, loadShare } from '../share-record.ts';
import { assertSuite, dropStalePending } from './key-session.ts';
import { attribute, checkRequest, hex, openRelayed, pinnedKey, sendBody, sendSecret, type SessionContext } from './context.ts';
import type { CloseReason, Session } from './session.ts';

type Phase = 'contributed' | 'round1' | 'round2' | 'confirmed';

const sameRefs = (a: readonly ParticipantRef[], b: readonly ParticipantRef[]) =>
  a.length === b.length && a.every((p) => b.some((q) => q.signer === p.signer && q.index === p.index));

export class ReshareSession implements Session {
  readonly kind = 'reshare';
  readonly suite: string;
  readonly keyId: string;
  readonly #ctx: SessionContext;
  readonly #body: ReshareStartBody;
  readonly #proposalId: Uint8Array;
  readonly #signers: string[];
  /** This signer's old index when it deals, its new index when it receives. */
  readonly #dealerIndex: number | undefined;
  readonly #memberIndex: number | undefined;
  readonly #ownContribution: Uint8Array;
  #keyShare: KeyShare | undefined;
  #phase: Phase = 'contributed';
  #sessionId: Uint8Array | undefined;
  #params: ReshareParams | undefined;
  #ownR1: Uint8Array | undefined;
  #commitments: ReshareCommitment[] = [];
  /** Shares this dealer has still to send, one per new member. */
  #pending: ReshareSharePackage[] = [];
  #ownPackage: ReshareSharePackage | undefined;

  private constructor(ctx: SessionContext, env: Envelope, body: ReshareStartBody, keyShare: KeyShare | undefined) {
    this.#ctx = ctx;
    this.#body = body;
    this.suite = env.header.suite;
    this.keyId = body.keyId;
    this.#proposalId = env.header.sessionId;
    this.#keyShare = keyShare;
    this.#signers = [...new Set([...body.dealers, ...body.newParticipants].map((p) => p.signer))];
    this.#dealerIndex = body.dealers.find((p) => p.signer === ctx.signerId)?.index;
    this.#memberIndex = body.newParticipants.find((p) => p.signer === ctx.signerId)?.index;
    this.#ownContribution = sendBody(ctx, { kind: 'reshare', suite: this.suite, sessionId: this.#proposalId, round: KEY_ROUND.CONTRIBUTION }, { contribution: sessionContribution(ctx.rng) }).payload;
  }

  static start(ctx: SessionContext, env: Envelope, body: ReshareStartBody): ReshareSession {
    const suite = assertSuite(env.header.suite);
    const old = body.oldPublicKey;
    if (old.suite !== suite) throw new SignerError('WRONG_SUITE', { field: 'oldPublicKey.suite' });
    const oldIndices = body.oldParticipants.map((p) => p.index).sort((a, b) => a - b);
    if (oldIndices.join() !== [...old.participants].sort((a, b) => a - b).join()) throw new SignerError('BAD_PARTICIPANTS', { field: 'oldParticipants', message: 'do not match oldPublicKey' });
    if (!body.dealers.every((d) => body.oldParticipants.some((p) => p.signer === d.signer && p.index === d.index))) {
      throw new SignerError('BAD_PARTICIPANTS', { field: 'dealers', message: 'every dealer must be an old participant' });
    }
    for (const p of [...body.dealers, ...body.newParticipants]) pinnedKey(ctx, p.signer);
    const dealer = body.dealers.some((p) => p.signer === ctx.signerId);
    const member = body.newParticipants.some((p) => p.signer === ctx.signerId);
    if (!dealer && !member) throw new SignerError('BAD_PARTICIPANTS', { field: 'newParticipants', message: `${ctx.signerId} neither deals nor receives` });
    const digest = reshareDigest({ keyId: body.keyId, groupKey: old.groupKey, newThreshold: body.newThreshold, signers: body.newParticipants.map((p) => p.signer) });
    const held = ctx.keystore.listKeys().find((k) => k.keyId === body.keyId);
    let keyShare: KeyShare | undefined;
    if (held !== undefined && held.state !== 'pending') {
      const share = loadShare(ctx.keystore.getActive(body.keyId));
      const matches = share.epoch === body.epoch && share.suite === suite && equalBytes(encodeBody(share.record.publicKey), encodeBody(old)) && sameRefs(share.record.participants, body.oldParticipants);
      if (!matches) {
        share.keyShare.signingShare.fill(0);
        throw new SignerError('WRONG_KEY_STATE', { field: 'oldPublicKey', message: `${body.keyId} here differs from the reshare's epoch ${body.epoch} key` });
      }
      if (dealer) keyShare = share.keyShare;
      else share.keyShare.signingShare.fill(0);
    } else if (dealer) {
      throw new SignerError('WRONG_KEY_STATE', { field: 'dealers', message: `${ctx.signerId} holds no share of ${body.keyId}` });
    }
    try {
      checkRequest(ctx, body.request, 'reshare', body.keyId, digest);
      dropStalePending(ctx, body.keyId);
      return new ReshareSession(ctx, env, body, keyShare);
    } catch (e) {
      keyShare?.signingShare.fill(0);
      throw e;
    }
  }

  get currentId(): Uint8Array {
    return this.#sessionId ?? this.#proposalId;
  }

  get confirmed(): boolean {
    return this.#phase === 'confirmed';
  }

  ids(): string[] {
    return [hex(this.#proposalId), ...(this.#sessionId ? [hex(this.#sessionId)] : [])];
  }

  handle(env: Envelope, body: unknown): boolean {
    const envelopes = (body as DeliverBody).envelopes;
    const round = env.header.round;
    const expected = round === KEY_ROUND.CONTRIBUTIONS ? 'contributed' : round === KEY_ROUND.R1_DELIVER ? 'round1' : round === KEY_ROUND.R2_DELIVER ? 'round2' : undefined;
    const id = round === KEY_ROUND.CONTRIBUTIONS ? this.#proposalId : this.#sessionId;
    if (expected === undefined || this.#phase !== expected || id === undefined || !equalBytes(env.header.sessionId, id)) {
      throw new SignerError('WRONG_ROUND', { field: 'header.round', message: `round ${round} is not expected in phase ${this.#phase} under this session id` });
    }
    if (round === KEY_ROUND.CONTRIBUTIONS) this.#onContributions(envelopes);
    else if (round === KEY_ROUND.R1_DELIVER) return this.#onRound1(envelopes);
    else this.#onRound2(envelopes);
    return false;
  }

  close(reason: CloseReason): void {
    this.#keyShare?.signingShare.fill(0);
    this.#keyShare = undefined;
    this.#ownPackage?.signingShare.fill(0);
    if (reason !== 'aborted' || this.#phase !== 'confirmed') return;
    try {
      this.#ctx.keystore.discardPending(this.keyId, this.#body.epoch + 1);
    } catch (e) {
      if (!(e instanceof KeystoreError)) throw e;
    }
  }

  #header(round: number) {
    return { kind: this.kind, suite: this.suite, sessionId: this.#sessionId!, round };
  }

  #onContributions(envelopes: Envelope[]): void {
    const bodies = openRelayed<ContributionBody>(this.#ctx, envelopes, {
      kind: this.kind, suite: this.suite, round: KEY_ROUND.CONTRIBUTION, sessionId: this.#proposalId, to: COORDINATOR_ID,
      required: this.#signers, own: this.#ownContribution,
    });
    try {
      this.#sessionId = deriveSessionId({
        kind: this.kind, suite: this.suite, keyId: this.keyId, participants: this.#signers,
        contributions: Object.fromEntries([...bodies].map(([s, b]) => [s, b.contribution])),
        requestDigest: this.#body.request.digest,
      });
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      throw new SignerError('BAD_TRANSCRIPT', { field: 'contributions', message: e.message, cause: e });
    }
    const b = this.#body;
    this.#params = {
      sessionId: this.#sessionId,
      oldPublicKey: fromWirePublicKey(b.oldPublicKey),
      dealers: b.dealers.map((p) => p.index),
      newParticipants: b.newParticipants.map((p) => p.index),
      newThreshold: b.newThreshold,
    };
    if (this.#dealerIndex !== undefined) {
      const dealt = reshareDeal(this.#params, this.#keyShare!);
      this.#keyShare!.signingShare.fill(0);
      this.#keyShare = undefined;
      this.#pending = dealt.packages;
      this.#ownR1 = sendBody(this.#ctx, { ...this.#header(KEY_ROUND.R1), to: BROADCAST }, { commitment: dealt.commitment.commitment } satisfies CommitmentBody).payload;
    }
    this.#phase = 'round1';
  }

  /** R1_DELIVER: every dealer's commitment; a dealer then sends its shares. True when this signer's part is over. */
  #onRound1(envelopes: Envelope[]): boolean {
    const bodies = openRelayed<CommitmentBody>(this.#ctx, envelopes, {
      kind: this.kind, suite: this.suite, round: KEY_ROUND.R1, sessionId: this.#sessionId!, to: BROADCAST,
      required: this.#body.dealers.map((p) => p.signer), own: this.#ownR1,
    });
    this.#commitments = this.#body.dealers.map((p) => ({ from: p.index, commitment: bodies.get(p.signer)!.commitment }));
    for (const pkg of this.#pending) {
      const to = this.#body.newParticipants.find((p) => p.index === pkg.to)!.signer;
      if (to === this.#ctx.signerId) {
        this.#ownPackage = pkg;
        continue;
      }
      sendSecret(this.#ctx, { ...this.#header(KEY_ROUND.R2), to }, { signingShare: pkg.signingShare } satisfies SecretShareBody);
      pkg.signingShare.fill(0);
    }
    this.#pending = [];
    this.#phase = 'round2';
    return this.#memberIndex === undefined;
  }

  /** R2_DELIVER: check the dealt shares against the commitments, store the new share pending, CONFIRM. */
  #onRound2(envelopes: Envelope[]): void {
    if (this.#memberIndex === undefined) throw new SignerError('WRONG_ROUND', { field: 'header.round', message: 'this signer receives no share' });
    const others = this.#body.dealers.filter((p) => p.signer !== this.#ctx.signerId);
    const bodies = openRelayed<SecretShareBody>(this.#ctx, envelopes, {
      kind: this.kind, suite: this.suite, round: KEY_ROUND.R2, sessionId: this.#sessionId!, to: this.#ctx.signerId,
      required: others.map((p) => p.signer), encrypted: true,
    });
    const packages: ReshareSharePackage[] = others.map((p) => ({ from: p.index, to: this.#memberIndex!, signingShare: bodies.get(p.signer)!.signingShare }));
    if (this.#ownPackage) packages.push(this.#ownPackage);
    let out: ReturnType<typeof reshareReceive>;
    try {
      out = reshareReceive(this.#params!, this.#memberIndex, this.#commitments, packages);
    } catch (e) {
      throw attribute(e, this.#body.dealers);
    } finally {
      for (const p of packages) p.signingShare.fill(0);
      this.#ownPackage = undefined;
    }
    const epoch = this.#body.epoch + 1;
    const publicKey = toWirePublicKey(out.keyShare.publicKey);
    const record = encodeShareRecord({ publicKey, participants: this.#body.newParticipants, self: this.#memberIndex, sessionId: this.#sessionId!, transcriptHash: out.transcriptHash });
    try {
      this.#ctx.keystore.putPending(this.keyId, epoch, this.suite, out.keyShare.signingShare, record);
    } finally {
      out.keyShare.signingShare.fill(0);
    }
    this.#phase = 'confirmed';
    sendBody(this.#ctx, this.#header(KEY_ROUND.CONFIRM), { keyId: this.keyId, epoch, transcriptHash: out.transcriptHash, publicKey });
    this.#ctx.log.info('share stored pending', { kind: this.kind, keyId: this.keyId, epoch, sessionId: hex(this.#sessionId!) });
  }
}
