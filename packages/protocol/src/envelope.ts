/**
 * The signed envelope around every protocol message. The sender signs, with its
 * Ed25519 identity (RFC 8032), the digest
 *   SHA-256(lp(ENVELOPE_TAG) || canonicalHeader || SHA-256(payload) || encBinding)
 * where canonicalHeader is the fixed-width, length-prefixed encoding below and
 * encBinding is lp(eph) for an end-to-end encrypted payload, lp(empty) otherwise, so
 * a relay can neither re-address a message (session, round, sender, recipient), alter
 * its payload, nor add, strip or swap its encryption. Decoding validates every field
 * and refuses unknown ones.
 */
import { equalBytes } from '@noble/curves/utils.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes } from '@noble/hashes/utils.js';
import { decode, encode, type DecodeOptions, type WireValue } from './codec.ts';
import { lp, lpString, taggedHash, u32be } from './canonical.ts';
import {
  BROADCAST,
  ED25519_PUBLIC_KEY_LENGTH,
  ED25519_SIGNATURE_LENGTH,
  ENVELOPE_TAG,
  KINDS,
  MAX_ROUND,
  NODE_ID_PATTERN,
  PROTOCOL_VERSION,
  SESSION_ID_LENGTH,
  SUITE_PATTERN,
  X25519_KEY_LENGTH,
} from './constants.ts';
import { WireError } from './errors.ts';
import { sign, verifySignature, type IdentityKey } from './identity.ts';
import { bytes, fieldPath, isPlainObject, str, strictObject, uint } from './validate.ts';

export type Kind = (typeof KINDS)[number];

export interface Header {
  v: 1;
  kind: string;
  suite: string;
  /** 32 bytes, from `deriveSessionId`. */
  sessionId: Uint8Array;
  round: number;
  /** Sender node id. */
  from: string;
  /** Recipient node id, or '*' for every participant. */
  to: string;
}

/** Present when the payload is end-to-end encrypted (`e2e.ts`). */
export interface EncInfo {
  /** The sender's ephemeral X25519 public key for this message. */
  eph: Uint8Array;
}

export interface Envelope {
  header: Header;
  payload: Uint8Array;
  /** Ed25519 signature by `header.from`'s identity key. */
  sig: Uint8Array;
  enc?: EncInfo;
}

export interface EnvelopeOptions {
  /** Accepted kinds; default `KINDS`. */
  kinds?: readonly string[];
  /** Accepted suites; default: any id matching `SUITE_PATTERN`. */
  suites?: readonly string[];
}

export interface OpenOptions extends EnvelopeOptions {
  expect?: {
    sessionId?: Uint8Array;
    /** The receiving node's id: the envelope must be addressed to it or broadcast. */
    to?: string;
    kind?: string;
  };
}

function nodeId(v: unknown, field: string): string {
  return str(v, NODE_ID_PATTERN, field);
}

/** Validates a header; the version is checked first so a newer one is named as such. */
export function parseHeader(v: unknown, field: string, opts: EnvelopeOptions = {}): Header {
  if (isPlainObject(v) && Object.hasOwn(v, 'v') && v.v !== PROTOCOL_VERSION) {
    throw new WireError('UNSUPPORTED_VERSION', { field: fieldPath(field, 'v') });
  }
  const keys = ['v', 'kind', 'suite', 'sessionId', 'round', 'from', 'to'] as const;
  const o = strictObject(v, keys, keys, field);
  const kind = str(o.kind, 64, fieldPath(field, 'kind'));
  if (!(opts.kinds ?? KINDS).includes(kind)) throw new WireError('UNKNOWN_KIND', { field: fieldPath(field, 'kind') });
  const suite = str(o.suite, SUITE_PATTERN, fieldPath(field, 'suite'));
  if (opts.suites !== undefined && !opts.suites.includes(suite)) {
    throw new WireError('UNKNOWN_SUITE', { field: fieldPath(field, 'suite') });
  }
  const to = o.to === BROADCAST ? BROADCAST : nodeId(o.to, fieldPath(field, 'to'));
  return {
    v: PROTOCOL_VERSION,
    kind,
    suite,
    sessionId: bytes(o.sessionId, SESSION_ID_LENGTH, fieldPath(field, 'sessionId')),
    round: uint(o.round, 0, MAX_ROUND, fieldPath(field, 'round')),
    from: nodeId(o.from, fieldPath(field, 'from')),
    to,
  };
}

