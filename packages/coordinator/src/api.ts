/**
 * What the coordinator offers its callers: the parameters and results of each call,
 * and `CoordinatorApi`, the interface the HTTP adapter (http.ts) depends on. A key is
 * answered as the contract's `KeyView` (@keyquorum/protocol), which the adapter maps
 * to `KeyJson`; the registry's row (`RegistryKey`) never leaves the coordinator.
 * `Coordinator` implements it; the adapter never sees the class, so the two do not
 * import each other.
 */
import type { BitcoinNetwork, Chain, ClientRequest, KeyPolicyJson, KeyView, PendingOperationJson, PendingOperationState, RequestedTransition, TaprootTarget, TxOutput, TxSignature } from '@keyquorum/protocol';
import type { ResolvedOptions } from './config.ts';
import type { CoordinatorMetrics } from './metrics.ts';
import type { OperationLog } from './operations.ts';
import type { Attestation, AuditEntry, AuditPage, AuditVerification, Ban } from './store/types.ts';
import type { SignerStatus } from './server.ts';

export interface CreateKeyParams {
  request: ClientRequest;
  keyId: string;
  suite: string;
  threshold: number;
  /** Participant signer ids, numbered 1..n in this order; default: every connected signer, sorted. */
  signers?: readonly string[];
}

export interface ReshareParams {
  request: ClientRequest;
  keyId: string;
  /** The new signer set, numbered 1..n' in this order (may overlap the old one). */
  signers: readonly string[];
  /** The new threshold t' (2 <= t' <= n'). */
  threshold: number;
}

export interface RepairParams {
  request: ClientRequest;
  keyId: string;
  /** The participant whose share is rebuilt (re-initialised, its new identity pinned). */
  signer: string;
}

export interface SignParams {
  request: ClientRequest;
  keyId: string;
  message: Uint8Array;
  /** Non-hardened derivation path, e.g. 'm/44/0/7'. */
  path?: string;
  /** frost-secp256k1-tr only: sign for the BIP341 output key (`{}` = key-path only). */
  taproot?: TaprootTarget;
}

/** A transaction to sign (POST /v1/keys/{id}/sign-tx; docs/transactions.md). */
export interface SignTxParams {
  request: ClientRequest;
  keyId: string;
  chain: Chain;
  /** The unsigned transaction: ethereum RLP, bitcoin PSBT, solana message. */
  tx: Uint8Array;
  /** ethereum, solana: the derivation path of the signing key. */
  path?: string;
  /** bitcoin only. */
  network?: BitcoinNetwork;
}

/** The broadcastable transaction, the module's id of it, and the signature given per target. */
export interface SignTxOutput {
  output: TxOutput;
  txId: string;
  signatures: TxSignature[];
}

/** A key state transition (POST /v1/keys/{id}/state): `afterMs` for 'schedule-destroy' only (default 7 days). */
export interface StateParams {
  request: ClientRequest;
  keyId: string;
  transition: RequestedTransition;
  afterMs?: number;
}

/** A policy change (POST /v1/keys/{id}/policy): the next policy in its JSON form and the admin's request (op 'policy'). */
export interface PolicyParams {
  request: ClientRequest;
  keyId: string;
  policy: unknown;
}

/** The policy recorded, who acknowledged it, and who has not answered yet (re-sent on reconnect). */
export interface PolicySetOutput extends KeyPolicyJson {
  delivered: string[];
  pending: string[];
}

/** Refresh and retire name the key and carry the signed request. */
export interface KeyRequestParams {
  request: ClientRequest;
  keyId: string;
}

/** A signer's connection state and, per key it holds a share of, the epoch of that share (its last acknowledged commit). */
export interface SignerInfo extends SignerStatus {
  epochs: Record<string, number>;
}

export interface SignOutput {
  signature: Uint8Array;
  /** External key of the target (derived child and/or taproot output key). */
  publicKey: Uint8Array;
  /** ecdsa-secp256k1 only: recovery id (0..3) of the signature. */
  recoveryId?: number;
}

/** GET /readyz. */
export interface Readiness {
  ready: boolean;
  registryWritable: boolean;
  signersConnected: number;
  /** The smallest threshold among active keys; 2 when there is none. */
  signersNeeded: number;
  /** Why not ready; absent when ready. */
  reason?: string;
  /** 'single' on SQLite; 'leader' or 'follower' on a shared PostgreSQL database (leadership.ts). */
  role?: 'single' | 'leader' | 'follower';
  /** The leader's advertised URL; null when none leads (absent when single). */
  leaderUrl?: string | null;
  /** The current leader lease's fencing token (absent when single). */
  leaderToken?: number;
}

export interface RetireOutput {
  key: KeyView;
  attestations: Attestation[];
}

export interface DerivedPublicKey {
  publicKey: Uint8Array;
  chainCode: Uint8Array;
  path: string;
}

/** The coordinator as its adapters use it. */
export interface CoordinatorApi {
  readonly options: Pick<ResolvedOptions, 'logger' | 'maxBodyBytes' | 'maxSkewMs' | 'now' | 'clients'>;
  readonly metrics: Pick<CoordinatorMetrics, 'registry' | 'error'>;
  readonly operations: Pick<OperationLog, 'start' | 'get'>;
  createKey(p: CreateKeyParams): Promise<KeyView>;
  sign(p: SignParams): Promise<SignOutput>;
  signTx(p: SignTxParams): Promise<SignTxOutput>;
  refresh(p: KeyRequestParams): Promise<KeyView>;
  reshare(p: ReshareParams): Promise<KeyView>;
  repair(p: RepairParams): Promise<KeyView>;
  retire(p: KeyRequestParams): Promise<RetireOutput>;
  changeState(p: StateParams): Promise<KeyView>;
  getPolicy(keyId: string): Promise<KeyPolicyJson>;
  setPolicy(p: PolicyParams): Promise<PolicySetOutput>;
  /** Operations waiting for approvals (and their later states), newest first. */
  listPendingOperations(state?: PendingOperationState): Promise<PendingOperationJson[]>;
  pendingOperation(id: string): Promise<PendingOperationJson | undefined>;
  /** Records one approval (ApprovalJson); at quorum runs the operation. */
  approve(id: string, approval: unknown): Promise<PendingOperationJson>;
  getKey(keyId: string): Promise<KeyView>;
  listKeys(): Promise<KeyView[]>;
  deriveKey(keyId: string, path: string): Promise<DerivedPublicKey>;
  listSigners(): Promise<SignerInfo[]>;
  audit(keyId?: string): Promise<AuditEntry[]>;
  auditPage(q: { keyId?: string | undefined; after: number; limit: number }): Promise<AuditPage>;
  verifyAudit(): Promise<AuditVerification>;
  /** The chain verified incrementally, never holding the event loop for more than a chunk. */
  verifyAuditChain(): Promise<AuditVerification>;
  bans(keyId: string): Promise<Ban[]>;
  clearBan(keyId: string, signer: string, by?: string): Promise<void>;
  readiness(): Promise<Readiness>;
  /** Where a write (POST, PUT, PATCH, DELETE) goes instead: the leader's URL, null while none leads; undefined when this coordinator serves it (leadership.ts). */
  writeTarget(): string | null | undefined;
}
