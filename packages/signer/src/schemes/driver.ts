/**
 * What a threshold signature scheme plugs into the signer (ARCHITECTURE.md "a scheme
 * is a driver"): how its sealed secret is read and wiped, its key-session rounds
 * (DKG, refresh and, if it has one, reshare) on the one round shape the key-session
 * engine runs (`sessions/key-session.ts`), and its signing session. A driver is
 * registered for its suites in `schemes/index.ts`; nothing else branches on the scheme.
 * The key rounds are synchronous and pure; the session runs them through a
 * `CryptoRunner` (`workers/`), on a worker thread unless `cryptoWorkers` is 0.
 */
import type { Envelope, ParticipantRef, SignCommitmentBody, SignPoolBody, SignStartBody } from '@keyquorum/protocol';
import type { KeyShare } from '@keyquorum/crypto';
import type { HeldShare, ShareCodec } from '../held-share.ts';
import type { SessionContext } from '../sessions/context.ts';
import type { Session } from '../sessions/session.ts';
import type { DkgParams, KeyOutcome, ReshareRoundsParams } from '../workers/api.ts';

export type { DkgParams, KeyOutcome, ReshareRoundsParams };

/**
 * One key protocol's three rounds, closed over its secret state (never sent). Bodies
 * are keyed by signer id. R1 is broadcast; each R2 body is encrypted to its signer.
 */
export interface KeyRounds {
  /** The R1 body; undefined when this signer sends none (a reshare newcomer deals nothing). */
  round1(sessionId: Uint8Array): unknown;
  /** Checks the R1 bodies; the R2 body for each signer this one sends a share to. */
  round2(r1: ReadonlyMap<string, unknown>): Map<string, { signingShare: Uint8Array }>;
  /** Checks the R2 bodies; the new share. */
  round3(r2: ReadonlyMap<string, unknown>): KeyOutcome;
  /** Zeroes whatever secret the rounds still hold. */
  wipe(): void;
}

export interface SchemeDriver extends ShareCodec {
  /** Rounds of a sign session the coordinator may send (START and ABORT included). */
  readonly signRounds: readonly number[];
  dkg(p: DkgParams): KeyRounds;
  /** The refresh rounds over the active share; they own (and wipe) it. */
  refresh(share: HeldShare): KeyRounds;
  /** Absent when the scheme cannot move a key to another signer set. */
  reshare?(p: ReshareRoundsParams): KeyRounds;
  /**
   * The sealed secret of a share rebuilt by share repair (`sessions/repair.ts`). Absent
   * when the scheme's share holds more than the Feldman share: an ecdsa-secp256k1 share
   * also holds pairwise OT state, which repair does not rebuild.
   */
  repairSecret?(keyShare: KeyShare): Uint8Array;
  /** The scheme's own checks of a sign START (message form, derivation target), run before the client request. */
  checkSign(share: HeldShare, body: SignStartBody): void;
  /** Starts signing with the authorised share; the caller wipes the share afterwards. */
  startSign(ctx: SessionContext, proposalId: Uint8Array, body: SignStartBody, share: HeldShare): Session;
  /** Nonce pool (docs/cluster-protocol.md "Nonce pool"); absent when the scheme cannot commit ahead of the message. */
  readonly pool?: {
    /** A commitment made ahead: the secret to journal sealed, and the public commitment to offer. */
    commit(share: HeldShare): { secret: Uint8Array; commitment: SignCommitmentBody };
    /**
     * POOLED with the authorised share and this signer's claimed pooled nonce: checks the OFFERs and consumes the nonce
     * (at once; a refusal throws), then, once the consume is committed, answers SHARE; the promise settles then (rejects
     * if the commit or the computation failed). The caller wipes the share once it settles.
     */
    sign(ctx: SessionContext, proposalId: Uint8Array, body: SignStartBody, share: HeldShare, envelopes: readonly Envelope[], own: { nonceId: string; payload: Uint8Array }): Promise<void>;
  };
  /**
   * Presignature pool (docs/cluster-protocol.md "Presignature pool"); absent when the
   * scheme has no presignatures. `rounds.start` opens a presign session (no client
   * request), `rounds.pooled` is a sign START with a presignature, answered in one round.
   */
  readonly presign?: {
    readonly rounds: { readonly start: number; readonly pooled: number };
    /** The presign session of `body.keyId` at `body.epoch`: this signer's share of one presignature, sealed, then PRESIGNED. */
    start(ctx: SessionContext, proposalId: Uint8Array, body: SignPoolBody, suite: string): Session;
    /**
     * The pooled sign with the authorised share and the claimed presignature: consumes it (at once; a refusal throws),
     * then, once the consume is committed, answers SHARE; the promise settles then. The caller wipes the share once it settles.
     */
    sign(ctx: SessionContext, proposalId: Uint8Array, body: SignStartBody, share: HeldShare, claimed: { id: string; quorum: ParticipantRef[]; instancePoint: Uint8Array }): Promise<void>;
  };
}

/** Bodies keyed by signer id as the crypto rounds take them: by participant index, in `refs` order. */
export function byIndex<T>(refs: readonly ParticipantRef[], bodies: ReadonlyMap<string, unknown>): [number, T][] {
  return refs.map((p) => [p.index, bodies.get(p.signer) as T]);
}

/** Packages addressed by participant index as the engine sends them: by signer id, in `refs` order. */
export function bySigner<T>(refs: readonly ParticipantRef[], packages: ReadonlyMap<number, T>): Map<string, T> {
  return new Map(refs.map((p) => [p.signer, packages.get(p.index)!]));
}
