/**
 * The routes of the coordinator's HTTP API, one table: method, path template, who
 * may call, parameters, request body and answers. The coordinator's adapter serves
 * exactly these (one handler per route, typed by its entry), the client calls them,
 * and the OpenAPI document (openapi.ts) is generated from them.
 *
 * Every /v1 route but the OpenAPI document is authenticated per request (http/auth.ts):
 * reads need any role, POST and DELETE routes need admin, except sign and sign-tx which
 * admin or signer may call. Long operations (createKey, refresh, reshare, retire) are awaited
 * by default; with `?wait=false` the request is checked as usual, then answered 202
 * with the running operation and its Location (/v1/operations/{id}) to poll.
 */
import { KEY_ID_PATTERN } from '../constants.ts';
import type { Role } from '../auth.ts';
import {
  AuditCheckpointSchema,
  AuditEntrySchema,
  AuditVerificationSchema,
  BanSchema,
  CreateKeyBodySchema,
  DerivedKeySchema,
  KeySchema,
  ApproveBodySchema,
  KeyPolicySchema,
  OperationSchema,
  PENDING_OPERATION_STATES,
  PendingOperationSchema,
  PolicyBodySchema,
  ReadinessSchema,
  RepairBodySchema,
  RequestOnlyBodySchema,
  ReshareBodySchema,
  RetirementSchema,
  SignatureSchema,
  SignBodySchema,
  SignTxBodySchema,
  SignedTransactionSchema,
  SignerStatusSchema,
  StateBodySchema,
} from './types.ts';
import { anyObject, array, hex, integer, nullable, object, oneOf, string, union, type JsonOf, type Schema } from './schema.ts';

/** `GET /v1/audit` answers at most this many entries per page ... */
export const AUDIT_PAGE_MAX = 1000;
/** ... and this many when the call names no `limit`. */
export const AUDIT_PAGE_DEFAULT = 100;

export type HttpMethod = 'GET' | 'POST' | 'DELETE';
/** Who may call: 'public' (no authentication) or the roles allowed. */
export type Access = 'public' | readonly Role[];

export interface Param {
  readonly name: string;
  readonly in: 'path' | 'query';
  readonly required: boolean;
  readonly description?: string;
  readonly schema: Schema;
}

/** An answer: JSON of a schema, text (the Prometheus exposition), or no body (204). */
export type Answer =
  | { readonly description: string; readonly schema: Schema; readonly headers?: Readonly<Record<string, { readonly description: string }>> }
  | { readonly description: string; readonly text: true }
  | { readonly description: string };

export interface Route {
  readonly method: HttpMethod;
  /** The path template, e.g. '/v1/keys/{id}/sign'; each `{name}` matches one URL segment. */
  readonly path: string;
  /** Default: any role for GET, admin for POST and DELETE. */
  readonly access?: Access;
  readonly summary: string;
  readonly params?: readonly Param[];
  readonly body?: Schema;
  /** The answers of a call that succeeds, by status. */
  readonly responses: Readonly<Record<number, Answer>>;
  /** The error statuses it may answer (#/components/responses/E<status>). */
  readonly errors?: readonly number[];
}

/** A text answer: the body and its content type. */
export interface TextAnswer {
  text: string;
  contentType: string;
}

type ParamNames<P extends string> = P extends `${string}{${infer N}}${infer Rest}` ? N | ParamNames<Rest> : never;
/** The values of a path template's `{name}` segments, URL-decoded. */
export type PathParams<P extends string> = { [N in ParamNames<P>]: string };
/** The query parameters of a route; optional ones may be absent. */
export type QueryParams<R extends Route> = R['params'] extends readonly (infer X)[]
  ? { [Q in X as Q extends { in: 'query'; name: infer N extends string } ? N : never]: Q extends { required: true } ? string : string | undefined }
  : Record<never, never>;
