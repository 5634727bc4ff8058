/**
 * The JSON HTTP API under /v1 (node:http, no framework). Bytes travel as lowercase
 * hex; a client request is { v, op, keyId, digest, timestamp, nonce, clientKey, sig }
 * with hex bytes. Bodies are capped before parsing and checked field by field
 * (unknown fields refused), so malformed input never reaches a signer. Errors are
 * { error: { code, message, field?, culprits? } }:
 *   400 BAD_REQUEST, 401 UNAUTHENTICATED, 403 UNAUTHORISED, 404 UNKNOWN_KEY / NOT_FOUND,
 *   405 METHOD_NOT_ALLOWED, 409 KEY_EXISTS / WRONG_STATE / BUSY, 413 PAYLOAD_TOO_LARGE,
 *   503 NOT_ENOUGH_SIGNERS / NOT_STARTED, 500 otherwise (TIMEOUT, SESSION_FAILED, INTERNAL).
 *
 *   POST /v1/keys[?wait=false]       {keyId, suite, threshold, signers?, request} -> 201 key
 *   GET  /v1/keys                    -> {keys}
 *   GET  /v1/keys/:id                -> key
 *   GET  /v1/keys/:id/derive?path=   -> {publicKey, chainCode, path}
 *   POST /v1/keys/:id/sign           {message, path?, taproot?: {merkleRoot?}, request} -> {signature, publicKey}
 *   POST /v1/keys/:id/refresh[?wait=false]  {request} -> key
 *   POST /v1/keys/:id/reshare[?wait=false]  {signers, threshold, request} -> key (new signers and threshold, epoch + 1)
 *   POST /v1/keys/:id/retire[?wait=false]   {request} -> {key, attestations}
 *   GET  /v1/keys/:id/bans           -> {bans: [{signer, reason, at}]} (signers caught cheating, excluded from the key's sessions)
 *   DELETE /v1/keys/:id/bans/:signer -> 204 (admin; audited as 'signer.unbanned'; 404 NOT_FOUND if not banned)
 *   GET  /v1/operations/:id          -> {id, kind, keyId, state, startedAt, finishedAt?, result?, error?}
 *   GET  /v1/signers                 -> {signers: [{id, connected, lastSeen, epochs: {keyId: epoch}}]}
 *   GET  /v1/audit?key=ID            -> {entries, verification}
 *   GET  /v1/openapi.json            the OpenAPI 3 description of all of this (openapi.ts)
 *   GET  /healthz                    {status: 'ok'} while the process serves
 *   GET  /readyz                     200/503 {ready, registryWritable, signersConnected, signersNeeded, reason?}:
 *                                    the registry accepts writes and >= the smallest active threshold (2 without keys) signers are connected
 *   GET  /metrics                    Prometheus text (metrics.ts)
 * Every /v1 route but the OpenAPI document is authenticated per request
 * (`verifyHttpRequest`: Ed25519 over method, target, body hash, timestamp, nonce in
 * x-keyquorum-* headers; replays refused): reads need any role, POST and DELETE
 * routes need admin, except sign which admin or signer may call. The operation-level client
 * request in a mutation's body is checked as before, by the coordinator and by every
 * signer.
 * Long operations (DKG, refresh, reshare, retire) are awaited by default: the answer
 * comes when the session has finished. With `?wait=false` the request is checked as
 * usual (refusals answer as when awaited), then the session runs on and the answer is
 * 202 {operation: {id, kind, keyId, state: 'running', startedAt}} with a Location
 * header /v1/operations/:id to poll: state 'succeeded' with `result` (the body the
 * awaited call answers) or 'failed' with `error` ({code, message, field?, culprits?}).
 * Operations live in a bounded in-memory history (operations.ts); after a restart, or
 * once forgotten, GET answers 404 and the key and the audit log tell what happened.
 * A key is { id, scheme, threshold, signers, publicKey, groupKey, epoch, state }
 * (publicKey is the external key: 32-byte x-only for frost-secp256k1-tr, 32 for
 * frost-ed25519, 33 for frost-secp256k1; groupKey the group key as an encoded point,
 * 33-byte compressed on secp256k1, which a reshare request signs; both null while
 * pending).
 */
import type http from 'node:http';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { MemoryReplayGuard, WireError, verifyHttpRequest, type ClientRequest, type HttpCaller, type Role, type TaprootTarget } from '@keyquorum/protocol';
import type { Coordinator, KeyInfo, RetireOutput } from './coordinator.ts';
import { CoordinatorError, isCoordinatorError, type CoordinatorErrorCode } from './errors.ts';
import { OPENAPI_DOCUMENT } from './openapi.ts';
import type { OperationKind, OperationRecord } from './operations.ts';
import type { Attestation } from './registry.ts';

