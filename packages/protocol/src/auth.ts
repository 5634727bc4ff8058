/**
 * Client authorisation that travels with the work: the hot-wallet service signs each
 * request with its Ed25519 key (RFC 8032), and every signer checks it itself (the
 * coordinator is not trusted to). A request is honoured when its key is trusted with
 * a role that allows the operation, its timestamp is within the allowed skew and its
 * nonce has not been seen in that window. The signed message is
 *   SHA-256(lp(CLIENT_REQUEST_TAG) || u32(v) || lp(op) || lp(keyId) || digest
 *           || i64(timestamp) || nonce || clientKey).
 */
import { bytesToHex, concatBytes } from '@noble/hashes/utils.js';
import { i64be, lp, lpString, taggedHash, u32be } from './canonical.ts';
import {
  CLIENT_NONCE_LENGTH,
  CLIENT_REQUEST_ID_TAG,
  CLIENT_REQUEST_TAG,
  DEFAULT_MAX_SKEW_MS,
  DIGEST_LENGTH,
  ED25519_PUBLIC_KEY_LENGTH,
  ED25519_SIGNATURE_LENGTH,
  HEX_PATTERN,
  KEY_ID_PATTERN,
  OPERATION_DIGEST_TAG,
  PARAM_NAME_PATTERN,
  PROTOCOL_VERSION,
} from './constants.ts';
import { parseApprovals, type Approval } from './approval-wire.ts';
import { WireError } from './errors.ts';
import { IdentityKey, sign, verifySignature } from './identity.ts';
import { defaultRng, drawRandom, type Rng } from './rng.ts';
import { array, bytes, fieldPath, isPlainObject, oneOf, str, strictObject, uint } from './validate.ts';

export const OPERATIONS = ['createKey', 'sign', 'refresh', 'reshare', 'repair', 'retire', 'state', 'policy'] as const;
export type Operation = (typeof OPERATIONS)[number];

