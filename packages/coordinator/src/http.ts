/**
 * The HTTP adapter (node:http, no framework): serves the routes of the HTTP contract
 * (`ROUTES` in @keyquorum/protocol, which also describes every route, body, answer
 * and error code, and generates the OpenAPI document) on a `CoordinatorApi`. One
 * handler per route, typed by its entry in the table: a route without a handler, or
 * a handler answering a shape the contract does not name, does not compile.
 *
 * Per request: match the route (404 / 405), refuse a declared body above the cap
 * (413), authenticate the request from its headers alone (`verifyHttpHeaders`: the
 * signature covers the body's hash; 401, 403 for a role the route does not allow)
 * before a byte of the body is read, then read the body under the cap and check it is
 * the one signed (401), then check the path segments, the query and the body's shape
 * (400, naming the field), then run the handler. A refused request whose body was not
 * read is answered with `connection: close`; the rest of its body is then read and
 * discarded, within a bound, before the connection closes (`endAfterDrain`), so that a
 * client still uploading reads the answer. The operation-level client request in a
 * mutation's body must be the HTTP caller's own (403 otherwise: no role relays
 * another client's request); it is checked by the coordinator and by every signer.
 * An operation whose key's policy requires approvals the request does not carry is
 * answered 202 with the pending operation (docs/governance.md; governance.ts).
 * Long operations are awaited, or with `?wait=false` answered 202 with the running
 * operation and its Location; operations live in a bounded in-memory history
 * (operations.ts): after a restart, or once forgotten, GET answers 404.
 * A follower of a highly available deployment (leadership.ts) answers every write
 * `307` to the leader's URL (same path and query, `Retry-After: 0`) before reading or
 * checking anything, and 503 NO_LEADER while none leads; GET routes it serves itself.
 */
import type http from 'node:http';
import { equalBytes } from '@noble/curves/utils.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import {
  API_ERRORS,
  CHAINS,
  MemoryReplayGuard,
  OPENAPI_DOCUMENT,
  ROUTES,
  WireError,
  accessOf,
  apiErrorToJson,
  banToJson,
  decodeJson,
  derivedKeyToJson,
  keyToJson,
  retirementToJson,
  signatureToJson,
  signedTxToJson,
  signerStatusToJson,
  txFromText,
  type Chain,
  checkHttpBody,
  verifyHttpHeaders,
  AUDIT_PAGE_DEFAULT,
  AUDIT_PAGE_MAX,
  type Access,
  type BodyOf,
  type HttpCaller,
  type HttpHeaderCaller,
  type OperationJson,
  type PendingOperationState,
  type PathParams,
  type QueryParams,
  type Reply,
  type Answer,
  type Route,
  type RouteName,
  type Routes,
  type TextAnswer,
} from '@keyquorum/protocol';
import type { CoordinatorApi } from './api.ts';
import { REFUSED_BODY_DRAIN_BYTES, REFUSED_BODY_DRAIN_MS } from './constants.ts';
import { ApprovalPending, CoordinatorError, publicError } from './errors.ts';
import type { OperationKind, OperationRecord } from './operations.ts';

const bad = (field: string, message: string) => new CoordinatorError('BAD_REQUEST', { field, message: `${field}: ${message}` });

/** What a handler gets: the coordinator, and the request checked against its route. */
interface Call<R extends Route> {
  c: CoordinatorApi;
  params: PathParams<R['path']>;
  query: QueryParams<R>;
  body: BodyOf<R>;
  /** The authenticated client; undefined on public routes. */
  caller: HttpCaller | undefined;
}
type Handler<R extends Route> = (call: Call<R>) => Promise<Reply<R>> | Reply<R>;

/**
 * Runs a long operation: awaited (answer `status` with its JSON), or with `?wait=false`
 * started and answered 202 with the running operation and its Location. Checks that
 * refuse the call answer as when awaited, and record no operation.
 */
async function longOperation<S extends number, T, J extends OperationJson['result']>(
  c: CoordinatorApi,
  wait: string | undefined,
  kind: OperationKind,
  keyId: string,
  status: S,
  run: () => Promise<T>,
  toJson: (v: T) => J,
): Promise<readonly [S, J] | readonly [202, { operation: OperationJson }, Record<string, string>]> {
  if (wait !== 'false') return [status, toJson(await run())];
  const operation = await c.operations.start(kind, keyId, run, toJson);
  return [202, { operation }, { location: `/v1/operations/${encodeURIComponent(operation.id)}` }];
}

