/**
 * Operations waiting for approvals (docs/governance.md, "Coordinator and HTTP API"):
 * when a key's policy requires approvals for an operation and its request carries
 * none (or too few), the coordinator answers 202 with the operation instead of running
 * it. The SDK has ONE shape for that answer, whatever the call (sign, refresh,
 * reshare, repair, retire, changeState, setPolicy): it throws `ApprovalPendingError`,
 * a ClientError with code 'APPROVAL_PENDING', status 202 and the `operation`. Approvers
 * then approve `operation.id` (`approve`, `approveWithKey`, `keyquorum approve`); the
 * approval that completes the quorum runs the operation, and `getOperation(id)` /
 * `waitForApproval(id)` give its result.
 */
import type { PendingOperationJson, PendingOperationState } from '@keyquorum/protocol';
import { ClientError } from './errors.ts';

export type ApprovalOperationState = PendingOperationState;

/**
 * An operation that needs approvals, as the coordinator serves it (GET
 * /v1/operations/{id}; `PendingOperationSchema` of the HTTP contract): `id` the hex
 * `clientRequestId` of `request`, `required` approvals for `action`, `approvals` the
 * approver ids so far, `challenge` what approvers sign (recompute it: `reviewOperation`),
 * `expiresAt` the approval deadline (ms), `params` the route body without `request`
 * (what is approved), `result` / `error` once run.
 */
export type PendingOperation = PendingOperationJson;

/** Whether `v` looks like an operation waiting for approvals (its `kind` says so). */
export function isPendingOperation(v: unknown): v is PendingOperation {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return o.kind === 'approval' && typeof o.id === 'string' && typeof o.keyId === 'string' && typeof o.required === 'number' && Array.isArray(o.approvals);
}

/** An operation the coordinator accepted but holds until its approvals arrive (HTTP 202). */
export class ApprovalPendingError extends ClientError {
  constructor(readonly operation: PendingOperation) {
    super('APPROVAL_PENDING', {
      status: 202,
      message: `${operation.op} of ${operation.keyId} waits for approvals: ${operation.approvals.length} of ${operation.required}; operation ${operation.id}`,
    });
  }
}

export function isApprovalPending(e: unknown): e is ApprovalPendingError {
  return e instanceof ApprovalPendingError;
}
