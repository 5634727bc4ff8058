/**
 * Shamir polynomials with Feldman commitments and Lagrange interpolation
 * (RFC 9591 Appendix C: polynomial_evaluate, vss_commit, vss_verify,
 * derive_interpolating_value), generic over a suite's group.
 */
import { CryptoError } from '../errors.ts';
import type { GroupPoint, ParticipantId, Rng, Suite } from '../frost/suite.ts';
import { randomScalar } from '../frost/suite.ts';

/** Coefficients a_0..a_{t-1}; f(x) = sum a_k x^k. */
export type Polynomial = bigint[];

/** A random polynomial of degree `degree` with the given constant term. */
export function randomPolynomial(suite: Suite, constant: bigint, degree: number, rng?: Rng): Polynomial {
  const coefficients = [constant];
  for (let k = 0; k < degree; k++) coefficients.push(randomScalar(suite, rng));
  return coefficients;
}

/** RFC 9591 App. C.1 polynomial_evaluate (Horner). */
export function evaluate(suite: Suite, poly: Polynomial, x: bigint): bigint {
  const { Fn } = suite;
  let acc = 0n;
  for (let k = poly.length - 1; k >= 0; k--) acc = Fn.add(Fn.mul(acc, x), poly[k]!);
  return acc;
}

/** RFC 9591 App. C.2 vss_commit: C_k = a_k * G. */
export function commit(suite: Suite, poly: Polynomial): GroupPoint[] {
  return poly.map((a) => (a === 0n ? suite.Point.ZERO : suite.Point.BASE.multiply(a)));
}

/** sum_k C_k * x^k: the public image f(x)*G of a committed polynomial (public data: vartime). */
export function evaluateCommitment(suite: Suite, commitment: GroupPoint[], x: bigint): GroupPoint {
  const { Fn } = suite;
  let acc = suite.Point.ZERO;
  let power = 1n;
  for (const c of commitment) {
    acc = acc.add(c.multiplyUnsafe(power));
    power = Fn.mul(power, x);
  }
  return acc;
}

/** Element-wise sum of commitments (the commitment to the sum of polynomials). */
export function sumCommitments(suite: Suite, commitments: GroupPoint[][]): GroupPoint[] {
  const length = Math.max(...commitments.map((c) => c.length));
  const out: GroupPoint[] = [];
  for (let k = 0; k < length; k++) {
    let acc = suite.Point.ZERO;
    for (const c of commitments) if (c[k]) acc = acc.add(c[k]!);
    out.push(acc);
  }
  return out;
}

/**
 * Lagrange coefficient of `id` over `set`, evaluated at `at` (0 for interpolation of
 * the secret, RFC 9591 §4.2 derive_interpolating_value; another point for repair).
 */
export function lagrange(suite: Suite, set: readonly ParticipantId[], id: ParticipantId, at: bigint = 0n): bigint {
  const { Fn } = suite;
  if (!set.includes(id)) throw new CryptoError('BAD_PARTICIPANT', { field: 'lagrange.id', message: `BAD_PARTICIPANT: ${id} is not in the set` });
  const xi = BigInt(id);
  let num = 1n;
  let den = 1n;
  for (const j of set) {
    if (j === id) continue;
    const xj = BigInt(j);
    num = Fn.mul(num, Fn.sub(xj, at));
    den = Fn.mul(den, Fn.sub(xj, xi));
  }
  return Fn.div(num, den);
}
