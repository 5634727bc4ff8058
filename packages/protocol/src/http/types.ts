/**
 * The JSON the HTTP API exchanges, as schemas (schema.ts) and the TypeScript types
 * derived from them: the OpenAPI components, the request bodies and the answers.
 * Bytes travel as lowercase hex. The coordinator answers with these types (mappers.ts)
 * and the client reads them, so both compile against this one definition.
 */
import { OPERATIONS } from '../auth.ts';
import { KEY_SUITES } from '../ecdsa.ts';
import { MAX_DESTROY_DELAY_MS, REQUESTED_TRANSITIONS } from '../key-states.ts';
import { APPROVAL_ACTIONS } from '../policy.ts';
import { BITCOIN_NETWORKS, CHAINS } from '../tx/types.ts';
import { apiError } from './errors.ts';
import { anyObject, approvals, array, boolean, component, hex, integer, nullable, object, oneOf, record, string, union, type DecodedOf, type JsonOf } from './schema.ts';

const SIGNER_IDS = 'expected an array of signer ids';

export const ClientRequestSchema = component(
  'ClientRequest',
  object(
    {
      v: oneOf([1]),
      op: oneOf(OPERATIONS),
      keyId: string(),
      digest: hex('32 bytes'),
      timestamp: integer(),
      nonce: hex('16 bytes'),
      clientKey: hex('32 bytes'),
      sig: hex('64 bytes'),
      approvals: approvals({ description: "Approvals of this request by the key's approvers (docs/governance.md), when its policy requires them; outside `sig`" }),
    },
    { closed: true, optional: ['approvals'], description: 'The operation-level authorisation every signer checks: Ed25519 over (v, op, keyId, digest of exactly the parameters, timestamp, nonce, clientKey)' },
  ),
);

/** 'pending' (DKG running), the usage states of key-states.ts, and 'retired' (destroyed by retirement). */
export const KEY_STATES = ['pending', 'active', 'suspended', 'deactivated', 'compromised', 'destroy-scheduled', 'destroyed', 'retired'] as const;

export const KeySchema = component(
  'Key',
  object({
    id: string(),
    suite: oneOf(KEY_SUITES, { description: 'The ciphersuite (RFC 9591), e.g. frost-secp256k1-tr' }),
    scheme: string({ deprecated: true, description: 'Deprecated alias of suite: the same value' }),
    threshold: integer(),
    signers: array(string()),
    publicKey: nullable(hex('32-byte x-only (frost-secp256k1-tr), 32 bytes (frost-ed25519), 33-byte compressed (frost-secp256k1); null while pending')),
    groupKey: nullable(hex('The group key as an encoded point (33-byte compressed on secp256k1), which a reshare request signs; null while pending')),
    epoch: integer(),
    state: oneOf(KEY_STATES),
  }),
);

export const DerivedKeySchema = component('DerivedKey', object({ publicKey: hex('External child key'), chainCode: hex('32 bytes'), path: string() }));

export const SignatureSchema = component(
  'Signature',
  object(
    {
      signature: hex('64 bytes (BIP340 / RFC 8032; ecdsa-secp256k1: r || s with s low) or 65 (RFC 9591)'),
      publicKey: hex('Key that verifies it (33-byte compressed for ecdsa-secp256k1)'),
      recoveryId: integer({ minimum: 0, maximum: 3, description: 'ecdsa-secp256k1 only: recovery id (Ethereum v = 27 + recoveryId)' }),
    },
    { optional: ['recoveryId'] },
  ),
);

/** POST /v1/keys/{id}/sign-tx: the broadcastable transaction (docs/transactions.md; `TxOutput` of tx/types.ts), its id and the signatures given. */
export const SignedTransactionSchema = component(
  'SignedTransaction',
  object(
    {
      chain: oneOf(CHAINS),
      txId: string({ description: 'The id the chain module gives the transaction (ethereum: the unsigned transaction hash; bitcoin: the txid; solana: SHA-256 of the message), hex' }),
      signatures: array(object({ input: integer({ minimum: 0 }), signature: hex('64 bytes: r || s (ethereum), BIP340 (bitcoin), Ed25519 (solana)') }), {
        description: 'One per signing target (bitcoin: per input of the key)',
      }),
      signedTx: string({ description: 'ethereum: the signed transaction, 0x hex (eth_sendRawTransaction)' }),
      hash: string({ description: 'ethereum: the signed transaction hash, 0x hex' }),
      from: string({ description: 'ethereum: the sender address (checksummed)' }),
      tx: string({ description: 'bitcoin: the raw transaction, hex (sendrawtransaction)' }),
      txid: string({ description: 'bitcoin: the txid, hex' }),
      psbt: string({ description: 'bitcoin: the finalised PSBT, base64' }),
      signature: string({ description: 'solana: the signature, base58 (the transaction id)' }),
      transaction: string({ description: 'solana: the wire transaction, base64 (sendTransaction)' }),
    },
    { optional: ['signedTx', 'hash', 'from', 'tx', 'txid', 'psbt', 'signature', 'transaction'] },
  ),
);

