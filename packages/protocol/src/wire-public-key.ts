/** The crypto package's public key package to and from its wire form (`WirePublicKey`, messages.ts). */
import type { PublicKeyPackage, SuiteId } from '@keyquorum/crypto';
import type { WirePublicKey } from './messages.ts';

/** The crypto package's public key package in wire form. */
export function toWirePublicKey(pkg: PublicKeyPackage): WirePublicKey {
  return {
    suite: pkg.suite,
    threshold: pkg.threshold,
    participants: [...pkg.participants],
    groupKey: pkg.groupKey,
    verifyingShares: pkg.participants.map((id) => pkg.verifyingShares[id]!),
    chainCode: pkg.chainCode,
  };
}

/** Back to the crypto package's form (still to be checked with `assertPublicKeyPackage`). */
export function fromWirePublicKey(w: WirePublicKey): PublicKeyPackage {
  const verifyingShares: Record<number, Uint8Array> = {};
  w.participants.forEach((id, i) => (verifyingShares[id] = w.verifyingShares[i]!));
  return { suite: w.suite as SuiteId, threshold: w.threshold, participants: [...w.participants], groupKey: w.groupKey, verifyingShares, chainCode: w.chainCode };
}
