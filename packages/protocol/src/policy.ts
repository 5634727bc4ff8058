/**
 * Per-key policy (docs/governance.md): a versioned JSON document that says who must
 * approve what, which clients may ask, how often a key may sign, when, how deep it
 * may derive, and how often it must be refreshed. The coordinator keeps a copy for
 * early refusal; every signer keeps its own and enforces it itself, so a compromised
 * coordinator cannot loosen it. A key without a policy has `DEFAULT_POLICY` (version
 * 0: no rule beyond client roles). A change is an admin request (op 'policy',
 * `policyRequestDigest`) naming the next version exactly, approved by the quorum the
 * CURRENT policy names for 'policy'.
 *
 * JSON form (docs/governance.md; the `transactions` section: policy-tx-rules.ts):
 *   { "format": 1, "version": 2,
 *     "approvers": [ { "id": "alice", "type": "ed25519", "publicKey": "<64 hex>" },
 *                    { "id": "bob-phone", "type": "webauthn", "credentialId": "<base64url>",
 *                      "publicKey": "<base64url COSE key>", "rpId": "example.com",
 *                      "origin": "https://example.com" } ],
 *     "approvals": { "sign": 2, "resume": 2, "policy": 2 }, "approvalTtlSeconds": 3600,
 *     "clients": { "sign": ["<64 hex client key>"] },
 *     "velocity": [ { "limit": 10, "windowSeconds": 60, "per": "key" } ],
 *     "notBefore": "2026-01-01T00:00:00Z", "notAfter": "2027-01-01T00:00:00Z",
 *     "maxDerivationIndex": 1000,
 *     "refresh": { "periodSeconds": 2592000, "graceSeconds": 86400 } }
 */
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { taggedHash } from './canonical.ts';
import { parseTransactionRules, transactionRulesToJson, type TransactionRules } from './policy-tx-rules.ts';
import { WireError } from './errors.ts';
import { array, fieldPath, isPlainObject, oneOf, str, strictObject, uint } from './validate.ts';

export const POLICY_FORMAT = 1;
export const POLICY_TAG = 'keyquorum/policy/v1';

/** What a policy can require approvals for: the operations and the requested state transitions. */
export const APPROVAL_ACTIONS = [
  'sign', 'refresh', 'reshare', 'repair', 'retire',
  'suspend', 'resume', 'deactivate', 'compromise', 'schedule-destroy', 'cancel-destroy',
  'policy',
] as const;
export type ApprovalAction = (typeof APPROVAL_ACTIONS)[number];

/** Operations a policy may restrict to named client keys. */
export const CLIENT_RULE_OPERATIONS = ['sign', 'refresh', 'reshare', 'repair', 'retire', 'state', 'policy'] as const;
export type ClientRuleOperation = (typeof CLIENT_RULE_OPERATIONS)[number];

/** The rule a refusal names (`PolicyDeniedError.rule`, API error `rule`). */
export const POLICY_RULES = ['approvals', 'clients', 'velocity', 'validity', 'derivation', 'refresh', 'version', 'raw-sign', 'network', 'destination', 'amount', 'fee', 'opaque'] as const;
export type PolicyRule = (typeof POLICY_RULES)[number];

export const APPROVER_ID_PATTERN = /^[A-Za-z0-9._@-]{1,64}$/;
export const MAX_APPROVERS = 32;
export const MAX_VELOCITY_RULES = 8;
export const MAX_POLICY_CLIENTS = 64;
/** The default and longest life of an operation waiting for approvals. */
export const DEFAULT_APPROVAL_TTL_SECONDS = 3600;
export const MAX_APPROVAL_TTL_SECONDS = 7 * 24 * 3600;
const MAX_SECONDS = 10 * 365 * 24 * 3600;
const MAX_INDEX = 0xffffffff;
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?Z$/;
const BASE64URL = /^[A-Za-z0-9_-]{1,1400}$/;
const RP_ID = /^(?=.{1,253}$)[a-z0-9-]+(?:\.[a-z0-9-]+)*$/;
const ORIGIN = /^(?:https:\/\/[a-z0-9.-]{1,253}(?::\d{1,5})?|http:\/\/localhost(?::\d{1,5})?)$/;

