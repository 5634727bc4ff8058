/**
 * The contract of a signature scheme on the coordinator side: its signing attempt
 * (one quorum, one session) and what the scheme-generic drivers need to know of it.
 * Each scheme implements it in one file (frost-attempt.ts, ecdsa-attempt.ts);
 * schemes.ts registers them by suite.
 */
import type { SigningTarget } from '@keyquorum/crypto';
import type { ParticipantRef } from '@keyquorum/protocol';
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
   * Whether every culprit a failed attempt names is banned for the key, whoever
   * reported it (the audit row of an ABORT then records the reporter): DKLs23 reuses
   * the pair's OT state. Otherwise (FROST) only a signer whose share the coordinator
   * itself failed to verify is banned.
   */
  bansEveryCulprit: boolean;
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
