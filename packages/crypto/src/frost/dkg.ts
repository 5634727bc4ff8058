/**
 * Distributed key generation: Pedersen's DKG with Feldman VSS and a Schnorr proof of
 * knowledge of each constant term (Komlo-Goldberg FROST §5.1, KeyGen; the
 * three-part API of frost-rs `keys::dkg`). No dealer, no party ever holds the key.
 *
 * keyquorum binds every proof to the run: the challenge is
 *   c = H_DKG(context || id || C_0 || R),  context = H(suite, session id, t, participants)
 * so a proof made for another session, participant set or threshold does not verify.
 * With an empty context the challenge is exactly frost-rs' (its DKG vectors check that).
 *
 * Each participant also contributes 32 random bytes; the chain code for
 * non-hardened derivation is a hash of all of them and the context.
 */
import { concatBytes, equalBytes, lengthPrefixed, u32be } from '../bytes.ts';
import { CryptoError } from '../errors.ts';
import { redacted } from '../redact.ts';
import { commit, evaluate, evaluateCommitment, randomPolynomial, sumCommitments, type Polynomial } from '../vss/polynomial.ts';
import { CHAIN_CODE_LENGTH, makeKeyShare, type KeyShare, type PublicKeyPackage } from './keys.ts';
import {
  assertBytes,
  assertMember,
  assertParticipants,
  assertThreshold,
  getSuite,
  parsePoint,
  parseScalar,
  pointToBytes,
  randomScalar,
  scalarToBytes,
  type GroupPoint,
  type ParticipantId,
  type Rng,
  type Suite,
  type SuiteId,
} from './suite.ts';
import { protocolContext, SESSION_ID_LENGTH, taggedHash } from './transcript.ts';

export interface DkgParams {
  suite: SuiteId;
  /** 32 bytes, derived by the protocol layer from every participant's fresh contribution. */
  sessionId: Uint8Array;
  /** This participant. */
  self: ParticipantId;
  /** The whole key set. */
  participants: ParticipantId[];
  threshold: number;
}

/** Round 1, broadcast to every participant. */
export interface DkgRound1Package {
  from: ParticipantId;
  /** Feldman commitments C_k = a_k * G, k = 0..t-1. */
  commitment: Uint8Array[];
  /** R || mu: Schnorr proof of knowledge of a_0, bound to the run's context. */
  proofOfKnowledge: Uint8Array;
  /** 32 random bytes towards the chain code. */
  chainCodeContribution: Uint8Array;
}

/** Round 2, sent point to point (encrypted by the transport): f_from(to). */
export interface DkgRound2Package {
  from: ParticipantId;
  to: ParticipantId;
  signingShare: Uint8Array;
}

interface Normalized {
  suite: Suite;
  sessionId: Uint8Array;
  self: ParticipantId;
  participants: ParticipantId[];
  threshold: number;
  context: Uint8Array;
}

/** Kept by the participant between rounds 1 and 2; never sent. */
export interface DkgRound1Secret {
  readonly params: Normalized;
  readonly coefficients: Polynomial;
  readonly package: DkgRound1Package;
}

/** Kept between rounds 2 and 3; never sent. */
export interface DkgRound2Secret {
  readonly params: Normalized;
  /** f_self(self). */
  readonly ownShare: bigint;
  /** Every participant's round-1 package, ascending by id (own included). */
  readonly round1: DkgRound1Package[];
  readonly commitments: Map<ParticipantId, GroupPoint[]>;
}

export interface DkgOutput {
  keyShare: KeyShare;
  /** Hash of every round-1 package and the context: all participants must agree on it. */
  transcriptHash: Uint8Array;
}

function normalize(params: DkgParams): Normalized {
  if (typeof params !== 'object' || params === null) throw new CryptoError('BAD_FIELD', { field: 'dkg.params' });
  const suite = getSuite(params.suite, 'dkg.suite');
  const sessionId = assertBytes(params.sessionId, SESSION_ID_LENGTH, 'dkg.sessionId');
  const participants = assertParticipants(params.participants, 'dkg.participants', { min: 2 });
  const threshold = assertThreshold(params.threshold, participants.length, 'dkg.threshold');
  const self = assertMember(params.self, participants, 'dkg.self');
  const context = protocolContext('dkg', suite.id, sessionId, threshold, participants);
  return { suite, sessionId: sessionId.slice(), self, participants, threshold, context };
}

/** frost-rs `challenge` of the DKG proof of knowledge, prefixed with keyquorum's context. */
export function proofOfKnowledgeChallenge(suite: Suite, context: Uint8Array, id: ParticipantId, c0: GroupPoint, R: GroupPoint): bigint {
  return suite.hashDkg(concatBytes(context, scalarToBytes(suite, BigInt(id)), pointToBytes(c0), pointToBytes(R)));
}