export interface Ed25519Approver { id: string; type: 'ed25519'; publicKey: Uint8Array }
/** A WebAuthn credential (a passkey); `publicKey` is its COSE key as registration returned it. */
export interface PasskeyApprover { id: string; type: 'webauthn'; credentialId: string; publicKey: Uint8Array; rpId: string; origin: string }
export type Approver = Ed25519Approver | PasskeyApprover;

/** At most `limit` signatures in any `windowSeconds`, counted per key or per derivation path. */
export interface VelocityRule { limit: number; windowSeconds: number; per: 'key' | 'path' }

export interface KeyPolicy {
  format: typeof POLICY_FORMAT;
  /** 0 for the default policy; each change names the next version. */
  version: number;
  approvers: Approver[];
  /** How many distinct approvers each action needs (absent: none). */
  approvals: Partial<Record<ApprovalAction, number>>;
  approvalTtlSeconds: number;
  /** Client keys (hex) allowed per operation, on top of their roles (absent: any client with the role). */
  clients: Partial<Record<ClientRuleOperation, string[]>>;
  velocity: VelocityRule[];
  /** The cryptoperiod, ms since the epoch: no signature before `notBefore` or after `notAfter`. */
  notBefore?: number;
  notAfter?: number;
  /** The largest index any derivation step may use (hardened or not). */
  maxDerivationIndex?: number;
  /** Refresh the shares every `periodSeconds`; signers refuse to sign once overdue by more than `graceSeconds`. */
  refresh?: { periodSeconds: number; graceSeconds: number };
  /** What transactions the key may sign (policy-tx-rules.ts, docs/transactions.md); absent: no transaction rules. */
  transactions?: TransactionRules;
}

/** The policy of a key that never had one set. */
export const DEFAULT_POLICY: Readonly<KeyPolicy> = Object.freeze({
  format: POLICY_FORMAT,
  version: 0,
  approvers: [],
  approvals: {},
  approvalTtlSeconds: DEFAULT_APPROVAL_TTL_SECONDS,
  clients: {},
  velocity: [],
});

/** A use of a key the policy refuses; `rule` names the rule. */
export class PolicyDeniedError extends Error {
  override readonly name = 'PolicyDeniedError';
  readonly code = 'POLICY_DENIED';
  constructor(readonly rule: PolicyRule, message: string) {
    super(`POLICY_DENIED (${rule}): ${message}`);
  }
}

const POLICY_KEYS = ['format', 'version', 'approvers', 'approvals', 'approvalTtlSeconds', 'clients', 'velocity', 'notBefore', 'notAfter', 'maxDerivationIndex', 'refresh', 'transactions'] as const;

