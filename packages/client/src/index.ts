/** @keyquorum/client: the TypeScript SDK for the coordinator's HTTP API. */
export {
  KeyquorumClient,
  type Attestation,
  type AuditEntry,
  type AuditVerification,
  type Ban,
  type CreateKeyOptions,
  type DerivedKey,
  type KeyJson,
  type KeyquorumClientOptions,
  type KeyState,
  type Operation,
  type OperationKind,
  type OperationState,
  type PolicySet,
  type PolicyView,
  type ReviewedOperation,
  type Retirement,
  type SignatureResult,
  type SignerStatus,
  type SignOptions,
  type SignTxOptions,
  type SignedTransaction,
  type WaitForOperationOptions,
  type WaitOption,
} from './client.ts';
export { ClientError, isClientError, type ClientErrorCode } from './errors.ts';
export { describeOperation } from './client-governance.ts';
export { ApprovalPendingError, isApprovalPending, type ApprovalOperationState, type PendingOperation } from './pending.ts';
export {
  requestToJson,
  verifyAuditExport,
  buildAuditExport,
  AUDIT_EXPORT_FORMAT,
  AUDIT_EXPORT_VERSION,
  type AuditExportHeader,
  type AuditExportFault,
  type AuditExportVerification,
  type AttestationTally,
} from '@keyquorum/protocol';
