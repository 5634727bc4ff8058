/**
 * Zero sharing (DKLs23 §3, Functionality 3.4, realised from pairwise seeds): for a
 * session, party i's share is zeta_i = sum_{j in Q, j != i} sign(i, j) * PRF(seed_ij, sid),
 * sign +1 if i < j else -1, so the shares of a quorum sum to zero and each looks
 * uniform to any coalition missing one of its pairs.
 */
import { Fn, hashToScalar, u32 } from './common.ts';

export function zeroShare(self: number, quorum: readonly number[], seeds: ReadonlyMap<number, Uint8Array>, sid: Uint8Array): bigint {
  let zeta = 0n;
  for (const j of quorum) {
    if (j === self) continue;
    const v = hashToScalar('zero-share', seeds.get(j)!, sid, u32(Math.min(self, j)), u32(Math.max(self, j)));
    zeta = self < j ? Fn.add(zeta, v) : Fn.sub(zeta, v);
  }
  return zeta;
}
