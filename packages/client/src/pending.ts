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
import type { ApprovalAction, ClientRequestJson, Operation as RequestOp } from '@keyquorum/protocol';
import { ClientError } from './errors.ts';

export const APPROVAL_OPERATION_STATES = ['pending', 'running', 'succeeded', 'failed', 'expired'] as const;
export type ApprovalOperationState = (typeof APPROVAL_OPERATION_STATES)[number];

/** An operation that needs approvals, as the coordinator serves it (GET /v1/operations/{id}). */
export interface PendingOperation {
  /** Hex `clientRequestId` of the request. */
  id: string;
  kind: 'approval';
  keyId: string;
  op: RequestOp;
  action: ApprovalAction;
  state: ApprovalOperationState;
  /** Approvals the key's policy requires for `action`. */
  required: number;
  /** Approver ids that approved so far. */
  approvals: string[];
  /** Hex approval challenge (`approvalChallenge(request)`): approvers recompute it, never take it from here. */
  challenge: string;
  /** ms since the epoch: no approval is accepted after it. */
  expiresAt: number;
  /** The client's signed request, as it will be sent to the signers. */
  request: ClientRequestJson;
  /** The route body without `request`: what is being approved. */
  params: Record<string, unknown>;
  /** When succeeded: what the route answers (a signature for sign). */
  result?: unknown;
  /** When failed: the error the route would have answered. */
  error?: { code: string; message?: string; rule?: string };
}

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
