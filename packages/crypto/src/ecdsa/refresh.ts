/**
 * Key refresh for DKLs23 keys: same group key Y, same parties and threshold, new Feldman
 * shares, and fresh pairwise OT state and zero-sharing seeds (the DKLs23 setup of Protocol
 * 3.6 run again; eprint 2023/765 §3 notes that the OT state may be refreshed together with
 * the shares). The share part is the FROST engine's proactive refresh (`frost/refresh.ts`
 * on `frost-secp256k1`: zero-constant polynomials, so Y stays and every s_j, Y_j changes);
 * the pair part is the DKG's (`pairs.ts`). Rounds, like the DKG's:
 *  1. broadcast: commitments to the zero-constant polynomial (FROST refresh round 1);
 *  2. point to point (encrypted by the transport): the refresh share and a new pair setup
 *     (base OTs in both directions, zero-seed contribution), bound to the refresh context
 *     and every round-1 commitment;
 *  3. local: verify the refresh shares (FROST) and the OT proofs; every failing sender is named.
 * Old and new shares do not mix: the Feldman shares lie on different polynomials and the
 * OT seeds and zero seeds are unrelated, so a quorum mixing epochs fails to sign (and the
 * caller should erase the old share once the new one is stored).
 */
import { lengthPrefixed } from '../bytes.ts';
import { refreshRound1, refreshRound2, refreshRound3, type RefreshRound1Package, type RefreshRound1Secret, type RefreshRound2Package, type RefreshRound2Secret } from '../frost/refresh.ts';
import type { ParticipantId } from '../frost/suite.ts';
import { redacted } from '../redact.ts';
import { assertObject, hash, u32, type Rng } from './common.ts';
import { finishPairs } from './dkg.ts';
import { assertEcdsaKeyShare, makeEcdsaKeyShare, type EcdsaKeyShare } from './keyshare.ts';
import { pairSetupStart, type PairSetupMessage, type PairSetupSecret } from './pairs.ts';

export interface EcdsaRefreshParams {
  /** 32 bytes, derived by the protocol layer from every participant's fresh contribution. */
  sessionId: Uint8Array;
  /** The current share; its public package fixes participants, threshold and Y. */
  keyShare: EcdsaKeyShare;
}

/** Round 1 broadcast: the FROST refresh commitments (a_0 = 0 implicit). */
export type EcdsaRefreshRound1Package = RefreshRound1Package;

/** Round 2, point to point (encrypted by the transport: it carries a share and a zero-seed half). */
export interface EcdsaRefreshRound2Package extends RefreshRound2Package {
  pairSetup: PairSetupMessage;
}

export interface EcdsaRefreshRound1Secret {
  readonly frost: RefreshRound1Secret;
}
export interface EcdsaRefreshRound2Secret {
  readonly frost: RefreshRound2Secret;
  readonly context: Uint8Array;
  readonly pairs: Map<ParticipantId, PairSetupSecret>;
}

export function ecdsaRefreshRound1(params: EcdsaRefreshParams, rng?: Rng): { secret: EcdsaRefreshRound1Secret; package: EcdsaRefreshRound1Package } {
  assertObject(params, 'refresh.params');
  const share = assertEcdsaKeyShare(params.keyShare, 'refresh.keyShare');
  const r = refreshRound1({ sessionId: params.sessionId, keyShare: share.frost }, rng);
  return { secret: redacted({ frost: r.secret }, `EcdsaRefreshRound1Secret #${share.frost.id}`), package: r.package };
}

export function ecdsaRefreshRound2(secret: EcdsaRefreshRound1Secret, round1: EcdsaRefreshRound1Package[], rng?: Rng): { secret: EcdsaRefreshRound2Secret; packages: EcdsaRefreshRound2Package[] } {
  assertObject(secret, 'refresh.secret');
  const r = refreshRound2(secret.frost, round1);
  const self = secret.frost.state.keyShare.id;
  // The FROST refresh context binds the scheme, session id, threshold, parties and the whole current
  // public package; the pair setups are further bound to every party's round-1 commitments.
  const context = hash('refresh/pairs', secret.frost.state.context, ...r.secret.round1.map((x) => lengthPrefixed(u32(x.from), ...x.commitment)));
  const pairs = new Map<ParticipantId, PairSetupSecret>();
  const packages = r.packages.map((pkg) => {
    const setup = pairSetupStart(context, self, pkg.to, rng);
    pairs.set(pkg.to, setup.secret);
    return redacted({ ...pkg, pairSetup: setup.message }, `EcdsaRefreshRound2Package ${self}->${pkg.to}`);
  });
  return { secret: redacted({ frost: r.secret, context, pairs }, `EcdsaRefreshRound2Secret #${self}`), packages };
}

/** The new key share (same Y); the caller replaces the old one atomically and erases it. */
export function ecdsaRefreshRound3(secret: EcdsaRefreshRound2Secret, round2: EcdsaRefreshRound2Package[], rng?: Rng): { keyShare: EcdsaKeyShare; transcriptHash: Uint8Array } {
  assertObject(secret, 'refresh.secret');
  const out = refreshRound3(secret.frost, round2);
  const self = out.keyShare.id;
  const inbound = new Map(round2.map((pkg) => [pkg.from, pkg]));
  const pairs = finishPairs(secret.context, self, secret.pairs, inbound, 'refresh.round2', rng);
  return { keyShare: makeEcdsaKeyShare(out.keyShare, pairs), transcriptHash: out.transcriptHash };
}
