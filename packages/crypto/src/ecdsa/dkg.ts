/**
 * DKLs23 key generation (eprint 2023/765 §3, Protocol 3.6 setup): the Feldman DKG with
 * proofs of knowledge is the FROST engine's (`frost/dkg.ts` on `frost-secp256k1`: the
 * maths is the same), which also yields Y, the verifying shares and the chain code;
 * round 2 adds, for every pair, base OTs in both directions and a zero-sharing seed
 * (pairs.ts). Rounds:
 *  1. broadcast: FROST round-1 package (commitments, proof of knowledge, chain-code share);
 *  2. point to point (encrypted by the transport): the Feldman share and the pair setup;
 *  3. local: verify shares (FROST) and OT proofs; every failing sender is named.
 */
import { CryptoError } from '../errors.ts';
import { dkgRound1, dkgRound2, dkgRound3, type DkgRound1Package, type DkgRound1Secret, type DkgRound2Secret } from '../frost/dkg.ts';
import type { ParticipantId } from '../frost/suite.ts';
import { redacted } from '../redact.ts';
import { assertObject, FROST_SUITE, hash, type Rng } from './common.ts';
import { makeEcdsaKeyShare, type EcdsaKeyShare } from './keyshare.ts';
import { pairSetupFinish, pairSetupStart, type PairSetupMessage, type PairSetupSecret, type PairState } from './pairs.ts';

export interface EcdsaDkgParams {
  /** 32 bytes, derived by the protocol layer from every participant's fresh contribution. */
  sessionId: Uint8Array;
  self: ParticipantId;
  participants: ParticipantId[];
  /** 2 <= threshold <= participants (1-of-n is rejected with BAD_THRESHOLD). */
  threshold: number;
}

export type EcdsaDkgRound1Package = DkgRound1Package;

export interface EcdsaDkgRound2Package {
  from: ParticipantId;
  to: ParticipantId;
  signingShare: Uint8Array;
  pairSetup: PairSetupMessage;
}

export interface EcdsaDkgRound1Secret {
  readonly frost: DkgRound1Secret;
}
export interface EcdsaDkgRound2Secret {
  readonly frost: DkgRound2Secret;
  readonly context: Uint8Array;
  readonly pairs: Map<ParticipantId, PairSetupSecret>;
}

export function ecdsaDkgRound1(params: EcdsaDkgParams, rng?: Rng): { secret: EcdsaDkgRound1Secret; package: EcdsaDkgRound1Package } {
  assertObject(params, 'dkg.params');
  const r = dkgRound1({ suite: FROST_SUITE, sessionId: params.sessionId, self: params.self, participants: params.participants, threshold: params.threshold }, rng);
  return { secret: redacted({ frost: r.secret }, `EcdsaDkgRound1Secret #${params.self}`), package: r.package };
}

export function ecdsaDkgRound2(secret: EcdsaDkgRound1Secret, round1: EcdsaDkgRound1Package[], rng?: Rng): { secret: EcdsaDkgRound2Secret; packages: EcdsaDkgRound2Package[] } {
  assertObject(secret, 'dkg.secret');
  const r = dkgRound2(secret.frost, round1);
  const p = secret.frost.params;
  // Bound to the DKG context (suite, session id, threshold, participants) and to the round-1 transcript.
  const context = hash('dkg/pairs', p.context, ...r.secret.round1.map((x) => x.proofOfKnowledge));
  const pairs = new Map<ParticipantId, PairSetupSecret>();
  const packages = r.packages.map((pkg) => {
    const setup = pairSetupStart(context, p.self, pkg.to, rng);
    pairs.set(pkg.to, setup.secret);
    // Carries the Feldman share and a zero-seed half: redacted in logs like the FROST package it extends.
    return redacted({ ...pkg, pairSetup: setup.message }, `EcdsaDkgRound2Package ${p.self}->${pkg.to}`);
  });
  return { secret: redacted({ frost: r.secret, context, pairs }, `EcdsaDkgRound2Secret #${p.self}`), packages };
}

/** Finishes the pair setups of a round (shared with refresh); names every failing sender. */
export function finishPairs(context: Uint8Array, self: ParticipantId, secrets: Map<ParticipantId, PairSetupSecret>, inbound: Map<ParticipantId, { pairSetup: PairSetupMessage }>, field: string, rng?: Rng): Record<ParticipantId, PairState> {
  const pairs: Record<ParticipantId, PairState> = {};
  const culprits: number[] = [];
  let first: CryptoError | undefined;
  for (const [j, secret] of secrets) {
    try {
      pairs[j] = pairSetupFinish(context, self, j, secret, inbound.get(j)!.pairSetup, `${field}[${j}].pairSetup`, rng);
    } catch (e) {
      if (!(e instanceof CryptoError)) throw e;
      culprits.push(j);
      first ??= e;
    }
  }
  if (first) throw new CryptoError(first.code, { field: first.field, culprits });
  return pairs;
}

export function ecdsaDkgRound3(secret: EcdsaDkgRound2Secret, round2: EcdsaDkgRound2Package[], rng?: Rng): { keyShare: EcdsaKeyShare; transcriptHash: Uint8Array } {
  assertObject(secret, 'dkg.secret');
  const out = dkgRound3(secret.frost, round2);
  const self = secret.frost.params.self;
  const inbound = new Map(round2.map((pkg) => [pkg.from, pkg]));
  const pairs = finishPairs(secret.context, self, secret.pairs, inbound, 'dkg.round2', rng);
  return { keyShare: makeEcdsaKeyShare(out.keyShare, pairs), transcriptHash: out.transcriptHash };
}
