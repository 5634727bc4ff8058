/**
 * Keystore defaults and limits, in one place (the js-libp2p `constants.ts` habit).
 * scrypt parameters follow RFC 7914 with N = 2^17, r = 8, p = 1 (OWASP's password
 * storage minimum; about 128 MiB of memory per derivation); tests may lower N through
 * `KeystoreCreateOptions.scryptN`. A keystore sealed at a lower N is re-sealed at the
 * default on its next unlock (open.ts).
 */

/** scrypt cost N used when a keystore is created without `scryptN`, and the floor on unlock. */
export const SCRYPT_N_DEFAULT = 2 ** 17;
/** Lowest accepted N (tests only; production keeps the default). */
export const SCRYPT_N_MIN = 2 ** 4;
/** Highest accepted N, also bounding what a tampered `meta` row can make us allocate (1 GiB). */
export const SCRYPT_N_MAX = 2 ** 20;
export const SCRYPT_R = 8;
export const SCRYPT_P = 1;

/** Key-encryption key length, and the exact length of a key file. */
export const KEK_LENGTH = 32;
/** Random salt for scrypt and HKDF, stored in `meta`. */
export const SALT_LENGTH = 16;
/** XChaCha20-Poly1305 nonce and tag lengths. */
export const AEAD_NONCE_LENGTH = 24;
export const AEAD_TAG_LENGTH = 16;

/** Ed25519 identity seeds and public keys (RFC 8032). */
export const ED25519_KEY_LENGTH = 32;

/** Longest passphrase accepted, in UTF-8 bytes. */
export const PASSPHRASE_MAX_BYTES = 4096;
/** Largest secret or public blob stored for one share or nonce. */
export const BLOB_MAX_BYTES = 1024 * 1024;
/** Length of a retirement attestation digest (SHA-256). */
export const ATTESTATION_DIGEST_LENGTH = 32;

/** Key ids, signer ids, suite ids and nonce ids. */
export const ID_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;
/** Replay-window client keys and request nonces: lowercase hex after normalisation. */
export const HEX_PATTERN = /^(?:[0-9a-f]{2}){1,128}$/;

export const KEYSTORE_DB_FILE = 'keystore.db';
/** keystore.db (SQLite gives its -wal and -shm the same mode) and key files. */
export const SECRET_FILE_MODE = 0o600;
export const DATA_DIR_MODE = 0o700;
/** How long a writer waits for another connection's lock before SQLITE_BUSY. */
export const BUSY_TIMEOUT_MS = 5000;

/** Domain-separation labels (associated data and HKDF info strings). */
export const SHARE_AD_LABEL = 'keyquorum/share/v1';
export const NONCE_AD_LABEL = 'keyquorum/nonce/v1';
export const IDENTITY_AD_LABEL = 'keyquorum/identity/v1';
export const SEAL_KEY_INFO = 'keyquorum/keystore/seal-key/v1';
export const VERIFIER_INFO = 'keyquorum/keystore/verifier/v1';