/** Verifies a round-1 proof of knowledge; throws INVALID_PROOF naming `id`. */
export function verifyProofOfKnowledge(suite: Suite, context: Uint8Array, id: ParticipantId, commitment: GroupPoint[], proof: Uint8Array, field: string): void {
  assertBytes(proof, suite.pointLength + suite.scalarLength, field);
  const R = parsePoint(suite, proof.subarray(0, suite.pointLength), `${field}.R`);
  const mu = parseScalar(suite, proof.subarray(suite.pointLength), `${field}.mu`, { allowZero: true });
  const c = proofOfKnowledgeChallenge(suite, context, id, commitment[0]!, R);
  // mu*G - c*C_0 == R (public values: variable time is fine)
  const lhs = suite.Point.BASE.multiplyUnsafe(mu).subtract(commitment[0]!.multiplyUnsafe(c));
  if (!lhs.equals(R)) throw new CryptoError('INVALID_PROOF', { field, culprits: [id] });
}

/** Round 1: sample the polynomial, commit to it, prove knowledge of its constant term. */
export function dkgRound1(params: DkgParams, rng?: Rng): { secret: DkgRound1Secret; package: DkgRound1Package } {
  const p = normalize(params);
  const { suite } = p;
  const coefficients = randomPolynomial(suite, randomScalar(suite, rng), p.threshold - 1, rng);
  const commitment = commit(suite, coefficients);
  const k = randomScalar(suite, rng);
  const R = suite.Point.BASE.multiply(k);
  const c = proofOfKnowledgeChallenge(suite, p.context, p.self, commitment[0]!, R);
  const mu = suite.Fn.add(k, suite.Fn.mul(coefficients[0]!, c));
  const chainCodeContribution = rng ? rng(CHAIN_CODE_LENGTH) : crypto.getRandomValues(new Uint8Array(CHAIN_CODE_LENGTH));
  const pkg: DkgRound1Package = {
    from: p.self,
    commitment: commitment.map(pointToBytes),
    proofOfKnowledge: concatBytes(pointToBytes(R), scalarToBytes(suite, mu)),
    chainCodeContribution: assertBytes(chainCodeContribution, CHAIN_CODE_LENGTH, 'rng output').slice(),
  };
  const secret = redacted({ params: p, coefficients, package: pkg }, `DkgRound1Secret #${p.self}`);
  return { secret, package: pkg };
}

/** Checks one participant's round-1 package; returns its parsed commitment. */
export function checkRound1Package(p: Normalized, pkg: DkgRound1Package, field: string): GroupPoint[] {
  const { suite } = p;
  if (typeof pkg !== 'object' || pkg === null) throw new CryptoError('BAD_FIELD', { field });
  if (!Array.isArray(pkg.commitment) || pkg.commitment.length !== p.threshold)
    throw new CryptoError('INVALID_COMMITMENT', { field: `${field}.commitment`, culprits: [pkg.from], message: `INVALID_COMMITMENT: participant ${pkg.from} must commit to ${p.threshold} coefficients` });
  const commitment = pkg.commitment.map((c, k) => parsePoint(suite, c, `${field}.commitment[${k}]`));
  assertBytes(pkg.chainCodeContribution, CHAIN_CODE_LENGTH, `${field}.chainCodeContribution`);
  verifyProofOfKnowledge(suite, p.context, pkg.from, commitment, pkg.proofOfKnowledge, `${field}.proofOfKnowledge`);
  return commitment;
}

/** Sorts packages by sender, checking they are exactly `expected` with no duplicates. */
export function collectBySender<T extends { from: ParticipantId }>(packages: T[], expected: readonly ParticipantId[], field: string): Map<ParticipantId, T> {
  if (!Array.isArray(packages)) throw new CryptoError('BAD_FIELD', { field });
  const out = new Map<ParticipantId, T>();
  packages.forEach((pkg, i) => {
    const from = pkg?.from;
    if (typeof from !== 'number' || !expected.includes(from))
      throw new CryptoError('BAD_PARTICIPANT', { field: `${field}[${i}].from`, message: `BAD_PARTICIPANT: ${field}[${i}] is from an unexpected participant ${String(from)}` });
    if (out.has(from)) throw new CryptoError('BAD_PARTICIPANT', { field: `${field}[${i}].from`, culprits: [from], message: `BAD_PARTICIPANT: two packages from participant ${from}` });
    out.set(from, pkg);
  });
  const missing = expected.filter((id) => !out.has(id));
  if (missing.length > 0) throw new CryptoError('BAD_PARTICIPANT', { field, message: `BAD_PARTICIPANT: ${field} lacks packages from ${missing.join(',')}` });
  return out;
}

/**
 * Round 2: check every other participant's round-1 package (commitment length and
 * proof of knowledge bound to this run), then evaluate our polynomial for each of them.
 * Failing senders are all named in `culprits`.
 */