type AnswerOf<A> = A extends { schema: infer S } ? JsonOf<S> : A extends { text: true } ? TextAnswer : null;
/** What a route's handler answers: a documented status, its body, and extra headers (Location). */
export type Reply<R extends Route> = { [S in keyof R['responses']]: readonly [S, AnswerOf<R['responses'][S]>, Readonly<Record<string, string>>?] }[keyof R['responses']];
/** The JSON of any answer a route succeeds with. */
export type SuccessOf<R extends Route> = AnswerOf<R['responses'][keyof R['responses']]>;
/** A route's decoded request body (hex as bytes), or undefined for a route without one. */
export type BodyOf<R extends Route> = R['body'] extends Schema<unknown, infer D> ? D : undefined;

const route = <const R extends Route>(r: R): R => r;
const json = <S extends Schema>(description: string, schema: S) => ({ description, schema });

const keyParam = { name: 'id', in: 'path', required: true, description: `Key id (${KEY_ID_PATTERN})`, schema: string() } as const;
const waitParam = {
  name: 'wait',
  in: 'query',
  required: false,
  description: "'false': check the request, start the session and answer 202 with the running operation to poll at its Location; default 'true': answer when the session has finished",
  schema: oneOf(['true', 'false'], { default: 'true' }),
} as const;
const accepted = {
  description: "With wait=false: the session started; or the key's policy requires approvals the request does not carry: a pending operation. Poll GET /v1/operations/{id}",
  headers: { Location: { description: '/v1/operations/{id}' } },
  schema: object({ operation: union([OperationSchema, PendingOperationSchema]) }),
} as const;
/** 202 of a route that is otherwise awaited: the policy requires approvals (docs/governance.md). */
const pendingApproval = {
  description: "The key's policy requires approvals the request does not carry: a pending operation; approve at POST /v1/operations/{id}/approve",
  headers: { Location: { description: '/v1/operations/{id}' } },
  schema: object({ operation: PendingOperationSchema }),
} as const;
/** The errors of a call that runs a session. */
const OPERATION_ERRORS = [400, 401, 403, 404, 409, 413, 500, 503] as const;