export const AttestationSchema = component(
  'Attestation',
  object({ signer: string(), epoch: integer(), destroyedAt: integer(), verifyingShare: hex("The destroyed share's verifying share"), envelope: hex("The signer's signed ATTEST envelope") }),
);

export const RetirementSchema = component('Retirement', object({ key: KeySchema, attestations: array(AttestationSchema) }));

export const SignerStatusSchema = component(
  'SignerStatus',
  object({
    id: string(),
    connected: boolean(),
    lastSeen: nullable(integer({ description: 'ms since the Unix epoch of the last frame or pong; null if not seen since the coordinator started' })),
    epochs: record(integer({ minimum: 0 }), {
      description: "Per key id, the epoch of the share this signer holds: the last commit it acknowledged. A key is absent before the signer's first acknowledgement and after it left the key or destroyed its share",
      example: { 'hot-1': 2 },
    }),
  }),
);

export const BanSchema = component('Ban', object({ signer: string(), reason: string(), at: integer({ description: 'ms since the Unix epoch when the ban was recorded' }) }));

export const AuditEntrySchema = component(
  'AuditEntry',
  object({ seq: integer(), ts: integer(), event: string(), keyId: nullable(string()), data: anyObject(), prevHash: hex(''), hash: hex('') }),
);

export const AuditCheckpointSchema = component(
  'AuditCheckpoint',
  object(
    { signer: string(), seq: integer(), hash: hex(''), sig: hex('') },
    { description: "A signer's Ed25519 signature (audit-checkpoint.ts) that the log has hash `hash` at entry `seq`, as it checked it" },
  ),
);

export const AuditVerificationSchema = union(
  [object({ ok: oneOf([true]), count: integer(), head: hex('') }), object({ ok: oneOf([false]), seq: integer(), reason: string() })],
  { description: 'The whole chain checked: its length and head hash, or the first entry that breaks it and why' },
);

export const ReadinessSchema = component(
  'Readiness',
  object(
    {
      ready: boolean(),
      registryWritable: boolean(),
      signersConnected: integer(),
      signersNeeded: integer({ description: 'The smallest threshold among active keys; 2 when there is none' }),
      reason: string({ description: 'Why not ready; absent when ready' }),
      role: oneOf(['single', 'leader', 'follower'], { description: "'single': one coordinator on SQLite; 'leader' / 'follower' on a shared PostgreSQL database (docs/ha.md)" }),
      leaderUrl: nullable(string({ description: 'The advertised URL of the coordinator holding the leader lease; null when none does (absent when single)' })),
      leaderToken: integer({ description: 'The fencing token of the current leader lease (absent when single)' }),
    },
    { optional: ['reason', 'role', 'leaderUrl', 'leaderToken'] },
  ),
);

export const OPERATION_KINDS = ['createKey', 'refresh', 'reshare', 'repair', 'retire'] as const;
export const OPERATION_STATES = ['running', 'succeeded', 'failed'] as const;

export const OperationSchema = component(
  'Operation',
  object(
    {
      id: string(),
      kind: oneOf(OPERATION_KINDS),
      keyId: string(),
      state: oneOf(OPERATION_STATES),
      startedAt: integer({ description: 'ms since the Unix epoch' }),
      finishedAt: integer({ description: 'ms since the Unix epoch; absent while running' }),
      result: union([KeySchema, RetirementSchema], { description: 'When succeeded: what the awaited call answers (a Key; a Retirement for retire)' }),
      error: apiError('When failed: the error the awaited call would have answered'),
    },
    { optional: ['finishedAt', 'result', 'error'] },
  ),
);

export const PENDING_OPERATION_STATES = ['pending', 'running', 'succeeded', 'failed', 'expired'] as const;

