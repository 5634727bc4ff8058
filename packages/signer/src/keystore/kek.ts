/**
 * The key-encryption key (KEK) that seals shares and nonces at rest. It comes from
 * the operator's passphrase through scrypt (RFC 7914) or from a 32-byte key file,
 * and is stretched with HKDF-SHA256 (RFC 5869) into two independent values: the
 * XChaCha20-Poly1305 sealing key, and a check value stored in the keystore so that
 * a wrong passphrase fails at open with 'BAD_PASSPHRASE' instead of at the first
 * read. The raw KEK is zeroed once both are derived. A `Kek` redacts itself in
 * `JSON.stringify` and `util.inspect`.
 */
import fs from 'node:fs';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { equalBytes, randomBytes } from '@noble/ciphers/utils.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { scrypt } from '@noble/hashes/scrypt.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { aBytes, aString } from './assert.ts';
import {
  AEAD_NONCE_LENGTH,
  AEAD_TAG_LENGTH,
  SECRET_FILE_MODE,
  KEK_LENGTH,
  PASSPHRASE_MAX_BYTES,
  SALT_LENGTH,
  SCRYPT_N_MAX,
  SCRYPT_N_MIN,
  SCRYPT_P,
  SCRYPT_R,
  SEAL_KEY_INFO,
  VERIFIER_INFO,
} from './constants.ts';
import { SignerError } from '../errors.ts';

/** Where the KEK comes from: the operator's passphrase, or a file of exactly 32 random bytes. */
export type KekSource = { passphrase: string; keyFile?: never } | { keyFile: string; passphrase?: never };

export type KekKind = 'passphrase' | 'keyFile';

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

const REDACTED = '<redacted>';

/** Checks scrypt parameters (from options or from a stored `meta` row) before any allocation. */
export function validateScryptParams(params: ScryptParams, field: string): ScryptParams {
  const { N, r, p } = params;
  const powerOfTwo = Number.isSafeInteger(N) && N >= SCRYPT_N_MIN && N <= SCRYPT_N_MAX && (N & (N - 1)) === 0;
  if (!powerOfTwo) {
    throw new SignerError('BAD_FIELD', { field, message: `N must be a power of two in [${SCRYPT_N_MIN}, ${SCRYPT_N_MAX}]` });
  }
  if (r !== SCRYPT_R || p !== SCRYPT_P) {
    throw new SignerError('BAD_FIELD', { field, message: `r and p must be ${SCRYPT_R} and ${SCRYPT_P}` });
  }
  return params;
}

/** Which kind of source this is; a source with neither or both fields is refused. */
export function kekKind(source: unknown): KekKind {
  if (typeof source !== 'object' || source === null) {
    throw new SignerError('BAD_PASSPHRASE', { field: 'kek', message: 'no passphrase or key file given' });
  }
  const { passphrase, keyFile } = source as { passphrase?: unknown; keyFile?: unknown };
  if (passphrase !== undefined && keyFile !== undefined) {
    throw new SignerError('BAD_FIELD', { field: 'kek', message: 'give a passphrase or a key file, not both' });
  }
  if (keyFile !== undefined) return 'keyFile';
  if (typeof passphrase !== 'string' || passphrase.length === 0) {
    throw new SignerError('BAD_PASSPHRASE', { field: 'kek.passphrase', message: 'no passphrase given' });
  }
  return 'passphrase';
}

export class Kek {
  #sealKey: Uint8Array;
  #checkValue: Uint8Array;
  #destroyed = false;

  private constructor(kek: Uint8Array, salt: Uint8Array) {
    this.#sealKey = hkdf(sha256, kek, salt, utf8ToBytes(SEAL_KEY_INFO), KEK_LENGTH);
    this.#checkValue = hkdf(sha256, kek, salt, utf8ToBytes(VERIFIER_INFO), KEK_LENGTH);
  }

