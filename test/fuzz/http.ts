/**
 * HTTP fuzzing of the live coordinator's API (packages/protocol/src/http/routes.ts).
 * Bases: the workload's own calls (their client requests are spent), mutations whose
 * fresh client request asks for something the registry refuses (a key id that exists,
 * a retired key, a repair of an ecdsa key or of a non-participant), and every read route. Mutations: authentication headers dropped,
 * altered, stale, of an unknown key or replayed; bodies mutated as JSON or as bytes,
 * malformed, oversized, with other content types; methods and paths changed. Every
 * mutation but the header ones is signed by the trusted admin key over exactly what is
 * sent, so it passes request authentication and reaches routing and validation.
 */
import http from 'node:http';
import { KeyquorumClient } from '@keyquorum/client';
import { HTTP_AUTH_HEADERS, generateIdentity, signHttpRequest, type IdentityKey } from '@keyquorum/protocol';
import { KEYS, type Live, type RecordedCall } from './harness.ts';
import { judgeHttp, type Verdict } from './oracles.ts';
import type { Rand } from './random.ts';

const TIMEOUT_MS = 20_000;

export interface HttpInput {
  mutation: string;
  method: string;
  target: string;
  headers: Record<string, string>;
  body: Uint8Array;
}

export interface HttpResult {
  input: HttpInput;
  status?: number;
  verdict: Verdict;
}

const READS: RecordedCall[] = [
  '/healthz', '/readyz', '/metrics', '/v1/openapi.json', '/v1/keys', `/v1/keys/${KEYS.frost.keyId}`, `/v1/keys/${KEYS.frost.keyId}/derive?path=m%2F0%2F1`,
  `/v1/keys/${KEYS.frost.keyId}/bans`, `/v1/keys/${KEYS.repaired.keyId}`, '/v1/operations/op-unknown', '/v1/signers', '/v1/audit?limit=5', `/v1/audit?key=${KEYS.frost.keyId}&after=1&limit=2`,
].map((target) => ({ method: 'GET', target, body: '' }));

