/**
 * Repairable threshold scheme: a participant r that lost its share recovers it with
 * the help of a set H of at least t others, none of whom learns it (Laing and
 * Stinson, "A survey and refinement of repairable threshold schemes", 2017; the
 * three steps of frost-rs `keys::repairable`).
 *   1. Each helper i splits lambda_i^H(r) * s_i into |H| random additive parts
 *      (deltas), one to each helper (point to point, encrypted).
 *   2. Each helper j sums the deltas it received into sigma_j and sends it to r.
 *   3. r sums the sigmas into s_r and checks s_r*G == Y_r.
 * A helper sees only uniformly random deltas from the others, so no helper learns s_r.
 */
import { CryptoError } from '../errors.ts';
import { redacted } from '../redact.ts';
import { lagrange } from '../vss/polynomial.ts';
import { collectBySender } from './dkg.ts';
import { assertKeyShare, assertPublicKeyPackage, makeKeyShare, type KeyShare, type PublicKeyPackage } from './keys.ts';
import { assertMember, assertParticipantId, assertParticipants, parsePoint, parseScalar, randomScalar, scalarToBytes, type ParticipantId, type Rng, type Suite } from './suite.ts';

export interface RepairDelta {
  from: ParticipantId;
  to: ParticipantId;
  delta: Uint8Array;
}

export interface RepairSigma {
  from: ParticipantId;
  sigma: Uint8Array;
}

function checkHelpers(pub: PublicKeyPackage, helpers: ParticipantId[], target: ParticipantId): ParticipantId[] {
  const set = assertParticipants(helpers, 'repair.helpers', { min: pub.threshold, max: pub.participants.length });
  set.forEach((h, i) => assertMember(h, pub.participants, `repair.helpers[${i}]`));
  assertParticipantId(target, 'repair.target');
  assertMember(target, pub.participants, 'repair.target');
  if (set.includes(target)) throw new CryptoError('BAD_PARTICIPANT', { field: 'repair.target', message: 'BAD_PARTICIPANT: the participant being repaired cannot be its own helper' });
  return set;
}

/** Step 1 (helper i): lambda_i^H(r) * s_i split into one random delta per helper. */
export function repairStep1(keyShare: KeyShare, helpers: ParticipantId[], target: ParticipantId, rng?: Rng): RepairDelta[] {
  const suite = assertKeyShare(keyShare, 'repair.keyShare');
  const set = checkHelpers(keyShare.publicKey, helpers, target);
  assertMember(keyShare.id, set, 'repair.keyShare.id');
  const { Fn } = suite;
  const total = Fn.mul(lagrange(suite, set, keyShare.id, BigInt(target)), Fn.fromBytes(keyShare.signingShare));
  const parts = set.slice(0, -1).map(() => randomScalar(suite, rng));
  const last = Fn.sub(total, parts.reduce((a, b) => Fn.add(a, b), 0n));
  return set.map((to, k) => redacted({ from: keyShare.id, to, delta: scalarToBytes(suite, k < parts.length ? parts[k]! : last) }, `RepairDelta ${keyShare.id}->${to}`));
}

/** Sum of scalars (frost-rs repair_share_step_2 / step_3 arithmetic). */
export function sumScalars(suite: Suite, values: Uint8Array[], field: string): bigint {
  return values.reduce((acc, v, i) => suite.Fn.add(acc, parseScalar(suite, v, `${field}[${i}]`, { allowZero: true })), 0n);
}

/** Step 2 (helper j): sums the deltas received from every helper (its own included). */
export function repairStep2(keyShare: KeyShare, helpers: ParticipantId[], target: ParticipantId, deltas: RepairDelta[]): RepairSigma {
  const suite = assertKeyShare(keyShare, 'repair.keyShare');
  const set = checkHelpers(keyShare.publicKey, helpers, target);
  const bySender = collectBySender(deltas, set, 'repair.deltas');
  for (const [from, d] of bySender) if (d.to !== keyShare.id) throw new CryptoError('BAD_PARTICIPANT', { field: `repair.deltas[${from}].to`, culprits: [from] });
  const sigma = sumScalars(suite, set.map((i) => bySender.get(i)!.delta), 'repair.deltas');
  return redacted({ from: keyShare.id, sigma: scalarToBytes(suite, sigma) }, `RepairSigma ${keyShare.id}`);
}

/** Step 3 (participant r): s_r = sum of sigmas, checked against Y_r from the public package. */
export function repairStep3(publicKey: PublicKeyPackage, helpers: ParticipantId[], target: ParticipantId, sigmas: RepairSigma[]): KeyShare {
  const suite = assertPublicKeyPackage(publicKey, 'repair.publicKey');
  const set = checkHelpers(publicKey, helpers, target);
  const bySender = collectBySender(sigmas, set, 'repair.sigmas');
  const s = sumScalars(suite, set.map((i) => bySender.get(i)!.sigma), 'repair.sigmas');
  if (!suite.Point.BASE.multiply(s).equals(parsePoint(suite, publicKey.verifyingShares[target]!, `publicKey.verifyingShares[${target}]`)))
    throw new CryptoError('SHARE_MISMATCH', { field: 'repair.sigmas', message: 'SHARE_MISMATCH: the repaired share does not match its verifying share (a helper sent a wrong value)' });
  return makeKeyShare({ suite: suite.id, id: target, signingShare: scalarToBytes(suite, s), publicKey });
}