export const ROLES = ['admin', 'signer', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

/** What each role may request. */
export const ROLE_OPERATIONS: Readonly<Record<Role, readonly Operation[]>> = {
  admin: OPERATIONS,
  signer: ['sign'],
  auditor: [],
};

export interface ClientRequest {
  v: 1;
  op: Operation;
  keyId: string;
  /** `operationDigest(op, params)`: what exactly is authorised. */
  digest: Uint8Array;
  /** Milliseconds since the Unix epoch. */
  timestamp: number;
  nonce: Uint8Array;
  /** The client's Ed25519 public key. */
  clientKey: Uint8Array;
  sig: Uint8Array;
  /**
   * Approvals of this request by the key's approvers (approvals.ts), when its policy
   * requires them. Not covered by `sig` nor by `clientRequestId`: each approval signs
   * the request id itself.
   */
  approvals?: Approval[];
}

export interface TrustedClient {
  publicKey: Uint8Array;
  roles: readonly Role[];
}

/** Remembers (client key, nonce) pairs; returns false for a pair already seen. */
export interface ReplayGuard {
  checkAndRemember(clientKeyHex: string, nonceHex: string, timestamp: number): boolean;
}

export interface VerifyClientRequestOptions {
  trusted: readonly TrustedClient[];
  /** The verifier's clock, ms since the epoch. */
  now: number;
  maxSkewMs?: number;
  replay: ReplayGuard;
}

const REQUEST_KEYS = ['v', 'op', 'keyId', 'digest', 'timestamp', 'nonce', 'clientKey', 'sig'] as const;

/** Validates a decoded client request field by field; the version is checked first. */
export function parseClientRequest(v: unknown, field = 'request'): ClientRequest {
  if (isPlainObject(v) && Object.hasOwn(v, 'v') && v.v !== PROTOCOL_VERSION) {
    throw new WireError('UNSUPPORTED_VERSION', { field: fieldPath(field, 'v') });
  }
  const o = strictObject(v, [...REQUEST_KEYS, 'approvals'], REQUEST_KEYS, field);
  const r: ClientRequest = {
    v: PROTOCOL_VERSION,
    op: oneOf(o.op, OPERATIONS, fieldPath(field, 'op')),
    keyId: str(o.keyId, KEY_ID_PATTERN, fieldPath(field, 'keyId')),
    digest: bytes(o.digest, DIGEST_LENGTH, fieldPath(field, 'digest')),
    timestamp: uint(o.timestamp, 0, Number.MAX_SAFE_INTEGER, fieldPath(field, 'timestamp')),
    nonce: bytes(o.nonce, CLIENT_NONCE_LENGTH, fieldPath(field, 'nonce')),
    clientKey: bytes(o.clientKey, ED25519_PUBLIC_KEY_LENGTH, fieldPath(field, 'clientKey')),
    sig: bytes(o.sig, ED25519_SIGNATURE_LENGTH, fieldPath(field, 'sig')),
  };
  if (o.approvals !== undefined) r.approvals = parseApprovals(o.approvals, fieldPath(field, 'approvals'));
  return r;
}

function requestMessage(r: Omit<ClientRequest, 'sig'>): Uint8Array {
  return taggedHash(
    CLIENT_REQUEST_TAG,
    u32be(r.v),
    lpString(r.op),
    lpString(r.keyId),
    r.digest,
    i64be(r.timestamp),
    r.nonce,
    r.clientKey,
  );
}

/**
 * The id of one signed request: every field, nonce and timestamp included, so two
 * requests with the same digest (two retire requests of a key) have different ids.
 *   SHA-256(lp(CLIENT_REQUEST_ID_TAG) || signed message || lp(sig))
 */
export function clientRequestId(r: ClientRequest): Uint8Array {
  const parsed = parseClientRequest(r);
  return taggedHash(CLIENT_REQUEST_ID_TAG, requestMessage(parsed), lp(parsed.sig));
}

/** Signs a request; `timestamp` defaults to the system clock, `nonce` to 16 random bytes. */
export function signClientRequest(
  client: IdentityKey,
  fields: { op: Operation; keyId: string; digest: Uint8Array; timestamp?: number; nonce?: Uint8Array },
  rng: Rng = defaultRng,
): ClientRequest {
  if (!(client instanceof IdentityKey)) throw new WireError('BAD_FIELD', { field: 'client' });
  const draft = {
    v: PROTOCOL_VERSION,
    op: fields.op,
    keyId: fields.keyId,
    digest: fields.digest,
    timestamp: fields.timestamp ?? Date.now(),
    nonce: fields.nonce ?? drawRandom(rng, CLIENT_NONCE_LENGTH),
    clientKey: client.publicKey,
    sig: new Uint8Array(ED25519_SIGNATURE_LENGTH),
  };
  const r = parseClientRequest(draft, 'fields');
  r.sig = sign(client, requestMessage(r));
  return r;
}

/**
 * Accepts a request only if: its fields are valid, its key is trusted with a role
 * allowing `op` ('UNAUTHORISED'), its signature verifies ('BAD_SIGNATURE'),
 * |now - timestamp| <= maxSkewMs ('STALE') and its nonce is new ('REPLAY'; checked
 * last so that only genuine requests consume nonces).
 */
export function verifyClientRequest(req: unknown, opts: VerifyClientRequestOptions): ClientRequest {
  const r = parseClientRequest(req);
  const now = uint(opts.now, 0, Number.MAX_SAFE_INTEGER, 'now');
  const maxSkewMs = uint(opts.maxSkewMs ?? DEFAULT_MAX_SKEW_MS, 0, Number.MAX_SAFE_INTEGER, 'maxSkewMs');
  const trusted = array(opts.trusted, Number.MAX_SAFE_INTEGER, 'trusted').map((t, i) => {
    const field = fieldPath('trusted', i);
    const entry = strictObject(t, ['publicKey', 'roles'], ['publicKey', 'roles'], field);
    const roles = array(entry.roles, ROLES.length, fieldPath(field, 'roles'));
    return {
      keyHex: bytesToHex(bytes(entry.publicKey, ED25519_PUBLIC_KEY_LENGTH, fieldPath(field, 'publicKey'))),
      roles: roles.map((role, j) => oneOf(role, ROLES, fieldPath(fieldPath(field, 'roles'), j))),
    };
  });
  const clientHex = bytesToHex(r.clientKey);
  const allowed = trusted.some(
    (t) => t.keyHex === clientHex && t.roles.some((role) => ROLE_OPERATIONS[role].includes(r.op)),
  );
  if (!allowed) throw new WireError('UNAUTHORISED', { field: 'request.clientKey' });
  if (!verifySignature(r.clientKey, requestMessage(r), r.sig)) throw new WireError('BAD_SIGNATURE', { field: 'request.sig' });
  if (Math.abs(now - r.timestamp) > maxSkewMs) throw new WireError('STALE', { field: 'request.timestamp' });
  if (!opts.replay.checkAndRemember(clientHex, bytesToHex(r.nonce), r.timestamp)) {
    throw new WireError('REPLAY', { field: 'request.nonce' });
  }
  return r;
}

/**
 * In-memory replay window. An entry is kept until its timestamp falls more than
 * `windowMs` behind the clock, i.e. until the request would be refused as stale
 * anyway; a timestamp already that old is refused outright, so the guard stays safe
 * even if the verifier's skew is larger than its window.
 */
export class MemoryReplayGuard implements ReplayGuard {
  private readonly seen = new Map<string, number>();
  private readonly windowMs: number;
  private readonly now: () => number;

  constructor(opts: { windowMs?: number; now?: () => number } = {}) {
    this.windowMs = uint(opts.windowMs ?? DEFAULT_MAX_SKEW_MS, 0, Number.MAX_SAFE_INTEGER, 'windowMs');
    if (opts.now !== undefined && typeof opts.now !== 'function') throw new WireError('BAD_FIELD', { field: 'now' });
    this.now = opts.now ?? Date.now;
  }

  checkAndRemember(clientKeyHex: string, nonceHex: string, timestamp: number): boolean {
    const key = `${str(clientKeyHex, HEX_PATTERN, 'clientKeyHex')}:${str(nonceHex, HEX_PATTERN, 'nonceHex')}`;
    uint(timestamp, 0, Number.MAX_SAFE_INTEGER, 'timestamp');
    const horizon = this.now() - this.windowMs;
    for (const [k, ts] of this.seen) if (ts < horizon) this.seen.delete(k);
    if (timestamp < horizon || this.seen.has(key)) return false;
    this.seen.set(key, timestamp);
    return true;
  }

  /** Entries currently remembered. */
  get size(): number {
    return this.seen.size;
  }
}

/**
 * The digest a client signs for an operation:
 *   SHA-256(lp(OPERATION_DIGEST_TAG) || lp(op) || u32(count) || for each name in sorted
 *           order: lp(name) || type || value)
 * with type 1 = bytes (lp), 2 = string (lp of UTF-8), 3 = safe integer (i64 big-endian).
 */
export function operationDigest(op: Operation, params: Readonly<Record<string, Uint8Array | string | number>>): Uint8Array {
  oneOf(op, OPERATIONS, 'op');
  if (!isPlainObject(params)) throw new WireError('BAD_FIELD', { field: 'params' });
  const names = Object.keys(params).sort();
  const parts = names.map((name) => {
    const field = fieldPath('params', str(name, PARAM_NAME_PATTERN, 'params'));
    const value: unknown = params[name];
    if (value instanceof Uint8Array) return concatBytes(lpString(name), Uint8Array.of(1), lp(value));
    if (typeof value === 'string') return concatBytes(lpString(name), Uint8Array.of(2), lpString(value));
    const n = uint(value, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, field);
    return concatBytes(lpString(name), Uint8Array.of(3), i64be(n));
  });
  return taggedHash(OPERATION_DIGEST_TAG, lpString(op), u32be(names.length), ...parts);
}