const HANDLERS: { [N in RouteName]: Handler<Routes[N]> } = {
  health: () => [200, { status: 'ok' }],
  ready: async ({ c }) => {
    const r = await c.readiness();
    return r.ready ? [200, { ...r }] : [503, { ...r }];
  },
  metrics: async ({ c }) => [200, { text: await c.metrics.registry.metrics(), contentType: c.metrics.registry.contentType }],
  openapi: () => [200, { ...OPENAPI_DOCUMENT }],
  listKeys: async ({ c }) => [200, { keys: (await c.listKeys()).map(keyToJson) }],
  createKey: ({ c, query, body }) => {
    const params = { keyId: body.keyId, suite: body.suite, threshold: body.threshold, request: body.request };
    return longOperation(c, query.wait, 'createKey', body.keyId, 201, () => c.createKey(body.signers === undefined ? params : { ...params, signers: body.signers }), keyToJson);
  },
  getKey: async ({ c, params }) => [200, keyToJson(await c.getKey(params.id))],
  deriveKey: async ({ c, params, query }) => [200, derivedKeyToJson(await c.deriveKey(params.id, query.path))],
  sign: async ({ c, params, body }) => [200, signatureToJson(await c.sign({ keyId: params.id, ...body }))],
  signTx: async ({ c, params, body }) => [200, signedTxToJson(await c.signTx({ keyId: params.id, ...body, tx: txBody(body.chain, body.tx) }))],
  refresh: ({ c, params, query, body }) => longOperation(c, query.wait, 'refresh', params.id, 200, () => c.refresh({ keyId: params.id, request: body.request }), keyToJson),
  reshare: ({ c, params, query, body }) => longOperation(c, query.wait, 'reshare', params.id, 200, () => c.reshare({ keyId: params.id, ...body }), keyToJson),
  repair: ({ c, params, query, body }) => longOperation(c, query.wait, 'repair', params.id, 200, () => c.repair({ keyId: params.id, ...body }), keyToJson),
  retire: ({ c, params, query, body }) => longOperation(c, query.wait, 'retire', params.id, 200, () => c.retire({ keyId: params.id, request: body.request }), retirementToJson),
  state: async ({ c, params, body }) => [200, keyToJson(await c.changeState({ keyId: params.id, ...body }))],
  getPolicy: async ({ c, params }) => [200, await c.getPolicy(params.id)],
  setPolicy: async ({ c, params, body }) => [200, await c.setPolicy({ keyId: params.id, ...body })],
  listOperations: async ({ c, query }) => [200, { operations: await c.listPendingOperations(query.state as PendingOperationState | undefined) }], // the route's query check enforced the enum,
  approve: async ({ c, params, body }) => [200, { operation: await c.approve(params.id, body.approval) }],
  bans: async ({ c, params }) => [200, { bans: (await c.bans(params.id)).map(banToJson) }],
  clearBan: async ({ c, params, caller }) => {
    await c.clearBan(params.id, params.signer, caller === undefined ? undefined : bytesToHex(caller.clientKey));
    return [204, null];
  },
  operation: async ({ c, params }) => {
    // The log holds what `longOperation` mapped to the contract's JSON.
    const op = (c.operations.get(params.id) as OperationRecord<OperationJson['result']> | undefined) ?? (await c.pendingOperation(params.id));
    if (op === undefined) throw new CoordinatorError('NOT_FOUND', { field: 'id', message: `no operation ${params.id} (unknown, forgotten from the bounded in-memory history, or from before a restart: see the key and the audit log)` });
    return [200, op];
  },
  listSigners: async ({ c }) => [200, { signers: (await c.listSigners()).map(signerStatusToJson) }],
  audit: async ({ c, query }) => {
    const after = queryInteger(query.after, 'after', 0, 0);
    const limit = queryInteger(query.limit, 'limit', 1, AUDIT_PAGE_DEFAULT, AUDIT_PAGE_MAX);
    const page = await c.auditPage({ keyId: query.key, after, limit });
    // The chain from its last checkpoint (chunked, yielding); a row of this page that does not check wins if earlier.
    const chain = await c.verifyAuditChain();
    const verification = page.broken !== undefined && (chain.ok || page.broken.seq < chain.seq) ? { ok: false as const, ...page.broken } : chain;
    return [200, { entries: page.entries, next: page.next, verification, checkpoints: page.checkpoints ?? [] }];
  },
};

