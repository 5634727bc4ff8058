/**
 * The coordinator side of per-key policy and approval quorums (docs/governance.md).
 *
 * `admit` replaces the plain request check (checks.ts `authorise`) of every operation
 * on a key: it authenticates the client's request, applies the client allow-list of
 * the coordinator's copy of the key's policy, and, when the policy requires approvals
 * for the action, either lets the request through once with enough valid approvals
 * attached, or records it as a pending operation (`ApprovalPending`: HTTP 202). Such
 * a request is honoured until its approval deadline instead of the usual skew; its
 * nonce is remembered durably until then (registry/governance.ts `approved_requests`),
 * so it runs once. Every refusal by a rule is audited ('policy.denied', where
 * 'coordinator') and answered 403 POLICY_DENIED naming the rule; every signer checks
 * again with its own copy.
 *
 * `approve` records one approval of a pending operation (verified under the current
 * policy) and, at quorum, runs it through the coordinator call the route runs, with
 * the approvals attached.
 */
import { bytesToHex } from '@noble/hashes/utils.js';
import {
  DEFAULT_POLICY,
  PolicyDeniedError,
  approvalChallengeHex,
  approvalDeadline,
  approvalFromJson,
  apiErrorToJson,
  checkClient,
  checkPolicySuccessor,
  checkRawSign,
  checkSignPolicy,
  checkTxPolicy,
  parsePolicy,
  clientRequestId,
  policyDigest,
  policyToJson,
  keyToJson,
  requestToJson,
  requiredApprovals,
  retirementToJson,
  signatureToJson,
  signedTxToJson,
  txRequiredApprovals,
  verifyApproval,
  WireError,
  type ApprovalAction,
  type ClientRequest,
  type ClientRuleOperation,
  type KeyPolicy,
  type KeyPolicyJson,
  type Operation,
  type PendingOperationJson,
  type PendingOperationState,
  type Approval,
  type ParsedTx,
  type VelocityRule,
} from '@keyquorum/protocol';
import type { CoordinatorApi } from './api.ts';
import { authorise } from './checks.ts';
import type { ResolvedOptions } from './config.ts';
import { ApprovalPending, CoordinatorError, policyDenied, publicError } from './errors.ts';
import type { PendingOperation, CoordinatorStore, RegistryKey } from './store/types.ts';
import { isTxParams, parseTx, type TxParams } from './tx.ts';

/** What an operation on a key asks to be admitted. */
export interface Admission {
  op: Operation & ClientRuleOperation;
  action: ApprovalAction;
  key: RegistryKey;
  /** The client's request as the call carries it (unchecked). */
  request: unknown;
  digest: Uint8Array;
  /** The call's parameters without `request` and `keyId` (bytes as Uint8Array): what approvers approve. */
  params: Record<string, unknown>;
  /** The operation's own policy rules (sign: `checkSign`), run on the authenticated request before it waits for approvals or runs. */
  precheck?: (request: ClientRequest) => void | Promise<void>;
  /** The approvals the action needs under `policy`, when not `requiredApprovals` (sign-tx: `txRequiredApprovals` of the transaction). */
  required?: (policy: KeyPolicy) => number;
}

export interface Admitted {
  request: ClientRequest;
  /** The approvers verified (empty when the policy requires none). */
  approvers: string[];
}

/** Runs a pending operation's coordinator call; answers the route's JSON. */
export type OperationRunner = (op: PendingOperation, request: ClientRequest) => Promise<Record<string, unknown>>;

const toHex = (v: unknown): unknown => {
  if (v instanceof Uint8Array) return bytesToHex(v);
  if (Array.isArray(v)) return v.map(toHex);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => [k, toHex(x)]));
  return v;
};

