/**
 * Reshare: move a key to another participant set and/or threshold without ever
 * reconstructing it (Desmedt-Jajodia redistribution, made verifiable as in
 * Wong-Wang-Wing 2002). A quorum Q of old holders, |Q| >= t, each deals
 * h_i of degree t'-1 with h_i(0) = lambda_i^Q * s_i, broadcasts Feldman commitments
 * D_i and sends h_i(j) to every new member j. A new member checks
 * D_i[0] == lambda_i^Q * Y_i (so each dealer reshared its real share),
 * sum_i D_i[0] == Y (the group key is kept), and every h_i(j) against D_i; then
 * s'_j = sum_i h_i(j). Old shares are of another polynomial: they do not combine
 * with new ones.
 */
import { equalBytes, lengthPrefixed, u32be } from '../bytes.ts';
import { CryptoError } from '../errors.ts';
import { redacted } from '../redact.ts';
import { commit, evaluate, lagrange, randomPolynomial, sumCommitments } from '../vss/polynomial.ts';
import { checkReceivedShare, collectBySender, verifyingSharesFrom, type DkgRound2Package } from './dkg.ts';
import { assertKeyShare, assertPublicKeyPackage, makeKeyShare, type KeyShare, type PublicKeyPackage } from './keys.ts';
import {
  assertBytes,
  assertMember,
  assertParticipantId,
  assertParticipants,
  assertThreshold,
  parsePoint,
  pointToBytes,
  scalarToBytes,
  type GroupPoint,
  type ParticipantId,
  type Rng,
  type Suite,
} from './suite.ts';
import { idsBytes, protocolContext, SESSION_ID_LENGTH, taggedHash } from './transcript.ts';

export interface ReshareParams {
  sessionId: Uint8Array;
  /** The key's current public package. */
  oldPublicKey: PublicKeyPackage;
  /** The old holders that deal (a quorum: at least the old threshold of them). */
  dealers: ParticipantId[];
  /** The new key set. May overlap the old one. */
  newParticipants: ParticipantId[];
  newThreshold: number;
}

/** A dealer's broadcast: commitments to h_i (t' points). */
export interface ReshareCommitment {
  from: ParticipantId;
  commitment: Uint8Array[];
}

/** h_from(to), point to point (encrypted by the transport). */
export type ReshareSharePackage = DkgRound2Package;

interface Checked {
  suite: Suite;
  oldPublicKey: PublicKeyPackage;
  dealers: ParticipantId[];
  newParticipants: ParticipantId[];
  newThreshold: number;
  context: Uint8Array;
}

function checkParams(params: ReshareParams): Checked {
  if (typeof params !== 'object' || params === null) throw new CryptoError('BAD_FIELD', { field: 'reshare.params' });
  const suite = assertPublicKeyPackage(params.oldPublicKey, 'reshare.oldPublicKey');
  const sessionId = assertBytes(params.sessionId, SESSION_ID_LENGTH, 'reshare.sessionId');
  const old = params.oldPublicKey;
  const dealers = assertParticipants(params.dealers, 'reshare.dealers', { min: old.threshold, max: old.participants.length });
  dealers.forEach((d, i) => assertMember(d, old.participants, `reshare.dealers[${i}]`));
  const newParticipants = assertParticipants(params.newParticipants, 'reshare.newParticipants', { min: 2 });
  const newThreshold = assertThreshold(params.newThreshold, newParticipants.length, 'reshare.newThreshold');
  const context = protocolContext('reshare', suite.id, sessionId, newThreshold, newParticipants, lengthPrefixed(old.groupKey, idsBytes(dealers), u32be(old.threshold), idsBytes(old.participants)));
  return { suite, oldPublicKey: old, dealers, newParticipants, newThreshold, context };
}

/** A dealer (old holder in the quorum): commitments to broadcast and one share per new member. */
export function reshareDeal(params: ReshareParams, keyShare: KeyShare, rng?: Rng): { commitment: ReshareCommitment; packages: ReshareSharePackage[] } {
  const c = checkParams(params);
  const suite = assertKeyShare(keyShare, 'reshare.keyShare');
  if (suite.id !== c.suite.id) throw new CryptoError('BAD_FIELD', { field: 'reshare.keyShare.suite' });
  assertMember(keyShare.id, c.dealers, 'reshare.keyShare.id');
  // A dealer holding a share of another epoch would be caught by every receiver; fail here first.
  if (!equalBytes(keyShare.publicKey.verifyingShares[keyShare.id]!, c.oldPublicKey.verifyingShares[keyShare.id]!) || !equalBytes(keyShare.publicKey.groupKey, c.oldPublicKey.groupKey))
    throw new CryptoError('SHARE_MISMATCH', { field: 'reshare.keyShare', message: 'SHARE_MISMATCH: this share is not of the public key being reshared (another epoch?)' });
  const lambda = lagrange(suite, c.dealers, keyShare.id);
  const constant = suite.Fn.mul(lambda, suite.Fn.fromBytes(keyShare.signingShare));
  const poly = randomPolynomial(suite, constant, c.newThreshold - 1, rng);
  const commitment = { from: keyShare.id, commitment: commit(suite, poly).map(pointToBytes) };
  const packages = c.newParticipants.map((to) => redacted({ from: keyShare.id, to, signingShare: scalarToBytes(suite, evaluate(suite, poly, BigInt(to))) }, `ReshareSharePackage ${keyShare.id}->${to}`));
  return { commitment, packages };
}