/** An optional integer query parameter in [min, max]; `fallback` when absent. */
function queryInteger(v: string | undefined, name: string, min: number, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!/^\d{1,16}$/.test(v) || n < min || n > max) throw bad(name, `expected an integer in [${min}, ${max}]`);
  return n;
}

/** The sign-tx body's transaction as bytes (its chain's text form; 400 naming 'tx' otherwise). */
function txBody(chain: Chain, text: string): Uint8Array {
  if (!(CHAINS as readonly unknown[]).includes(chain)) throw bad('chain', `expected one of ${CHAINS.join(', ')}`);
  try {
    return txFromText(chain, text, 'tx');
  } catch (e) {
    if (e instanceof WireError) throw new CoordinatorError('BAD_REQUEST', { field: 'tx', message: e.message, cause: e });
    throw e;
  }
}

/** A mutation's operation request must be signed by the HTTP caller itself (no client relays another's). */
function requireOwnRequest(body: unknown, caller: HttpCaller | undefined): void {
  if (caller === undefined || typeof body !== 'object' || body === null || !('request' in body)) return;
  const request = (body as { request: { clientKey: Uint8Array } }).request;
  if (!equalBytes(request.clientKey, caller.clientKey)) {
    throw new CoordinatorError('UNAUTHORISED', { field: 'request.clientKey', message: "request.clientKey: the operation request is another client's; the HTTP caller must be the request's client" });
  }
}

/** A route with its URL pattern and the names of its `{name}` segments. */
interface Served {
  name: RouteName;
  route: Route;
  pattern: RegExp;
  segments: string[];
}

const SERVED: Served[] = (Object.keys(ROUTES) as RouteName[]).map((name) => {
  const route: Route = ROUTES[name];
  const segments = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
  const source = route.path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{\w+\}/g, '([^/]+)');
  return { name, route, pattern: new RegExp(`^${source}$`), segments };
});

/** (method, OpenAPI path, access) of every route the adapter serves. */
export function routeTable(): Array<{ method: string; path: string; access: Access }> {
  return SERVED.map(({ route }) => ({ method: route.method, path: route.path, access: accessOf(route) }));
}

function pathParams(s: Served, m: RegExpExecArray): Record<string, string> {
  return Object.fromEntries(
    s.segments.map((name, i) => {
      try {
        return [name, decodeURIComponent(m[i + 1]!)];
      } catch {
        throw bad('keyId', 'malformed URL encoding');
      }
    }),
  );
}

/** The route's query parameters: required ones present, enumerated ones in range, defaults filled in. */
function queryParams(r: Route, url: URL): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const p of r.params ?? []) {
    if (p.in !== 'query') continue;
    const v = url.searchParams.get(p.name) ?? (p.schema.openapi.default as string | undefined);
    if (v === undefined && p.required) throw bad(p.name, 'missing query parameter');
    const allowed = p.schema.openapi.enum as readonly string[] | undefined;
    if (v !== undefined && allowed !== undefined && !allowed.includes(v)) throw bad(p.name, `expected ${allowed.map((a) => `'${a}'`).join(' or ')}`);
    out[p.name] = v;
  }
  return out;
}

/** The body's shape checked and its hex decoded (the values' meaning is the coordinator's to check). */
function decodeBody(r: Route, raw: Uint8Array): unknown {
  if (r.body === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(raw).toString('utf8'));
  } catch {
    throw new CoordinatorError('BAD_REQUEST', { field: 'body', message: 'malformed JSON' });
  }
  try {
    return decodeJson(r.body, json, 'body');
  } catch (e) {
    if (e instanceof WireError) throw new CoordinatorError('BAD_REQUEST', { field: e.field, message: e.message, cause: e });
    throw e;
  }
}

