/**
 * Share repair (docs/cluster-protocol.md "Share repair"; Laing-Stinson, the three steps
 * of frost-rs `keys::repairable`, @keyquorum/crypto `repairStep1/2/3`). A participant
 * that lost its share (the target: re-initialised, its new identity pinned by every
 * operator) gets it back from t helpers, none of which learns it:
 *   - CONTRIBUTIONS -> session id. Every participant binds the key state it starts
 *     from: a helper its own active share (checked equal to the START's package and
 *     participants by `authoriseUse`), the target the START's package.
 *   - helper, round 1: `repairStep1` splits lambda_i(r) * s_i into one random delta per
 *     helper; each other helper's delta goes out as R1, encrypted to it.
 *   - helper, R1_DELIVER: `repairStep2` sums the deltas it received (and its own) into
 *     sigma, sent as R2, encrypted to the target. The helper is then done: its share
 *     does not change, and it saw only uniformly random deltas.
 *   - target, R2_DELIVER: `repairStep3` sums the sigmas and checks s_r * G == Y_r in the
 *     START's package; a mismatch is SHARE_MISMATCH and nothing is stored. Else the
 *     share is stored pending (sealed, at the key's current epoch) and CONFIRMed; the
 *     COMMIT (`commitRepair`) activates it.
 * Why the target can trust the START's package although it has no record of the key:
 * each sigma it accepts is an envelope signed by a pinned helper under the session id,
 * and a helper's session id binds that helper's own key state (epoch, publicKeyHash).
 * A START whose package differs from the helpers' makes the target derive another
 * session id, so it refuses their sigmas (BAD_TRANSCRIPT) before opening any. The
 * target's index is checked by every helper against its own participant records, and
 * a wrong index on the target's side fails the verifying-share check.
 */
import { equalBytes } from '@noble/curves/utils.js';
import { COORDINATOR_ID, KEY_ROUND, clientRequestId, encodeBody, fromWirePublicKey, keyStateOf, publicKeyHash, repairDigest, type ConfirmBody, type DeliverBody, type Envelope, type ParticipantRef, type RepairStartBody, type SecretShareBody } from '@keyquorum/protocol';
import { CryptoError, repairStep1, repairStep2, repairStep3, type KeyShare, type RepairDelta } from '@keyquorum/crypto';
import { SignerError } from '../errors.ts';
import { decodeSharePublicPart, encodeSharePublicPart, type HeldShare } from '../held-share.ts';
import { schemeFor, wipeHeldShare } from '../schemes/index.ts';
import type { ApprovalGrant } from './approvals.ts';
import { authoriseUse } from './authorise.ts';
import { handoverRecord } from './key-commit.ts';
import { attribute, hex, openRelayed, pinnedKey, sendBody, sendSecret, type SessionContext } from './context.ts';
import { ContributedSession } from './contributed.ts';
import type { Session } from './session.ts';

const member = (refs: readonly ParticipantRef[], p: ParticipantRef) => refs.some((q) => q.signer === p.signer && q.index === p.index);

/** The START body's own checks; this signer's role: 'helper' or 'target'. */
function roleIn(ctx: SessionContext, suite: string, body: RepairStartBody): 'helper' | 'target' {
  const { publicKey, participants, target, helpers } = body;
  if (publicKey.suite !== suite) throw new SignerError('WRONG_SUITE', { field: 'publicKey.suite' });
  const indices = participants.map((p) => p.index).sort((a, b) => a - b);
  if (indices.join() !== [...publicKey.participants].sort((a, b) => a - b).join()) throw new SignerError('BAD_PARTICIPANTS', { field: 'participants', message: 'do not match publicKey' });
  if (!member(participants, target)) throw new SignerError('BAD_PARTICIPANTS', { field: 'target', message: `${target.signer} is not participant ${target.index} of ${body.keyId}` });
  if (!helpers.every((h) => member(participants, h))) throw new SignerError('BAD_PARTICIPANTS', { field: 'helpers', message: 'every helper must be a participant of the key' });
  if (helpers.some((h) => h.signer === target.signer)) throw new SignerError('BAD_PARTICIPANTS', { field: 'helpers', message: 'the target cannot help repair its own share' });
  if (helpers.length < publicKey.threshold) throw new SignerError('BAD_PARTICIPANTS', { field: 'helpers', message: `${publicKey.threshold} helpers needed` });
  // Sigmas are encrypted to the target's pinned (new) identity; deltas to each helper's.
  for (const p of [...helpers, target]) pinnedKey(ctx, p.signer);
  if (target.signer === ctx.signerId) return 'target';
  if (helpers.some((h) => h.signer === ctx.signerId)) return 'helper';
  throw new SignerError('BAD_PARTICIPANTS', { field: 'helpers', message: `${ctx.signerId} neither helps nor is repaired` });
}

