/**
 * @keyquorum/coordinator: the WebSocket hub for signers, the session engine (DKG,
 * signing, refresh, retirement), the key registry with its hash-chained audit log,
 * and the HTTP adapter serving the contract of @keyquorum/protocol. The coordinator
 * holds no secret share and cannot forge a signer's message; it relays, schedules
 * and records.
 */
export { Coordinator, type CoordinatorStatus } from './coordinator.ts';
export type { CoordinatorApi, CreateKeyParams, DerivedPublicKey, KeyRequestParams, PolicyParams, PolicySetOutput, Readiness, ReshareParams, RetireOutput, SignerInfo, SignOutput, SignParams } from './api.ts';
export { OperationLog, type OperationKind, type OperationLogOptions, type OperationRecord, type OperationState } from './operations.ts';
export { loadConfigFile, parseListen, resolveOptions, type ClientOptions, type CoordinatorOptions, type RelayContext, type RelayHook, type ResolvedOptions } from './config.ts';
export { ApprovalPending, CoordinatorError, isCoordinatorError, type CoordinatorErrorCode, type CoordinatorErrorOptions, type FaultReason, type SessionFaultDetail } from './errors.ts';
export { createLogger, LOG_LEVELS, REDACTED_FIELDS, silentLogger, type LogFields, type Logger, type LoggerOptions, type LogLevel } from '@keyquorum/protocol/logger';
export { SqliteStore } from './store/sqlite.ts';
export type { Attestation, AuditEntry, AuditEvents, AuditEventType, Ban, AuditValue, AuditVerification, CoordinatorStore, RegistryKey, KeyState, PendingCommit, PendingOperation, PolicyRecord, SignerEpoch, StoreOptions } from './store/types.ts';
export { auditHash } from './registry/audit.ts';
export { initIdentity, loadIdentity, identityPath } from './identity.ts';
export { seal, unseal, readSealedFile, writeSealedFile } from './sealed.ts';
export { createHttpHandler, routeTable } from './http.ts';
export { OPENAPI_DOCUMENT, parseRequestJson, type KeyView } from '@keyquorum/protocol';
export { CoordinatorMetrics, type MetricsSource, type SessionKind } from './metrics.ts';
export type { SignerStatus } from './server.ts';
export * from './constants.ts';
