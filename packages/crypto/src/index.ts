/**
 * @keyquorum/crypto: pure threshold cryptography. No sockets, clocks, storage or
 * global state (beyond suite.ts' bounded memo of validated public point encodings and
 * the secp256k1 and X25519 backends' WebAssembly instances, all invisible to callers); randomness is injectable. FROST (RFC 9591) suites with DKG,
 * refresh, reshare, repair and non-hardened derivation.
 */
export * from './errors.ts';
export * from './frost/suite.ts';
export * from './frost/keys.ts';
export * from './frost/dkg.ts';
export * from './frost/sign.ts';
export * from './frost/refresh.ts';
export * from './frost/reshare.ts';
export * from './frost/repair.ts';
export * from './frost/derive.ts';
export * from './frost/transcript.ts';
export { lagrange, evaluate, evaluateCommitment, commit as vssCommit, sumCommitments, randomPolynomial, type Polynomial } from './vss/polynomial.ts';
export { redacted } from './redact.ts';
export { nobleX25519, sodiumX25519, x25519Backend, x25519Ready, type X25519Backend } from './backend/x25519.ts';
export * as ecdsa from './ecdsa/index.ts';
