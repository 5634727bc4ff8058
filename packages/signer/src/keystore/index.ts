/**
 * The signer daemon's keystore: sealed shares through the key lifecycle, the
 * single-use nonce journal, the client replay window, the sealed identity key,
 * retired keys with their attestations and peer bans, in one SQLite file. It throws
 * the package's one error type, `SignerError` (errors.ts).
 */
export { Kek, writeKeyFile, type KekKind, type KekSource, type ScryptParams } from './kek.ts';
export { Keystore } from './keystore.ts';
export type { StoredPolicy } from './policies.ts';
export type {
  Admission,
  HeldKeySummary,
  KeystoreCreateOptions,
  KeystoreOpenOptions,
  PeerBan,
  ReplayGuard,
  RetireResult,
  UnsealedShare,
} from './types.ts';
export { KEYSTORE_DB_FILE, SCRYPT_N_DEFAULT, SCRYPT_N_MIN } from './constants.ts';
