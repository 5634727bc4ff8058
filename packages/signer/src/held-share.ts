/**
 * The share a session holds (`HeldShare`: unsealed and decoded by its scheme) and the
 * public part stored beside each sealed share (`SharePublicPart`, docs/cluster-protocol.md
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
  handoverPolicy,
  parseParticipants,
  parseWirePublicKey,
  strictObject,
  uint,
  type ParticipantRef,
  type WirePublicKey,
} from '@keyquorum/protocol';
import { redacted, type ecdsa, type KeyShare } from '@keyquorum/crypto';
import { SHARE_RECORD_VERSION } from './constants.ts';
import { SignerError } from './errors.ts';
import type { Keystore, UnsealedShare } from './keystore/index.ts';

/** The public part of a stored share (the key's public package, participants, provenance); never a secret. */
export interface SharePublicPart {
  publicKey: WirePublicKey;
  participants: ParticipantRef[];
  /** This signer's participant index. */
  self: number;
  sessionId: Uint8Array;
  transcriptHash: Uint8Array;
  /**
   * A new member of a reshare or a repair target only: the policy the START handed over
   * (canonical text; absent = DEFAULT_POLICY) and the id of the request that moved the
   * key here. Recorded as this signer's policy of the key when the share is activated
   * (docs/governance.md "Handover").
   */
  handover?: PolicyHandover;
}

export interface PolicyHandover {
  requestId: Uint8Array;
  policy?: string;
}

const FIELDS = ['v', 'publicKey', 'participants', 'self', 'sessionId', 'transcriptHash'] as const;

export function encodeSharePublicPart(r: SharePublicPart): Uint8Array {
  return encodeBody({ v: SHARE_RECORD_VERSION, ...r });
}

export function decodeSharePublicPart(bytesIn: Uint8Array): SharePublicPart {
  const o = strictObject(decode(bytesIn), [...FIELDS, 'handover'], FIELDS, 'record');
  uint(o.v, SHARE_RECORD_VERSION, SHARE_RECORD_VERSION, 'record.v');
  const part: SharePublicPart = {
    publicKey: parseWirePublicKey(o.publicKey, 'record.publicKey'),
    participants: parseParticipants(o.participants, 'record.participants', 2),
    self: uint(o.self, 1, 65_535, 'record.self'),
    sessionId: bytes(o.sessionId, SESSION_ID_LENGTH, 'record.sessionId'),
    transcriptHash: bytes(o.transcriptHash, DIGEST_LENGTH, 'record.transcriptHash'),
  };
  if (o.handover !== undefined) {
    const h = strictObject(o.handover, ['requestId', 'policy'], ['requestId'], 'record.handover');
    part.handover = { requestId: bytes(h.requestId, DIGEST_LENGTH, 'record.handover.requestId'), ...handoverPolicy(h.policy) };
  }
  return part;
}

/** The secret part of a held share, as its scheme decodes it. Secret: never logged, never sent. */
export interface ShareSecret {
  /** The Feldman share every scheme here has (s_i, Y, Y_i), checked: s_i * G == Y_i. */
  keyShare: KeyShare;
  /** ecdsa-secp256k1 only: the whole DKLs23 share (its `frost` part is `keyShare`, plus the pairwise OT and zero seeds). */
  ecdsa?: ecdsa.EcdsaKeyShare;
}

/**
 * A share unsealed from the keystore and decoded for a session, with its public part.
 * Secret: never logged (it redacts itself), never sent; wiped by its scheme after use.
 */
export interface HeldShare extends ShareSecret {
  keyId: string;
  epoch: number;
  suite: string;
  state: 'pending' | 'active';
  /** When this signer stored the share (its epoch began here): the refresh rule's start. */
  createdAt: number;
  publicPart: SharePublicPart;
}

/** How one scheme reads and wipes the secret it seals. */
export interface ShareCodec {
  /** The sealed secret -> the share, checked against its public record. */
  decodeSecret(secret: Uint8Array, publicPart: SharePublicPart): ShareSecret;
  /** Zeroes the share's secrets; best effort, as everywhere in JS. */
  wipe(share: ShareSecret): void;
}

/** A keystore row read with its scheme's codec. */
export function openShare(row: UnsealedShare, codec: ShareCodec): HeldShare {
  const publicPart = decodeSharePublicPart(row.public);
  const share: HeldShare = { keyId: row.keyId, epoch: row.epoch, suite: row.suite, state: row.state, createdAt: row.createdAt, ...codec.decodeSecret(row.secret, publicPart), publicPart };
  return redacted(share, `HeldShare ${row.keyId}@${row.epoch}`);
}

/** The share active here, read again when a session uses it: a refresh or retirement since START is honoured. */
export function activeShareAt(keystore: Keystore, keyId: string, epoch: number, codec: ShareCodec): HeldShare {
  const share = openShare(keystore.getActive(keyId), codec);
  if (share.epoch !== epoch) {
    codec.wipe(share);
    throw new SignerError('WRONG_KEY_STATE', { field: 'epoch', message: `${keyId} is now active at epoch ${share.epoch}` });
  }
  return share;
}
