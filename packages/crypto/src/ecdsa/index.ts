/**
 * Threshold ECDSA on secp256k1 (DKLs23, eprint 2023/765): the `ecdsa-secp256k1` scheme.
 * See README.md in this folder for the protocol, its parameters, status and limits.
 */
export { SCHEME, KAPPA, STAT, XI, type Rng } from './common.ts';
export * from './baseot.ts';
export * from './ote.ts';
export * from './multiply.ts';
export * from './zero.ts';
export * from './commit.ts';
export * from './pairs.ts';
export * from './keyshare.ts';
export * from './dkg.ts';
export * from './refresh.ts';
export * from './sign.ts';
export * from './pooled.ts';
