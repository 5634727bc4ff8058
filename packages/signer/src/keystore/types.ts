/**
 * The keystore's public records and options, typed once for the `Keystore` front and
 * the stores behind it. None carries a secret except `UnsealedShare.secret`.
 */
import type { KekSource } from './kek.ts';
import type { StoredPolicy } from './policies.ts';
import type { SpendEntry } from './spend.ts';
import type { VelocityEntry } from './velocity.ts';

/** A client request admitted by the keystore (`admitRequest`), with what its admission records. */
export interface Admission {
  clientKeyHex: string;
  /** The request nonce, or one per allowed attempt (hex); the first unseen one is taken. */
  nonces: readonly string[];
  /** The replay entry's stamp: it is kept until the stamp falls out of the replay window. */
  stamp: number;
  velocity?: VelocityEntry;
  /** A transaction's spend, one entry per asset (spend.ts). */
  spend?: readonly SpendEntry[];
  policy?: StoredPolicy;
}

/** Remembers (client key, request nonce) pairs; false when the pair was seen before. */
export interface ReplayGuard {
  checkAndRemember(clientKeyHex: string, nonceHex: string, timestamp: number): boolean;
}

export interface KeystoreOpenOptions {
  dataDir: string;
  kek: KekSource;
  /** When given, must equal the signer id the keystore was created for. */
  signerId?: string;
  /**
   * The scrypt N a passphrase keystore must have: one below it is re-sealed at it on
   * unlock. Default SCRYPT_N_DEFAULT, except for a keystore created with an explicit N.
   */
  scryptN?: number;
  /** Milliseconds since the epoch; defaults to Date.now. */
  now?: () => number;
  /**
   * Group commit (group-commit.ts) of the nonce journal and admissions: their steps are
   * committed together at the next setImmediate (0) or this many ms later; the caller must
   * then release nothing derived before `afterCommit`. Absent: every write commits before it returns.
   */
  groupCommitMs?: number;
}

export interface KeystoreCreateOptions {
  dataDir: string;
  kek: KekSource;
  /** This signer's id; bound into every sealed share and nonce. */
  signerId: string;
  /** scrypt cost for a passphrase KEK (power of two); defaults to SCRYPT_N_DEFAULT. */
  scryptN?: number;
  now?: () => number;
}

/** A keystore share row with its secret unsealed (still in its scheme's encoding). Secret: never logged, never sent. */
export interface UnsealedShare {
  keyId: string;
  epoch: number;
  signerId: string;
  suite: string;
  state: 'pending' | 'active';
  secret: Uint8Array;
  public: Uint8Array;
  createdAt: number;
  updatedAt: number;
}

/** What `listKeys` says about a key this signer holds a share of; never a secret. */
export type HeldKeySummary =
  | { keyId: string; state: 'active'; epoch: number; suite: string; pendingEpoch: number | null }
  | { keyId: string; state: 'pending'; epoch: number; suite: string }
  | { keyId: string; state: 'retired'; retiredAt: number; attestationDigest: Uint8Array };

/** A peer this signer banned from sessions of a key (`banPeer`), until `clearPeerBan`. */
export interface PeerBan {
  keyId: string;
  peer: string;
  reason: string;
  /** ms since the Unix epoch. */
  bannedAt: number;
}

export interface RetireResult {
  keyId: string;
  retiredAt: number;
  /** The epochs whose shares were wiped, ascending. */
  wipedEpochs: number[];
}
