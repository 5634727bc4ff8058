/**
 * The one typed error of @keyquorum/client: an API error carries the coordinator's
 * `code`, HTTP `status`, and the `field` / `culprits` / policy `rule` / transaction `txCode` it named; transport failures
 * are 'NETWORK', unreadable answers 'BAD_RESPONSE', bad arguments 'BAD_ARGUMENT', and
 * failures of the local cluster's processes (`keyquorum dev`) 'DEV_PROCESS'.
 */
import type { ApiErrorCode, ApiErrorJson } from '@keyquorum/protocol';

export type ClientErrorCode =
  /** The codes the coordinator answers with (the HTTP contract's). */
  | ApiErrorCode
  /** The coordinator could not be reached (after the retries of failover, client-http.ts). */
  | 'NETWORK'
  /** A mutating request's connection failed after it was sent (reset, timeout): it may have run. Not retried. */
  | 'OUTCOME_UNKNOWN'
  /** The coordinator answered something that is not the documented JSON. */
  | 'BAD_RESPONSE'
  /** An argument to an SDK method is invalid (nothing was sent). */
  | 'BAD_ARGUMENT'
  /** A process of `keyquorum dev` failed, exited early, or did not report in time. */
  | 'DEV_PROCESS'
  /** The key's policy refused (`rule` names the rule); an approval operation past its deadline (docs/governance.md). */
  | 'POLICY_DENIED'
  | 'OPERATION_EXPIRED'
  /** The operation waits for approvals (HTTP 202): `ApprovalPendingError` (pending.ts) carries it. */
  | 'APPROVAL_PENDING'
  /** An operation to approve does not say what its signed request authorises: nothing was approved. */
  | 'DIGEST_MISMATCH';

export class ClientError extends Error {
  override readonly name = 'ClientError';
  readonly code: ClientErrorCode;
  /** HTTP status, 0 when no answer was received. */
  readonly status: number;
  readonly field: string | undefined;
  readonly culprits: string[];
  /** POLICY_DENIED: the policy rule that refused ('approvals', 'velocity', ...). */
  readonly rule: string | undefined;
  /** BAD_TX: why the chain module refused the transaction ('NOT_OUR_KEY', 'MALFORMED_TX', ...). */
  readonly txCode: string | undefined;

  constructor(code: ClientErrorCode, opts: { status?: number; message?: string; field?: string; culprits?: string[]; rule?: string; txCode?: string; cause?: unknown } = {}) {
    super(opts.message ?? code, { cause: opts.cause });
    this.code = code;
    this.status = opts.status ?? 0;
    this.field = opts.field;
    this.culprits = opts.culprits ?? [];
    this.rule = opts.rule;
    this.txCode = opts.txCode;
  }
}

export function isClientError(e: unknown): e is ClientError {
  return e instanceof ClientError;
}

/** The error an API answer (or a failed operation, `status` 0) carries, as a ClientError. */
export function apiError(e: ApiErrorJson, status: number): ClientError {
  const opts: ConstructorParameters<typeof ClientError>[1] = { status, message: e.message ?? e.code, culprits: e.culprits ?? [] };
  if (e.field !== undefined) opts.field = e.field;
  const rule = (e as { rule?: unknown }).rule;
  if (typeof rule === 'string') opts.rule = rule;
  if (typeof e.txCode === 'string') opts.txCode = e.txCode;
  return new ClientError(e.code as ClientErrorCode, opts);
}
