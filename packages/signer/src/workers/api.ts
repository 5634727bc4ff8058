/**
 * What a session asks of the crypto runner (`pool.ts`): one key protocol's rounds
 * (DKG, refresh, reshare), or one ecdsa-secp256k1 signing's rounds (DKLs23: round 1,
 * round 2 with the OT-extension checks, presign with the step-8 checks, round 3), as
 * asynchronous calls, so that a round that takes seconds of CPU (a DKLs23 DKG round 3
 * at n = 5: the base OTs of every pair) or hundreds of milliseconds (a signing round 2)
 * runs on a worker thread and the event loop keeps answering heartbeats (issue 10,
 * finding 6). The rounds themselves are the scheme driver's (`schemes/`), pure
 * functions of their secret state and the inbound bodies; the runner keeps that state
 * where the rounds run, so it never crosses a thread (it holds curve points and suite
 * objects that a structured clone cannot carry), and only inbound bodies and outbound
 * results do.
 */
import type { ParticipantRef, ReshareStartBody } from '@keyquorum/protocol';
import type { PublicKeyPackage, ecdsa } from '@keyquorum/crypto';
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

/** An ecdsa-secp256k1 signing's rounds over a share they own (and wipe); plain data, as `KeyRoundsSpec`. */
export interface EcdsaSignSpec {
  op: 'ecdsa-sign';
  share: HeldShare;
}

/** A job a crypto runner opens: a key protocol or an ecdsa-secp256k1 signing. */
export type JobSpec = KeyRoundsSpec | EcdsaSignSpec;

/** Round 1's output: the journal entry to seal, then what is sent. */
export interface EcdsaSignRound1Out {
  /**
   * r_i || phi_i (64 bytes), for the nonce journal only: the caller seals it before
   * anything below leaves the process, then zeroes it. Never logged, never sent.
   */
  nonce: Uint8Array;
  /** The broadcast commitment to R_i. */
  commitment: Uint8Array;
  /** The RVOLE message to each peer (participant index). */
  direct: { to: number; mul: ecdsa.MulMessage1 }[];
}

/**
 * DKLs23 signing (Protocol 3.6) as the signing session awaits it; the instance key,
 * the mask, the OT-derived state and the presignature stay where the rounds run.
 * `round3` computes the share only from the journal entry the caller has durably
 * consumed (it must hold this session's phi_i, else NONCE_MISMATCH).
 */
export interface AsyncEcdsaSignRounds {
  round1(params: ecdsa.SignParams): Promise<EcdsaSignRound1Out>;
  /** Checks every peer's round-1 messages (the OT extension): the R2 message to each peer. */
  round2(r1: { broadcasts: ecdsa.SignRound1Broadcast[]; direct: ecdsa.SignRound1Direct[] }): Promise<ecdsa.SignRound2Direct[]>;
  /** Every step-8 check; the presignature stays with the rounds, the public instance point R comes back. */
  presign(direct: ecdsa.SignRound2Direct[]): Promise<{ instancePoint: Uint8Array }>;
  /** Step 9 on the consumed journal entry (r_i || phi_i) and the 32-byte digest: (w_i, u_i). */
  round3(input: { journalled: Uint8Array; digest: Uint8Array }): Promise<{ w: Uint8Array; u: Uint8Array }>;
  /**
   * Presignature pool, instead of round 3: the presignature's secret u_i || v_i || phi_i
   * (96 bytes, `ecdsa.exportPresignature`) for the caller to seal, then zero; the rounds keep nothing.
   */
  keep(): Promise<Uint8Array>;
  /** Drops the rounds' secret state wherever it lives; a call still running is refused. */
  wipe(): void;
}

/** Runs heavy crypto off the event loop (or inline, with `cryptoWorkers: 0`). */
export interface CryptoRunner {
  keyRounds(spec: KeyRoundsSpec): AsyncKeyRounds;
  /** The signing rounds over `share`, which they own from now on (the caller's copy is wiped when it crosses). */
  ecdsaSignRounds(share: HeldShare): AsyncEcdsaSignRounds;
}
