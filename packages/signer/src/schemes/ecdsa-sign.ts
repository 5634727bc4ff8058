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
 * Presign (docs/cluster-protocol.md "Presignature pool"; no START body, `ecdsa-pooled.ts`):
 *   the same rounds for the key itself (no path), the session id binding `presignDigest`
 *   instead of a request; after step 8 the presignature's secret is sealed in the journal
 *   under the session id (its presignature id), round 1's entry discarded, the
 *   presignature kept in the pool (`ctx.presignatures`) and PRESIGNED {keyId, epoch, R} sent.
 *
 * Where it runs: the rounds' CPU (round 1, round 2 with the OT-extension checks,
 * presign with the step-8 checks, round 3) runs through `ctx.crypto`, on a crypto
 * worker thread unless `cryptoWorkers` is 0 (`ecdsa-sign-rounds.ts`, `workers/`), which
 * holds r_i, phi_i, the OT-derived state and the presignature; this event loop opens
 * and checks envelopes, seals, journals and sends. The worker hands round 1's
 * r_i || phi_i back only to be sealed here (never logged, zeroed once journalled);
 * round 3 is asked for only after the journal entry is durably consumed, and gets
 * that entry, which must be this session's. A frame arriving while a round runs
 * waits its turn (`contributed.ts`); closing the session wipes the worker's state.
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
import {
  BROADCAST,
  ECDSA_SIGN_ROUND,
  keyStateOf,
  presignDigest,
  type EcdsaPresignedBody,
  type ContributionBody,
  type EcdsaSignR1Body,
  type EcdsaSignR2Body,
  type EcdsaSignShareBody,
  type Envelope,
  type ParticipantRef,
  type SignStartBody,
} from '@keyquorum/protocol';
import type { ecdsa } from '@keyquorum/crypto';
import { SignerError } from '../errors.ts';
import { activeShareAt, type HeldShare, type ShareCodec, type SharePublicPart } from '../held-share.ts';
import { attribute, hex, openRelayed, sendBody, sendSecret, type SessionContext } from '../sessions/context.ts';
import { ContributedSession } from '../sessions/contributed.ts';
import type { CloseReason } from '../sessions/session.ts';
import type { AsyncEcdsaSignRounds } from '../workers/api.ts';

export class EcdsaSignSession extends ContributedSession {
  readonly #epoch: number;
  readonly #publicPart: SharePublicPart;
  /** Undefined for a presign session. */
  readonly #body: SignStartBody | undefined;
  readonly #codec: ShareCodec;
  /** A presign session's end (its place in the key's pool cap). */
  readonly #onClose: (() => void) | undefined;
  #quorum: ParticipantRef[] = [];
  /** The rounds and their secret state (on a crypto worker), from CONTRIBUTIONS on. */
  #rounds: AsyncEcdsaSignRounds | undefined;
  #ownR1: Uint8Array | undefined;
  #nonceOpen = false;