/** repair START: checks, `authoriseUse` (op 'repair'), then the helper's or the target's session. */
export function startRepair(ctx: SessionContext, env: Envelope, body: RepairStartBody, grant?: ApprovalGrant): Session {
  const { suite } = env.header;
  const scheme = schemeFor(suite);
  if (scheme.repairSecret === undefined) {
    throw new SignerError('WRONG_SUITE', { field: 'header.suite', message: `repair of a ${suite} share is not supported: it needs fresh pairwise OT state` });
  }
  const role = roleIn(ctx, suite, body);
  const share = authoriseUse(ctx, {
    op: 'repair', keyId: body.keyId, epoch: body.epoch, suite, request: body.request, digest: repairDigest({ keyId: body.keyId, target: body.target.signer }),
    publicKey: body.publicKey, participants: body.participants, helper: role === 'helper', grant, handover: body.policy,
  });
  if (role === 'target') {
    // A pending leftover of a session that never reached its commit point (a COMMIT would have come first).
    const held = ctx.keystore.listKeys().find((k) => k.keyId === body.keyId);
    if (held?.state === 'pending') ctx.keystore.discardPending(body.keyId, held.epoch);
  }
  return new RepairSession(ctx, env.header.sessionId, body, suite, share);
}

class RepairSession extends ContributedSession {
  readonly #body: RepairStartBody;
  readonly #helpers: number[];
  /** A helper's share (wiped after step 2); undefined for the target. */
  #share: HeldShare | undefined;
  #ownDelta: RepairDelta | undefined;

  constructor(ctx: SessionContext, proposalId: Uint8Array, body: RepairStartBody, suite: string, share: HeldShare | undefined) {
    super(ctx, { kind: 'repair', suite, keyId: body.keyId, proposalId, requestDigest: body.request.digest, keyState: keyStateOf(body.epoch, body.publicKey), rounds: KEY_ROUND });
    this.#body = body;
    this.#share = share;
    this.#helpers = body.helpers.map((h) => h.index);
  }

  protected contributors() {
    return { required: this.quorum() };
  }

  protected quorum(): string[] {
    return [...this.#body.helpers.map((h) => h.signer), this.#body.target.signer];
  }

  protected release(): void {
    if (this.#share) wipeHeldShare(this.#share);
    this.#share = undefined;
    this.#ownDelta?.delta.fill(0);
    this.#ownDelta = undefined;
  }

  #header(round: number, to: string) {
    return { kind: this.kind, suite: this.suite, sessionId: this.sessionId, round, to };
  }

  get #keyShare(): KeyShare {
    return this.#share!.keyShare;
  }

