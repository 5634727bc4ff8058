/**
 * `keyquorum-signer init`: creates the data dir (0700) and the keystore (0600), and a
 * fresh Ed25519 identity key stored sealed in it under the KEK; only the public key
 * is ever readable without the passphrase or key file.
 */
import fs from 'node:fs';
import { bytesToHex } from '@noble/hashes/utils.js';
import { exportIdentitySecret, generateIdentity, type Rng, defaultRng } from '@keyquorum/protocol';
import { aNodeId } from './config.ts';
import { Keystore, writeKeyFile, type KekSource } from './keystore/index.ts';

export interface InitOptions {
  dataDir: string;
  signerId: string;
  kek: KekSource;
  /** Creates `kek.keyFile` (32 random bytes, 0600) when it does not exist yet. */
  createKeyFile?: boolean;
  /** scrypt cost for a passphrase KEK; tests lower it. */
  scryptN?: number;
  rng?: Rng;
}

export interface InitResult {
  signerId: string;
  dataDir: string;
  /** Hex of the identity public key, for the coordinator's and peers' configs. */
  publicKey: string;
}

export function initSigner(opts: InitOptions): InitResult {
  const signerId = aNodeId(opts.signerId, 'signerId');
  if (opts.kek.keyFile !== undefined && opts.createKeyFile && !fs.existsSync(opts.kek.keyFile)) writeKeyFile(opts.kek.keyFile);
  const keystore = Keystore.create({ dataDir: opts.dataDir, kek: opts.kek, signerId, ...(opts.scryptN === undefined ? {} : { scryptN: opts.scryptN }) });
  try {
    const identity = generateIdentity(opts.rng ?? defaultRng);
    const seed = exportIdentitySecret(identity);
    try {
      keystore.putIdentity(seed, identity.publicKey);
    } finally {
      seed.fill(0);
    }
    return { signerId, dataDir: keystore.dataDir, publicKey: bytesToHex(identity.publicKey) };
  } finally {
    keystore.close();
  }
}

/** The identity public key of an initialised data dir, read without the KEK. */
export function readPublicKey(dataDir: string): string {
  return bytesToHex(Keystore.readIdentityPublicKey(dataDir));
}
