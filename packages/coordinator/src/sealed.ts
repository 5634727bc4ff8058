/**
 * Sealed files: a small secret (the coordinator's identity seed) encrypted at rest
 * under a passphrase. The key is scrypt(passphrase, salt) (RFC 7914, r = 8, p = 1)
 * and the AEAD is XChaCha20-Poly1305 with the file header as associated data:
 *   MAGIC (8) || u32be(N) || salt (16) || nonce (24) || ciphertext+tag
 * so neither the cost nor the salt can be swapped. Files are written 0600,
 * atomically (temporary file, then rename).
 */
import fs from 'node:fs';
import path from 'node:path';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { scrypt } from '@noble/hashes/scrypt.js';
import { concatBytes, randomBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { SCRYPT_N_DEFAULT, SCRYPT_N_MAX, SCRYPT_N_MIN, SECRET_FILE_MODE } from './constants.ts';
import { CoordinatorError } from './errors.ts';

const MAGIC = utf8ToBytes('KQSEAL01');
const SALT_LENGTH = 16;
const NONCE_LENGTH = 24;
const HEADER_LENGTH = MAGIC.length + 4 + SALT_LENGTH;
const KEY_LENGTH = 32;

function checkN(n: number, field: string): number {
  if (!Number.isSafeInteger(n) || n < SCRYPT_N_MIN || n > SCRYPT_N_MAX || (n & (n - 1)) !== 0) {
    throw new CoordinatorError('BAD_CONFIG', { field, message: `${field} must be a power of two in [${SCRYPT_N_MIN}, ${SCRYPT_N_MAX}]` });
  }
  return n;
}

function checkPassphrase(passphrase: unknown): string {
  if (typeof passphrase !== 'string' || passphrase.length === 0) {
    throw new CoordinatorError('BAD_PASSPHRASE', { field: 'passphrase', message: 'no passphrase given' });
  }
  return passphrase;
}

function deriveKey(passphrase: string, salt: Uint8Array, n: number): Uint8Array {
  return scrypt(utf8ToBytes(passphrase), salt, { N: n, r: 8, p: 1, dkLen: KEY_LENGTH });
}

/** Encrypts `secret` under `passphrase`; returns the file bytes. */
export function seal(secret: Uint8Array, passphrase: string, opts: { scryptN?: number } = {}): Uint8Array {
  const n = checkN(opts.scryptN ?? SCRYPT_N_DEFAULT, 'scryptN');
  const salt = randomBytes(SALT_LENGTH);
  const header = new Uint8Array(HEADER_LENGTH);
  header.set(MAGIC, 0);
  new DataView(header.buffer).setUint32(MAGIC.length, n, false);
  header.set(salt, MAGIC.length + 4);
  const key = deriveKey(checkPassphrase(passphrase), salt, n);
  const nonce = randomBytes(NONCE_LENGTH);
  const ciphertext = xchacha20poly1305(key, nonce, header).encrypt(secret);
  key.fill(0);
  return concatBytes(header, nonce, ciphertext);
}

/** Decrypts file bytes made by `seal`; a wrong passphrase or any altered byte is 'BAD_PASSPHRASE'. */
export function unseal(file: Uint8Array, passphrase: string): Uint8Array {
  const pass = checkPassphrase(passphrase);
  const magicOk = file.length > HEADER_LENGTH + NONCE_LENGTH && MAGIC.every((b, i) => file[i] === b);
  if (!magicOk) throw new CoordinatorError('BAD_PASSPHRASE', { field: 'sealedFile', message: 'not a sealed file' });
  const header = file.subarray(0, HEADER_LENGTH);
  const n = checkN(new DataView(file.buffer, file.byteOffset).getUint32(MAGIC.length, false), 'sealedFile.N');
  const salt = header.subarray(MAGIC.length + 4);
  const nonce = file.subarray(HEADER_LENGTH, HEADER_LENGTH + NONCE_LENGTH);
  const key = deriveKey(pass, salt, n);
  try {
    return xchacha20poly1305(key, nonce, header).decrypt(file.subarray(HEADER_LENGTH + NONCE_LENGTH));
  } catch {
    throw new CoordinatorError('BAD_PASSPHRASE', { field: 'passphrase', message: 'the passphrase does not open the sealed file (or it was altered)' });
  } finally {
    key.fill(0);
  }
}

/** Seals `secret` into `file` (mode 0600); refuses to overwrite an existing file. */
export function writeSealedFile(file: string, secret: Uint8Array, passphrase: string, opts: { scryptN?: number } = {}): void {
  const bytes = seal(secret, passphrase, opts);
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, bytes, { mode: SECRET_FILE_MODE, flag: 'wx' });
  try {
    fs.linkSync(tmp, file);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

export function readSealedFile(file: string, passphrase: string): Uint8Array {
  return unseal(new Uint8Array(fs.readFileSync(file)), passphrase);
}