const tooLarge = (maxBytes: number) => new CoordinatorError('PAYLOAD_TOO_LARGE', { message: `body above ${maxBytes} bytes` });

/**
 * The body, read under the cap. Past the cap it is refused with the request paused, not
 * destroyed: destroying it would close the socket before the refusal is sent.
 */
function readBody(req: http.IncomingMessage, maxBytes: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (then: () => void) => {
      req.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      then();
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      req.pause();
      settle(() => reject(tooLarge(maxBytes)));
    };
    const onEnd = () => settle(() => resolve(new Uint8Array(Buffer.concat(chunks))));
    const onError = (e: Error) => settle(() => reject(e));
    const onClose = () => settle(() => reject(new Error('the request closed before its body ended')));
    req.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

/**
 * Ends the answer to a request refused with its body unread, once the rest of the body
 * has been read and discarded (at most REFUSED_BODY_DRAIN_BYTES, for at most
 * REFUSED_BODY_DRAIN_MS); node:http then closes the connection (`connection: close`).
 * A socket closed with bytes unread is reset, and the reset can reach a client that is
 * still uploading before it has read the answer, which it then never sees (RFC 9112
 * §9.6, "Tear-down"). The answer itself was written in full before the drain.
 */
function endAfterDrain(req: http.IncomingMessage, res: http.ServerResponse): void {
  let left = REFUSED_BODY_DRAIN_BYTES;
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    req.off('data', onData).off('end', end).off('close', end).off('error', end);
    res.end();
  };
  const onData = (chunk: Buffer) => {
    left -= chunk.length;
    if (left < 0) end();
  };
  const timer = setTimeout(end, REFUSED_BODY_DRAIN_MS);
  timer.unref();
  if (req.readableEnded || req.destroyed) {
    end();
    return;
  }
  req.on('data', onData).once('end', end).once('close', end).once('error', end);
  req.resume();
}

