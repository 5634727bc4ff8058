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
  SESSION_ID_LENGTH,
  bytes,
  decode,
  encodeBody,
  fromWirePublicKey,
  parseParticipants,
  parseWirePublicKey,
  strictObject,
  uint,
  type ParticipantRef,
  type WirePublicKey,
} from '@keyquorum/protocol';
import { assertKeyShare, makeKeyShare, type KeyShare } from '@keyquorum/crypto';
import { SHARE_RECORD_VERSION } from './constants.ts';
import type { ShareRecord } from './keystore/index.ts';

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
}

export function loadShare(row: ShareRecord): LoadedShare {
  const record = decodeShareRecord(row.public);
  const keyShare = makeKeyShare({ suite: fromWirePublicKey(record.publicKey).suite, id: record.self, signingShare: row.secret, publicKey: fromWirePublicKey(record.publicKey) });
  assertKeyShare(keyShare, 'keystore.share');
  return { keyId: row.keyId, epoch: row.epoch, suite: row.suite, state: row.state, keyShare, record };
}

/** The signer id of a participant index of the record, if any. */
export function signerOfIndex(record: Pick<SharePublicRecord, 'participants'>, index: number): string | undefined {
  return record.participants.find((p) => p.index === index)?.signer;
}
