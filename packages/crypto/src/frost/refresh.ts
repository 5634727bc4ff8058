/**
 * Proactive share refresh (Herzberg et al. 1995; frost-rs `keys::refresh`
 * refresh_dkg_part1/2/shares): same participants, same threshold, same group key,
 * new shares. Every participant deals a polynomial g_i of degree t-1 with g_i(0) = 0,
 * so sum_i g_i(0) = 0 and Y is unchanged, while every s_j and Y_j changes: old
 * shares no longer combine with new ones. The zero constant is enforced by
 * construction: only the commitments to a_1..a_{t-1} are sent, C_0 is the identity.
 * Like frost-rs, changing the threshold here is refused (that is a reshare).
 */
import { lengthPrefixed, u32be } from '../bytes.ts';
import { CryptoError } from '../errors.ts';
import { redacted } from '../redact.ts';
import { commit, evaluate, randomPolynomial, sumCommitments, type Polynomial } from '../vss/polynomial.ts';
import { checkReceivedShare, collectBySender, verifyingSharesFrom, type DkgRound2Package } from './dkg.ts';
import { assertKeyShare, makeKeyShare, type KeyShare } from './keys.ts';
import { assertBytes, parsePoint, pointToBytes, scalarToBytes, type GroupPoint, type ParticipantId, type Rng, type Suite } from './suite.ts';
import { protocolContext, SESSION_ID_LENGTH, taggedHash } from './transcript.ts';

export interface RefreshParams {
  sessionId: Uint8Array;
  /** The current share; its public package fixes participants and threshold. */
  keyShare: KeyShare;
}

/** Round 1 broadcast: commitments to a_1..a_{t-1} (a_0 = 0 is implicit). */
export interface RefreshRound1Package {
  from: ParticipantId;
  commitment: Uint8Array[];
}

/** Round 2, point to point (encrypted by the transport): g_from(to). */
export type RefreshRound2Package = DkgRound2Package;

interface RefreshState {
  suite: Suite;
  keyShare: KeyShare;
  context: Uint8Array;
}

export interface RefreshRound1Secret {
  readonly state: RefreshState;
  readonly coefficients: Polynomial;
  readonly package: RefreshRound1Package;
}

export interface RefreshRound2Secret {
  readonly state: RefreshState;
  readonly ownShare: bigint;
  readonly commitments: Map<ParticipantId, GroupPoint[]>;
  readonly round1: RefreshRound1Package[];
}

export interface RefreshOutput {
  keyShare: KeyShare;
  transcriptHash: Uint8Array;
}

export function refreshRound1(params: RefreshParams, rng?: Rng): { secret: RefreshRound1Secret; package: RefreshRound1Package } {
  if (typeof params !== 'object' || params === null) throw new CryptoError('BAD_FIELD', { field: 'refresh.params' });
  const suite = assertKeyShare(params.keyShare, 'refresh.keyShare');
  const sessionId = assertBytes(params.sessionId, SESSION_ID_LENGTH, 'refresh.sessionId');
  const { publicKey, id } = params.keyShare;
  // The context binds the whole current package (every Y_j, not only Y): a participant holding a
  // stale package (one that missed a refresh) then ends with another transcript hash.
  const currentPackage = lengthPrefixed(publicKey.groupKey, ...publicKey.participants.map((j) => publicKey.verifyingShares[j]!));
  const context = protocolContext('refresh', suite.id, sessionId, publicKey.threshold, publicKey.participants, currentPackage);
  const coefficients = randomPolynomial(suite, 0n, publicKey.threshold - 1, rng);
  const pkg: RefreshRound1Package = { from: id, commitment: commit(suite, coefficients).slice(1).map(pointToBytes) };
  const state = { suite, keyShare: params.keyShare, context };
  return { secret: redacted({ state, coefficients, package: pkg }, `RefreshRound1Secret #${id}`), package: pkg };
}

function parseRefreshCommitment(suite: Suite, threshold: number, pkg: RefreshRound1Package, field: string): GroupPoint[] {
  if (typeof pkg !== 'object' || pkg === null || !Array.isArray(pkg.commitment) || pkg.commitment.length !== threshold - 1)
    throw new CryptoError('INVALID_COMMITMENT', { field: `${field}.commitment`, culprits: [pkg?.from], message: `INVALID_COMMITMENT: participant ${pkg?.from} must commit to ${threshold - 1} coefficients` });
  return [suite.Point.ZERO, ...pkg.commitment.map((c, k) => parsePoint(suite, c, `${field}.commitment[${k + 1}]`))];
}

