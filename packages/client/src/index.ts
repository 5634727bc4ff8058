/** @keyquorum/client: the TypeScript SDK for the coordinator's HTTP API. */
export {
  KeyquorumClient,
  requestToJson,
  type Attestation,
  type AuditEntry,
  type AuditVerification,
  type CreateKeyOptions,
  type DerivedKey,
  type Key,
  type KeyquorumClientOptions,
  type KeyState,
  type SignatureResult,
  type SignerStatus,
  type SignOptions,
} from './client.ts';
export { ClientError, isClientError, type ClientErrorCode } from './errors.ts';
