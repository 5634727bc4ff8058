/**
 * What every session executor shares: this signer's identity and keystore, the
 * pinned keys, the trusted clients, the outbound channel, and the checks every
 * relayed peer envelope goes through (docs/cluster-protocol.md "Frames").
 *
 * Attribution: a relayed envelope whose header does not fit the session, or whose
 * signature fails, may have been altered or replayed by the relay, so it names no
 * culprit. One that is correctly addressed and signed by its sender's pinned key but
 * whose payload cannot be decrypted or decoded, or fails a crypto check, was made
 * by its sender: the sender is named in `culprits`.
 */
import { bytesToHex } from '@noble/hashes/utils.js';
import { equalBytes } from '@noble/curves/utils.js';
import {
  COORDINATOR_ID,
  PROTOCOL_VERSION,
  WireError,
  decodeBody,
  decryptFrom,
  encodeBody,
  encryptTo,
  openEnvelope,
  sealEnvelope,
  type Envelope,
  type Header,
  type IdentityKey,
  type ParticipantRef,
  type Rng,
  type TrustedClient,
} from '@keyquorum/protocol';
import { CryptoError } from '@keyquorum/crypto';
import type { Logger } from '@keyquorum/protocol/logger';
import { SignerError } from '../errors.ts';
import type { Keystore } from '../keystore/index.ts';
import type { SignerBehaviour } from '../behaviour.ts';
import type { CryptoRunner } from '../workers/api.ts';

export interface SessionContext {
  readonly signerId: string;
  readonly identity: IdentityKey;
  readonly keystore: Keystore;
  /** Pinned Ed25519 keys of every signer, this one included. */
  readonly peers: ReadonlyMap<string, Uint8Array>;
  readonly clients: readonly TrustedClient[];
  readonly behaviour: SignerBehaviour;
  readonly log: Logger;
  readonly rng: Rng;
  /** Where key rounds run: a worker thread, or inline with `cryptoWorkers: 0` (`workers/pool.ts`). */
  readonly crypto: CryptoRunner;
  /** FROST commitments made ahead of the message (nonce-pool.ts); absent in contexts that pool nothing. */
  pool?: NoncePoolView;
  /** ecdsa-secp256k1 presignatures made ahead of the message (presignatures.ts); absent in contexts that pool nothing. */
  presignatures?: PresignatureView;
  now(): number;
  send(envelope: Envelope): void;
}

/** What a session sees of the nonce pool (nonce-pool.ts). */
export interface NoncePoolView {
  /** POOL: tops up this signer's commitments of `body.keyId` at `body.epoch`, in the background. */
  request(suite: string, body: { keyId: string; epoch: number }): void;
  /**
   * Takes this signer's own OFFER among `envelopes` out of the pool if it is one of its
   * pooled, unused commitments for `keyId` at `epoch`; else NONCE_UNKNOWN and nothing
   * changes. Returns its nonce id (hex) and the OFFER payload it signed.
   */
  claim(envelopes: readonly Envelope[], keyId: string, epoch: number): { nonceId: string; payload: Uint8Array };
  /** Discards a claimed nonce that was not consumed (the pooled sign was refused). */
  discard(nonceId: string): void;
}

/** What a session sees of the presignature pool (presignatures.ts). */
export interface PresignatureView {
  /** A presign session of `keyId` starts; the returned function ends it (made or not). WRONG_STATUS when the key's pool is full. */
  reserve(keyId: string, epoch: number): () => void;
  /** Keeps a presignature made here (its secret already sealed in the nonce journal under `id`). */
  add(id: string, record: { keyId: string; epoch: number; quorum: ParticipantRef[]; instancePoint: Uint8Array }): void;
  /** Takes presignature `id` out of the pool if it is one made here for `keyId` at `epoch`; else NONCE_UNKNOWN and nothing changes. */
  claim(id: string, keyId: string, epoch: number): { keyId: string; epoch: number; quorum: ParticipantRef[]; instancePoint: Uint8Array };
  /** Discards a claimed presignature that was not consumed (the pooled sign was refused). */
  discard(id: string): void;
}

export type SessionKind = 'dkg' | 'refresh' | 'sign' | 'retire' | 'reshare' | 'repair' | 'state' | 'policy';

/** Seals and sends one message of this signer. */
export function sendBody(
  ctx: SessionContext,
  h: { kind: string; suite: string; sessionId: Uint8Array; round: number; to?: string },
  body: unknown,
): Envelope {
  return sendPayload(ctx, h, encodeBody(body));
}

/** Seals and sends an already encoded body. */
export function sendPayload(
  ctx: SessionContext,
  h: { kind: string; suite: string; sessionId: Uint8Array; round: number; to?: string },
  payload: Uint8Array,
): Envelope {
  const header: Header = { v: PROTOCOL_VERSION, kind: h.kind, suite: h.suite, sessionId: h.sessionId, round: h.round, from: ctx.signerId, to: h.to ?? COORDINATOR_ID };
  const envelope = sealEnvelope(ctx.identity, header, payload);
  ctx.send(envelope);
  return envelope;
}

/** Encrypts `body` to one peer (a secret round) and sends it. */
export function sendSecret(ctx: SessionContext, h: { kind: string; suite: string; sessionId: Uint8Array; round: number; to: string }, body: unknown): void {
  const header: Header = { v: PROTOCOL_VERSION, kind: h.kind, suite: h.suite, sessionId: h.sessionId, round: h.round, from: ctx.signerId, to: h.to };
  const plaintext = encodeBody(body);
  const { payload, enc } = encryptTo(ctx.identity, pinnedKey(ctx, h.to), header, plaintext, ctx.rng);
  plaintext.fill(0);
  ctx.send(sealEnvelope(ctx.identity, header, payload, { enc }));
}