  /** scrypt(NFKC(passphrase), salt, N, r, p) -> 32 bytes; about 0.1 s at the default N. */
  static fromPassphrase(passphrase: string, salt: Uint8Array, params: ScryptParams): Kek {
    kekKind({ passphrase });
    aBytes(salt, 'salt', { len: SALT_LENGTH });
    validateScryptParams(params, 'scryptN');
    const password = utf8ToBytes(passphrase.normalize('NFKC'));
    if (password.length > PASSPHRASE_MAX_BYTES) {
      throw new SignerError('BAD_FIELD', { field: 'kek.passphrase', message: `longer than ${PASSPHRASE_MAX_BYTES} bytes` });
    }
    const kek = scrypt(password, salt, { ...params, dkLen: KEK_LENGTH });
    try {
      return new Kek(kek, salt);
    } finally {
      kek.fill(0);
      password.fill(0);
    }
  }

  /** Reads a key file of exactly 32 bytes. */
  static fromKeyFile(path: string, salt: Uint8Array): Kek {
    aString(path, 'kek.keyFile');
    let bytes: Uint8Array;
    try {
      bytes = fs.readFileSync(path);
    } catch (cause) {
      throw new SignerError('BAD_FIELD', { field: 'kek.keyFile', message: 'cannot read the key file', cause });
    }
    try {
      return Kek.fromKey(bytes, salt);
    } finally {
      bytes.fill(0);
    }
  }

  /** Uses 32 bytes of key material as the KEK (the caller keeps and wipes its copy). */
  static fromKey(key: Uint8Array, salt: Uint8Array): Kek {
    aBytes(key, 'kek.keyFile', { len: KEK_LENGTH });
    aBytes(salt, 'salt', { len: SALT_LENGTH });
    return new Kek(key, salt);
  }

  /** The value stored at creation; `matches` compares against it in constant time. */
  checkValue(): Uint8Array {
    return Uint8Array.from(this.#live().checkValue);
  }

  matches(stored: Uint8Array): boolean {
    return equalBytes(this.#live().checkValue, stored);
  }

  /** nonce (24 random bytes) || XChaCha20-Poly1305(plaintext, ad). */
  seal(plaintext: Uint8Array, ad: Uint8Array): Uint8Array {
    const nonce = randomBytes(AEAD_NONCE_LENGTH);
    return concatBytes(nonce, xchacha20poly1305(this.#live().sealKey, nonce, ad).encrypt(plaintext));
  }

  /** Opens what `seal` produced under the same ad; any mismatch is 'CORRUPT', never garbage. */
  unseal(sealed: Uint8Array, ad: Uint8Array, field: string): Uint8Array {
    const { sealKey } = this.#live();
    if (sealed.length < AEAD_NONCE_LENGTH + AEAD_TAG_LENGTH) {
      throw new SignerError('CORRUPT', { field, message: 'sealed blob too short' });
    }
    const nonce = sealed.subarray(0, AEAD_NONCE_LENGTH);
    try {
      return xchacha20poly1305(sealKey, nonce, ad).decrypt(sealed.subarray(AEAD_NONCE_LENGTH));
    } catch (cause) {
      throw new SignerError('CORRUPT', { field, message: 'authentication failed', cause });
    }
  }

  /** Zeroes the derived keys; later use throws 'LOCKED'. */
  destroy(): void {
    this.#sealKey.fill(0);
    this.#checkValue.fill(0);
    this.#destroyed = true;
  }

  toJSON(): string {
    return REDACTED;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return REDACTED;
  }

  #live(): { sealKey: Uint8Array; checkValue: Uint8Array } {
    if (this.#destroyed) throw new SignerError('LOCKED', { message: 'the key-encryption key was destroyed' });
    return { sealKey: this.#sealKey, checkValue: this.#checkValue };
  }
}

/** Writes a new key file of 32 random bytes, mode 0600; refuses to overwrite ('EXISTS'). */
export function writeKeyFile(path: string): void {
  aString(path, 'keyFile');
  let fd: number;
  try {
    fd = fs.openSync(path, 'wx', SECRET_FILE_MODE);
  } catch (cause) {
    const exists = (cause as NodeJS.ErrnoException).code === 'EEXIST';
    throw new SignerError(exists ? 'EXISTS' : 'BAD_FIELD', { field: 'keyFile', cause });
  }
  const key = randomBytes(KEK_LENGTH);
  try {
    fs.fchmodSync(fd, SECRET_FILE_MODE);
    fs.writeSync(fd, key);
    fs.fsyncSync(fd);
  } finally {
    key.fill(0);
    fs.closeSync(fd);
  }
}
