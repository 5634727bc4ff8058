/**
 * The one typed error of @keyquorum/coordinator. `code` says what went wrong (the
 * HTTP layer maps it to a status), `field` names the offending input or config
 * field, and `culprits` names the signers whose messages failed a check.
 */

export type CoordinatorErrorCode =
  /** A configuration field is missing or invalid. */
  | 'BAD_CONFIG'
  /** The passphrase does not open the sealed identity, or none was given. */
  | 'BAD_PASSPHRASE'
  /** Malformed input: JSON, types, lengths, paths, parameters. */
  | 'BAD_REQUEST'
  /** The client request's signature, freshness or nonce (replay) check failed. */
  | 'UNAUTHENTICATED'
  /** The client key is not trusted for the operation, or the request authorises something else. */
  | 'UNAUTHORISED'
  /** No key with that id. */
  | 'UNKNOWN_KEY'
  /** No such route. */
  | 'NOT_FOUND'
  /** The route exists but not with that method. */
  | 'METHOD_NOT_ALLOWED'
  /** A request body above the cap. */
  | 'PAYLOAD_TOO_LARGE'
  /** A key with that id already exists. */
  | 'KEY_EXISTS'
  /** The key's lifecycle state does not allow the operation. */
  | 'WRONG_STATE'
  /** Another lifecycle session of the key is running. */
  | 'BUSY'
  /** Fewer usable (connected, allow-listed, not excluded) signers than the operation needs. */
  | 'NOT_ENOUGH_SIGNERS'
  /** Signers did not answer a round in time. */
  | 'TIMEOUT'
  /** A protocol session failed (a signer aborted, or a message failed a check). */
  | 'SESSION_FAILED'
  /** The coordinator is not started, or is stopping. */
  | 'NOT_STARTED'
  /** An unexpected failure (logged; details are not returned to callers). */
  | 'INTERNAL';

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
