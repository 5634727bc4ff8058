/**
 * What a threshold signature scheme plugs into the signer (ARCHITECTURE.md "a scheme
 * is a driver"): how its sealed secret is read and wiped, its key-session rounds
 * (DKG, refresh and, if it has one, reshare) on the one round shape the key-session
 * engine runs (`sessions/key-session.ts`), and its signing session. A driver is
 * registered for its suites in `schemes/index.ts`; nothing else branches on the scheme.
 */
import type { ParticipantRef, ReshareStartBody, SignStartBody } from '@keyquorum/protocol';
import type { PublicKeyPackage } from '@keyquorum/crypto';
import type { HeldShare, ShareCodec } from '../held-share.ts';
import type { SessionContext } from '../sessions/context.ts';
import type { Session } from '../sessions/session.ts';

/** What round 3 yields: the secret to seal and the public outcome every participant CONFIRMs. */
export interface KeyOutcome {
  secret: Uint8Array;
  publicKey: PublicKeyPackage;
  transcriptHash: Uint8Array;
}

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

export interface DkgParams {
  suite: string;
  participants: ParticipantRef[];
  /** This signer's participant index. */
  self: number;
  threshold: number;
}

export interface ReshareRoundsParams {
  body: ReshareStartBody;
  /** This signer's id. */
  signer: string;
  /** The old share when this signer deals, else undefined. */
  share: HeldShare | undefined;
}

export interface SchemeDriver extends ShareCodec {
  /** Rounds of a sign session the coordinator may send (START and ABORT included). */
  readonly signRounds: readonly number[];
  dkg(p: DkgParams): KeyRounds;
  /** The refresh rounds over the active share; they own (and wipe) it. */
  refresh(share: HeldShare): KeyRounds;
  /** Absent when the scheme cannot move a key to another signer set. */
  reshare?(p: ReshareRoundsParams): KeyRounds;
  /** The scheme's own checks of a sign START (message form, derivation target), run before the client request. */
  checkSign(share: HeldShare, body: SignStartBody): void;
  /** Starts signing with the authorised share; the caller wipes the share afterwards. */
  startSign(ctx: SessionContext, proposalId: Uint8Array, body: SignStartBody, share: HeldShare): Session;
}

/** Bodies keyed by signer id as the crypto rounds take them: by participant index, in `refs` order. */
export function byIndex<T>(refs: readonly ParticipantRef[], bodies: ReadonlyMap<string, unknown>): [number, T][] {
  return refs.map((p) => [p.index, bodies.get(p.signer) as T]);
}

/** Packages addressed by participant index as the engine sends them: by signer id, in `refs` order. */
export function bySigner<T>(refs: readonly ParticipantRef[], packages: ReadonlyMap<number, T>): Map<string, T> {
  return new Map(refs.map((p) => [p.signer, packages.get(p.index)!]));
}
