/**
 * Key material of one threshold key: the public package every participant and the
 * coordinator hold, and the secret share one participant holds (frost-rs'
 * `PublicKeyPackage` / `KeyPackage`). Plain data (numbers, Uint8Arrays) so that the
 * protocol layer can encode it; the secret share redacts itself when logged.
 */
import { bytesToHex, equalBytes } from '../bytes.ts';
import { CryptoError } from '../errors.ts';
import { redacted } from '../redact.ts';
import { edRounds } from './ed-rounds.ts';
import { secpRounds } from './secp-rounds.ts';
import {
  assertBytes,
  assertParticipantId,
  assertParticipants,
  assertThreshold,
  getSuite,
  nobleId,
  parsePoint,
  parseScalar,
  type ParticipantId,
  type Suite,
  type SuiteId,
} from './suite.ts';
import type { FrostPublic, FrostSecret } from '@noble/curves/abstract/frost.js';

export const CHAIN_CODE_LENGTH = 32;

export interface PublicKeyPackage {
  suite: SuiteId;
  threshold: number;
  /** Every participant of the key set, ascending. */
  participants: ParticipantId[];
  /** The group key Y as an encoded point (33-byte compressed with its real parity on secp256k1). */
  groupKey: Uint8Array;
  /** Y_i = s_i * G for every participant, keyed by participant id. */
  verifyingShares: Record<ParticipantId, Uint8Array>;
  /** 32-byte chain code for non-hardened derivation, agreed by all participants. */
  chainCode: Uint8Array;
}

export interface KeyShare {
  suite: SuiteId;
  /** This participant. */
  id: ParticipantId;
  /** s_i, the secret share. Never leaves the signer unsealed or unencrypted. */
  signingShare: Uint8Array;
  publicKey: PublicKeyPackage;
}

/** Builds a KeyShare that redacts itself in logs and JSON. */
export function makeKeyShare(fields: KeyShare): KeyShare {
  return redacted({ ...fields }, `KeyShare ${fields.suite} #${fields.id}`);
}

/** Validates a public key package completely; returns the suite. */
export function assertPublicKeyPackage(pkg: unknown, field = 'publicKey'): Suite {
  if (typeof pkg !== 'object' || pkg === null) throw new CryptoError('BAD_FIELD', { field });
  const p = pkg as PublicKeyPackage;
  const suite = getSuite(p.suite, `${field}.suite`);
  const participants = assertParticipants(p.participants, `${field}.participants`, { min: 2 });
  assertThreshold(p.threshold, participants.length, `${field}.threshold`);
  parsePoint(suite, p.groupKey, `${field}.groupKey`);
  assertBytes(p.chainCode, CHAIN_CODE_LENGTH, `${field}.chainCode`);
  if (typeof p.verifyingShares !== 'object' || p.verifyingShares === null) throw new CryptoError('BAD_FIELD', { field: `${field}.verifyingShares` });
  const keys = Object.keys(p.verifyingShares);
  if (keys.length !== participants.length) throw new CryptoError('BAD_PARTICIPANT', { field: `${field}.verifyingShares`, message: `BAD_PARTICIPANT: ${field}.verifyingShares must have one entry per participant` });
  for (const id of participants) parsePoint(suite, p.verifyingShares[id], `${field}.verifyingShares[${id}]`);
  return suite;
}

/** Validates a key share (the public package, the id's membership, s_i*G == Y_i). */
export function assertKeyShare(share: unknown, field = 'keyShare'): Suite {
  if (typeof share !== 'object' || share === null) throw new CryptoError('BAD_FIELD', { field });
  const s = share as KeyShare;
  const suite = assertPublicKeyPackage(s.publicKey, `${field}.publicKey`);
  if (s.suite !== suite.id) throw new CryptoError('BAD_FIELD', { field: `${field}.suite`, message: `BAD_FIELD: ${field}.suite differs from its public package` });
  assertParticipantId(s.id, `${field}.id`);
  if (!s.publicKey.participants.includes(s.id)) throw new CryptoError('BAD_PARTICIPANT', { field: `${field}.id` });
  const x = parseScalar(suite, s.signingShare, `${field}.signingShare`);
  const verifying = s.publicKey.verifyingShares[s.id]!;
  const rounds = secpRounds(suite) ?? edRounds(suite);
  // The verifying share was decoded strictly above, so equal encodings are equal points.
  const matches = rounds ? equalBytes(rounds.mulBase(x), verifying) : suite.Point.BASE.multiply(x).equals(parsePoint(suite, verifying, `${field}.publicKey.verifyingShares[${s.id}]`));
  if (!matches)
    throw new CryptoError('SHARE_MISMATCH', { field: `${field}.signingShare`, message: `SHARE_MISMATCH: ${field}.signingShare does not match its verifying share` });
  return suite;
}

/** noble's public package. `commitments[0]` is all noble reads of the commitment list. */
export function toNoblePublic(suite: Suite, pkg: PublicKeyPackage): FrostPublic {
  const verifyingShares: Record<string, Uint8Array> = {};
  for (const id of pkg.participants) verifyingShares[nobleId(suite, id)] = pkg.verifyingShares[id]!;
  return {
    signers: { min: pkg.threshold, max: pkg.participants.length },
    commitments: [pkg.groupKey],
    verifyingShares,
  } as FrostPublic;
}

export function toNobleSecret(suite: Suite, share: KeyShare): FrostSecret {
  return { identifier: nobleId(suite, share.id), signingShare: share.signingShare } as FrostSecret;
}

/** The key users and standard verifiers see: 32-byte x-only (BIP340), 32-byte Ed25519, 33-byte SEC1. */
export function externalPublicKey(pkg: PublicKeyPackage): Uint8Array {
  const suite = assertPublicKeyPackage(pkg);
  return suite.externalKey(pkg.groupKey);
}

/** A short, stable fingerprint of a public package (for logs and transcripts). */
export function publicKeyHex(pkg: PublicKeyPackage): string {
  return bytesToHex(externalPublicKey(pkg));
}