/** A pending operation as the API answers it. */
export function operationToJson(o: PendingOperation): PendingOperationJson {
  const json: PendingOperationJson = {
    id: o.id,
    kind: 'approval',
    keyId: o.keyId,
    op: o.op,
    action: o.action,
    state: o.state,
    required: o.required,
    approvals: o.approvals.map((a) => a.approver),
    challenge: approvalChallengeHex(o.request),
    expiresAt: o.expiresAt,
    request: requestToJson(o.request),
    params: toHex(o.params) as Record<string, unknown>,
  };
  if (o.result !== undefined) json.result = o.result;
  if (o.error !== undefined) json.error = o.error;
  return json;
}

export class Governance {
  constructor(
    private readonly o: ResolvedOptions,
    private readonly registry: () => CoordinatorStore,
  ) {}

  /** The coordinator's copy of the key's current policy (`DEFAULT_POLICY` without one). */
  async policyOf(keyId: string): Promise<KeyPolicy> {
    return (await this.registry().policy(keyId))?.policy ?? DEFAULT_POLICY;
  }

  /** A policy in its JSON form, checked (BAD_REQUEST naming the field). */
  parsePolicy(json: unknown): KeyPolicy {
    try {
      return parsePolicy(json);
    } catch (e) {
      if (e instanceof WireError) throw new CoordinatorError('BAD_REQUEST', { field: e.field, message: e.message, cause: e });
      throw e;
    }
  }

  /** `next` must be the next version of the key's policy (403 POLICY_DENIED rule 'version', audited). */
  async checkSuccessor(keyId: string, next: KeyPolicy): Promise<void> {
    const current = await this.policyOf(keyId);
    try {
      checkPolicySuccessor(current, next);
    } catch (e) {
      throw e instanceof PolicyDeniedError ? await this.deny(keyId, 'policy', e) : e;
    }
  }

  async view(keyId: string): Promise<KeyPolicyJson> {
    const policy = await this.policyOf(keyId);
    return { keyId, version: policy.version, digest: bytesToHex(policyDigest(policy)), policy: policy.version === 0 ? null : policyToJson(policy) };
  }

  /** Audits a refusal by a rule here and answers it as 403 POLICY_DENIED. */
  async deny(keyId: string, op: string, e: PolicyDeniedError, extra: { clientKey?: string; operation?: string } = {}): Promise<CoordinatorError> {
    await this.registry().append('policy.denied', keyId, { rule: e.rule, where: 'coordinator', op, reason: e.message, ...extra });
    return policyDenied(e);
  }

