/**
 * The contract of a signature scheme on the coordinator side: its signing attempt
 * (one quorum, one session) and what the scheme-generic drivers need to know of it.
 * Each scheme implements it in one file (frost-attempt.ts, ecdsa-attempt.ts);
 * schemes.ts registers them by suite.
 */
import { bytesToHex } from '@noble/hashes/utils.js';
import type { SigningTarget } from '@keyquorum/crypto';
import type { ParticipantRef } from '@keyquorum/protocol';
import type { Logger } from '@keyquorum/protocol/logger';
import { isSessionFault } from '../errors.ts';
import type { Inbox, RoundTable } from './inbox.ts';
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
  /** Its signers pool commitments ahead of the message (nonce-pool.ts; FROST: RFC 9591 §5.1). */
  noncePool?: true;
  /** Why this scheme's keys cannot be reshared yet, or undefined when they can. */
  reshareUnsupported?: string;
  /** Why a lost share of this scheme's keys cannot be repaired, or undefined when it can. */
  repairUnsupported?: string;
}

/**
 * The culprits of a failed attempt that the coordinator checked itself, for the ABORT it
 * sends the quorum: a signer's ABORT names suspects it alone can vouch for, and they are
 * not passed on as culprits.
 */
/**
 * A signer refused what was pooled for it (a FROST commitment or an ECDSA presignature: unknown here,
 * already consumed or discarded, in the nonce journal's words): the attempt falls back to the full protocol.
 */
export function isPoolMiss(e: unknown): e is Error {
  return isSessionFault(e) && e.fault.reason === 'abort' && /aborted: NONCE_(UNKNOWN|CONSUMED|DISCARDED)\b/.test(e.message);
}

export function provenCulprits(e: unknown): string[] {
  return isSessionFault(e) && e.fault.reason !== 'abort' ? [...e.culprits] : [];
}

/** One open signing attempt, as a scheme's attempt body sees it. */
export interface AttemptSession {
  inbox: Inbox;
  /** The proposal id (START, CONTRIBUTIONS and the ABORT go under it). */
  proposal: Uint8Array;
  /** The quorum's signer ids. */
  ids: string[];
  log: Logger;
}

/**
 * Opens one signing attempt's session with `quorum` and runs the scheme's `body` on it,
 * the same for every scheme: a failure ABORTs the quorum (passing on only the culprits
 * a fault proves) and is rethrown; the session is closed either way.
 */
export async function runAttempt<T>(rt: SessionRuntime, r: SignRequest, quorum: readonly ParticipantRef[], rounds: RoundTable, body: (s: AttemptSession) => Promise<T>): Promise<T> {
  const ids = quorum.map((p) => p.signer);
  const { inbox, proposal } = rt.open('sign', r.key.suite, rounds, ids);
  const log = rt.log.child({ kind: 'sign', suite: r.key.suite, keyId: r.key.id, epoch: r.key.epoch, session: bytesToHex(proposal) });
  try {
    log.info('sign attempt started', { quorum: ids });
    return await body({ inbox, proposal, ids, log });
  } catch (e) {
    log.warn('sign attempt aborted', { reason: (e as Error).message });
    rt.abort(inbox, ids, proposal, e, provenCulprits(e));
    throw e;
  } finally {
    rt.close(inbox);
  }
}