/** Writes the answer; `end: false` leaves the response open (its body written in full, as `content-length` says). */
function send(res: http.ServerResponse, status: number, body: unknown, answer: Answer | undefined, headers: Readonly<Record<string, string>> = {}, end = true): void {
  if (status === 204) {
    res.writeHead(204, { ...headers, 'cache-control': 'no-store' });
    res.end();
    return;
  }
  const text = answer !== undefined && 'text' in answer ? (body as TextAnswer).text : JSON.stringify(body);
  const type = answer !== undefined && 'text' in answer ? (body as TextAnswer).contentType : 'application/json; charset=utf-8';
  res.writeHead(status, { ...headers, 'content-type': type, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  if (end) res.end(text);
  else res.write(text);
}

/** A failed request authentication as the coordinator's error: 401, or 403 for an untrusted key. */
function httpAuthError(e: unknown): CoordinatorError {
  if (!(e instanceof WireError)) return new CoordinatorError('UNAUTHENTICATED', { message: 'request authentication failed', cause: e });
  if (e.code === 'UNAUTHORISED') return new CoordinatorError('UNAUTHORISED', { field: e.field, message: 'the client key is not trusted', cause: e });
  const why = e.code === 'STALE' ? 'timestamp outside the allowed clock skew' : e.code === 'REPLAY' ? 'nonce already used (replay)' : e.message;
  return new CoordinatorError('UNAUTHENTICATED', { field: e.field, message: `${e.code}: ${why}`, cause: e });
}

/** The request listener for node:http. */
export function createHttpHandler(coordinator: CoordinatorApi): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  const o = coordinator.options;
  const log = o.logger;
  // Transport nonces: remembered for the freshness window. Kept in memory: a request
  // replayed across a restart still carries an operation request whose nonce the
  // registry and every signer remember durably.
  const replay = new MemoryReplayGuard({ windowMs: o.maxSkewMs, now: o.now });
  return (req, res) => {
    const started = Date.now();
    const url = new URL(req.url ?? '/', 'http://localhost');
    let caller: HttpCaller | undefined;
    let bodyUnread = false;
    const respond = (status: number, body: unknown, answer?: Answer, headers?: Readonly<Record<string, string>>, end = true) => {
      send(res, status, body, answer, headers, end);
      log.info('http', { method: req.method, path: url.pathname, status, ms: Date.now() - started, client: caller === undefined ? undefined : bytesToHex(caller.clientKey).slice(0, 16) });
    };
    const run = async (): Promise<void> => {
      const matches = SERVED.map((s) => ({ s, m: s.pattern.exec(url.pathname) })).filter((x) => x.m !== null);
      if (matches.length === 0) throw new CoordinatorError('NOT_FOUND', { message: `no route ${url.pathname}` });
      const hit = matches.find((x) => x.s.route.method === req.method);
      if (hit === undefined) throw new CoordinatorError('METHOD_NOT_ALLOWED', { message: `${req.method} ${url.pathname}` });
      const { route } = hit.s;
      // A follower (leadership.ts) sends writes to the leader before anything is checked or consumed (the signed request's nonce among them).
      const leader = route.method === 'GET' ? undefined : coordinator.writeTarget();
      if (route.method === 'POST') bodyUnread = true;
      if (leader === null) throw new CoordinatorError('NO_LEADER', { message: 'no coordinator holds the leader lease right now; retry shortly' });
      if (leader !== undefined) {
        res.setHeader('connection', 'close');
        respond(307, { leader }, undefined, { location: `${leader}${req.url ?? '/'}`, 'retry-after': '0' }, false);
        endAfterDrain(req, res);
        return;
      }
      const access = accessOf(route);
      // Cap, then authenticate from the headers, then read the body, then parse.
      if (route.method === 'POST' && Number(req.headers['content-length'] ?? 0) > o.maxBodyBytes) throw tooLarge(o.maxBodyBytes);
      let signed: HttpHeaderCaller | undefined;
      if (access !== 'public') {
        try {
          signed = verifyHttpHeaders(req.headers, { method: req.method ?? '', target: req.url ?? '/' }, { trusted: o.clients, now: o.now(), maxSkewMs: o.maxSkewMs, replay });
        } catch (e) {
          throw httpAuthError(e);
        }
        caller = { clientKey: signed.clientKey, roles: signed.roles };
        if (!caller.roles.some((r) => access.includes(r))) {
          throw new CoordinatorError('UNAUTHORISED', { message: `${route.method} ${route.path} needs one of the roles ${access.join(', ')}` });
        }
      }
      const raw = route.method === 'POST' ? await readBody(req, o.maxBodyBytes) : new Uint8Array(0);
      bodyUnread = false;
      if (signed !== undefined) {
        try {
          checkHttpBody(signed, raw);
        } catch (e) {
          throw httpAuthError(e);
        }
      }
      const params = pathParams(hit.s, hit.m!);
      const decoded = decodeBody(route, raw);
      requireOwnRequest(decoded, caller);
      const call = { c: coordinator, params, query: queryParams(route, url), body: decoded, caller };
      // The table pairs each route with its handler; TypeScript cannot follow that pairing through a lookup by name.
      const handler = HANDLERS[hit.s.name] as unknown as Handler<Route>;
      let reply: Reply<Route>;
      try {
        reply = await handler(call as Call<Route>);
      } catch (e) {
        // The key's policy requires approvals the request does not carry (docs/governance.md): 202 with the pending operation.
        if (!(e instanceof ApprovalPending) || route.responses[202] === undefined) throw e;
        reply = [202, { operation: e.operation }, { location: `/v1/operations/${e.operation.id}` }];
      }
      const [status, body, headers] = reply;
      respond(status as number, body, route.responses[status as number], headers);
    };
    run().catch((e: unknown) => {
      // Internal codes (a session fault, a config error) never leave: they answer INTERNAL.
      const err = publicError(e);
      if (err !== e) log.error('http handler failed', { path: url.pathname, error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
      coordinator.metrics.error(err.code);
      // A body left unread (refused before reading it, or above the cap): answer, drain what the client still sends (bounded), close.
      if (err.code === 'PAYLOAD_TOO_LARGE' || bodyUnread) {
        res.setHeader('connection', 'close');
        respond(API_ERRORS[err.code], { error: apiErrorToJson(err) }, undefined, undefined, false);
        endAfterDrain(req, res);
        return;
      }
      respond(API_ERRORS[err.code], { error: apiErrorToJson(err) });
    });
  };
}