/** Validates a whole envelope (fields at the root: 'header.round', 'enc.eph'). */
export function parseEnvelope(v: unknown, opts: EnvelopeOptions = {}): Envelope {
  const o = strictObject(v, ['header', 'payload', 'sig', 'enc'], ['header', 'payload', 'sig'], '');
  const envelope: Envelope = {
    header: parseHeader(o.header, 'header', opts),
    payload: bytes(o.payload, undefined, 'payload'),
    sig: bytes(o.sig, ED25519_SIGNATURE_LENGTH, 'sig'),
  };
  if (o.enc !== undefined) {
    const enc = strictObject(o.enc, ['eph'], ['eph'], 'enc');
    envelope.enc = { eph: bytes(enc.eph, X25519_KEY_LENGTH, 'enc.eph') };
  }
  return envelope;
}

/**
 * The canonical header encoding, also the AAD of end-to-end encryption:
 * u32(v) || lp(kind) || lp(suite) || lp(sessionId) || u32(round) || lp(from) || lp(to).
 */
export function canonicalHeaderBytes(header: Header, opts: EnvelopeOptions = {}): Uint8Array {
  const h = parseHeader(header, 'header', opts);
  return concatBytes(
    u32be(h.v),
    lpString(h.kind),
    lpString(h.suite),
    lp(h.sessionId),
    u32be(h.round),
    lpString(h.from),
    lpString(h.to),
  );
}

function envelopeDigest(header: Header, payload: Uint8Array, enc: EncInfo | undefined, opts: EnvelopeOptions): Uint8Array {
  return taggedHash(
    ENVELOPE_TAG,
    canonicalHeaderBytes(header, opts),
    sha256(payload),
    lp(enc === undefined ? new Uint8Array(0) : enc.eph),
  );
}

/** Signs `payload` under `header` with the sender's identity. */
export function sealEnvelope(
  identity: IdentityKey,
  header: Header,
  payload: Uint8Array,
  opts: EnvelopeOptions & { enc?: EncInfo } = {},
): Envelope {
  const draft: Envelope = { header, payload, sig: new Uint8Array(ED25519_SIGNATURE_LENGTH) };
  if (opts.enc !== undefined) draft.enc = opts.enc;
  const e = parseEnvelope(draft, opts);
  e.sig = sign(identity, envelopeDigest(e.header, e.payload, e.enc, opts));
  return e;
}

/**
 * Checks what the receiver expects (cheap, first), then the signature under the
 * sender's pinned key; returns the envelope. The caller picks `senderPublicKey` by
 * `header.from`.
 */
export function openEnvelope(envelope: Envelope, senderPublicKey: Uint8Array, opts: OpenOptions = {}): Envelope {
  const e = parseEnvelope(envelope, opts);
  const pub = bytes(senderPublicKey, ED25519_PUBLIC_KEY_LENGTH, 'senderPublicKey');
  const { expect = {} } = opts;
  if (expect.sessionId !== undefined) {
    const want = bytes(expect.sessionId, SESSION_ID_LENGTH, 'expect.sessionId');
    if (!equalBytes(e.header.sessionId, want)) throw new WireError('WRONG_SESSION', { field: 'header.sessionId' });
  }
  if (expect.to !== undefined) {
    const me = nodeId(expect.to, 'expect.to');
    if (e.header.to !== BROADCAST && e.header.to !== me) throw new WireError('WRONG_RECIPIENT', { field: 'header.to' });
  }
  if (expect.kind !== undefined && e.header.kind !== expect.kind) {
    throw new WireError('WRONG_KIND', { field: 'header.kind' });
  }
  if (!verifySignature(pub, envelopeDigest(e.header, e.payload, e.enc, opts), e.sig)) {
    throw new WireError('BAD_SIGNATURE', { field: 'sig' });
  }
  return e;
}

/** Validates then encodes an envelope as one msgpack frame. */
export function encodeEnvelope(envelope: Envelope, opts: EnvelopeOptions = {}): Uint8Array {
  const e = parseEnvelope(envelope, opts);
  const value: { [key: string]: WireValue } = { header: { ...e.header }, payload: e.payload, sig: e.sig };
  if (e.enc !== undefined) value.enc = { eph: e.enc.eph };
  return encode(value);
}

/** Decodes one frame (length capped first) and validates it as an envelope. */
export function decodeEnvelope(frame: Uint8Array, opts: EnvelopeOptions & DecodeOptions = {}): Envelope {
  return parseEnvelope(decode(frame, opts), opts);
}
