/**
 * The contract of a signature scheme on the coordinator side: its signing attempt
 * (one quorum, one session) and what the scheme-generic drivers need to know of it.
 * Each scheme implements it in one file (frost-attempt.ts, ecdsa-attempt.ts);
 * schemes.ts registers them by suite.
 */
import type { SigningTarget } from '@keyquorum/crypto';
import type { ParticipantRef } from '@keyquorum/protocol';
import { isSessionFault } from '../errors.ts';
import type { SignRequest } from './requests.ts';
import type { SessionRuntime } from './runtime.ts';

export interface AttemptSignature {
  signature: Uint8Array;
  /** Recoverable schemes (ECDSA): the recovery id of `signature`. */
  recoveryId?: number;
}

export interface SchemeDriver {
  /**
   * One signing attempt with `quorum` (t participants of the key, connected and not
   * banned). Throws a session fault naming whom the next attempt leaves out.
   */
  signAttempt(rt: SessionRuntime, r: SignRequest, quorum: readonly ParticipantRef[], target: SigningTarget): Promise<AttemptSignature>;
  /**
   * What a signer's ABORT naming quorum members means (no accusation is taken on
   * faith; signing.ts). 'refusal' (FROST): the coordinator judges every signature share
   * itself (RFC 9591 §5.4), so an ABORT only leaves its sender out of the request.
   * 'conflict' (DKLs23): the accuser checked pairwise messages encrypted to it, which
   * nobody else can check, so the accuser and each accused become a conflicting pair,
   * kept apart in later quorums; nobody is banned for it.
   */
  accusation: 'refusal' | 'conflict';
  /** Round timeouts per key-session round (DKLs23 key sessions make and check pairwise base OTs). */
  keyRoundTimeoutFactor: number;
  /**
   * Why a message cannot be signed by this scheme as given, or undefined when it can
   * (ECDSA signs a 32-byte digest; FROST signs any message up to the wire's cap).
   */
  refuseMessage(message: Uint8Array): string | undefined;
  /** Why this scheme's keys cannot be reshared yet, or undefined when they can. */
  reshareUnsupported?: string;
}

/**
 * The culprits of a failed attempt that the coordinator checked itself, for the ABORT it
 * sends the quorum: a signer's ABORT names suspects it alone can vouch for, and they are
 * not passed on as culprits.
 */
export function provenCulprits(e: unknown): string[] {
  return isSessionFault(e) && e.fault.reason !== 'abort' ? [...e.culprits] : [];
}