export const ROUTES = {
  health: route({ method: 'GET', path: '/healthz', access: 'public', summary: 'Process up', responses: { 200: json('Up', object({ status: oneOf(['ok']) })) } }),
  ready: route({
    method: 'GET',
    path: '/readyz',
    access: 'public',
    summary: 'Ready: started, the registry accepts writes, and at least as many signers connected as the smallest threshold among active keys (2 without one)',
    responses: { 200: json('Ready', ReadinessSchema), 503: json('Not ready', ReadinessSchema) },
  }),
  metrics: route({ method: 'GET', path: '/metrics', access: 'public', summary: 'Prometheus metrics', responses: { 200: { description: 'Prometheus text exposition', text: true } } }),
  openapi: route({ method: 'GET', path: '/v1/openapi.json', access: 'public', summary: 'This document', responses: { 200: json('OpenAPI 3 document', anyObject()) } }),
  listKeys: route({ method: 'GET', path: '/v1/keys', summary: 'List keys', responses: { 200: json('Keys', object({ keys: array(KeySchema) })) }, errors: [401, 403] }),
  createKey: route({
    method: 'POST',
    path: '/v1/keys',
    summary: 'Create a key by distributed key generation (admin)',
    params: [waitParam],
    body: CreateKeyBodySchema,
    responses: { 201: json('The active key', KeySchema), 202: accepted },
    errors: OPERATION_ERRORS,
  }),
  getKey: route({ method: 'GET', path: '/v1/keys/{id}', summary: 'One key', params: [keyParam], responses: { 200: json('The key', KeySchema) }, errors: [400, 401, 403, 404] }),
  deriveKey: route({
    method: 'GET',
    path: '/v1/keys/{id}/derive',
    summary: 'Child public key at a non-hardened path (no signer involved)',
    params: [keyParam, { name: 'path', in: 'query', required: true, schema: string({ example: 'm/44/0/7' }) }],
    responses: { 200: json('The child key', DerivedKeySchema) },
    errors: [400, 401, 403, 404, 409],
  }),
  sign: route({
    method: 'POST',
    path: '/v1/keys/{id}/sign',
    access: ['admin', 'signer'],
    summary: 'Threshold-sign a message (admin or signer)',
    params: [keyParam],
    body: SignBodySchema,
    responses: { 200: json('The signature', SignatureSchema), 202: pendingApproval },
    errors: OPERATION_ERRORS,
  }),
  signTx: route({
    method: 'POST',
    path: '/v1/keys/{id}/sign-tx',
    access: ['admin', 'signer'],
    summary:
      'Sign an unsigned transaction (admin or signer; docs/transactions.md): every signer parses it, computes what it signs and checks the key policy against what it pays; answers the broadcastable transaction',
    params: [keyParam],
    body: SignTxBodySchema,
    responses: { 200: json('The signed transaction', SignedTransactionSchema), 202: pendingApproval },
    errors: OPERATION_ERRORS,
  }),
  refresh: route({
    method: 'POST',
    path: '/v1/keys/{id}/refresh',
    summary: 'Refresh every share: epoch + 1, same public key (admin)',
    params: [keyParam, waitParam],
    body: RequestOnlyBodySchema,
    responses: { 200: json('The key at its new epoch', KeySchema), 202: accepted },
    errors: OPERATION_ERRORS,
  }),
  reshare: route({
    method: 'POST',
    path: '/v1/keys/{id}/reshare',
    summary: 'Move the key to a new signer set and/or threshold under the same public key: epoch + 1 (admin)',
    params: [keyParam, waitParam],
    body: ReshareBodySchema,
    responses: { 200: json('The key with its new signers, threshold and epoch', KeySchema), 202: accepted },
    errors: OPERATION_ERRORS,
  }),
  repair: route({
    method: 'POST',
    path: '/v1/keys/{id}/repair',
    summary: "Rebuild a signer's lost share from t helpers, none of which learns it; same epoch and public key (admin; not for ecdsa-secp256k1)",
    params: [keyParam, waitParam],
    body: RepairBodySchema,
    responses: { 200: json('The key (unchanged: same epoch, signers and public key)', KeySchema), 202: accepted },
    errors: OPERATION_ERRORS,
  }),
  retire: route({
    method: 'POST',
    path: '/v1/keys/{id}/retire',
    summary: 'Retire the key; signers destroy their shares and attest it (admin)',
    params: [keyParam, waitParam],
    body: RequestOnlyBodySchema,
    responses: { 200: json('The retired key and the destruction attestations received', RetirementSchema), 202: accepted },
    errors: OPERATION_ERRORS,
  }),
  state: route({
    method: 'POST',
    path: '/v1/keys/{id}/state',
    summary: 'Change the key state (admin): suspend, resume, deactivate, compromise, schedule-destroy, cancel-destroy; every signer checks the request and the transition against its own record',
    params: [keyParam],
    body: StateBodySchema,
    responses: { 200: json('The key in its new state', KeySchema), 202: pendingApproval },
    errors: OPERATION_ERRORS,
  }),
  getPolicy: route({
    method: 'GET',
    path: '/v1/keys/{id}/policy',
    summary: "The key's current policy as the coordinator records it (docs/governance.md)",
    params: [keyParam],
    responses: { 200: json('The policy', KeyPolicySchema) },
    errors: [400, 401, 403, 404],
  }),
  setPolicy: route({
    method: 'POST',
    path: '/v1/keys/{id}/policy',
    summary: "Set the key's next policy (admin; op 'policy', policyRequestDigest): recorded, then delivered to every holder, re-sent on reconnect until each answers",
    params: [keyParam],
    body: PolicyBodySchema,
    responses: {
      200: json(
        'The policy recorded, the holders that acknowledged it and those not reached yet',
        object({ keyId: string(), version: integer(), digest: hex(''), policy: nullable(anyObject()), delivered: array(string()), pending: array(string()) }),
      ),
      202: pendingApproval,
    },
    errors: OPERATION_ERRORS,
  }),
  bans: route({
    method: 'GET',
    path: '/v1/keys/{id}/bans',
    summary: "Signers banned from the key's sessions (caught cheating: a signature share that does not verify; ecdsa-secp256k1: named by a consistency check)",
    params: [keyParam],
    responses: { 200: json('Bans', object({ bans: array(BanSchema) })) },
    errors: [400, 401, 403, 404],
  }),
  clearBan: route({
    method: 'DELETE',
    path: '/v1/keys/{id}/bans/{signer}',
    summary: "Lift a signer's ban for the key (admin); audited as 'signer.unbanned'. Each signer keeps its own bans: clear those with `keyquorum-signer unban`",
    params: [keyParam, { name: 'signer', in: 'path', required: true, description: 'The banned signer id', schema: string() }],
    responses: { 204: { description: 'Ban lifted' } },
    errors: [400, 401, 403, 404],
  }),
  listOperations: route({
    method: 'GET',
    path: '/v1/operations',
    summary: 'Operations waiting for approvals (and their later states), newest first',
    params: [{ name: 'state', in: 'query', required: false, description: 'Only operations in this state', schema: oneOf(PENDING_OPERATION_STATES) }],
    responses: { 200: json('Operations', object({ operations: array(PendingOperationSchema) })) },
    errors: [400, 401, 403],
  }),
  operation: route({
    method: 'GET',
    path: '/v1/operations/{id}',
    summary: 'A long operation started with wait=false (running, succeeded with its result, or failed with its error), or an operation waiting for approvals',
    params: [{ name: 'id', in: 'path', required: true, description: 'The operation id (from the 202 answer or its Location)', schema: string() }],
    responses: { 200: json('The operation', union([OperationSchema, PendingOperationSchema])) },
    errors: [401, 403, 404],
  }),
  approve: route({
    method: 'POST',
    path: '/v1/operations/{id}/approve',
    access: ['admin', 'signer', 'auditor'],
    summary: "Approve an operation waiting for approvals (any role): verified against the key's policy, recorded; at quorum the operation runs",
    params: [{ name: 'id', in: 'path', required: true, description: 'The pending operation id', schema: string() }],
    body: ApproveBodySchema,
    responses: { 200: json('The operation in its new state', object({ operation: PendingOperationSchema })) },
    errors: [400, 401, 403, 404, 409, 413, 500, 503],
  }),
  listSigners: route({
    method: 'GET',
    path: '/v1/signers',
    summary: 'Allow-listed signers, their connection state and the epoch each holds per key',
    responses: { 200: json('Signers', object({ signers: array(SignerStatusSchema) })) },
    errors: [401, 403],
  }),
  audit: route({
    method: 'GET',
    path: '/v1/audit',
    summary: 'One page of the hash-chained audit log, oldest first, and the verification of the whole chain',
    params: [
      { name: 'key', in: 'query', required: false, description: "Only this key's entries", schema: string() },
      { name: 'after', in: 'query', required: false, description: 'Entries with a seq above this one (the `next` of the previous page); default 0', schema: string() },
      { name: 'limit', in: 'query', required: false, description: `At most this many entries, 1 to ${AUDIT_PAGE_MAX}; default ${AUDIT_PAGE_DEFAULT}`, schema: string() },
    ],
    responses: {
      200: json(
        'Entries',
        object({
          entries: array(AuditEntrySchema),
          next: nullable(integer({ description: 'Pass as `after` for the next page; null on the last page' })),
          verification: AuditVerificationSchema,
          checkpoints: array(AuditCheckpointSchema, { description: "Signers' cosignatures of the entries this page covers (empty on one key's pages; absent from older coordinators)" }),
        }, { optional: ['checkpoints'] }),
      ),
    },
    errors: [401, 403],
  }),
} as const;

export type Routes = typeof ROUTES;
export type RouteName = keyof Routes;

/** Who may call `r`. */
export function accessOf(r: Route): Access {
  if (r.access !== undefined) return r.access;
  return r.method === 'GET' ? ['admin', 'signer', 'auditor'] : ['admin'];
}

/** The target of a call: the path template filled with URL-encoded values, then the query string. */
export function targetOf(r: Route, params: Readonly<Record<string, string>> = {}, query: Readonly<Record<string, string | undefined>> = {}): string {
  const path = r.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(params[name] ?? ''));
  const q = Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined);
  return q.length === 0 ? path : `${path}?${q.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}`;
}