  /** Helper: one delta per helper; the others' go out encrypted (R1). The target sends nothing. */
  protected onSessionId(): void {
    if (this.#share === undefined) return;
    for (const d of repairStep1(this.#keyShare, this.#helpers, this.#body.target.index)) {
      if (d.to === this.#keyShare.id) {
        this.#ownDelta = d;
        continue;
      }
      sendSecret(this.ctx, this.#header(KEY_ROUND.R1, this.#body.helpers.find((h) => h.index === d.to)!.signer), { signingShare: d.delta });
      d.delta.fill(0);
    }
  }

  /** Helper: the deltas addressed to it -> sigma, sent to the target (R2); done. The target gets none. */
  protected onRound1(envelopes: Envelope[]): boolean {
    const others = this.#share === undefined ? [] : this.#body.helpers.filter((h) => h.signer !== this.ctx.signerId);
    const bodies = openRelayed<SecretShareBody>(this.ctx, envelopes, {
      kind: this.kind, suite: this.suite, round: KEY_ROUND.R1, sessionId: this.sessionId, to: this.ctx.signerId, required: others.map((h) => h.signer), encrypted: true,
    });
    if (this.#share === undefined) return false;
    const deltas: RepairDelta[] = [...others.map((h) => ({ from: h.index, to: this.#keyShare.id, delta: bodies.get(h.signer)!.signingShare })), this.#ownDelta!];
    try {
      let sigma = repairStep2(this.#keyShare, this.#helpers, this.#body.target.index, deltas);
      sigma = this.ctx.behaviour.repairSigma?.({ keyId: this.keyId, sessionId: hex(this.sessionId), sigma }) ?? sigma;
      sendSecret(this.ctx, this.#header(KEY_ROUND.R2, this.#body.target.signer), { signingShare: sigma.sigma });
      sigma.sigma.fill(0);
    } catch (e) {
      throw attribute(e, this.#body.helpers);
    } finally {
      for (const d of deltas) d.delta.fill(0);
      this.release();
    }
    this.ctx.log.info('repair sigma sent', { keyId: this.keyId, target: this.#body.target.signer, sessionId: hex(this.sessionId) });
    return true;
  }

  /** Target: the sigmas -> its share, checked against its verifying share; stored pending, CONFIRM. */
  protected onRound2(envelopes: Envelope[]): boolean {
    const body = this.#body;
    if (this.#share !== undefined) throw new SignerError('WRONG_ROUND', { field: 'header.round', message: 'a helper receives no sigma' });
    const sigmas = openRelayed<SecretShareBody>(this.ctx, envelopes, {
      kind: this.kind, suite: this.suite, round: KEY_ROUND.R2, sessionId: this.sessionId, to: this.ctx.signerId, required: body.helpers.map((h) => h.signer), encrypted: true,
    });
    let keyShare: KeyShare;
    try {
      keyShare = repairStep3(fromWirePublicKey(body.publicKey), this.#helpers, body.target.index, body.helpers.map((h) => ({ from: h.index, sigma: sigmas.get(h.signer)!.signingShare })));
    } catch (e) {
      // The sum is checked, not each sigma: which helper lied cannot be told, so no one is named.
      if (e instanceof CryptoError && e.code === 'SHARE_MISMATCH') throw new SignerError('SHARE_MISMATCH', { field: 'sigmas', message: 'the repaired share does not match its verifying share; nothing stored', cause: e });
      throw attribute(e, body.helpers);
    } finally {
      for (const s of sigmas.values()) s.signingShare.fill(0);
    }
    const transcriptHash = publicKeyHash(body.publicKey);
    const secret = schemeFor(this.suite).repairSecret!(keyShare);
    keyShare.signingShare.fill(0);
    const handover = { requestId: clientRequestId(body.request), ...(body.policy === undefined ? {} : { policy: body.policy }) };
    const publicPart = encodeSharePublicPart({ publicKey: body.publicKey, participants: body.participants, self: body.target.index, sessionId: this.sessionId, transcriptHash, handover });
    try {
      this.ctx.keystore.putPending(this.keyId, body.epoch, this.suite, secret, publicPart);
    } finally {
      secret.fill(0);
    }
    this.confirm(body.epoch);
    sendBody(this.ctx, this.#header(KEY_ROUND.CONFIRM, COORDINATOR_ID), { keyId: this.keyId, epoch: body.epoch, transcriptHash, publicKey: body.publicKey });
    this.ctx.log.info('repaired share stored pending', { keyId: this.keyId, epoch: body.epoch, sessionId: hex(this.sessionId) });
    return false;
  }
}

/**
 * repair COMMIT (to the target only): exactly its own CONFIRM; the pending share of this
 * session agrees with it and is activated (a re-sent COMMIT of an active one is ACKed again).
 */
export function commitRepair(ctx: SessionContext, env: Envelope, body: DeliverBody): void {
  const { kind, suite, sessionId } = env.header;
  const mine = openRelayed<ConfirmBody>(ctx, body.envelopes, { kind, suite, round: KEY_ROUND.CONFIRM, sessionId, to: COORDINATOR_ID, required: [ctx.signerId] }).get(ctx.signerId)!;
  const row = ctx.keystore.getShare(mine.keyId, mine.epoch);
  row.secret.fill(0);
  const publicPart = decodeSharePublicPart(row.public);
  const agrees = row.suite === suite && equalBytes(publicPart.sessionId, sessionId) && equalBytes(publicPart.transcriptHash, mine.transcriptHash) &&
    equalBytes(encodeBody(publicPart.publicKey), encodeBody(mine.publicKey));
  if (!agrees) throw new SignerError('BAD_TRANSCRIPT', { field: 'envelopes', message: `the stored share of ${mine.keyId} comes from another session` });
  if (row.state === 'pending') {
    const handover = handoverRecord(ctx, mine.keyId, publicPart);
    ctx.keystore.activate(mine.keyId, mine.epoch, handover);
    ctx.log.info('repaired share activated', { keyId: mine.keyId, epoch: mine.epoch, sessionId: hex(sessionId), policyVersion: handover?.policy?.version ?? 0 });
  }
  sendBody(ctx, { kind, suite, sessionId, round: KEY_ROUND.ACK }, { keyId: mine.keyId, epoch: mine.epoch });
}
