/**
 * The typed error of the signer's keystore. Every exported method validates its
 * arguments first and throws a `KeystoreError` whose `code` says what went wrong and
 * whose `field` names the offending argument. Self-contained so it can later merge
 * into the signer package's single error type.
 */

export type KeystoreErrorCode =
  /** The keystore is closed; open it again to use it. */
  | 'LOCKED'
  /** The passphrase or key file does not unlock this keystore, or none was given. */
  | 'BAD_PASSPHRASE'
  /** No keystore, key or share with that id. */
  | 'NOT_FOUND'
  /** A keystore, share or nonce with that id already exists. */
  | 'EXISTS'
  /** Stored data fails its integrity check (AEAD tag, SQLite header, missing metadata). */
  | 'CORRUPT'
  /** The keystore was written by a schema version this code does not read. */
  | 'SCHEMA_VERSION'
  /** The key or share is not in a state that allows the operation (retired, pending, stale epoch). */
  | 'WRONG_STATE'
  /** The signing nonce was already consumed; it must never be used twice. */
  | 'NONCE_CONSUMED'
  /** The signing nonce was discarded (after a restart, a refresh or a retirement). */
  | 'NONCE_DISCARDED'
  /** No signing nonce with that id. */
  | 'NONCE_UNKNOWN'
  /** An argument or option has the wrong type, length, range or format. */
  | 'BAD_FIELD';

export interface KeystoreErrorOptions {
  /** The offending argument or option: 'keyId', 'kek.keyFile', 'attestationDigest'. */
  field?: string;
  message?: string;
  cause?: unknown;
}

export class KeystoreError extends Error {
  override readonly name = 'KeystoreError';
  readonly code: KeystoreErrorCode;
  readonly field: string | undefined;

  constructor(code: KeystoreErrorCode, opts: KeystoreErrorOptions = {}) {
    const detail = opts.field !== undefined ? `${code}: field ${opts.field}` : code;
    super(opts.message !== undefined ? `${detail}: ${opts.message}` : detail, { cause: opts.cause });
    this.code = code;
    this.field = opts.field;
  }
}

export function isKeystoreError(e: unknown): e is KeystoreError {
  return e instanceof KeystoreError;
}
