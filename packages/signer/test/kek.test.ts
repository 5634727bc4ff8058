/**
 * The key-encryption key's own checks (keystore/kek.ts), called directly: scrypt
 * parameters an attacker-edited `meta` row could weaken or inflate, KEK sources that are
 * ambiguous or empty, an oversized passphrase, sealed blobs too short to hold a nonce and
 * tag, unreadable or pre-existing key files, and a destroyed KEK. Each refusal is asserted
 * by code and field (the Stryker survivors of docs/mutation.md).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Kek, kekKind, validateScryptParams, writeKeyFile } from '../src/keystore/kek.ts';
import { AEAD_NONCE_LENGTH, AEAD_TAG_LENGTH, PASSPHRASE_MAX_BYTES, SCRYPT_N_MAX, SCRYPT_N_MIN, SCRYPT_P, SCRYPT_R, SALT_LENGTH } from '../src/keystore/constants.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
function dir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'keyquorum-kek-'));
  dirs.push(d);
  return d;
}

function refusal(fn: () => unknown): { code?: string; field?: string } {
  try {
    fn();
  } catch (e) {
    return { code: (e as { code?: string }).code, field: (e as { field?: string }).field };
  }
  throw new Error('expected a refusal');
}

const salt = new Uint8Array(SALT_LENGTH).fill(7);
const key = new Uint8Array(32).fill(3);

describe('scrypt parameters (from options or a stored meta row)', () => {
  it('accepts the bounds, and refuses an N above the maximum (a meta row inflated to exhaust memory)', () => {
    expect(validateScryptParams({ N: SCRYPT_N_MAX, r: SCRYPT_R, p: SCRYPT_P }, 'scryptN').N).toBe(SCRYPT_N_MAX);
    expect(validateScryptParams({ N: SCRYPT_N_MIN, r: SCRYPT_R, p: SCRYPT_P }, 'scryptN').N).toBe(SCRYPT_N_MIN);
    expect(refusal(() => validateScryptParams({ N: SCRYPT_N_MAX * 2, r: SCRYPT_R, p: SCRYPT_P }, 'meta.scrypt_n'))).toEqual({ code: 'BAD_FIELD', field: 'meta.scrypt_n' });
  });

  it('refuses an r or p other than the fixed ones (a meta row weakened to r = 1 or inflated p)', () => {
    for (const params of [{ N: SCRYPT_N_MIN, r: 1, p: SCRYPT_P }, { N: SCRYPT_N_MIN, r: SCRYPT_R, p: 16 }]) {
      expect(refusal(() => validateScryptParams(params, 'scryptN'))).toEqual({ code: 'BAD_FIELD', field: 'scryptN' });
    }
  });

  it('fromPassphrase names the option it refuses', () => {
    expect(refusal(() => Kek.fromPassphrase('p', salt, { N: 3, r: SCRYPT_R, p: SCRYPT_P }))).toEqual({ code: 'BAD_FIELD', field: 'scryptN' });
    expect(refusal(() => Kek.fromPassphrase('p', salt.subarray(1), { N: SCRYPT_N_MIN, r: SCRYPT_R, p: SCRYPT_P }))).toEqual({ code: 'BAD_FIELD', field: 'salt' });
  });
});

describe('KEK sources', () => {
  it('refuses no source, an ambiguous one (passphrase and key file) and an empty passphrase', () => {
    expect(refusal(() => kekKind(undefined))).toEqual({ code: 'BAD_PASSPHRASE', field: 'kek' });
    expect(refusal(() => kekKind(null))).toEqual({ code: 'BAD_PASSPHRASE', field: 'kek' });
    expect(refusal(() => kekKind({ passphrase: 'p', keyFile: '/k' }))).toEqual({ code: 'BAD_FIELD', field: 'kek' });
    expect(refusal(() => kekKind({ passphrase: '' }))).toEqual({ code: 'BAD_PASSPHRASE', field: 'kek.passphrase' });
    expect(refusal(() => kekKind({}))).toEqual({ code: 'BAD_PASSPHRASE', field: 'kek.passphrase' });
    expect(kekKind({ keyFile: '/k' })).toBe('keyFile');
    expect(kekKind({ passphrase: 'p' })).toBe('passphrase');
  });

  it('refuses a passphrase over the maximum length before running scrypt', () => {
    const long = 'a'.repeat(PASSPHRASE_MAX_BYTES + 1);
    expect(refusal(() => Kek.fromPassphrase(long, salt, { N: SCRYPT_N_MIN, r: SCRYPT_R, p: SCRYPT_P }))).toEqual({ code: 'BAD_FIELD', field: 'kek.passphrase' });
    const atMax = Kek.fromPassphrase('a'.repeat(PASSPHRASE_MAX_BYTES), salt, { N: SCRYPT_N_MIN, r: SCRYPT_R, p: SCRYPT_P });
    expect(atMax.unseal(atMax.seal(key, salt), salt, 'x')).toEqual(key);
  });

  it('refuses an unreadable key file, a bad path and a bad salt, naming each', () => {
    expect(refusal(() => Kek.fromKeyFile(path.join(dir(), 'missing'), salt))).toEqual({ code: 'BAD_FIELD', field: 'kek.keyFile' });
    expect(refusal(() => Kek.fromKeyFile('', salt))).toEqual({ code: 'BAD_FIELD', field: 'kek.keyFile' });
    expect(refusal(() => Kek.fromKey(key, salt.subarray(1)))).toEqual({ code: 'BAD_FIELD', field: 'salt' });
  });

  it('writeKeyFile refuses to overwrite (EXISTS), names a bad path, and a missing directory is BAD_FIELD, not EXISTS', () => {
    const file = path.join(dir(), 'kek.key');
    writeKeyFile(file);
    const written = fs.readFileSync(file);
    expect(refusal(() => writeKeyFile(file))).toEqual({ code: 'EXISTS', field: 'keyFile' });
    expect(fs.readFileSync(file)).toEqual(written);
    expect(refusal(() => writeKeyFile(path.join(dir(), 'no', 'such', 'kek.key')))).toEqual({ code: 'BAD_FIELD', field: 'keyFile' });
    expect(refusal(() => writeKeyFile(''))).toEqual({ code: 'BAD_FIELD', field: 'keyFile' });
  });
});

describe('sealing', () => {
  it('a sealed blob shorter than nonce and tag is CORRUPT naming the field, and one of exactly that length too', () => {
    const kek = Kek.fromKey(key, salt);
    for (const length of [0, AEAD_NONCE_LENGTH + AEAD_TAG_LENGTH - 1, AEAD_NONCE_LENGTH + AEAD_TAG_LENGTH]) {
      expect(refusal(() => kek.unseal(new Uint8Array(length), salt, 'shares[k/0].sealed'))).toEqual({ code: 'CORRUPT', field: 'shares[k/0].sealed' });
    }
    expect(kek.unseal(kek.seal(new Uint8Array(0), salt), salt, 'x')).toEqual(new Uint8Array(0));
  });

  it('a destroyed KEK refuses to seal, unseal or compare (LOCKED)', () => {
    const kek = Kek.fromKey(key, salt);
    const sealed = kek.seal(key, salt);
    kek.destroy();
    expect(refusal(() => kek.unseal(sealed, salt, 'x')).code).toBe('LOCKED');
    expect(refusal(() => kek.seal(key, salt)).code).toBe('LOCKED');
    expect(refusal(() => kek.checkValue()).code).toBe('LOCKED');
  });
});
