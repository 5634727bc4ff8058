/**
 * The one typed error of @keyquorum/protocol. Every exported function validates its
 * inputs first and throws a `WireError` whose `code` says what went wrong and whose
 * `field` names the offending field path ('header.sessionId'). Failures that a
 * participant provably caused name it in `culprits` (node ids), so the coordinator
 * can exclude it and retry with another quorum.
 */

export type WireErrorCode =
  /** A frame is longer than the cap; it was not decoded. */
  | 'FRAME_TOO_LARGE'
  /** Bytes that are not one complete msgpack value of plain data. */
  | 'MALFORMED'
  /** A field has the wrong type, length, range, encoding or group element. */
  | 'BAD_FIELD'
  /** An object carries a field the schema does not name. */
  | 'UNKNOWN_FIELD'
  /** An envelope `kind` outside the accepted set. */
  | 'UNKNOWN_KIND'
  /** An envelope `suite` outside the accepted set. */
  | 'UNKNOWN_SUITE'
  /** A version other than the one this code speaks. */
  | 'UNSUPPORTED_VERSION'
  /** An Ed25519 signature does not verify under the expected key. */
  | 'BAD_SIGNATURE'
  /** An end-to-end encrypted payload cannot be opened. */
  | 'DECRYPT_FAILED'
  /** A client request nonce was already used within the freshness window. */
  | 'REPLAY'
  /** A client request timestamp is outside the allowed clock skew. */
  | 'STALE'
  /** The client key is not trusted, or its roles do not allow the operation. */
  | 'UNAUTHORISED'
  /** An envelope belongs to another session. */
  | 'WRONG_SESSION'
  /** An envelope is addressed to another node. */
  | 'WRONG_RECIPIENT'
  /** An envelope has another kind than the one expected. */
  | 'WRONG_KIND';

export interface WireErrorOptions {
  /** The offending input, as a path: 'header.sessionId', 'contributions.s1'. */
  field?: string;
  /** Node ids whose messages failed a check. */
  culprits?: string[];
  message?: string;
}

export class WireError extends Error {
  override readonly name = 'WireError';
  readonly code: WireErrorCode;
  readonly field: string | undefined;
  readonly culprits: string[];

  constructor(code: WireErrorCode, opts: WireErrorOptions = {}) {
    const culprits = [...new Set(opts.culprits ?? [])].sort();
    const detail = [
      opts.field !== undefined ? `field ${opts.field}` : '',
      culprits.length > 0 ? `culprits ${culprits.join(',')}` : '',
    ]
      .filter(Boolean)
      .join('; ');
    super(opts.message ?? (detail ? `${code}: ${detail}` : code));
    this.code = code;
    this.field = opts.field;
    this.culprits = culprits;
  }
}

export function isWireError(e: unknown): e is WireError {
  return e instanceof WireError;
}