  /** A signing of `body`, or (`body` undefined) a presign session. */
  constructor(ctx: SessionContext, proposalId: Uint8Array, share: HeldShare, body: SignStartBody | undefined, codec: ShareCodec, onClose?: () => void) {
    const requestDigest = body === undefined ? presignDigest({ keyId: share.keyId }) : body.request.digest;
    super(ctx, { kind: 'sign', suite: share.suite, keyId: share.keyId, proposalId, requestDigest, keyState: keyStateOf(share.epoch, share.publicPart.publicKey), rounds: ECDSA_SIGN_ROUND });
    this.#epoch = share.epoch;
    this.#publicPart = share.publicPart;
    this.#body = body;
    this.#codec = codec;
    this.#onClose = onClose;
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
    this.#onClose?.();
    this.#rounds?.wipe();
    this.#rounds = undefined;
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
  protected async onSessionId(sessionId: Uint8Array): Promise<void> {
    const share: HeldShare = activeShareAt(this.ctx.keystore, this.keyId, this.#epoch, this.#codec);
    let rounds: AsyncEcdsaSignRounds;
    try {
      // The rounds own the share from here (a worker gets a copy and ours is wiped).
      rounds = this.ctx.crypto.ecdsaSignRounds(share);
    } catch (e) {
      this.#codec.wipe(share);
      throw e;
    }
    this.#rounds = rounds;
    const path = this.#body?.path;
    const params: ecdsa.SignParams = { sessionId, quorum: this.#quorum.map((p) => p.index), ...(path === undefined ? {} : { path }) };
    const r1 = await rounds.round1(params);
    // The instance key and inversion mask are journalled (sealed) before any message derived from them leaves.
    try {
      this.assertOpen();
      this.ctx.keystore.storeNonce(hex(this.proposalId), this.keyId, this.#epoch, r1.nonce);
    } finally {
      r1.nonce.fill(0);
    }
    this.#nonceOpen = true;
    this.#ownR1 = sendBody(this.ctx, this.#header(ECDSA_SIGN_ROUND.R1, BROADCAST), { commitment: r1.commitment }).payload;
    for (const d of r1.direct) {
      const to = this.#quorum.find((p) => p.index === d.to)!.signer;
      sendSecret(this.ctx, { ...this.#header(ECDSA_SIGN_ROUND.R1), to }, { mul: d.mul });
    }
  }

  /** R1_DELIVER: every peer's commitment and RVOLE message -> round 2 (step 7), encrypted to each peer. */
  protected async onRound1(envelopes: Envelope[]): Promise<boolean> {
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
    let out: ecdsa.SignRound2Direct[];
    try {
      out = await this.#rounds!.round2({
        broadcasts: peers.map((s) => ({ from: this.#indexOf(s), commitment: (broadcasts.get(s) as { commitment: Uint8Array }).commitment })),
        direct: peers.map((s) => ({ from: this.#indexOf(s), to: self, mul: (direct.get(s) as { mul: ecdsa.MulMessage1 }).mul })),
      });
    } catch (e) {
      throw attribute(e, this.#quorum);
    }
    try {
      this.assertOpen();
    } catch (e) {
      for (const m of out) m.psi.fill(0);
      throw e;
    }
    const messages = this.ctx.behaviour.ecdsaRound2?.({ keyId: this.keyId, sessionId: hex(this.proposalId), messages: out }) ?? out;
    for (const m of messages) {
      const to = this.#quorum.find((p) => p.index === m.to)!.signer;
      const r2: EcdsaSignR2Body = { instancePoint: m.instancePoint, salt: m.salt, publicShare: m.publicShare, gammaU: m.gammaU, gammaV: m.gammaV, psi: m.psi, mul: m.mul };
      sendSecret(this.ctx, { ...this.#header(ECDSA_SIGN_ROUND.R2), to }, r2);
      m.psi.fill(0);
    }
    return false;
  }

  /** R2_DELIVER: presign (step 8 checks), consume the journal entry durably, then round 3 (step 9). */
  protected async onRound2(envelopes: Envelope[]): Promise<boolean> {
    const peers = this.#peers().map((p) => p.signer);
    const bodies = openRelayed<EcdsaSignR2Body>(this.ctx, envelopes, {
      kind: 'sign', suite: this.suite, round: ECDSA_SIGN_ROUND.R2, sessionId: this.sessionId, to: this.ctx.signerId, required: peers, encrypted: true,
    });
    const self = this.#self().index;
    const rounds = this.#rounds!;
    let presigned: { instancePoint: Uint8Array };
    try {
      const pending = rounds.presign(peers.map((s) => ({ from: this.#indexOf(s), to: self, ...bodies.get(s)! })));
      // The bodies crossed to the worker by copy (or are checked already, inline): psi_ji is zeroed here.
      for (const b of bodies.values()) b.psi.fill(0);
      presigned = await pending;
    } catch (e) {
      throw attribute(e, this.#quorum);
    }
    this.assertOpen();
    if (this.#body === undefined) return this.#keep(rounds, presigned.instancePoint);
    // Durably consumed before anything computed from the presignature exists; round 3 gets the entry.
    this.#nonceOpen = false;
    const journalled = await this.ctx.keystore.consumeNonceDurably(hex(this.proposalId));
    try {
      this.assertOpen();
    } catch (e) {
      journalled.fill(0);
      throw e;
    }
    const computing = rounds.round3({ journalled, digest: this.#body.message });
    journalled.fill(0);
    const share = await computing;
    try {
      this.assertOpen();
    } catch (e) {
      share.w.fill(0);
      share.u.fill(0);
      throw e;
    }
    const body: EcdsaSignShareBody = { w: share.w, u: share.u, instancePoint: presigned.instancePoint };
    sendBody(this.ctx, this.#header(ECDSA_SIGN_ROUND.SHARE), body);
    this.phase = 'done';
    this.ctx.log.info('signature share sent', { keyId: this.keyId, epoch: this.#epoch, sessionId: hex(this.proposalId), quorum: this.#quorum.map((p) => p.signer) });
    return true;
  }

  /** Presign: the presignature's secret sealed under its id (the session id), round 1's entry discarded, PRESIGNED. */
  async #keep(rounds: AsyncEcdsaSignRounds, instancePoint: Uint8Array): Promise<boolean> {
    const secret = await rounds.keep();
    const id = hex(this.sessionId);
    try {
      this.assertOpen();
      this.ctx.keystore.storeNonce(id, this.keyId, this.#epoch, secret);
    } finally {
      secret.fill(0);
    }
    this.#nonceOpen = false;
    this.ctx.keystore.discardNonce(hex(this.proposalId));
    this.ctx.presignatures!.add(id, { keyId: this.keyId, epoch: this.#epoch, quorum: [...this.#quorum], instancePoint });
    const body: EcdsaPresignedBody = { keyId: this.keyId, epoch: this.#epoch, instancePoint };
    sendBody(this.ctx, this.#header(ECDSA_SIGN_ROUND.PRESIGNED), body);
    this.phase = 'done';
    this.ctx.log.info('presignature made', { keyId: this.keyId, epoch: this.#epoch, presignature: id, quorum: this.#quorum.map((p) => p.signer) });
    return true;
  }
}