export function dkgRound2(secret: DkgRound1Secret, round1: DkgRound1Package[]): { secret: DkgRound2Secret; packages: DkgRound2Package[] } {
  const p = secret.params;
  const { suite } = p;
  const others = p.participants.filter((id) => id !== p.self);
  const bySender = collectBySender(round1, others, 'dkg.round1');
  const commitments = new Map<ParticipantId, GroupPoint[]>();
  commitments.set(p.self, secret.package.commitment.map((c, k) => parsePoint(suite, c, `own.commitment[${k}]`)));
  const culprits: number[] = [];
  let firstError: CryptoError | undefined;
  for (const id of others) {
    try {
      commitments.set(id, checkRound1Package(p, bySender.get(id)!, `dkg.round1[${id}]`));
    } catch (e) {
      if (!(e instanceof CryptoError)) throw e;
      culprits.push(id);
      firstError ??= e;
    }
  }
  if (firstError) throw new CryptoError(firstError.code, { field: firstError.field, culprits });
  const packages = others.map((to) => redacted({ from: p.self, to, signingShare: scalarToBytes(suite, evaluate(suite, secret.coefficients, BigInt(to))) }, `DkgRound2Package ${p.self}->${to}`));
  const ownShare = evaluate(suite, secret.coefficients, BigInt(p.self));
  const all = [...others.map((id) => bySender.get(id)!), secret.package].sort((a, b) => a.from - b.from);
  const next = redacted({ params: p, ownShare, round1: all, commitments }, `DkgRound2Secret #${p.self}`);
  return { secret: next, packages };
}

/** Checks f_from(self)*G against the sender's commitment; returns the share. */
export function checkReceivedShare(suite: Suite, self: ParticipantId, from: ParticipantId, share: Uint8Array, commitment: GroupPoint[], field: string): bigint {
  const s = parseScalar(suite, share, field, { allowZero: true });
  const expected = evaluateCommitment(suite, commitment, BigInt(self));
  if (!suite.Point.BASE.multiplyUnsafe(s).equals(expected))
    throw new CryptoError('INVALID_SHARE', { field, culprits: [from], message: `INVALID_SHARE: the share from participant ${from} fails its commitment check` });
  return s;
}

/** Verifying shares Y_j = F(j)*G from the summed commitment F. */
export function verifyingSharesFrom(suite: Suite, summed: GroupPoint[], participants: readonly ParticipantId[]): Record<ParticipantId, Uint8Array> {
  const out: Record<ParticipantId, Uint8Array> = {};
  for (const j of participants) out[j] = pointToBytes(evaluateCommitment(suite, summed, BigInt(j)));
  return out;
}

/**
 * Round 3: check every received share against its sender's commitment (all failing
 * senders are named), sum them into s_self, and compute the group key, every
 * verifying share, the chain code and the transcript hash.
 */
export function dkgRound3(secret: DkgRound2Secret, round2: DkgRound2Package[]): DkgOutput {
  const p = secret.params;
  const { suite } = p;
  const others = p.participants.filter((id) => id !== p.self);
  const bySender = collectBySender(round2, others, 'dkg.round2');
  let share = secret.ownShare;
  const culprits: number[] = [];
  for (const id of others) {
    const pkg = bySender.get(id)!;
    if (pkg.to !== p.self) throw new CryptoError('BAD_PARTICIPANT', { field: `dkg.round2[${id}].to`, culprits: [id] });
    try {
      share = suite.Fn.add(share, checkReceivedShare(suite, p.self, id, pkg.signingShare, secret.commitments.get(id)!, `dkg.round2[${id}].signingShare`));
    } catch (e) {
      if (!(e instanceof CryptoError)) throw e;
      culprits.push(id);
    }
  }
  if (culprits.length > 0)
    throw new CryptoError('INVALID_SHARE', { field: 'dkg.round2', culprits, message: `INVALID_SHARE: shares from participant(s) ${culprits.join(',')} fail their commitment check` });
  const summed = sumCommitments(suite, [...secret.commitments.values()]);
  const groupKey = summed[0]!;
  if (groupKey.is0()) throw new CryptoError('INVALID_COMMITMENT', { field: 'dkg.groupKey', message: 'INVALID_COMMITMENT: the group key is the identity' });
  const verifyingShares = verifyingSharesFrom(suite, summed, p.participants);
  const chainCode = taggedHash('keyquorum/dkg/chaincode/v1', p.context, ...secret.round1.map((r) => lengthPrefixed(u32be(r.from), r.chainCodeContribution)));
  const transcriptHash = taggedHash(
    'keyquorum/dkg/transcript/v1',
    p.context,
    ...secret.round1.map((r) => lengthPrefixed(u32be(r.from), ...r.commitment, r.proofOfKnowledge, r.chainCodeContribution)),
  );
  const publicKey: PublicKeyPackage = {
    suite: suite.id,
    threshold: p.threshold,
    participants: [...p.participants],
    groupKey: pointToBytes(groupKey),
    verifyingShares,
    chainCode,
  };
  const keyShare = makeKeyShare({ suite: suite.id, id: p.self, signingShare: scalarToBytes(suite, share), publicKey });
  if (!equalBytes(pointToBytes(suite.Point.BASE.multiply(share)), verifyingShares[p.self]!))
    throw new CryptoError('SHARE_MISMATCH', { field: 'dkg.signingShare' });
  return { keyShare, transcriptHash };
}
