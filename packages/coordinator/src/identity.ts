/**
 * The coordinator's Ed25519 identity at rest: its 32-byte seed sealed under the
 * operator's passphrase (sealed.ts) in `<dataDir>/identity.sealed`, mode 0600 in a
 * 0700 directory. Signers pin the matching public key.
 */
import fs from 'node:fs';
import path from 'node:path';
import { exportIdentitySecret, generateIdentity, identityFromSecret, type IdentityKey } from '@keyquorum/protocol';
import { DATA_DIR_MODE, IDENTITY_FILE } from './constants.ts';
import { CoordinatorError } from './errors.ts';
import { readSealedFile, writeSealedFile } from './sealed.ts';

export function identityPath(dataDir: string): string {
  return path.join(dataDir, IDENTITY_FILE);
}

/** Creates the data directory (0700) if needed. */
export function ensureDataDir(dataDir: string): void {
  fs.mkdirSync(dataDir, { recursive: true, mode: DATA_DIR_MODE });
}

/** Generates and seals a new identity; refuses if the data directory already has one. */
export function initIdentity(dataDir: string, passphrase: string, opts: { scryptN?: number } = {}): IdentityKey {
  ensureDataDir(dataDir);
  const file = identityPath(dataDir);
  if (fs.existsSync(file)) throw new CoordinatorError('BAD_CONFIG', { field: 'dataDir', message: `${file} already exists` });
  const identity = generateIdentity();
  const seed = exportIdentitySecret(identity);
  try {
    writeSealedFile(file, seed, passphrase, opts);
  } finally {
    seed.fill(0);
  }
  return identity;
}

/** Opens the sealed identity of a data directory. */
export function loadIdentity(dataDir: string, passphrase: string): IdentityKey {
  const file = identityPath(dataDir);
  if (!fs.existsSync(file)) {
    throw new CoordinatorError('BAD_CONFIG', { field: 'dataDir', message: `no identity in ${dataDir}; run \`init --data ${dataDir}\` first` });
  }
  const seed = readSealedFile(file, passphrase);
  try {
    return identityFromSecret(seed);
  } finally {
    seed.fill(0);
  }
}