const STATUS: Record<CoordinatorErrorCode, number> = {
  BAD_CONFIG: 500,
  BAD_PASSPHRASE: 500,
  BAD_REQUEST: 400,
  UNAUTHENTICATED: 401,
  UNAUTHORISED: 403,
  UNKNOWN_KEY: 404,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  PAYLOAD_TOO_LARGE: 413,
  KEY_EXISTS: 409,
  WRONG_STATE: 409,
  BUSY: 409,
  NOT_ENOUGH_SIGNERS: 503,
  NOT_STARTED: 503,
  TIMEOUT: 500,
  SESSION_FAILED: 500,
  INTERNAL: 500,
};

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Body = Record<string, unknown>;

const bad = (field: string, message: string) => new CoordinatorError('BAD_REQUEST', { field, message: `${field}: ${message}` });

export function keyJson(k: KeyInfo): Json {
  return {
    id: k.id,
    scheme: k.suite,
    threshold: k.threshold,
    signers: k.participants.map((p) => p.signer),
    publicKey: k.publicKey === undefined ? null : bytesToHex(k.publicKey),
    groupKey: k.groupKey === undefined ? null : bytesToHex(k.groupKey),
    epoch: k.epoch,
    state: k.state,
  };
}

function attestationJson(a: Attestation): Json {
  return { signer: a.signer, epoch: a.epoch, destroyedAt: a.destroyedAt, verifyingShare: bytesToHex(a.verifyingShare), envelope: bytesToHex(a.envelope) };
}

function hex(v: unknown, field: string): Uint8Array {
  if (typeof v !== 'string' || v.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(v)) throw bad(field, 'expected hex bytes');
  return hexToBytes(v.toLowerCase());
}

function strict(v: unknown, allowed: readonly string[], required: readonly string[], field: string): Body {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(field, 'expected a JSON object');
  const o = v as Body;
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw bad(field === 'body' ? k : `${field}.${k}`, 'unknown field');
  for (const k of required) if (o[k] === undefined) throw bad(field === 'body' ? k : `${field}.${k}`, 'missing');
  return o;
}

/** ClientRequest JSON (hex bytes) to bytes; `Coordinator` checks lengths, ranges and the signature. */
export function parseRequestJson(v: unknown): ClientRequest {
  const keys = ['v', 'op', 'keyId', 'digest', 'timestamp', 'nonce', 'clientKey', 'sig'];
  const o = strict(v, keys, keys, 'request');
  return {
    v: o.v as 1,
    op: o.op as ClientRequest['op'],
    keyId: o.keyId as string,
    digest: hex(o.digest, 'request.digest'),
    timestamp: o.timestamp as number,
    nonce: hex(o.nonce, 'request.nonce'),
    clientKey: hex(o.clientKey, 'request.clientKey'),
    sig: hex(o.sig, 'request.sig'),
  };
}

async function readBody(req: http.IncomingMessage, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) throw new CoordinatorError('PAYLOAD_TOO_LARGE', { message: `body above ${maxBytes} bytes` });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new CoordinatorError('PAYLOAD_TOO_LARGE', { message: `body above ${maxBytes} bytes` });
    chunks.push(chunk as Buffer);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

function parseJson(body: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    throw new CoordinatorError('BAD_REQUEST', { field: 'body', message: 'malformed JSON' });
  }
}

/** A non-JSON answer (the Prometheus exposition). */
class TextBody {
  constructor(
    readonly text: string,
    readonly contentType: string,
  ) {}
}

