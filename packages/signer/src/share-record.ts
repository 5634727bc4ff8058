/**
 * The public record stored beside each sealed share (docs/cluster-protocol.md
 * "Participants"): the key's public package in wire form, its `ParticipantRef[]`, this
 * signer's index, and the session id and transcript hash of the session that made
 * the epoch, so a COMMIT or ABORT re-sent after a restart can still be checked.
 * Encoded with the protocol codec (msgpack, plain data); the sealed secret is the
 * 32-byte signing share alone.
 */
import {
  DIGEST_LENGTH,
  ECDSA_SUITE,
  SESSION_ID_LENGTH,
  bytes,
  decode,
  encodeBody,
  fromWirePublicKey,
  parseParticipants,
  parseWirePublicKey,
  strictObject,
  toWirePublicKey,
  uint,
  type ParticipantRef,
  type WirePublicKey,
} from '@keyquorum/protocol';
import { equalBytes } from '@noble/curves/utils.js';
import { assertKeyShare, ecdsa, makeKeyShare, type KeyShare } from '@keyquorum/crypto';
import { SHARE_RECORD_VERSION } from './constants.ts';
import { KeystoreError, type ShareRecord } from './keystore/index.ts';

export interface SharePublicRecord {
  publicKey: WirePublicKey;
  participants: ParticipantRef[];
  /** This signer's participant index. */
  self: number;
  sessionId: Uint8Array;
  transcriptHash: Uint8Array;
}

const FIELDS = ['v', 'publicKey', 'participants', 'self', 'sessionId', 'transcriptHash'] as const;

export function encodeShareRecord(r: SharePublicRecord): Uint8Array {
  return encodeBody({ v: SHARE_RECORD_VERSION, ...r });
}

export function decodeShareRecord(bytesIn: Uint8Array): SharePublicRecord {
  const o = strictObject(decode(bytesIn), FIELDS, FIELDS, 'record');
  uint(o.v, SHARE_RECORD_VERSION, SHARE_RECORD_VERSION, 'record.v');
  return {
    publicKey: parseWirePublicKey(o.publicKey, 'record.publicKey'),
    participants: parseParticipants(o.participants, 'record.participants', 2),
    self: uint(o.self, 1, 65_535, 'record.self'),
    sessionId: bytes(o.sessionId, SESSION_ID_LENGTH, 'record.sessionId'),
    transcriptHash: bytes(o.transcriptHash, DIGEST_LENGTH, 'record.transcriptHash'),
  };
}

/** A stored share as the crypto package's KeyShare (checked: s_i * G == Y_i), with its record. */
export interface LoadedShare {
  keyId: string;
  epoch: number;
  suite: string;
  state: 'pending' | 'active';
  keyShare: KeyShare;
  record: SharePublicRecord;
  /** ecdsa-secp256k1 only: the whole DKLs23 share (its `frost` part is `keyShare`, plus the pairwise OT and zero seeds). */
  ecdsa?: ecdsa.EcdsaKeyShare;
}

export function loadShare(row: ShareRecord): LoadedShare {
  const record = decodeShareRecord(row.public);
  if (row.suite === ECDSA_SUITE) {
    // The sealed secret is the encoded DKLs23 share (decodeEcdsaKeyShare re-checks s_i*G == Y_i).
    const share = ecdsa.decodeEcdsaKeyShare(row.secret);
    row.secret.fill(0);
    if (share.frost.id !== record.self || !equalBytes(encodeBody(toWirePublicKey(share.frost.publicKey)), encodeBody(record.publicKey))) {
      wipeEcdsaShare(share);
      throw new KeystoreError('CORRUPT', { field: 'keystore.share', message: 'the sealed ecdsa share does not match its public record' });
    }
    return { keyId: row.keyId, epoch: row.epoch, suite: row.suite, state: row.state, keyShare: share.frost, record, ecdsa: share };
  }
  const keyShare = makeKeyShare({ suite: fromWirePublicKey(record.publicKey).suite, id: record.self, signingShare: row.secret, publicKey: fromWirePublicKey(record.publicKey) });
  assertKeyShare(keyShare, 'keystore.share');
  return { keyId: row.keyId, epoch: row.epoch, suite: row.suite, state: row.state, keyShare, record };
}

/** Zeroes an ECDSA share's secrets (signing share, OT and zero seeds); best effort as everywhere in JS. */
export function wipeEcdsaShare(share: ecdsa.EcdsaKeyShare): void {
  share.frost.signingShare.fill(0);
  for (const p of Object.values(share.pairs)) {
    p.zeroSeed.fill(0);
    p.sender.delta.fill(0);
    p.sender.seeds.fill(0);
    p.receiver.seeds0.fill(0);
    p.receiver.seeds1.fill(0);
  }
}

/** Zeroes a loaded share's secrets (the signing share; for ecdsa-secp256k1 also the OT and zero seeds). */
export function wipeLoadedShare(share: LoadedShare): void {
  share.keyShare.signingShare.fill(0);
  if (share.ecdsa) wipeEcdsaShare(share.ecdsa);
}

/** The signer id of a participant index of the record, if any. */
export function signerOfIndex(record: Pick<SharePublicRecord, 'participants'>, index: number): string | undefined {
  return record.participants.find((p) => p.index === index)?.signer;
}