/** Validates a policy in its JSON form; throws WireError naming the field ('policy.approvals.sign'). */
export function parsePolicy(v: unknown, field = 'policy'): KeyPolicy {
  const o = strictObject(v, POLICY_KEYS, ['format', 'version'], field);
  if (o.format !== POLICY_FORMAT) throw new WireError('UNSUPPORTED_VERSION', { field: fieldPath(field, 'format') });
  const approvers = array(o.approvers ?? [], MAX_APPROVERS, fieldPath(field, 'approvers')).map((a, i) => parseApprover(a, fieldPath(fieldPath(field, 'approvers'), i)));
  const ids = new Set<string>();
  for (const [i, a] of approvers.entries()) {
    if (ids.has(a.id)) throw new WireError('BAD_FIELD', { field: fieldPath(fieldPath(fieldPath(field, 'approvers'), i), 'id'), message: `approver id ${a.id} appears twice` });
    ids.add(a.id);
  }
  const approvals: KeyPolicy['approvals'] = {};
  const approvalsField = fieldPath(field, 'approvals');
  for (const [action, n] of Object.entries(object(o.approvals ?? {}, approvalsField))) {
    const f = fieldPath(approvalsField, action);
    oneOf(action, APPROVAL_ACTIONS, f);
    const count = uint(n, 0, MAX_APPROVERS, f);
    if (count > approvers.length) throw new WireError('BAD_FIELD', { field: f, message: `${action} needs ${count} approvals but the policy names ${approvers.length} approvers` });
    if (count > 0) approvals[action as ApprovalAction] = count;
  }
  const clients: KeyPolicy['clients'] = {};
  const clientsField = fieldPath(field, 'clients');
  for (const [op, list] of Object.entries(object(o.clients ?? {}, clientsField))) {
    const f = fieldPath(clientsField, op);
    oneOf(op, CLIENT_RULE_OPERATIONS, f);
    clients[op as ClientRuleOperation] = array(list, MAX_POLICY_CLIENTS, f).map((k, i) => str(k, /^[0-9a-f]{64}$/, fieldPath(f, i)));
  }
  const velocity = array(o.velocity ?? [], MAX_VELOCITY_RULES, fieldPath(field, 'velocity')).map((r, i) => {
    const f = fieldPath(fieldPath(field, 'velocity'), i);
    const rule = strictObject(r, ['limit', 'windowSeconds', 'per'], ['limit', 'windowSeconds', 'per'], f);
    return { limit: uint(rule.limit, 0, 1_000_000, fieldPath(f, 'limit')), windowSeconds: uint(rule.windowSeconds, 1, MAX_SECONDS, fieldPath(f, 'windowSeconds')), per: oneOf(rule.per, ['key', 'path'] as const, fieldPath(f, 'per')) };
  });
  const policy: KeyPolicy = {
    format: POLICY_FORMAT,
    version: uint(o.version, 1, Number.MAX_SAFE_INTEGER, fieldPath(field, 'version')),
    approvers,
    approvals,
    approvalTtlSeconds: uint(o.approvalTtlSeconds ?? DEFAULT_APPROVAL_TTL_SECONDS, 1, MAX_APPROVAL_TTL_SECONDS, fieldPath(field, 'approvalTtlSeconds')),
    clients,
    velocity,
  };
  if (o.notBefore !== undefined) policy.notBefore = instant(o.notBefore, fieldPath(field, 'notBefore'));
  if (o.notAfter !== undefined) policy.notAfter = instant(o.notAfter, fieldPath(field, 'notAfter'));
  if (policy.notBefore !== undefined && policy.notAfter !== undefined && policy.notAfter <= policy.notBefore) {
    throw new WireError('BAD_FIELD', { field: fieldPath(field, 'notAfter'), message: 'notAfter must be later than notBefore' });
  }
  if (o.maxDerivationIndex !== undefined) policy.maxDerivationIndex = uint(o.maxDerivationIndex, 0, MAX_INDEX, fieldPath(field, 'maxDerivationIndex'));
  if (o.refresh !== undefined) {
    const f = fieldPath(field, 'refresh');
    const r = strictObject(o.refresh, ['periodSeconds', 'graceSeconds'], ['periodSeconds'], f);
    policy.refresh = { periodSeconds: uint(r.periodSeconds, 60, MAX_SECONDS, fieldPath(f, 'periodSeconds')), graceSeconds: uint(r.graceSeconds ?? 0, 0, MAX_SECONDS, fieldPath(f, 'graceSeconds')) };
  }
  if (o.transactions !== undefined) policy.transactions = parseTransactionRules(o.transactions, fieldPath(field, 'transactions'), approvers.length);
  return policy;
}

function parseApprover(v: unknown, field: string): Approver {
  if (!isPlainObject(v)) throw new WireError('BAD_FIELD', { field });
  const type = oneOf(v.type, ['ed25519', 'webauthn'] as const, fieldPath(field, 'type'));
  if (type === 'ed25519') {
    const o = strictObject(v, ['id', 'type', 'publicKey'], ['id', 'type', 'publicKey'], field);
    const hex = str(o.publicKey, /^[0-9a-f]{64}$/, fieldPath(field, 'publicKey'));
    return { id: str(o.id, APPROVER_ID_PATTERN, fieldPath(field, 'id')), type, publicKey: hexToBytes(hex) };
  }
  const keys = ['id', 'type', 'credentialId', 'publicKey', 'rpId', 'origin'] as const;
  const o = strictObject(v, keys, keys, field);
  return {
    id: str(o.id, APPROVER_ID_PATTERN, fieldPath(field, 'id')),
    type,
    credentialId: str(o.credentialId, BASE64URL, fieldPath(field, 'credentialId')),
    publicKey: new Uint8Array(Buffer.from(str(o.publicKey, BASE64URL, fieldPath(field, 'publicKey')), 'base64url')),
    rpId: str(o.rpId, RP_ID, fieldPath(field, 'rpId')),
    origin: str(o.origin, ORIGIN, fieldPath(field, 'origin')),
  };
}

