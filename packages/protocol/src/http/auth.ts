/**
 * Request-level HTTP authentication. A client signs every API call with its Ed25519
 * key (RFC 8032) over
 *   SHA-256(lp(HTTP_REQUEST_TAG) || lp(METHOD) || lp(target) || SHA-256(body)
 *           || i64(timestamp) || nonce || clientKey)
 * where `target` is the request target exactly as sent (path and query string).
 * The values travel in `x-keyquorum-*` headers, SHA-256(body) among them
 * (`x-keyquorum-content-sha256`; absent means an empty body), so the whole request is
 * authenticated from its headers: the coordinator checks the signature, freshness
 * (|now - timestamp| <= skew), the client's roles and the nonce (replay) before it
 * reads a byte of the body (`verifyHttpHeaders`), then checks that the body it reads
 * hashes to the signed value (`checkHttpBody`). This is transport-level
 * authentication; the operation-level `ClientRequest` inside a mutation's body is
 * still what every signer checks for itself (auth.ts).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { equalBytes } from '@noble/curves/utils.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { i64be, lpString, taggedHash } from '../canonical.ts';
import { CLIENT_NONCE_LENGTH, DEFAULT_MAX_SKEW_MS, ED25519_PUBLIC_KEY_LENGTH, ED25519_SIGNATURE_LENGTH, HTTP_REQUEST_TAG } from '../constants.ts';
import { WireError } from '../errors.ts';
import { IdentityKey, sign, verifySignature } from '../identity.ts';
import type { ReplayGuard, Role, TrustedClient } from '../auth.ts';
import { defaultRng, drawRandom, type Rng } from '../rng.ts';
import { uint } from '../validate.ts';

/** Header names (lower case, as node:http presents them). */
export const HTTP_AUTH_HEADERS = {
  clientKey: 'x-keyquorum-key',
  timestamp: 'x-keyquorum-timestamp',
  nonce: 'x-keyquorum-nonce',
  signature: 'x-keyquorum-signature',
  /** SHA-256 of the body, hex; absent for an empty body. */
  contentSha256: 'x-keyquorum-content-sha256',
} as const;

const EMPTY_SHA256 = sha256(new Uint8Array(0));

export interface HttpRequestParts {
  /** 'GET', 'POST', ... (upper case). */
  method: string;
  /** The request target: path plus query string, e.g. '/v1/keys/k1/derive?path=m%2F0'. */
  target: string;
  /** The raw body bytes; empty for none. */
  body: Uint8Array;
}

export interface HttpAuthVerifyOptions {
  trusted: readonly TrustedClient[];
  now: number;
  maxSkewMs?: number;
  replay: ReplayGuard;
}

export interface HttpCaller {
  clientKey: Uint8Array;
  roles: readonly Role[];
}

/** A caller authenticated from its headers: the body it signed is still to be checked (`checkHttpBody`). */
export interface HttpHeaderCaller extends HttpCaller {
  /** SHA-256 of the body the caller signed. */
  bodySha256: Uint8Array;
}

function httpRequestMessage(p: Omit<HttpRequestParts, 'body'>, bodySha256: Uint8Array, timestamp: number, nonce: Uint8Array, clientKey: Uint8Array): Uint8Array {
  return taggedHash(HTTP_REQUEST_TAG, lpString(p.method.toUpperCase()), lpString(p.target), bodySha256, i64be(timestamp), nonce, clientKey);
}

/** The four authentication headers for one request (fresh nonce; timestamp defaults to now). */
export function signHttpRequest(client: IdentityKey, p: HttpRequestParts, opts: { timestamp?: number; nonce?: Uint8Array; rng?: Rng } = {}): Record<string, string> {
  if (!(client instanceof IdentityKey)) throw new WireError('BAD_FIELD', { field: 'client' });
  const timestamp = uint(opts.timestamp ?? Date.now(), 0, Number.MAX_SAFE_INTEGER, 'timestamp');
  const nonce = opts.nonce ?? drawRandom(opts.rng ?? defaultRng, CLIENT_NONCE_LENGTH);
  const bodySha256 = sha256(p.body);
  const sig = sign(client, httpRequestMessage(p, bodySha256, timestamp, nonce, client.publicKey));
  return {
    [HTTP_AUTH_HEADERS.clientKey]: bytesToHex(client.publicKey),
    [HTTP_AUTH_HEADERS.timestamp]: String(timestamp),
    [HTTP_AUTH_HEADERS.nonce]: bytesToHex(nonce),
    [HTTP_AUTH_HEADERS.signature]: bytesToHex(sig),
    ...(p.body.length === 0 ? {} : { [HTTP_AUTH_HEADERS.contentSha256]: bytesToHex(bodySha256) }),
  };
}

