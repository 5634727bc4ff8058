/**
 * ecdsa-secp256k1 signing (DKLs23 Protocol 3.6; rounds `ECDSA_SIGN_ROUND`, bodies in
 * @keyquorum/protocol ecdsa.ts; crypto `ecdsa.signRound1/2`, `signPresign`, `signRound3`).
 *
 * START (once `authoriseUse` has passed: request, digest, key active at the epoch, a
 *   32-byte digest to sign, a valid path): answer CONTRIBUTION.
 * CONTRIBUTIONS: the quorum's CONTRIBUTION envelopes (this signer's own unchanged, the
 *   others of participants of the key, at least t) define the quorum and the session id.
 *   Round 1 runs; its instance key r_i and mask phi_i are journalled sealed in the nonce
 *   journal (under the proposal id) before anything leaves; R1 = {commitment} to '*' and
 *   {mul} encrypted to each peer.
 * R1_DELIVER: every peer's broadcast and direct R1 -> round 2 (a peer failing the OT
 *   extension check is named), R2 encrypted to each peer.
 * R2_DELIVER: every peer's R2 -> presign (every step-8 check; failures name the peer);
 *   then the journal entry is durably consumed, and only then the round-3 share
 *   (w_i, u_i) is computed and sent as SHARE with the instance point R.
 * ABORT, a timeout or a dropped link discard the journal entry and the session state.
 * A peer is banned here for the key (keystore `banPeer`) only when its own signed
 * message fails this signer's own check (decryption, decoding, the OT-extension check,
 * step 8): DKLs23 reuses the pair's OT state, and a peer that can make checks fail at
 * will could learn its bits (selective failure), so the pair stays apart until an
 * operator clears it. Nobody else's word bans a peer: the coordinator's ABORT and its
 * culprits only end the session. Two honest signers cannot be made to ban each other:
 * each named check involves only the pair's own signed messages and this signer's own
 * state (a relay that alters a message breaks the sender's signature: BAD_ENVELOPE,
 * nobody named; the one check over every quorum member, sum pk_j == Y, names nobody).
 * A quorum including a banned peer is refused at CONTRIBUTIONS, naming it again, which
 * the coordinator records as a conflicting pair.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { equalBytes } from '@noble/curves/utils.js';
import {
  BROADCAST,
  ECDSA_SIGN_ROUND,
  keyStateOf,
  type ContributionBody,
  type EcdsaSignR1Body,
  type EcdsaSignR2Body,
  type EcdsaSignShareBody,
  type Envelope,
  type ParticipantRef,
  type SignStartBody,
} from '@keyquorum/protocol';
import { ecdsa } from '@keyquorum/crypto';
import { SignerError } from '../errors.ts';
import { activeShareAt, type HeldShare, type ShareCodec, type SharePublicPart } from '../held-share.ts';
import { attribute, hex, openRelayed, sendBody, sendSecret, type SessionContext } from '../sessions/context.ts';
import { ContributedSession } from '../sessions/contributed.ts';
import type { CloseReason } from '../sessions/session.ts';

const Fn = secp256k1.Point.Fn;

export class EcdsaSignSession extends ContributedSession {
  readonly #epoch: number;
  readonly #publicPart: SharePublicPart;
  readonly #body: SignStartBody;
  readonly #codec: ShareCodec;
  #quorum: ParticipantRef[] = [];
  #share: HeldShare | undefined;
  #r1: ecdsa.SignRound1Secret | undefined;
  #r2: ecdsa.SignRound2Secret | undefined;
  #ownR1: Uint8Array | undefined;
  #nonceOpen = false;

  constructor(ctx: SessionContext, proposalId: Uint8Array, share: HeldShare, body: SignStartBody, codec: ShareCodec) {
    super(ctx, { kind: 'sign', suite: share.suite, keyId: share.keyId, proposalId, requestDigest: body.request.digest, keyState: keyStateOf(share.epoch, share.publicPart.publicKey), rounds: ECDSA_SIGN_ROUND });
    this.#epoch = share.epoch;
    this.#publicPart = share.publicPart;
    this.#body = body;
    this.#codec = codec;
  }

  override handle(env: Envelope, body: unknown): boolean | Promise<boolean> {
    try {
      const step = super.handle(env, body);
      if (!(step instanceof Promise)) return step;
      return step.catch((e: unknown) => {
        this.#banCulprits(e);
        throw e;
      });
    } catch (e) {
      this.#banCulprits(e);
      throw e;
    }
  }

  /**
   * A peer proven to have cheated (a signed message that fails to decrypt or decode, or
   * fails an OT or step-8 check) is banned here for the key: DKLs23 reuses the pair's OT
   * state, so it must get no further session of the key until an operator clears it.
   */
  #banCulprits(e: unknown): void {
    if (!(e instanceof SignerError) || e.code !== 'PEER_MISBEHAVED') return;
    for (const peer of e.culprits) {
      if (this.ctx.keystore.banPeer(this.keyId, peer, e.message)) this.ctx.log.warn('peer banned for key', { keyId: this.keyId, peer, reason: e.message, sessionId: hex(this.proposalId) });
    }
  }

  protected release(reason: CloseReason): void {
    this.phase = 'done';
    if (this.#share) this.#codec.wipe(this.#share);
    this.#share = undefined;
    this.#r1 = undefined;
    this.#r2 = undefined;
    if (!this.#nonceOpen) return;
    this.#nonceOpen = false;
    if (this.ctx.keystore.discardNonce(hex(this.proposalId))) this.ctx.log.info('nonce discarded', { keyId: this.keyId, sessionId: hex(this.proposalId), reason });
  }

  #header(round: number, to?: string) {
    return { kind: 'sign', suite: this.suite, sessionId: this.sessionId, round, ...(to === undefined ? {} : { to }) };
  }

  #self(): ParticipantRef {
    return this.#publicPart.participants.find((p) => p.signer === this.ctx.signerId)!;
  }

  #peers(): ParticipantRef[] {
    return this.#quorum.filter((p) => p.signer !== this.ctx.signerId);
  }

  #indexOf(signer: string): number {
    return this.#quorum.find((p) => p.signer === signer)!.index;
  }

  protected contributors() {
    return { required: [this.ctx.signerId], optional: this.#publicPart.participants.map((p) => p.signer) };
  }

  /** At least t participants of the key, none of them banned here. */
  protected quorum(bodies: ReadonlyMap<string, ContributionBody>): string[] {
    const { threshold } = this.#publicPart.publicKey;
    if (bodies.size < threshold) throw new SignerError('BAD_TRANSCRIPT', { field: 'envelopes', message: `a quorum needs ${threshold} signers, got ${bodies.size}` });
    this.#quorum = this.#publicPart.participants.filter((p) => bodies.has(p.signer)).sort((a, b) => a.index - b.index);
    const banned = this.ctx.keystore.bannedPeers(this.keyId).filter((s) => bodies.has(s));
    if (banned.length > 0) {
      throw new SignerError('BAD_PARTICIPANTS', { culprits: banned, field: 'envelopes', message: `${banned.join(',')} failed a check in an earlier session of ${this.keyId} and is banned here` });
    }
    return this.#quorum.map((p) => p.signer);
  }

  /** Round 1 (steps 4-6), journalled before it is sent. */
  protected onSessionId(sessionId: Uint8Array): void {
    this.#share = activeShareAt(this.ctx.keystore, this.keyId, this.#epoch, this.#codec);
    const params: ecdsa.SignParams = { sessionId, quorum: this.#quorum.map((p) => p.index), ...(this.#body.path === undefined ? {} : { path: this.#body.path }) };
    const r1 = ecdsa.signRound1(this.#share.ecdsa!, params);
    // The instance key and inversion mask are journalled (sealed) before any message derived from them leaves.
    const nonce = new Uint8Array(64);
    nonce.set(Fn.toBytes(r1.secret.r), 0);
    nonce.set(Fn.toBytes(r1.secret.phi), 32);
    try {
      this.ctx.keystore.storeNonce(hex(this.proposalId), this.keyId, this.#epoch, nonce);
    } finally {
      nonce.fill(0);
    }
    this.#nonceOpen = true;
    this.#r1 = r1.secret;
    this.#ownR1 = sendBody(this.ctx, this.#header(ECDSA_SIGN_ROUND.R1, BROADCAST), { commitment: r1.broadcast.commitment }).payload;
    for (const d of r1.direct) {
      const to = this.#quorum.find((p) => p.index === d.to)!.signer;
      sendSecret(this.ctx, { ...this.#header(ECDSA_SIGN_ROUND.R1), to }, { mul: d.mul });
    }
  }

  /** R1_DELIVER: every peer's commitment and RVOLE message -> round 2 (step 7), encrypted to each peer. */
  protected onRound1(envelopes: Envelope[]): boolean {
    const peers = this.#peers().map((p) => p.signer);
    const common = { kind: 'sign', suite: this.suite, round: ECDSA_SIGN_ROUND.R1, sessionId: this.sessionId };
    const broadcasts = openRelayed<EcdsaSignR1Body>(this.ctx, envelopes.filter((e) => e.header.to === BROADCAST), {
      ...common, to: BROADCAST, required: peers, optional: [this.ctx.signerId], own: this.#ownR1,
    });
    const direct = openRelayed<EcdsaSignR1Body>(this.ctx, envelopes.filter((e) => e.header.to !== BROADCAST), {
      ...common, to: this.ctx.signerId, required: peers, encrypted: true,
    });
    const wrongShape = peers.filter((s) => !('commitment' in broadcasts.get(s)!) || !('mul' in direct.get(s)!));
    if (wrongShape.length > 0) throw new SignerError('PEER_MISBEHAVED', { culprits: wrongShape, message: 'round-1 broadcast and direct messages swapped' });
    const self = this.#self().index;
    let out: ReturnType<typeof ecdsa.signRound2>;
    try {
      out = ecdsa.signRound2(
        this.#r1!,
        peers.map((s) => ({ from: this.#indexOf(s), commitment: (broadcasts.get(s) as { commitment: Uint8Array }).commitment })),
        peers.map((s) => ({ from: this.#indexOf(s), to: self, mul: (direct.get(s) as { mul: ecdsa.MulMessage1 }).mul })),
      );
    } catch (e) {
      throw attribute(e, this.#quorum);
    }
    this.#r1 = undefined;
    this.#r2 = out.secret;
    const messages = this.ctx.behaviour.ecdsaRound2?.({ keyId: this.keyId, sessionId: hex(this.proposalId), messages: out.direct }) ?? out.direct;
    for (const m of messages) {
      const to = this.#quorum.find((p) => p.index === m.to)!.signer;
      const r2: EcdsaSignR2Body = { instancePoint: m.instancePoint, salt: m.salt, publicShare: m.publicShare, gammaU: m.gammaU, gammaV: m.gammaV, psi: m.psi, mul: m.mul };
      sendSecret(this.ctx, { ...this.#header(ECDSA_SIGN_ROUND.R2), to }, r2);
      m.psi.fill(0);
    }
    return false;
  }

  /** R2_DELIVER: presign (step 8 checks), consume the journal entry durably, then round 3 (step 9). */
  protected onRound2(envelopes: Envelope[]): boolean {
    const peers = this.#peers().map((p) => p.signer);
    const bodies = openRelayed<EcdsaSignR2Body>(this.ctx, envelopes, {
      kind: 'sign', suite: this.suite, round: ECDSA_SIGN_ROUND.R2, sessionId: this.sessionId, to: this.ctx.signerId, required: peers, encrypted: true,
    });
    const self = this.#self().index;
    let presigned: ReturnType<typeof ecdsa.signPresign>;
    try {
      presigned = ecdsa.signPresign(this.#r2!, peers.map((s) => ({ from: this.#indexOf(s), to: self, ...bodies.get(s)! })));
    } catch (e) {
      throw attribute(e, this.#quorum);
    } finally {
      for (const b of bodies.values()) b.psi.fill(0);
      this.#r2 = undefined;
      if (this.#share) this.#codec.wipe(this.#share);
      this.#share = undefined;
    }
    // Durably consumed before anything computed from the presignature exists.
    this.#nonceOpen = false;
    const journalled = this.ctx.keystore.consumeNonce(hex(this.proposalId));
    const phi = Fn.toBytes(presigned.presignature.phi);
    const same = equalBytes(journalled.subarray(32), phi);
    journalled.fill(0);
    phi.fill(0);
    if (!same) throw new SignerError('NONCE_MISMATCH', { field: 'nonceId', message: 'the journalled nonce is not the one this session holds' });
    const share = ecdsa.signRound3(presigned.presignature, this.#body.message);
    const body: EcdsaSignShareBody = { w: share.w, u: share.u, instancePoint: presigned.session.instancePoint };
    sendBody(this.ctx, this.#header(ECDSA_SIGN_ROUND.SHARE), body);
    this.phase = 'done';
    this.ctx.log.info('signature share sent', { keyId: this.keyId, epoch: this.#epoch, sessionId: hex(this.proposalId), quorum: this.#quorum.map((p) => p.signer) });
    return true;
  }
}