function object(v: unknown, field: string): Record<string, unknown> {
  if (!isPlainObject(v)) throw new WireError('BAD_FIELD', { field, message: 'expected an object' });
  return v;
}

function instant(v: unknown, field: string): number {
  const s = str(v, INSTANT, field);
  const ms = Date.parse(s);
  if (!Number.isSafeInteger(ms) || ms < 0) throw new WireError('BAD_FIELD', { field, message: 'expected an instant such as 2027-01-01T00:00:00Z' });
  return ms;
}

/** The JSON form of a policy, keys in canonical (sorted) order; `parsePolicy(policyToJson(p))` is `p`. */
export function policyToJson(p: KeyPolicy): Record<string, unknown> {
  const out: Record<string, unknown> = {
    approvalTtlSeconds: p.approvalTtlSeconds,
    approvals: sortKeys(p.approvals),
    approvers: p.approvers.map((a) =>
      a.type === 'ed25519'
        ? { id: a.id, publicKey: bytesToHex(a.publicKey), type: a.type }
        : { credentialId: a.credentialId, id: a.id, origin: a.origin, publicKey: Buffer.from(a.publicKey).toString('base64url'), rpId: a.rpId, type: a.type },
    ),
    clients: sortKeys(p.clients),
    format: p.format,
  };
  if (p.maxDerivationIndex !== undefined) out.maxDerivationIndex = p.maxDerivationIndex;
  if (p.notAfter !== undefined) out.notAfter = new Date(p.notAfter).toISOString();
  if (p.notBefore !== undefined) out.notBefore = new Date(p.notBefore).toISOString();
  if (p.refresh !== undefined) out.refresh = { graceSeconds: p.refresh.graceSeconds, periodSeconds: p.refresh.periodSeconds };
  if (p.transactions !== undefined) out.transactions = transactionRulesToJson(p.transactions);
  out.velocity = p.velocity.map((r) => ({ limit: r.limit, per: r.per, windowSeconds: r.windowSeconds }));
  out.version = p.version;
  return out;
}

function sortKeys<T>(o: Partial<Record<string, T>>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) as Record<string, T>;
}

/** The policy's canonical bytes: its JSON form with sorted keys and no whitespace. */
export function canonicalPolicy(p: KeyPolicy): Uint8Array {
  return utf8ToBytes(JSON.stringify(policyToJson(p)));
}

/** SHA-256(lp(POLICY_TAG) || canonical bytes): what a policy change request and the records name. */
export function policyDigest(p: KeyPolicy): Uint8Array {
  return taggedHash(POLICY_TAG, canonicalPolicy(p));
}


/** How many approvals `action` needs under `policy`. */
export function requiredApprovals(policy: KeyPolicy, action: ApprovalAction): number {
  return policy.approvals[action] ?? 0;
}

/**
 * A policy change is allowed only to the next version: no rollback to an older
 * policy, no replay of an earlier change, no skipping.
 */
export function checkPolicySuccessor(current: KeyPolicy, next: KeyPolicy): void {
  if (next.version !== current.version + 1) throw new PolicyDeniedError('version', `policy version ${next.version} does not follow ${current.version}`);
}

/**
 * A reshare or repair hands the key's policy to its new holders (docs/governance.md
 * "Handover"): an old holder takes part only if the START names exactly the policy it
 * enforces, same version and digest (two defaults are equal).
 */
export function checkPolicyHandover(current: KeyPolicy, handed: KeyPolicy): void {
  const same = handed.version === current.version && (current.version === 0 || bytesToHex(policyDigest(handed)) === bytesToHex(policyDigest(current)));
  if (!same) throw new PolicyDeniedError('version', `the START hands over policy v${handed.version}${handed.version === current.version ? ' (another document)' : ''}, this signer enforces v${current.version}`);
}

