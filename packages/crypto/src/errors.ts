/**
 * The one typed error of @keyquorum/crypto. Every exported function validates its
 * inputs first and throws a `CryptoError` naming the offending field; protocol
 * failures caused by a participant name it in `culprits` so that a coordinator can
 * exclude it and retry with another quorum (as frost-rs' `Error::InvalidSignatureShare`).
 */

export type CryptoErrorCode =
  /** A byte length, type, range or encoding is wrong. */
  | 'BAD_FIELD'
  /** A point is off the curve, the identity, or outside the prime-order subgroup. */
  | 'BAD_POINT'
  /** A scalar is not canonical (>= group order) or is zero where that is forbidden. */
  | 'BAD_SCALAR'
  /** Unknown suite id. */
  | 'UNKNOWN_SUITE'
  /** Threshold or participant count outside the suite's bounds. */
  | 'BAD_THRESHOLD'
  /** A participant identifier is unknown, duplicated, missing or out of range. */
  | 'BAD_PARTICIPANT'
  /** A DKG round-1 proof of knowledge does not verify (or is bound to another session). */
  | 'INVALID_PROOF'
  /** A secret share does not match its sender's public commitments. */
  | 'INVALID_SHARE'
  /** A public commitment is inconsistent (wrong length, wrong constant term, wrong sum). */
  | 'INVALID_COMMITMENT'
  /** A signature share does not verify. */
  | 'INVALID_SIGNATURE_SHARE'
  /** A signing nonce was already used (zeroed) and must not be used again. */
  | 'NONCE_REUSED'
  /** A derivation path is malformed, hardened, or yields an invalid child. */
  | 'BAD_PATH'
  /** The recovered or refreshed share does not match the public verifying share. */
  | 'SHARE_MISMATCH';

export interface CryptoErrorOptions {
  /** The offending input, as a path: 'dkg.round1.commitment[2]'. */
  field?: string;
  /** Participants whose messages failed a check, sorted ascending. */
  culprits?: number[];
  message?: string;
}

export class CryptoError extends Error {
  override readonly name = 'CryptoError';
  readonly code: CryptoErrorCode;
  readonly field: string | undefined;
  readonly culprits: number[];

  constructor(code: CryptoErrorCode, opts: CryptoErrorOptions = {}) {
    const culprits = [...(opts.culprits ?? [])].sort((a, b) => a - b);
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

export function isCryptoError(e: unknown): e is CryptoError {
  return e instanceof CryptoError;
}
