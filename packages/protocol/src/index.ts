/** @keyquorum/protocol: the crypto-scheme-agnostic wire layer shared by coordinator and signers, and the HTTP contract shared by the coordinator and its clients (http/). */
export * from './constants.ts';
export * from './errors.ts';
export * from './validate.ts';
export * from './codec.ts';
export * from './canonical.ts';
export { type Rng, defaultRng } from './rng.ts';
export {
  IdentityKey,
  generateIdentity,
  identityFromSecret,
  exportIdentitySecret,
  sign,
  verifySignature,
} from './identity.ts';
export * from './envelope.ts';
export * from './e2e.ts';
export * from './session.ts';
export * from './auth.ts';
export * from './messages.ts';
export * from './wire-public-key.ts';
export { type ResolveBody } from './resolve.ts';
export * from './ecdsa.ts';
export * from './digests.ts';
export * from './audit.ts';
export * from './audit-export.ts';
export * from './audit-checkpoint.ts';
export { type AttestationTally } from './audit-attestations.ts';
export * from './key-states.ts';
export * from './policy.ts';
export * from './policy-messages.ts';
export * from './approval-wire.ts';
export * from './approvals.ts';
export * from './http/index.ts';
export { Service, StartStack, type ServiceStatus, type Startable } from './lifecycle.ts';
export * from './tx/index.ts';
export * from './tx/wire.ts';
export * from './policy-tx-rules.ts';
export * from './policy-tx.ts';