/** What a signature would be made for: the inputs of the sign rules. */
export interface SignUse {
  /** The verifier's clock, ms. */
  now: number;
  /** Client key of the request, hex. */
  clientKeyHex: string;
  /** Derivation indices (hardened ones with their 2^31 bit), empty for the root key. */
  path: readonly number[];
  /** When this epoch's shares were made (the last DKG, refresh or reshare), ms. */
  epochSince: number;
  /** Signatures already made (or started) inside `rule`'s window for this key, or for this path when `rule.per` is 'path'. */
  used(rule: VelocityRule): number;
}

/**
 * When the shares of an epoch made at `epochSince` (ms) are due for a scheduled refresh
 * under `policy`: `epochSince + periodSeconds`; undefined when the policy has no refresh rule.
 */
export function refreshDueAt(policy: KeyPolicy, epochSince: number): number | undefined {
  return policy.refresh === undefined ? undefined : epochSince + policy.refresh.periodSeconds * 1000;
}

/**
 * A refresh the coordinator starts on its own (refresh START `scheduled: true`): the
 * policy's refresh rule is its standing authorisation, so the key must have one and its
 * shares here must be due by `now`. Throws `PolicyDeniedError` (rule 'refresh').
 */
export function checkScheduledRefresh(policy: KeyPolicy, use: { now: number; epochSince: number }): void {
  const due = refreshDueAt(policy, use.epochSince);
  if (due === undefined) throw new PolicyDeniedError('refresh', 'the key has no refresh rule: a scheduled refresh needs one');
  if (use.now < due) throw new PolicyDeniedError('refresh', `the shares are not due for refresh before ${new Date(due).toISOString()}`);
}

/** Every rule a signature must pass but approvals; throws `PolicyDeniedError` naming the first that refuses. */
export function checkSignPolicy(policy: KeyPolicy, use: SignUse): void {
  checkClient(policy, 'sign', use.clientKeyHex);
  if (policy.notBefore !== undefined && use.now < policy.notBefore) throw new PolicyDeniedError('validity', `the key may sign from ${new Date(policy.notBefore).toISOString()}`);
  if (policy.notAfter !== undefined && use.now > policy.notAfter) throw new PolicyDeniedError('validity', `the key's cryptoperiod ended ${new Date(policy.notAfter).toISOString()}`);
  if (policy.maxDerivationIndex !== undefined) {
    const deepest = use.path.reduce((m, i) => Math.max(m, i & 0x7fffffff), -1);
    if (deepest > policy.maxDerivationIndex) throw new PolicyDeniedError('derivation', `index ${deepest} is above ${policy.maxDerivationIndex}`);
  }
  if (policy.refresh !== undefined) {
    const due = use.epochSince + (policy.refresh.periodSeconds + policy.refresh.graceSeconds) * 1000;
    if (use.now > due) throw new PolicyDeniedError('refresh', `the shares were due for refresh by ${new Date(due).toISOString()}`);
  }
  for (const rule of policy.velocity) {
    if (use.used(rule) >= rule.limit) throw new PolicyDeniedError('velocity', `at most ${rule.limit} signatures per ${rule.windowSeconds} s per ${rule.per}`);
  }
}

/** The client allow-list of `op`, if the policy has one. */
export function checkClient(policy: KeyPolicy, op: ClientRuleOperation, clientKeyHex: string): void {
  const list = policy.clients[op];
  if (list !== undefined && !list.includes(clientKeyHex)) throw new PolicyDeniedError('clients', `client ${clientKeyHex.slice(0, 16)}… may not request ${op} for this key`);
}

/** A policy as it travels in messages and HTTP: its canonical JSON text. */
export function policyFromText(text: string, field = 'policy'): KeyPolicy {
  if (typeof text !== 'string' || text.length > 64 * 1024) throw new WireError('BAD_FIELD', { field });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new WireError('BAD_FIELD', { field, message: 'policy is not JSON' });
  }
  return parsePolicy(json, field);
}

export const policyToText = (p: KeyPolicy): string => JSON.stringify(policyToJson(p));