  /**
   * The request authenticated and admitted under the key's policy (see the header).
   * No timer or network wait up to the approvals' verification (store calls of the
   * SQLite store settle within microtasks), so a call refused or made pending here
   * settles before its caller's next macrotask (operations.ts).
   */
  async admit(a: Admission): Promise<Admitted> {
    const registry = this.registry();
    const policy = await this.policyOf(a.key.id);
    const required = a.required?.(policy) ?? requiredApprovals(policy, a.action);
    const now = this.o.now();
    // An approval-needing request is honoured until its deadline, once: its nonce is consumed when it runs, not here.
    const request = required === 0
      ? await authorise(this.o, registry, a.op, a.key.id, a.request, a.digest)
      : await authorise({ ...this.o, maxSkewMs: policy.approvalTtlSeconds * 1000 }, { checkAndRemember: () => true }, a.op, a.key.id, a.request, a.digest);
    const clientKey = bytesToHex(request.clientKey);
    try {
      checkClient(policy, a.op, clientKey);
    } catch (e) {
      if (e instanceof PolicyDeniedError) throw await this.deny(a.key.id, a.op, e, { clientKey });
      throw e;
    }
    await a.precheck?.(request);
    if (required === 0) return { request, approvers: [] };
    if (request.timestamp > now + this.o.maxSkewMs) throw new CoordinatorError('UNAUTHENTICATED', { field: 'request.timestamp', message: 'STALE: request.timestamp is in the future' });
    const deadline = approvalDeadline(policy, request);
    const id = bytesToHex(clientRequestId(request));
    const given = request.approvals ?? [];
    const approvers: string[] = [];
    for (const approval of given) {
      if (approvers.includes(approval.approver)) throw await this.deny(a.key.id, a.op, new PolicyDeniedError('approvals', `${approval.approver} approved twice`), { clientKey, operation: id });
      try {
        await verifyApproval(policy, request, approval);
      } catch (e) {
        if (e instanceof PolicyDeniedError) throw await this.deny(a.key.id, a.op, e, { clientKey, operation: id });
        throw e;
      }
      approvers.push(approval.approver);
    }
    if (approvers.length >= required) {
      if (!(await registry.admitApproved(clientKey, bytesToHex(request.nonce), deadline))) {
        throw new CoordinatorError('UNAUTHENTICATED', { field: 'request.nonce', message: 'REPLAY: this approved request was already let through' });
      }
      return { request, approvers: approvers.sort() };
    }
    throw new ApprovalPending(operationToJson(await this.#pending(a, request, id, required, deadline, given)));
  }

  /** Records the operation waiting for approvals (audited), or answers the one recorded for this request. */
  async #pending(a: Admission, request: ClientRequest, id: string, required: number, expiresAt: number, approvals: Approval[]): Promise<PendingOperation> {
    const g = this.registry();
    const existing = await g.operation(id);
    if (existing !== undefined) return existing;
    await g.transaction(async (tx) => {
      // Read again in the transaction: a concurrent identical request may have recorded it meanwhile.
      if ((await tx.operation(id)) !== undefined) return;
      await tx.addOperation({ id, keyId: a.key.id, op: a.op, action: a.action, required, request, params: a.params, approvals, expiresAt });
      await tx.append('operation.pending', a.key.id, { id, op: a.op, action: a.action, required, approvals: approvals.map((x) => x.approver), expiresAt, clientKey: bytesToHex(request.clientKey) });
    });
    this.o.logger.info('operation waits for approvals', { id, keyId: a.key.id, op: a.op, required });
    return (await g.operation(id))!;
  }

  async list(state?: PendingOperationState): Promise<PendingOperationJson[]> {
    // Expire what is due first, so that a listing of pending operations holds none past its deadline.
    const out: PendingOperationJson[] = [];
    for (const o of await this.registry().operations(state)) out.push(operationToJson(await this.#expireIfDue(o)));
    return out.filter((o) => state === undefined || o.state === state);
  }

  async get(id: string): Promise<PendingOperationJson | undefined> {
    const o = await this.registry().operation(id);
    return o === undefined ? undefined : operationToJson(await this.#expireIfDue(o));
  }

  /** A pending operation past its deadline becomes 'expired' (audited once). */
  async #expireIfDue(o: PendingOperation): Promise<PendingOperation> {
    if (o.state !== 'pending' || this.o.now() <= o.expiresAt) return o;
    const g = this.registry();
    await g.transaction(async (tx) => {
      if (await tx.setOperationState(o.id, 'pending', 'expired')) await tx.append('operation.expired', o.keyId, { id: o.id, op: o.op, approvals: o.approvals.map((a) => a.approver) });
    });
    return (await g.operation(o.id))!;
  }

  /**
   * Records `approvalJson` for operation `id` (verified against the current policy;
   * 403 POLICY_DENIED 'approvals' and nothing recorded if not); at quorum runs it with
   * `run` and records its result or error. 404 unknown, 409 OPERATION_EXPIRED.
   */
  async approve(id: string, approvalJson: unknown, run: OperationRunner): Promise<PendingOperationJson> {
    const g = this.registry();
    const found = await g.operation(id);
    if (found === undefined) throw new CoordinatorError('NOT_FOUND', { field: 'id', message: `no pending operation ${id}` });
    const op = await this.#expireIfDue(found);
    if (op.state === 'expired') throw new CoordinatorError('OPERATION_EXPIRED', { field: 'id', message: `operation ${id} expired at ${new Date(op.expiresAt).toISOString()}` });
    if (op.state !== 'pending') throw new CoordinatorError('WRONG_STATE', { field: 'id', message: `operation ${id} is ${op.state}` });
    let approval: Approval;
    try {
      approval = approvalFromJson(approvalJson, 'approval');
    } catch (e) {
      if (e instanceof WireError) throw new CoordinatorError('BAD_REQUEST', { field: e.field, message: e.message, cause: e });
      throw e;
    }
    const policy = await this.policyOf(op.keyId);
    try {
      await verifyApproval(policy, op.request, approval);
    } catch (e) {
      if (e instanceof PolicyDeniedError) throw await this.deny(op.keyId, op.op, e, { operation: id });
      throw e;
    }
    const required = await this.#required(op, policy);
    // Read, add the approval and (at quorum) claim the run in one transaction: two approvals arriving together both count, and one runs it.
    const step = await g.transaction(async (tx) => {
      const fresh = (await tx.operation(id))!;
      if (fresh.state !== 'pending') throw new CoordinatorError('WRONG_STATE', { field: 'id', message: `operation ${id} is ${fresh.state}` });
      if (fresh.approvals.some((a) => a.approver === approval.approver)) return { fresh };
      const approvals = [...fresh.approvals, approval];
      await tx.setApprovals(id, approvals);
      await tx.append('operation.approved', op.keyId, { id, approver: approval.approver, approvals: approvals.length, required });
      return { approvals, run: approvals.length >= required && (await tx.setOperationState(id, 'pending', 'running')) };
    });
    if (step.approvals === undefined) return operationToJson(step.fresh);
    const { approvals } = step;
    if (!step.run) return operationToJson((await g.operation(id))!);
    const approvers = approvals.map((a) => a.approver).sort();
    try {
      const result = await run((await g.operation(id))!, { ...op.request, approvals });
      await g.transaction(async (tx) => {
        await tx.setOperationState(id, 'running', 'succeeded', { result });
        await tx.append('operation.finished', op.keyId, { id, op: op.op, state: 'succeeded', approvers });
      });
    } catch (e) {
      const error = apiErrorToJson(publicError(e));
      await g.transaction(async (tx) => {
        await tx.setOperationState(id, 'running', 'failed', { error });
        await tx.append('operation.finished', op.keyId, { id, op: op.op, state: 'failed', approvers, error: error.code });
      });
    }
    return operationToJson((await g.operation(id))!);
  }

  /** The approvals operation `op` needs under `policy`: a sign-tx's are its transaction's (parsed again). */
  async #required(op: PendingOperation, policy: KeyPolicy): Promise<number> {
    const key = (await this.registry().getKey(op.keyId))?.publicKey;
    if (!isTxParams(op.params) || key === undefined) return requiredApprovals(policy, op.action);
    return txRequiredApprovals(policy, (await parseTx(key, op.params as unknown as TxParams)).parsed);
  }

  /**
   * The sign rules of the coordinator's copy (checkSignPolicy: clients, validity,
   * derivation, refresh, velocity with the coordinator's own count; a raw signature
   * also `checkRawSign`): 403 POLICY_DENIED before any signer is contacted, or the
   * request waits for approvals.
   */
  async checkSign(key: RegistryKey, request: ClientRequest, path: string | undefined, kind: 'raw' | 'tx' = 'raw'): Promise<void> {
    const policy = await this.policyOf(key.id);
    const g = this.registry();
    const requestId = bytesToHex(clientRequestId(request));
    const now = this.o.now();
    const indices = path === undefined ? [] : path.split('/').slice(1).map(Number);
    const pathLabel = path ?? 'm';
    // The rule check is synchronous: the counts it may ask for are read first.
    // The epoch's start matters only to a refresh rule (checkSignPolicy): not read otherwise.
    const epochSince = policy.refresh === undefined ? key.createdAt : await g.epochSince(key.id, key.createdAt);
    const counts = new Map<VelocityRule, number>();
    for (const rule of policy.velocity) counts.set(rule, await g.signUses(key.id, now - rule.windowSeconds * 1000, rule.per === 'path' ? pathLabel : undefined, requestId));
    try {
      if (kind === 'raw') checkRawSign(policy);
      checkSignPolicy(policy, { now, clientKeyHex: bytesToHex(request.clientKey), path: indices, epochSince, used: (rule) => counts.get(rule)! });
    } catch (e) {
      if (e instanceof PolicyDeniedError) throw await this.deny(key.id, 'sign', e, { clientKey: bytesToHex(request.clientKey) });
      throw e;
    }
  }

  /**
   * The transaction rules of the coordinator's copy (checkTxPolicy: network,
   * destinations, fee, opaque, per-transaction amounts). Its window totals count
   * nothing spent: the spend ledgers are the signers' (each counts what it signed).
   */
  async checkTx(key: RegistryKey, request: ClientRequest, tx: ParsedTx): Promise<void> {
    const policy = await this.policyOf(key.id);
    try {
      checkTxPolicy(policy, tx, () => 0n, this.o.now());
    } catch (e) {
      if (e instanceof PolicyDeniedError) throw await this.deny(key.id, 'sign', e, { clientKey: bytesToHex(request.clientKey) });
      throw e;
    }
  }

  /** Counts a sign the coordinator starts (once per request) for the velocity rules. */
  async recordSign(key: RegistryKey, request: ClientRequest, path: string | undefined): Promise<void> {
    const policy = await this.policyOf(key.id);
    const requestId = bytesToHex(clientRequestId(request));
    const pathLabel = path ?? 'm';
    const longest = Math.max(0, ...policy.velocity.map((r) => r.windowSeconds)) * 1000;
    if (policy.velocity.length > 0) await this.registry().recordSignUse(key.id, requestId, pathLabel, longest);
  }
}

/** The coordinator calls an approved operation runs through: the ones its route runs. */
export type OperationCalls = Pick<CoordinatorApi, 'sign' | 'signTx' | 'refresh' | 'reshare' | 'repair' | 'retire' | 'changeState' | 'setPolicy'>;

/** Runs pending operation `op` with `request` (its approvals attached) through `c`, answering the route's JSON. */
export async function runOperation(c: OperationCalls, op: PendingOperation, request: ClientRequest): Promise<Record<string, unknown>> {
  // The parameters were checked by the same call when it made the operation pending; it checks them again.
  const args = <T>() => ({ ...op.params, keyId: op.keyId, request }) as unknown as T;
  switch (op.op) {
    case 'sign':
      return isTxParams(op.params) ? signedTxToJson(await c.signTx(args())) : signatureToJson(await c.sign(args()));
    case 'refresh':
      return keyToJson(await c.refresh(args()));
    case 'reshare':
      return keyToJson(await c.reshare(args()));
    case 'repair':
      return keyToJson(await c.repair(args()));
    case 'retire':
      return retirementToJson(await c.retire(args()));
    case 'state':
      return keyToJson(await c.changeState(args()));
    case 'policy':
      return { ...(await c.setPolicy(args())) };
    default:
      throw new CoordinatorError('INTERNAL', { message: `no approved operation runs ${op.op}` });
  }
}

/**
 * At start: an approved operation still 'running' was interrupted by the previous
 * process's end. Whether it took effect is in the key's record and the audit log; the
 * operation is marked failed, saying so (audited 'operation.finished').
 */
export async function failInterrupted(registry: CoordinatorStore): Promise<void> {
  for (const op of await registry.operations('running')) {
    const error = { code: 'INTERNAL', message: 'interrupted by a coordinator restart while it ran: see the key and the audit log for whether it took effect' };
    await registry.transaction(async (tx) => {
      if (await tx.setOperationState(op.id, 'running', 'failed', { error })) {
        await tx.append('operation.finished', op.keyId, { id: op.id, op: op.op, state: 'failed', approvers: op.approvals.map((a) => a.approver).sort(), error: 'INTERRUPTED' });
      }
    });
  }
}