export function refreshRound2(secret: RefreshRound1Secret, round1: RefreshRound1Package[]): { secret: RefreshRound2Secret; packages: RefreshRound2Package[] } {
  const { suite, keyShare } = secret.state;
  const { participants, threshold } = keyShare.publicKey;
  const others = participants.filter((id) => id !== keyShare.id);
  const bySender = collectBySender(round1, others, 'refresh.round1');
  const commitments = new Map<ParticipantId, GroupPoint[]>([[keyShare.id, [suite.Point.ZERO, ...secret.package.commitment.map((c) => parsePoint(suite, c, 'own'))]]]);
  const culprits: number[] = [];
  for (const id of others) {
    try {
      commitments.set(id, parseRefreshCommitment(suite, threshold, bySender.get(id)!, `refresh.round1[${id}]`));
    } catch (e) {
      if (!(e instanceof CryptoError)) throw e;
      culprits.push(id);
    }
  }
  if (culprits.length > 0) throw new CryptoError('INVALID_COMMITMENT', { field: 'refresh.round1', culprits });
  const packages = others.map((to) => redacted({ from: keyShare.id, to, signingShare: scalarToBytes(suite, evaluate(suite, secret.coefficients, BigInt(to))) }, `RefreshRound2Package ${keyShare.id}->${to}`));
  const ownShare = evaluate(suite, secret.coefficients, BigInt(keyShare.id));
  const all = [...others.map((id) => bySender.get(id)!), secret.package].sort((a, b) => a.from - b.from);
  return { secret: redacted({ state: secret.state, ownShare, commitments, round1: all }, `RefreshRound2Secret #${keyShare.id}`), packages };
}

/** s'_j = s_j + sum_i g_i(j); Y'_j = Y_j + sum_i G_i(j); Y unchanged. */
export function refreshRound3(secret: RefreshRound2Secret, round2: RefreshRound2Package[]): RefreshOutput {
  const { suite, keyShare, context } = secret.state;
  const pub = keyShare.publicKey;
  const others = pub.participants.filter((id) => id !== keyShare.id);
  const bySender = collectBySender(round2, others, 'refresh.round2');
  let delta = secret.ownShare;
  const culprits: number[] = [];
  for (const id of others) {
    const pkg = bySender.get(id)!;
    try {
      if (pkg.to !== keyShare.id) throw new CryptoError('BAD_PARTICIPANT', { field: `refresh.round2[${id}].to`, culprits: [id] });
      delta = suite.Fn.add(delta, checkReceivedShare(suite, keyShare.id, id, pkg.signingShare, secret.commitments.get(id)!, `refresh.round2[${id}].signingShare`));
    } catch (e) {
      if (!(e instanceof CryptoError)) throw e;
      culprits.push(id);
    }
  }
  if (culprits.length > 0) throw new CryptoError('INVALID_SHARE', { field: 'refresh.round2', culprits, message: `INVALID_SHARE: refresh shares from ${culprits.join(',')} fail their commitment check` });
  const summed = sumCommitments(suite, [...secret.commitments.values()]);
  const deltas = verifyingSharesFrom(suite, summed, pub.participants);
  const verifyingShares: Record<number, Uint8Array> = {};
  for (const j of pub.participants) {
    const y = parsePoint(suite, pub.verifyingShares[j]!, `verifyingShares[${j}]`).add(parsePoint(suite, deltas[j]!, `delta[${j}]`));
    if (y.is0()) throw new CryptoError('INVALID_COMMITMENT', { field: 'refresh.round1', message: 'INVALID_COMMITMENT: a refreshed verifying share is the identity' });
    verifyingShares[j] = pointToBytes(y);
  }
  const s = suite.Fn.add(suite.Fn.fromBytes(keyShare.signingShare), delta);
  const next = makeKeyShare({
    suite: keyShare.suite,
    id: keyShare.id,
    signingShare: scalarToBytes(suite, s),
    publicKey: { ...pub, participants: [...pub.participants], verifyingShares, chainCode: pub.chainCode.slice(), groupKey: pub.groupKey.slice() },
  });
  assertKeyShare(next, 'refresh.output');
  const transcriptHash = taggedHash('keyquorum/refresh/transcript/v1', context, ...secret.round1.map((r) => lengthPrefixed(u32be(r.from), ...r.commitment)));
  return { keyShare: next, transcriptHash };
}