/** An operation waiting for approvals (docs/governance.md): durable, it survives a coordinator restart. */
export const PendingOperationSchema = component(
  'PendingOperation',
  object(
    {
      id: string({ description: "The request's clientRequestId, hex" }),
      kind: oneOf(['approval']),
      keyId: string(),
      op: oneOf(OPERATIONS),
      action: oneOf(APPROVAL_ACTIONS),
      state: oneOf(PENDING_OPERATION_STATES),
      required: integer({ description: 'Approvals the policy requires for the action' }),
      approvals: array(string(), { description: 'The approver ids recorded so far' }),
      challenge: hex('The approval challenge each approver signs (approvals.ts)'),
      expiresAt: integer({ description: 'ms since the Unix epoch: the approval deadline' }),
      request: ClientRequestSchema,
      params: anyObject({ description: 'The route body without `request`: what is being approved (bytes as hex; a sign-tx: `{ chain, tx, path?, network? }` with `tx` in hex for every chain)' }),
      result: anyObject({ description: "When succeeded: the route's answer" }),
      error: apiError('When failed: the error the route would have answered'),
    },
    { optional: ['result', 'error'] },
  ),
);

/** A key's policy as the coordinator records it (`policy`: the JSON form; null for the default). */
export const KeyPolicySchema = component(
  'KeyPolicy',
  object({
    keyId: string(),
    version: integer({ minimum: 0 }),
    digest: hex('policyDigest of the policy (policy.ts)'),
    policy: nullable(anyObject({ description: 'The JSON form (docs/governance.md, policy.ts); null for the default policy (version 0)' })),
  }),
);

export const ErrorSchema = component('Error', object({ error: apiError() }));

/** Every named schema, for the OpenAPI document's components. */
export const COMPONENTS = [
  ErrorSchema,
  KeySchema,
  DerivedKeySchema,
  SignatureSchema,
  SignedTransactionSchema,
  AttestationSchema,
  SignerStatusSchema,
  BanSchema,
  AuditEntrySchema,
  AuditCheckpointSchema,
  ReadinessSchema,
  RetirementSchema,
  OperationSchema,
  PendingOperationSchema,
  KeyPolicySchema,
  ClientRequestSchema,
] as const;

// ---- request bodies ----

const threshold = integer({ minimum: 2 });

export const CreateKeyBodySchema = object(
  {
    keyId: string(),
    suite: oneOf(KEY_SUITES),
    threshold,
    signers: array(string(), { description: 'Participants in DKG order; default every connected signer', invalid: SIGNER_IDS }),
    request: ClientRequestSchema,
  },
  { optional: ['signers'], closed: true },
);

export const SignBodySchema = object(
  {
    message: hex('The message, usually a 32-byte digest'),
    request: ClientRequestSchema,
    path: string({ example: 'm/44/0/7', invalid: "expected a path such as 'm/44/0/7'" }),
    taproot: object({ merkleRoot: hex('32-byte script tree root') }, { optional: ['merkleRoot'], closed: true, description: 'frost-secp256k1-tr only; {} = key-path only' }),
  },
  { optional: ['path', 'taproot'], closed: true },
);

/** POST /v1/keys/{id}/sign-tx (docs/transactions.md): the unsigned transaction and the client's request (op 'sign', `signTxDigest`). */
export const SignTxBodySchema = object(
  {
    chain: oneOf(CHAINS),
    tx: string({ description: 'The unsigned transaction: ethereum RLP as 0x hex, bitcoin a PSBT in base64, solana the message in base64', invalid: 'expected the transaction as a string (ethereum 0x hex, bitcoin/solana base64)' }),
    path: string({ example: 'm/44/0/7', description: 'ethereum, solana: the derivation path of the signing key (bitcoin inputs name their own)', invalid: "expected a path such as 'm/44/0/7'" }),
    network: oneOf(BITCOIN_NETWORKS, { description: 'bitcoin only: the network its addresses are rendered for (default mainnet)' }),
    request: ClientRequestSchema,
  },
  { optional: ['path', 'network'], closed: true },
);

/** The body of refresh and retire: the signed request alone. */
export const RequestOnlyBodySchema = object({ request: ClientRequestSchema }, { closed: true });

export const ReshareBodySchema = object(
  {
    signers: array(string(), { description: 'The new signer set, numbered 1..n in this order', invalid: SIGNER_IDS }),
    threshold,
    request: ClientRequestSchema,
  },
  { closed: true },
);