/** POST bodies the SDK builds with fresh client requests for operations the registry must refuse. */
export async function impossibleCalls(live: Live): Promise<RecordedCall[]> {
  const calls: RecordedCall[] = [];
  const capture: typeof fetch = async (input, init) => {
    const url = new URL(String(input));
    if ((init?.method ?? 'GET') === 'GET') return fetch(input, init);
    calls.push({ method: init!.method!, target: `${url.pathname}${url.search}`, body: typeof init?.body === 'string' ? init.body : '' });
    return new Response(JSON.stringify({ error: { code: 'BAD_REQUEST', message: 'captured, not sent' } }), { status: 400 });
  };
  const client = new KeyquorumClient({ url: live.cluster.url, clientKey: live.cluster.admin, fetch: capture });
  const { frost, ecdsa, retired, repaired } = KEYS;
  const attempts: Array<() => Promise<unknown>> = [
    () => client.createKey({ keyId: frost.keyId, suite: frost.suite, threshold: 2, signers: live.cluster.signerIds }),
    () => client.sign(retired.keyId, { message: new Uint8Array(32).fill(7), epoch: 0 }),
    () => client.refresh(retired.keyId),
    () => client.retire(retired.keyId),
    () => client.reshare(retired.keyId, { signers: live.cluster.signerIds, threshold: 2 }),
    () => client.clearBan(frost.keyId, 'signer-1'),
    // Repairs refused before any session (none may run: a failed one writes key.repair_failed).
    () => client.repair(retired.keyId, 'signer-3'),
    () => client.repair(ecdsa.keyId, 'signer-3'),
    () => client.repair(repaired.keyId, 'signer-9'),
  ];
  for (const attempt of attempts) await attempt().catch(() => undefined);
  return calls;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function oddJson(r: Rand): Json {
  return r.pick<Json>([null, true, 0, -1, 1e308, 2 ** 53 + 1, 1.5, '', 'x'.repeat(r.pick([64, 5000, 200_000])), [], {}, ['a'], { a: 1 }, '00', 'zz', 'ff'.repeat(33), '\u0000', 'm/0\'/1', '../../etc']);
}

function mutateJson(v: Json, r: Rand): Json {
  if (v === null || typeof v !== 'object' || r.chance(0.15)) return oddJson(r);
  const keys = Array.isArray(v) ? v.map((_, i) => i) : Object.keys(v);
  if (keys.length === 0 || r.chance(0.12)) {
    if (Array.isArray(v)) v.push(oddJson(r));
    else v[r.pick(['extra', '__proto__', 'constructor', 'keyId', 'request'])] = oddJson(r);
    return v;
  }
  const k = r.pick<string | number>(keys);
  const child = (v as Record<string | number, Json>)[k]!;
  if (r.chance(0.1)) {
    if (Array.isArray(v)) v.splice(Number(k), 1);
    else delete v[k];
    return v;
  }
  const next = typeof child === 'string' && r.chance(0.5) ? r.pick([child.slice(1), `${child}0`, child.toUpperCase(), child.replace(/[0-9a-f]/, 'g')]) : mutateJson(child, r);
  (v as Record<string | number, Json>)[k] = next;
  return v;
}

function mutatePath(target: string, r: Rand): string {
  const [path, query = ''] = target.split('?') as [string, string?];
  const segs = path.split('/');
  switch (r.int(8)) {
    case 0: segs[1 + r.int(segs.length - 1)] = r.pick(['%00', '%2e%2e', '..', '', 'x'.repeat(5000), '%E2%80%AE', 'fz-retired', 'fz-ecdsa', 'UPPER', 'a%20b', '%ff']); break;
    case 1: segs.push(r.pick(['x', '', 'sign', '%2F'])); break;
    case 2: segs.splice(1 + r.int(segs.length - 1), 1); break;
    case 3: return `${path}?${r.pick(['wait=false', 'wait=maybe', 'limit=-1', 'limit=99999999999', 'after=abc', 'key=%00', 'path=m%2F0%27', 'path=' + 'm/0'.repeat(500), '&&&', 'wait=false&wait=true'])}`;
    case 4: return `/${'/'.repeat(r.int(4))}${path.slice(1)}${query ? `?${query}` : ''}`;
    case 5: return encodeURI(path).replace(/[a-z]/, (c) => `%${c.charCodeAt(0).toString(16)}`);
    case 6: return r.pick(['*', '/v2/keys', '/v1', '/v1/', '/V1/KEYS', '/v1/keys/%2e%2e/signers', `/v1/keys/${'a'.repeat(100_000)}`]);
    default: segs[segs.length - 1] = `${segs[segs.length - 1]}${r.pick(['.json', '~', ';x', '%20'])}`;
  }
  return segs.join('/') + (query ? `?${query}` : '');
}

/** Body chunk size: between chunks the event loop runs, so an answer that arrives mid-upload is read. */
const UPLOAD_CHUNK = 64 * 1024;

/**
 * Sends one request and waits for its answer. A server may answer before it has read
 * the body (413 for an oversized one). The coordinator then reads and discards the rest
 * of the body (up to a bound) before it closes the connection, so the client reads the
 * answer (packages/coordinator/src/http.ts `endAfterDrain`); a server that closed with
 * the body unread would make the client's next write fail (EPIPE, ECONNRESET) and Node
 * drop the socket with the answer unread. A body above one chunk is announced with
 * `expect: 100-continue` (the coordinator answers 100 Continue, or refuses from the
 * headers alone) and goes out only after the 100, in chunks, each after the last was
 * written, none once an answer has begun. An answer (status and whatever body arrived)
 * received before the connection failed is the request's answer. A request with no
 * answer at all is `status: undefined` (a hang for the oracle), as is one unanswered
 * within `timeoutMs`.
 */
export function sendHttp(input: HttpInput, o: { host: string; port: number; agent?: http.Agent; timeoutMs: number }): Promise<{ status?: number; text: string }> {
  return new Promise((resolve) => {
    let done = false;
    let answer: { status?: number; chunks: Buffer[] } | undefined;
    const finish = (v: { status?: number; text: string }) => {
      if (!done) {
        done = true;
        resolve(v);
      }
    };
    let ended = false;
    const answered = () => {
      // Answered before the whole body went out: this connection is done.
      if (!ended) req.destroy();
      finish({ status: answer!.status, text: Buffer.concat(answer!.chunks).toString('utf8') });
    };
    const announce = input.body.length > UPLOAD_CHUNK;
    const headers = { ...input.headers, 'content-length': String(input.body.length), ...(announce ? { expect: '100-continue' } : {}) };
    const req = http.request({ host: o.host, port: o.port, method: input.method, path: input.target, headers, agent: o.agent, timeout: o.timeoutMs }, (res) => {
      answer = { status: res.statusCode, chunks: [] };
      res.on('data', (c: Buffer) => answer!.chunks.push(c));
      res.on('end', answered);
      res.on('error', answered);
      res.on('aborted', answered);
    });
    req.on('timeout', () => {
      req.destroy();
      finish({ text: 'timed out' });
    });
    req.on('error', (e: NodeJS.ErrnoException) => (answer !== undefined ? answered() : finish({ text: `request failed: ${e.message}` })));
    const write = (at: number): void => {
      if (answer !== undefined || req.destroyed) return;
      if (at >= input.body.length) {
        ended = true;
        req.end();
        return;
      }
      req.write(input.body.subarray(at, at + UPLOAD_CHUNK), (err) => {
        if (err === undefined || err === null) setImmediate(() => write(at + UPLOAD_CHUNK));
      });
    };
    if (!announce) write(0);
    else {
      // An answer sent with the 100 (or instead of it) is parsed before the first chunk goes out.
      req.on('continue', () => setImmediate(() => write(0)));
      req.flushHeaders();
    }
  });
}

/** Routes that authenticate nobody (routes.ts `access: 'public'`). */
const PUBLIC = new Set(['/healthz', '/readyz', '/metrics', '/v1/openapi.json']);

/**
 * Whether a success is a legitimate answer: a GET reads and changes nothing, but an
 * authenticated route must refuse a request whose authentication was broken or
 * replayed. (A GET's body is never read, so a body other than the signed one is moot.)
 */
export function mayAnswer2xx(input: Pick<HttpInput, 'method' | 'target' | 'mutation'>): boolean {
  if (input.method !== 'GET') return false;
  // An absent content hash means an empty body (http/auth.ts): dropping it from a GET leaves the request intact.
  const intact = input.mutation === 'auth-body-swap' || input.mutation === `auth-drop-${HTTP_AUTH_HEADERS.contentSha256}`;
  const brokenAuth = input.mutation.startsWith('auth-') && !intact;
  return !brokenAuth || PUBLIC.has(input.target.split('?')[0]!);
}

export class HttpFuzzer {
  private readonly bases: RecordedCall[];
  private readonly stranger: IdentityKey = generateIdentity();
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  private readonly host: string;
  private readonly port: number;

  constructor(
    private readonly live: Live,
    private readonly rand: Rand,
    private readonly known: ReadonlySet<string>,
    impossible: RecordedCall[],
  ) {
    this.bases = [...live.calls.filter((c) => c.method !== 'GET'), ...impossible, ...READS];
    const url = new URL(live.cluster.url);
    this.host = url.hostname;
    this.port = Number(url.port);
  }

  private signed(method: string, target: string, body: Uint8Array, key: IdentityKey = this.live.cluster.admin, timestamp?: number): Record<string, string> {
    return signHttpRequest(key, { method, target, body }, timestamp === undefined ? {} : { timestamp });
  }

  /** One mutated request built from a random base. */
  next(): HttpInput {
    const r = this.rand;
    const base = r.pick(this.bases);
    let method = base.method;
    let target = base.target;
    let body = new TextEncoder().encode(base.body);
    let contentType: string | undefined = base.body === '' ? undefined : 'application/json';
    const roll = r.int(100);
    let mutation: string;
    if (roll < 35 && base.body !== '') {
      mutation = 'json';
      body = new TextEncoder().encode(JSON.stringify(mutateJson(JSON.parse(base.body) as Json, r)));
    } else if (roll < 47 && base.body !== '') {
      mutation = r.pick(['truncate', 'bitflip', 'malformed', 'empty', 'non-utf8']);
      if (mutation === 'truncate') body = body.slice(0, r.int(body.length));
      else if (mutation === 'bitflip') body[r.int(body.length)]! ^= 1 << r.int(8);
      else if (mutation === 'malformed') body = new TextEncoder().encode(r.pick(['{', '{"a":}', '[1,2', 'null', '"x"', '{"keyId":"a","keyId":"b"}', `${'['.repeat(5000)}`, '{"a":1}garbage']));
      else if (mutation === 'empty') body = new Uint8Array(0);
      else body = new Uint8Array([0xff, 0xfe, 0x7b, 0xc3, 0x28, 0x7d]);
    } else if (roll < 52) {
      mutation = 'oversize';
      if (method === 'GET') method = 'POST';
      body = new TextEncoder().encode(`{"pad":"${'a'.repeat(r.pick([70_000, 1_100_000, 3_000_000]))}"}`);
      contentType = 'application/json';
    } else if (roll < 60) {
      mutation = 'content-type';
      contentType = r.pick(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=latin1', '', 'application/msgpack']);
    } else if (roll < 75) {
      mutation = 'path';
      target = mutatePath(target, r);
    } else if (roll < 82) {
      mutation = 'method';
      method = r.pick(['GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS']);
    } else {
      mutation = `auth-${r.pick(['missing', 'drop', 'bad-signature', 'unknown-key', 'stale', 'future', 'bad-hex', 'body-swap', 'replay'])}`;
    }
    const headers: Record<string, string> = contentType === undefined ? {} : { 'content-type': contentType };
    let auth = this.signed(method, target, body);
    switch (mutation) {
      case 'auth-missing': auth = {}; break;
      case 'auth-drop': {
        const dropped = r.pick(Object.values(HTTP_AUTH_HEADERS));
        delete auth[dropped];
        mutation = `auth-drop-${dropped}`;
        break;
      }
      case 'auth-bad-signature': auth[HTTP_AUTH_HEADERS.signature] = auth[HTTP_AUTH_HEADERS.signature]!.replace(/^./, (c) => (c === '0' ? '1' : '0')); break;
      case 'auth-unknown-key': auth = this.signed(method, target, body, this.stranger); break;
      case 'auth-stale': auth = this.signed(method, target, body, undefined, Date.now() - 10 * 60_000); break;
      case 'auth-future': auth = this.signed(method, target, body, undefined, Date.now() + 10 * 60_000); break;
      case 'auth-bad-hex': auth[r.pick(Object.values(HTTP_AUTH_HEADERS))] = r.pick(['zz', '', '-1', '1e3', 'x'.repeat(9000)]); break;
      case 'auth-body-swap': body = new TextEncoder().encode(base.body === '' ? '{}' : `${base.body} `); break;
      default: break;
    }
    return { mutation, method, target, headers: { ...headers, ...auth }, body };
  }

  /** Sends one input (twice for 'auth-replay': the second must be refused). */
  async one(): Promise<HttpResult> {
    let input = this.next();
    // Node's client refuses to send a path with raw spaces or control characters: draw again.
    while (!/^[\x21-\x7e]+$/.test(input.target)) input = this.next();
    if (input.mutation === 'auth-replay') await this.send(input);
    const { status, text } = await this.send(input);
    return { input, status, verdict: judgeHttp(this.known, status, text, mayAnswer2xx(input)) };
  }

  send(input: HttpInput): Promise<{ status?: number; text: string }> {
    return sendHttp(input, { host: this.host, port: this.port, agent: this.agent, timeoutMs: TIMEOUT_MS });
  }

  close(): void {
    this.agent.destroy();
  }
}