export function pinnedKey(ctx: SessionContext, signer: string): Uint8Array {
  const key = ctx.peers.get(signer);
  if (key === undefined) throw new SignerError('UNPINNED_PEER', { field: 'participants', message: `${signer} is not pinned in this signer's config` });
  return key;
}

/** Checks a session's participant list: this signer is in it once and every other one is pinned. */
export function selfIndex(ctx: SessionContext, participants: readonly ParticipantRef[], field = 'participants'): number {
  for (const p of participants) pinnedKey(ctx, p.signer);
  const self = participants.find((p) => p.signer === ctx.signerId);
  if (self === undefined) throw new SignerError('BAD_PARTICIPANTS', { field, message: `${ctx.signerId} is not a participant` });
  return self.index;
}

/** The same participants (signer and index) in any order. */
export const sameRefs = (a: readonly ParticipantRef[], b: readonly ParticipantRef[]): boolean =>
  a.length === b.length && a.every((p) => b.some((q) => q.signer === p.signer && q.index === p.index));

export interface RelayExpectation {
  kind: string;
  suite: string;
  round: number;
  /** Undefined: each envelope carries its own id (pooled OFFERs: their nonce ids). */
  sessionId: Uint8Array | undefined;
  /** Who each envelope must be addressed to: a node id or '*'. */
  to: string;
  /** Senders that must each appear exactly once. */
  required: readonly string[];
  /** Senders that may also appear (at most once). */
  optional?: readonly string[];
  /** Payloads are end-to-end encrypted to this signer. */
  encrypted?: boolean;
  /** Payload this signer sent in that round: its own envelope must carry exactly it. */
  own?: Uint8Array;
}

/**
 * Opens a set of relayed peer envelopes (CONTRIBUTIONS, R1/R2_DELIVER, COMMIT, SIGN)
 * and returns each sender's decoded body. Set problems (missing, extra, duplicate,
 * misaddressed) are the relay's: 'BAD_TRANSCRIPT'. Bad signatures: 'BAD_ENVELOPE'.
 * Undecryptable or malformed payloads under a valid signature: 'PEER_MISBEHAVED'
 * naming every such sender.
 */
export function openRelayed<T>(ctx: SessionContext, envelopes: readonly Envelope[], x: RelayExpectation): Map<string, T> {
  const allowed = new Set([...x.required, ...(x.optional ?? [])]);
  const bySender = new Map<string, Envelope>();
  for (const [i, e] of envelopes.entries()) {
    const h = e.header;
    const field = `envelopes[${i}]`;
    if (!allowed.has(h.from)) throw new SignerError('BAD_TRANSCRIPT', { field, message: `unexpected sender ${h.from}` });
    if (bySender.has(h.from)) throw new SignerError('BAD_TRANSCRIPT', { field, message: `two envelopes from ${h.from}` });
    if (h.kind !== x.kind || h.suite !== x.suite || h.round !== x.round || h.to !== x.to || (x.sessionId !== undefined && !equalBytes(h.sessionId, x.sessionId))) {
      throw new SignerError('BAD_TRANSCRIPT', { field: `${field}.header`, message: `envelope from ${h.from} belongs to another session, round or recipient` });
    }
    bySender.set(h.from, e);
  }
  const missing = x.required.filter((s) => !bySender.has(s));
  if (missing.length > 0) throw new SignerError('BAD_TRANSCRIPT', { field: 'envelopes', message: `missing envelopes from ${missing.join(',')}` });

  const out = new Map<string, T>();
  const culprits: string[] = [];
  const forged: string[] = [];
  for (const [sender, e] of bySender) {
    if (sender === ctx.signerId && x.own !== undefined && !equalBytes(e.payload, x.own)) {
      throw new SignerError('OWN_MESSAGE_ALTERED', { field: 'envelopes', message: `this signer's round ${x.round} message was altered` });
    }
    try {
      openEnvelope(e, pinnedKey(ctx, sender));
    } catch (err) {
      if (!(err instanceof WireError)) throw err;
      forged.push(sender);
      continue;
    }
    let plaintext: Uint8Array | undefined;
    try {
      plaintext = x.encrypted ? decryptFrom(ctx.identity, pinnedKey(ctx, sender), e) : e.payload;
      out.set(sender, decodeBody<T>(x.kind, x.round, x.suite, plaintext));
    } catch (err) {
      if (!(err instanceof WireError)) throw err;
      culprits.push(sender);
    } finally {
      if (x.encrypted) plaintext?.fill(0);
    }
  }
  if (culprits.length > 0) throw new SignerError('PEER_MISBEHAVED', { culprits, message: `round ${x.round} payload fails to decrypt or decode` });
  if (forged.length > 0) throw new SignerError('BAD_ENVELOPE', { message: `signature of ${forged.sort().join(',')} does not verify (altered in relay?)` });
  return out;
}

/** A crypto failure naming participant indices, as a SignerError naming signer ids. */
export function attribute(e: unknown, participants: readonly ParticipantRef[]): unknown {
  if (!(e instanceof CryptoError)) return e;
  const culprits = e.culprits.map((i) => participants.find((p) => p.index === i)?.signer).filter((s): s is string => s !== undefined);
  if (culprits.length === 0) return new SignerError('BAD_TRANSCRIPT', { field: e.field, message: e.message, cause: e });
  return new SignerError('PEER_MISBEHAVED', { culprits, field: e.field, message: e.code, cause: e });
}

export const hex = bytesToHex;