function header(headers: Readonly<Record<string, string | string[] | undefined>>, name: string, hexLength: number | undefined): string {
  const v = headers[name];
  if (typeof v !== 'string' || v.length === 0) throw new WireError('BAD_SIGNATURE', { field: name, message: `BAD_SIGNATURE: missing header ${name}` });
  const ok = hexLength === undefined ? /^\d{1,16}$/.test(v) : v.length === hexLength && /^[0-9a-f]+$/.test(v);
  if (!ok) throw new WireError('BAD_SIGNATURE', { field: name, message: `BAD_SIGNATURE: malformed header ${name}` });
  return v;
}

/**
 * Authenticates a request from its headers alone, before its body is read: headers
 * present and well-formed, signature valid over the signed body hash
 * ('BAD_SIGNATURE'), fresh ('STALE'), client trusted ('UNAUTHORISED'), nonce new
 * ('REPLAY', checked last so only genuine requests consume nonces). Returns the
 * caller's key and roles (the caller decides what those roles allow) and the body
 * hash `checkHttpBody` holds the body to.
 */
export function verifyHttpHeaders(headers: Readonly<Record<string, string | string[] | undefined>>, p: Omit<HttpRequestParts, 'body'>, opts: HttpAuthVerifyOptions): HttpHeaderCaller {
  const keyHex = header(headers, HTTP_AUTH_HEADERS.clientKey, ED25519_PUBLIC_KEY_LENGTH * 2);
  const timestamp = Number(header(headers, HTTP_AUTH_HEADERS.timestamp, undefined));
  const nonceHex = header(headers, HTTP_AUTH_HEADERS.nonce, CLIENT_NONCE_LENGTH * 2);
  const sig = hexToBytes(header(headers, HTTP_AUTH_HEADERS.signature, ED25519_SIGNATURE_LENGTH * 2));
  const clientKey = hexToBytes(keyHex);
  const nonce = hexToBytes(nonceHex);
  const bodySha256 = headers[HTTP_AUTH_HEADERS.contentSha256] === undefined ? EMPTY_SHA256 : hexToBytes(header(headers, HTTP_AUTH_HEADERS.contentSha256, 64));
  let valid = false;
  try {
    valid = verifySignature(clientKey, httpRequestMessage(p, bodySha256, timestamp, nonce, clientKey), sig);
  } catch {
    valid = false;
  }
  if (!valid) throw new WireError('BAD_SIGNATURE', { field: HTTP_AUTH_HEADERS.signature });
  const maxSkewMs = opts.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
  if (!Number.isSafeInteger(timestamp) || Math.abs(opts.now - timestamp) > maxSkewMs) throw new WireError('STALE', { field: HTTP_AUTH_HEADERS.timestamp });
  const trusted = opts.trusted.find((t) => bytesToHex(t.publicKey) === keyHex);
  if (trusted === undefined) throw new WireError('UNAUTHORISED', { field: HTTP_AUTH_HEADERS.clientKey });
  if (!opts.replay.checkAndRemember(keyHex, nonceHex, timestamp)) throw new WireError('REPLAY', { field: HTTP_AUTH_HEADERS.nonce });
  return { clientKey, roles: trusted.roles, bodySha256 };
}

/** The body read after `verifyHttpHeaders`: it must hash to what the caller signed ('BAD_SIGNATURE'). */
export function checkHttpBody(caller: HttpHeaderCaller, body: Uint8Array): void {
  if (!equalBytes(sha256(body), caller.bodySha256)) throw new WireError('BAD_SIGNATURE', { field: HTTP_AUTH_HEADERS.contentSha256, message: 'BAD_SIGNATURE: the body is not the one signed' });
}

/** `verifyHttpHeaders` then `checkHttpBody`, for a request whose body is already in hand. */
export function verifyHttpRequest(headers: Readonly<Record<string, string | string[] | undefined>>, p: HttpRequestParts, opts: HttpAuthVerifyOptions): HttpCaller {
  const caller = verifyHttpHeaders(headers, p, opts);
  checkHttpBody(caller, p.body);
  return { clientKey: caller.clientKey, roles: caller.roles };
}