export const RepairBodySchema = object(
  {
    signer: string({ description: 'The participant whose share is rebuilt (re-initialised, its new identity pinned)', example: 'signer-2' }),
    request: ClientRequestSchema,
  },
  { closed: true },
);

/** A key state transition (key-states.ts): the transition, its delay for 'schedule-destroy', and the admin's signed request (op 'state', `stateDigest`). */
export const StateBodySchema = object(
  {
    transition: oneOf(REQUESTED_TRANSITIONS),
    afterMs: integer({ minimum: 0, maximum: MAX_DESTROY_DELAY_MS, description: "schedule-destroy only: the delay before the shares are wiped, ms (default 7 days); each signer counts it on its own clock from when it records the schedule" }),
    request: ClientRequestSchema,
  },
  { optional: ['afterMs'], closed: true },
);

/** A policy change: the next policy (JSON form) and the admin's signed request (op 'policy', `policyRequestDigest`). */
export const PolicyBodySchema = object({ policy: anyObject(), request: ClientRequestSchema }, { closed: true });

/** One approval of a pending operation (approval-wire.ts `ApprovalJson`). */
export const ApproveBodySchema = object({ approval: anyObject({ description: 'ApprovalJson: { approver, type: ed25519, sig } or { approver, type: webauthn, authenticatorData, clientDataJSON, signature }' }) }, { closed: true });

// ---- the types ----

export type ClientRequestJson = JsonOf<typeof ClientRequestSchema>;
export type KeyState = (typeof KEY_STATES)[number];
/** A key as the API's JSON carries it (GET /v1/keys/{id}); the client SDK answers it as is. */
export type KeyJson = Omit<JsonOf<typeof KeySchema>, 'scheme'> & {
  /** @deprecated The same value as `suite`, kept for readers of the older field name. */
  scheme: string;
};
export type DerivedKeyJson = JsonOf<typeof DerivedKeySchema>;
export type SignatureJson = JsonOf<typeof SignatureSchema>;
export type SignedTransactionJson = JsonOf<typeof SignedTransactionSchema>;
export type AttestationJson = JsonOf<typeof AttestationSchema>;
export type RetirementJson = JsonOf<typeof RetirementSchema>;
export type SignerStatusJson = JsonOf<typeof SignerStatusSchema>;
export type BanJson = JsonOf<typeof BanSchema>;
export type AuditEntryJson = JsonOf<typeof AuditEntrySchema>;
export type AuditVerificationJson = JsonOf<typeof AuditVerificationSchema>;
export type AuditCheckpointJson = JsonOf<typeof AuditCheckpointSchema>;
export type ReadinessJson = JsonOf<typeof ReadinessSchema>;
export type OperationKind = (typeof OPERATION_KINDS)[number];
export type OperationState = (typeof OPERATION_STATES)[number];
export type OperationJson = JsonOf<typeof OperationSchema>;
export type ApiErrorJson = JsonOf<ReturnType<typeof apiError>>;
export type PendingOperationState = (typeof PENDING_OPERATION_STATES)[number];
export type PendingOperationJson = JsonOf<typeof PendingOperationSchema>;
export type KeyPolicyJson = JsonOf<typeof KeyPolicySchema>;
export type PolicyBodyJson = JsonOf<typeof PolicyBodySchema>;
export type ApproveBodyJson = JsonOf<typeof ApproveBodySchema>;
export type ErrorJson = JsonOf<typeof ErrorSchema>;

export type CreateKeyBodyJson = JsonOf<typeof CreateKeyBodySchema>;
export type SignBodyJson = JsonOf<typeof SignBodySchema>;
export type SignTxBodyJson = JsonOf<typeof SignTxBodySchema>;
export type ReshareBodyJson = JsonOf<typeof ReshareBodySchema>;
export type RepairBodyJson = JsonOf<typeof RepairBodySchema>;
export type RequestOnlyBodyJson = JsonOf<typeof RequestOnlyBodySchema>;
export type StateBodyJson = JsonOf<typeof StateBodySchema>;
export type CreateKeyBody = DecodedOf<typeof CreateKeyBodySchema>;
export type SignBody = DecodedOf<typeof SignBodySchema>;
export type SignTxBody = DecodedOf<typeof SignTxBodySchema>;
export type ReshareBody = DecodedOf<typeof ReshareBodySchema>;
export type RepairBody = DecodedOf<typeof RepairBodySchema>;
export type RequestOnlyBody = DecodedOf<typeof RequestOnlyBodySchema>;
export type StateBody = DecodedOf<typeof StateBodySchema>;
