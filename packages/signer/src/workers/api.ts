/**
 * What a session asks of the crypto runner (`pool.ts`): one key protocol's rounds
 * (DKG, refresh, reshare) as asynchronous calls, so that a round that takes seconds
 * of CPU (a DKLs23 DKG round 3 at n = 5: the base OTs of every pair) runs on a worker
 * thread and the event loop keeps answering heartbeats (issue 10, finding 6). The
 * rounds themselves are the scheme driver's (`schemes/`), pure functions of their
 * secret state and the inbound bodies; the runner keeps that state where the rounds
 * run, so it never crosses a thread (it holds curve points and suite objects that a
 * structured clone cannot carry), and only inbound bodies and outbound results do.
 */
import type { ParticipantRef, ReshareStartBody } from '@keyquorum/protocol';
import type { PublicKeyPackage } from '@keyquorum/crypto';
import type { HeldShare } from '../held-share.ts';

/** What round 3 yields: the secret to seal and the public outcome every participant CONFIRMs. */
export interface KeyOutcome {
  secret: Uint8Array;
  publicKey: PublicKeyPackage;
  transcriptHash: Uint8Array;
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

/**
 * Which key protocol to run, as plain data (it crosses to a worker by structured
 * clone). A refresh or a dealing reshare hands its share over: the runner owns it
 * from then on and wipes it (the caller's copy too, when the rounds run elsewhere).
 */
export type KeyRoundsSpec =
  | { op: 'dkg'; params: DkgParams }
  | { op: 'refresh'; share: HeldShare }
  | { op: 'reshare'; suite: string; params: ReshareRoundsParams };

/** A key protocol's rounds as the key session awaits them; bodies keyed by signer id. */
export interface AsyncKeyRounds {
  round1(sessionId: Uint8Array): Promise<unknown>;
  round2(r1: ReadonlyMap<string, unknown>): Promise<Map<string, { signingShare: Uint8Array }>>;
  round3(r2: ReadonlyMap<string, unknown>): Promise<KeyOutcome>;
  /** Drops the rounds' secret state wherever it lives; a call still running is refused. */
  wipe(): void;
}

/** Runs heavy crypto off the event loop (or inline, with `cryptoWorkers: 0`). */
export interface CryptoRunner {
  keyRounds(spec: KeyRoundsSpec): AsyncKeyRounds;
}
