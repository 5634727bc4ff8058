/**
 * The one typed error of @keyquorum/coordinator. `code` says what went wrong (the
 * HTTP layer maps it to a status), `field` names the offending input or config
 * field, and `culprits` names the signers whose messages failed a check. The codes
 * callers can see are the HTTP contract's (`ApiErrorCode`, @keyquorum/protocol).
 */
import type { ApiErrorCode } from '@keyquorum/protocol';

export type CoordinatorErrorCode =
  /** The codes the HTTP API answers with (their statuses: `API_ERRORS`). */
  | ApiErrorCode
  /** A configuration field is missing or invalid. */
  | 'BAD_CONFIG'
  /** The passphrase does not open the sealed identity, or none was given. */
  | 'BAD_PASSPHRASE';

export interface CoordinatorErrorOptions {
  field?: string;
  culprits?: readonly string[];
  message?: string;
  cause?: unknown;
}

export class CoordinatorError extends Error {
  override readonly name = 'CoordinatorError';
  readonly code: CoordinatorErrorCode;
  readonly field: string | undefined;
  readonly culprits: string[];

  constructor(code: CoordinatorErrorCode, opts: CoordinatorErrorOptions = {}) {
    const culprits = [...new Set(opts.culprits ?? [])].sort();
    const detail = [opts.field !== undefined ? `field ${opts.field}` : '', culprits.length > 0 ? `culprits ${culprits.join(',')}` : '']
      .filter(Boolean)
      .join('; ');
    const text = opts.message ?? detail;
    super(text ? `${code}: ${text}` : code, { cause: opts.cause });
    this.code = code;
    this.field = opts.field;
    this.culprits = culprits;
  }
}

export function isCoordinatorError(e: unknown): e is CoordinatorError {
  return e instanceof CoordinatorError;
}