function send(res: http.ServerResponse, status: number, body: Json | TextBody, headers: Record<string, string> = {}): void {
  if (status === 204) {
    res.writeHead(204, { ...headers, 'cache-control': 'no-store' });
    res.end();
    return;
  }
  const text = body instanceof TextBody ? body.text : JSON.stringify(body);
  const type = body instanceof TextBody ? body.contentType : 'application/json; charset=utf-8';
  res.writeHead(status, { ...headers, 'content-type': type, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

function errorJson(e: CoordinatorError): Json {
  const error: { [key: string]: Json } = { code: e.code, message: e.message };
  if (e.field !== undefined) error.field = e.field;
  if (e.culprits.length > 0) error.culprits = e.culprits;
  return { error };
}

/** A handler's answer: status, body, and extra headers (Location). */
type Reply = [number, Json | TextBody] | [number, Json | TextBody, Record<string, string>];

function retireJson(out: RetireOutput): Json {
  return { key: keyJson(out.key), attestations: out.attestations.map(attestationJson) };
}

function operationJson(op: OperationRecord): Json {
  return op as unknown as Json;
}

/** `?wait=`: absent or 'true' awaits the session (the default), 'false' answers 202 with an operation to poll. */
function waits(url: URL): boolean {
  const w = url.searchParams.get('wait');
  if (w === null || w === 'true') return true;
  if (w === 'false') return false;
  throw bad('wait', "expected 'true' or 'false'");
}

/**
 * Runs a long operation: awaited (answer `status` with its JSON), or with `?wait=false`
 * started and answered 202 with the running operation and its Location. Checks that
 * refuse the call answer as when awaited, and record no operation.
 */
async function longOperation<T>(c: Coordinator, url: URL, kind: OperationKind, keyId: string, status: number, run: () => Promise<T>, toJson: (v: T) => Json): Promise<Reply> {
  if (waits(url)) return [status, toJson(await run())];
  const op = await c.operations.start(kind, keyId, run, toJson);
  return [202, { operation: operationJson(op) }, { location: `/v1/operations/${encodeURIComponent(op.id)}` }];
}

interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** The OpenAPI path template, e.g. '/v1/keys/{id}/sign' (checked against openapi.ts by a test). */
  path: string;
  pattern: RegExp;
  /**
   * Who may call: 'public' (no authentication), or the roles allowed. Default for a
   * /v1 route: any role for GET, admin for POST and DELETE.
   */
  access?: 'public' | readonly Role[];
  /** `caller`: the authenticated client, undefined on public routes. */
  handle: (c: Coordinator, m: string[], url: URL, body: () => Promise<unknown>, caller: HttpCaller | undefined) => Promise<Reply> | Reply;
}

const KEY = '([^/]+)';

const ROUTES: Route[] = [
  { method: 'GET', path: '/v1/openapi.json', access: 'public', pattern: /^\/v1\/openapi\.json$/, handle: () => [200, OPENAPI_DOCUMENT as unknown as Json] },
  {
    method: 'GET',
    path: '/metrics',
    access: 'public',
    pattern: /^\/metrics$/,
    handle: async (c) => [200, new TextBody(await c.metrics.registry.metrics(), c.metrics.registry.contentType)],
  },
  { method: 'GET', path: '/healthz', access: 'public', pattern: /^\/healthz$/, handle: () => [200, { status: 'ok' }] },
  {
    method: 'GET',
    path: '/readyz',
    access: 'public',
    pattern: /^\/readyz$/,
    handle: (c) => {
      const r = c.readiness();
      return [r.ready ? 200 : 503, { ...r }];
    },
  },
  { method: 'GET', path: '/v1/keys', pattern: /^\/v1\/keys$/, handle: (c) => [200, { keys: c.listKeys().map(keyJson) }] },
  {
    method: 'POST',
    path: '/v1/keys',
    pattern: /^\/v1\/keys$/,
    handle: async (c, _m, url, body) => {
      waits(url);
      const b = strict(await body(), ['keyId', 'suite', 'threshold', 'signers', 'request'], ['keyId', 'suite', 'threshold', 'request'], 'body');
      if (b.signers !== undefined && !Array.isArray(b.signers)) throw bad('signers', 'expected an array of signer ids');
      const params = { keyId: b.keyId as string, suite: b.suite as string, threshold: b.threshold as number, request: parseRequestJson(b.request) };
      return longOperation(c, url, 'createKey', params.keyId, 201, () => c.createKey(b.signers === undefined ? params : { ...params, signers: b.signers as string[] }), keyJson);
    },
  },
  { method: 'GET', path: '/v1/keys/{id}', pattern: new RegExp(`^/v1/keys/${KEY}$`), handle: (c, m) => [200, keyJson(c.getKey(m[1]!))] },
  {
    method: 'GET',
    path: '/v1/keys/{id}/derive',
    pattern: new RegExp(`^/v1/keys/${KEY}/derive$`),
    handle: (c, m, url) => {
      const path = url.searchParams.get('path');
      if (path === null) throw bad('path', 'missing query parameter');
      const d = c.deriveKey(m[1]!, path);
      return [200, { publicKey: bytesToHex(d.publicKey), chainCode: bytesToHex(d.chainCode), path: d.path }];
    },
  },
  {
    method: 'POST',
    path: '/v1/keys/{id}/sign',
    access: ['admin', 'signer'],
    pattern: new RegExp(`^/v1/keys/${KEY}/sign$`),
    handle: async (c, m, _u, body) => {
      const b = strict(await body(), ['message', 'path', 'taproot', 'request'], ['message', 'request'], 'body');
      const params: Parameters<Coordinator['sign']>[0] = { keyId: m[1]!, message: hex(b.message, 'message'), request: parseRequestJson(b.request) };
      if (b.path !== undefined) {
        if (typeof b.path !== 'string') throw bad('path', "expected a path such as 'm/44/0/7'");
        params.path = b.path;
      }
      if (b.taproot !== undefined) {
        const t = strict(b.taproot, ['merkleRoot'], [], 'taproot');
        const taproot: TaprootTarget = t.merkleRoot === undefined ? {} : { merkleRoot: hex(t.merkleRoot, 'taproot.merkleRoot') };
        params.taproot = taproot;
      }
      const out = await c.sign(params);
      const json: Json = { signature: bytesToHex(out.signature), publicKey: bytesToHex(out.publicKey) };
      if (out.recoveryId !== undefined) json.recoveryId = out.recoveryId;
      return [200, json];
    },
  },
  {
    method: 'POST',
    path: '/v1/keys/{id}/refresh',
    pattern: new RegExp(`^/v1/keys/${KEY}/refresh$`),
    handle: async (c, m, url, body) => {
      waits(url);
      const b = strict(await body(), ['request'], ['request'], 'body');
      const request = parseRequestJson(b.request);
      return longOperation(c, url, 'refresh', m[1]!, 200, () => c.refresh({ keyId: m[1]!, request }), keyJson);
    },
  },
  {
    method: 'POST',
    path: '/v1/keys/{id}/reshare',
    pattern: new RegExp(`^/v1/keys/${KEY}/reshare$`),
    handle: async (c, m, url, body) => {
      waits(url);
      const b = strict(await body(), ['signers', 'threshold', 'request'], ['signers', 'threshold', 'request'], 'body');
      if (!Array.isArray(b.signers)) throw bad('signers', 'expected an array of signer ids');
      const params = { keyId: m[1]!, signers: b.signers as string[], threshold: b.threshold as number, request: parseRequestJson(b.request) };
      return longOperation(c, url, 'reshare', m[1]!, 200, () => c.reshare(params), keyJson);
    },
  },
  {
    method: 'POST',
    path: '/v1/keys/{id}/retire',
    pattern: new RegExp(`^/v1/keys/${KEY}/retire$`),
    handle: async (c, m, url, body) => {
      waits(url);
      const b = strict(await body(), ['request'], ['request'], 'body');
      const request = parseRequestJson(b.request);
      return longOperation(c, url, 'retire', m[1]!, 200, () => c.retire({ keyId: m[1]!, request }), retireJson);
    },
  },
  {
    method: 'GET',
    path: '/v1/keys/{id}/bans',
    pattern: new RegExp(`^/v1/keys/${KEY}/bans$`),
    handle: (c, m) => [200, { bans: c.bans(m[1]!).map((b) => ({ signer: b.signer, reason: b.reason, at: b.at })) }],
  },
  {
    method: 'DELETE',
    path: '/v1/keys/{id}/bans/{signer}',
    pattern: new RegExp(`^/v1/keys/${KEY}/bans/([^/]+)$`),
    handle: (c, m, _u, _b, caller) => {
      c.clearBan(m[1]!, m[2]!, caller === undefined ? undefined : bytesToHex(caller.clientKey));
      return [204, null];
    },
  },
  {
    method: 'GET',
    path: '/v1/operations/{id}',
    pattern: /^\/v1\/operations\/([^/]+)$/,
    handle: (c, m) => {
      const op = c.operations.get(m[1]!);
      if (op === undefined) throw new CoordinatorError('NOT_FOUND', { field: 'id', message: `no operation ${m[1]} (unknown, forgotten from the bounded in-memory history, or from before a restart: see the key and the audit log)` });
      return [200, operationJson(op)];
    },
  },
  { method: 'GET', path: '/v1/signers', pattern: /^\/v1\/signers$/, handle: (c) => [200, { signers: c.listSigners() as unknown as Json }] },
  {
    method: 'GET',
    path: '/v1/audit',
    pattern: /^\/v1\/audit$/,
    handle: (c, _m, url) => {
      const key = url.searchParams.get('key');
      const entries = c.audit(key ?? undefined);
      return [200, { entries: entries as unknown as Json, verification: c.verifyAudit() as unknown as Json }];
    },
  },
];

function decodeSegments(m: RegExpExecArray): string[] {
  return m.map((s, i) => {
    if (i === 0) return s;
    try {
      return decodeURIComponent(s);
    } catch {
      throw bad('keyId', 'malformed URL encoding');
    }
  });
}

/** (method, OpenAPI path) of every route the router serves, for the OpenAPI check. */
export function routeTable(): Array<{ method: string; path: string; access: 'public' | readonly Role[] }> {
  return ROUTES.map((r) => ({ method: r.method, path: r.path, access: accessOf(r) }));
}

function accessOf(r: Route): 'public' | readonly Role[] {
  if (r.access !== undefined) return r.access;
  return r.method === 'GET' ? ['admin', 'signer', 'auditor'] : ['admin'];
}

/** A failed request authentication as the coordinator's error: 401, or 403 for an untrusted key. */
function httpAuthError(e: unknown): CoordinatorError {
  if (!(e instanceof WireError)) return new CoordinatorError('UNAUTHENTICATED', { message: 'request authentication failed', cause: e });
  if (e.code === 'UNAUTHORISED') return new CoordinatorError('UNAUTHORISED', { field: e.field, message: 'the client key is not trusted', cause: e });
  const why = e.code === 'STALE' ? 'timestamp outside the allowed clock skew' : e.code === 'REPLAY' ? 'nonce already used (replay)' : e.message;
  return new CoordinatorError('UNAUTHENTICATED', { field: e.field, message: `${e.code}: ${why}`, cause: e });
}

/** The request listener for node:http. */
export function createHttpHandler(coordinator: Coordinator): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  const o = coordinator.options;
  const log = o.logger;
  const maxBody = o.maxBodyBytes;
  // Transport nonces: remembered for the freshness window. Kept in memory: a request
  // replayed across a restart still carries an operation request whose nonce the
  // registry and every signer remember durably.
  const replay = new MemoryReplayGuard({ windowMs: o.maxSkewMs, now: o.now });
  return (req, res) => {
    const started = Date.now();
    const url = new URL(req.url ?? '/', 'http://localhost');
    let caller: HttpCaller | undefined;
    const respond = (status: number, body: Json | TextBody, headers?: Record<string, string>) => {
      send(res, status, body, headers);
      log.info('http', { method: req.method, path: url.pathname, status, ms: Date.now() - started, client: caller === undefined ? undefined : bytesToHex(caller.clientKey).slice(0, 16) });
    };
    const run = async (): Promise<void> => {
      const matches = ROUTES.map((r) => ({ r, m: r.pattern.exec(url.pathname) })).filter((x) => x.m !== null);
      if (matches.length === 0) throw new CoordinatorError('NOT_FOUND', { message: `no route ${url.pathname}` });
      const hit = matches.find((x) => x.r.method === req.method);
      if (hit === undefined) throw new CoordinatorError('METHOD_NOT_ALLOWED', { message: `${req.method} ${url.pathname}` });
      const access = accessOf(hit.r);
      // Cap, then authenticate over the exact bytes, then parse.
      const raw = hit.r.method === 'POST' ? await readBody(req, maxBody) : new Uint8Array(0);
      if (access !== 'public') {
        try {
          caller = verifyHttpRequest(req.headers, { method: req.method ?? '', target: req.url ?? '/', body: raw }, { trusted: o.clients, now: o.now(), maxSkewMs: o.maxSkewMs, replay });
        } catch (e) {
          throw httpAuthError(e);
        }
        if (!caller.roles.some((r) => access.includes(r))) {
          throw new CoordinatorError('UNAUTHORISED', { message: `${hit.r.method} ${hit.r.path} needs one of the roles ${access.join(', ')}` });
        }
      }
      const [status, body, headers] = await hit.r.handle(coordinator, decodeSegments(hit.m!), url, async () => parseJson(raw), caller);
      respond(status, body, headers);
    };
    run().catch((e: unknown) => {
      const err = isCoordinatorError(e) ? e : new CoordinatorError('INTERNAL', { message: 'internal error', cause: e });
      if (!isCoordinatorError(e)) log.error('http handler failed', { path: url.pathname, error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
      if (err.code === 'PAYLOAD_TOO_LARGE') res.setHeader('connection', 'close');
      coordinator.metrics.error(err.code);
      respond(STATUS[err.code], errorJson(err));
    });
  };
}