export interface ReshareOutput {
  keyShare: KeyShare;
  transcriptHash: Uint8Array;
}

/** Checks every dealer's commitment against its old verifying share; culprits are named. */
function checkCommitments(c: Checked, commitments: ReshareCommitment[]): Map<ParticipantId, GroupPoint[]> {
  const { suite, oldPublicKey } = c;
  const byDealer = collectBySender(commitments, c.dealers, 'reshare.commitments');
  const out = new Map<ParticipantId, GroupPoint[]>();
  const culprits: number[] = [];
  for (const i of c.dealers) {
    const pkg = byDealer.get(i)!;
    try {
      if (!Array.isArray(pkg.commitment) || pkg.commitment.length !== c.newThreshold) throw new CryptoError('INVALID_COMMITMENT', { culprits: [i] });
      const D = pkg.commitment.map((p, k) => parsePoint(suite, p, `reshare.commitments[${i}][${k}]`));
      const expected = parsePoint(suite, oldPublicKey.verifyingShares[i]!, `oldPublicKey.verifyingShares[${i}]`).multiplyUnsafe(lagrange(suite, c.dealers, i));
      if (!D[0]!.equals(expected)) throw new CryptoError('INVALID_COMMITMENT', { culprits: [i] });
      out.set(i, D);
    } catch (e) {
      if (!(e instanceof CryptoError)) throw e;
      culprits.push(i);
    }
  }
  if (culprits.length > 0)
    throw new CryptoError('INVALID_COMMITMENT', { field: 'reshare.commitments', culprits, message: `INVALID_COMMITMENT: dealer(s) ${culprits.join(',')} did not reshare their own share` });
  return out;
}

/** The new key set's public package, computable by anyone from the dealers' commitments. */
export function resharePublicKey(params: ReshareParams, commitments: ReshareCommitment[]): PublicKeyPackage {
  const c = checkParams(params);
  return publicFrom(c, checkCommitments(c, commitments));
}

function publicFrom(c: Checked, D: Map<ParticipantId, GroupPoint[]>): PublicKeyPackage {
  const { suite, oldPublicKey } = c;
  const summed = sumCommitments(suite, [...D.values()]);
  if (!summed[0]!.equals(parsePoint(suite, oldPublicKey.groupKey, 'oldPublicKey.groupKey')))
    throw new CryptoError('INVALID_COMMITMENT', { field: 'reshare.commitments', message: 'INVALID_COMMITMENT: the dealt polynomials do not sum to the group key' });
  return {
    suite: suite.id,
    threshold: c.newThreshold,
    participants: [...c.newParticipants],
    groupKey: oldPublicKey.groupKey.slice(),
    verifyingShares: verifyingSharesFrom(suite, summed, c.newParticipants),
    chainCode: oldPublicKey.chainCode.slice(),
  };
}

/** A new member: checks everything it received and assembles its new share. */
export function reshareReceive(params: ReshareParams, self: ParticipantId, commitments: ReshareCommitment[], packages: ReshareSharePackage[]): ReshareOutput {
  const c = checkParams(params);
  const { suite } = c;
  assertParticipantId(self, 'reshare.self');
  assertMember(self, c.newParticipants, 'reshare.self');
  const D = checkCommitments(c, commitments);
  const publicKey = publicFrom(c, D);
  const bySender = collectBySender(packages, c.dealers, 'reshare.packages');
  let s = 0n;
  const culprits: number[] = [];
  for (const i of c.dealers) {
    const pkg = bySender.get(i)!;
    try {
      if (pkg.to !== self) throw new CryptoError('BAD_PARTICIPANT', { culprits: [i] });
      s = suite.Fn.add(s, checkReceivedShare(suite, self, i, pkg.signingShare, D.get(i)!, `reshare.packages[${i}].signingShare`));
    } catch (e) {
      if (!(e instanceof CryptoError)) throw e;
      culprits.push(i);
    }
  }
  if (culprits.length > 0) throw new CryptoError('INVALID_SHARE', { field: 'reshare.packages', culprits, message: `INVALID_SHARE: reshared shares from ${culprits.join(',')} fail their commitment check` });
  const keyShare = makeKeyShare({ suite: suite.id, id: self, signingShare: scalarToBytes(suite, s), publicKey });
  assertKeyShare(keyShare, 'reshare.output');
  const transcriptHash = taggedHash('keyquorum/reshare/transcript/v1', c.context, ...c.dealers.map((i) => lengthPrefixed(u32be(i), ...D.get(i)!.map(pointToBytes))));
  return { keyShare, transcriptHash };
}
