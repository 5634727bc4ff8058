/**
 * The one typed error of @keyquorum/coordinator. `code` says what went wrong (the
 * HTTP layer maps it to a status), `field` names the offending input or config
 * field, and `culprits` names the signers whose messages failed a check. The codes
 * callers can see are the HTTP contract's (`ApiErrorCode`, @keyquorum/protocol);
 * the others are internal and leave the coordinator only as INTERNAL (`publicError`).
 *
 * A session fault (code SESSION_FAULT) is the control flow of a session round: why
 * it failed (`fault.reason`), which signers failed it (`fault.signers`) and whom a
 * retry leaves out (`fault.excluded`). The drivers turn it into TIMEOUT or
 * SESSION_FAILED (sessions/runtime.ts `sessionError`).
 */
import { POLICY_RULES, PolicyDeniedError, isApiErrorCode, type ApiErrorCode, type PendingOperationJson, type PolicyRule } from '@keyquorum/protocol';

export type CoordinatorErrorCode =
  /** The codes the HTTP API answers with (their statuses: `API_ERRORS`). */
  | ApiErrorCode
  /** A configuration field is missing or invalid. */
  | 'BAD_CONFIG'
  /** The passphrase does not open the sealed identity, or none was given. */
  | 'BAD_PASSPHRASE'
  /** A session round failed (internal: see `fault`). */
  | 'SESSION_FAULT';

/** Why a session round failed. */
export type FaultReason = 'timeout' | 'disconnect' | 'abort' | 'invalid' | 'invalid-share';

/** What a SESSION_FAULT carries besides its culprits. */
export interface SessionFaultDetail {
  reason: FaultReason;
  /** Signers that did not deliver, aborted, or sent something invalid. */
  signers: string[];
  /** Whom a retry should leave out: the culprits if any are named, else the failing signers. */
  excluded: string[];
}

export interface CoordinatorErrorOptions {
  field?: string;
  culprits?: readonly string[];
  message?: string;
  cause?: unknown;
  /** POLICY_DENIED only: the policy rule that refused. */
  rule?: PolicyRule;
  /** SESSION_FAULT only: why the round failed and which signers failed it. */
  fault?: { reason: FaultReason; signers: readonly string[] };
}

const sortedSet = (ids: readonly string[] | undefined) => [...new Set(ids ?? [])].sort();

export class CoordinatorError extends Error {
  override readonly name = 'CoordinatorError';
  readonly code: CoordinatorErrorCode;
  readonly field: string | undefined;
  readonly culprits: string[];
  readonly fault: SessionFaultDetail | undefined;
  readonly rule: PolicyRule | undefined;

  /**
   * The message is `CODE: text`, except a SESSION_FAULT's, which is the bare text: it is
   * the reason an ABORT gives the other signers and what the public error quotes.
   */
  constructor(code: CoordinatorErrorCode, opts: CoordinatorErrorOptions = {}) {
    const culprits = sortedSet(opts.culprits);
    const detail = [opts.field !== undefined ? `field ${opts.field}` : '', culprits.length > 0 ? `culprits ${culprits.join(',')}` : '']
      .filter(Boolean)
      .join('; ');
    const text = opts.message ?? detail;
    super(code === 'SESSION_FAULT' ? text : text ? `${code}: ${text}` : code, { cause: opts.cause });
    this.code = code;
    this.field = opts.field;
    this.culprits = culprits;
    this.rule = opts.rule;
    if (opts.fault === undefined) this.fault = undefined;
    else {
      const signers = sortedSet(opts.fault.signers);
      this.fault = { reason: opts.fault.reason, signers, excluded: culprits.length > 0 ? culprits : signers };
    }
  }
}

export function isCoordinatorError(e: unknown): e is CoordinatorError {
  return e instanceof CoordinatorError;
}

/** A session round's failure: `signers` failed it, `culprits` are proven or reported to have cheated. */
export function sessionFault(reason: FaultReason, signers: readonly string[], culprits: readonly string[], message: string): CoordinatorError {
  return new CoordinatorError('SESSION_FAULT', { culprits, message, fault: { reason, signers } });
}

export function isSessionFault(e: unknown): e is CoordinatorError & { code: 'SESSION_FAULT'; fault: SessionFaultDetail } {
  return e instanceof CoordinatorError && e.code === 'SESSION_FAULT' && e.fault !== undefined;
}

/** An error as a caller may see it: a CoordinatorError with an API code, anything else as INTERNAL ('internal error'). */
export function publicError(e: unknown): CoordinatorError & { code: ApiErrorCode } {
  if (e instanceof CoordinatorError && isApiErrorCode(e.code)) return e as CoordinatorError & { code: ApiErrorCode };
  return new CoordinatorError('INTERNAL', { message: 'internal error', cause: e }) as CoordinatorError & { code: ApiErrorCode };
}

/** A policy's refusal (protocol `PolicyDeniedError`) as the API's 403 POLICY_DENIED naming the rule. */
export function policyDenied(e: PolicyDeniedError): CoordinatorError {
  return new CoordinatorError('POLICY_DENIED', { rule: e.rule, message: e.message.replace(/^POLICY_DENIED /, ''), cause: e });
}

/** `POLICY_DENIED (<rule>): ...` in a signer's ABORT reason: the rule, else undefined. */
export function deniedRuleOf(reason: string): PolicyRule | undefined {
  const m = /POLICY_DENIED \(([a-z-]+)\):/.exec(reason);
  return m === null || !(POLICY_RULES as readonly string[]).includes(m[1]!) ? undefined : (m[1] as PolicyRule);
}

export { PolicyDeniedError };

/**
 * Not a failure: the key's policy requires approvals the request does not carry, and
 * the operation now waits for them (docs/governance.md). The HTTP adapter answers 202
 * with the operation.
 */
export class ApprovalPending extends Error {
  override readonly name = 'ApprovalPending';
  constructor(readonly operation: PendingOperationJson) {
    super(`operation ${operation.id} waits for ${operation.required} approvals`);
  }
}
