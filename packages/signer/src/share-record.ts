/**
 * The public record stored beside each sealed share (docs/cluster-protocol.md
 * "Participants"): the key's public package in wire form, its `ParticipantRef[]`, this
 * signer's index, and the session id and transcript hash of the session that made
 * the epoch, so a COMMIT or ABORT re-sent after a restart can still be checked.
 * Encoded with the protocol codec (msgpack, plain data). What the sealed secret is
 * belongs to the key's scheme (`schemes/`): `openShare` reads a keystore row with the
 * scheme's `ShareCodec`; `schemes/index.ts` picks the codec by the row's suite.
 */
import {
  DIGEST_LENGTH,
  SESSION_ID_LENGTH,
  bytes,
  decode,
  encodeBody,
  parseParticipants,
  parseWirePublicKey,
  strictObject,
  uint,
  type ParticipantRef,
  type WirePublicKey,
} from '@keyquorum/protocol';
import type { ecdsa, KeyShare } from '@keyquorum/crypto';
import { SHARE_RECORD_VERSION } from './constants.ts';
import { SignerError } from './errors.ts';
import type { Keystore, ShareRecord } from './keystore/index.ts';

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

/** The secret part of a loaded share, as its scheme decodes it. */
export interface ShareSecret {
  /** The Feldman share every scheme here has (s_i, Y, Y_i), checked: s_i * G == Y_i. */
  keyShare: KeyShare;
  /** ecdsa-secp256k1 only: the whole DKLs23 share (its `frost` part is `keyShare`, plus the pairwise OT and zero seeds). */
  ecdsa?: ecdsa.EcdsaKeyShare;
}

/** A stored share as the crypto package reads it, with its record. */
export interface LoadedShare extends ShareSecret {
  keyId: string;
  epoch: number;
  suite: string;
  state: 'pending' | 'active';
  record: SharePublicRecord;
}

/** How one scheme reads and wipes the secret it seals. */
export interface ShareCodec {
  /** The sealed secret -> the share, checked against its public record. */
  decodeSecret(secret: Uint8Array, record: SharePublicRecord): ShareSecret;
  /** Zeroes the share's secrets; best effort, as everywhere in JS. */
  wipe(share: ShareSecret): void;
}

/** A keystore row read with its scheme's codec. */
export function openShare(row: ShareRecord, codec: ShareCodec): LoadedShare {
  const record = decodeShareRecord(row.public);
  return { keyId: row.keyId, epoch: row.epoch, suite: row.suite, state: row.state, ...codec.decodeSecret(row.secret, record), record };
}

/** The share active here, read again when a session uses it: a refresh or retirement since START is honoured. */
export function activeShareAt(keystore: Keystore, keyId: string, epoch: number, codec: ShareCodec): LoadedShare {
  const share = openShare(keystore.getActive(keyId), codec);
  if (share.epoch !== epoch) {
    codec.wipe(share);
    throw new SignerError('WRONG_KEY_STATE', { field: 'epoch', message: `${keyId} is now active at epoch ${share.epoch}` });
  }
  return share;
}
