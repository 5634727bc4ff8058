/**
 * The HTTP core of the SDK (`KeyquorumClient` in client.ts builds on it): one call
 * of a route of the HTTP contract (`ROUTES` in @keyquorum/protocol), with request-level
 * signature headers (`signHttpRequest`: method, target, body hash, timestamp, nonce),
 * and client requests signed with the client's Ed25519 key. An answer is its JSON; an
 * error answer is thrown as a ClientError; a 202 that carries an operation waiting for
 * approvals (docs/governance.md) is thrown as `ApprovalPendingError`, whatever the route.
 */
import {
  IdentityKey,
  signClientRequest,
  signHttpRequest,
  targetOf,
  type ClientRequest,
  type ErrorJson,
  type Operation as RequestOp,
  type Route,
  type SuccessOf,
} from '@keyquorum/protocol';
import { ClientError, apiError } from './errors.ts';
import { ApprovalPendingError, isPendingOperation } from './pending.ts';

export interface KeyquorumClientOptions {
  /** Base URL of the coordinator, e.g. 'http://127.0.0.1:7400'. */
  url?: string;
  /**
   * Instead of `url`: the URLs of every coordinator of an HA cluster (docs/ha.md). A call
   * goes to the one that answered last and moves to the next, with backoff, when the
   * request cannot have reached a coordinator or one answers 503 NO_LEADER / NOT_LEADER.
   */
  urls?: string[];
  /** Bounds of those retries (also with one `url`: a 503 NO_LEADER is retried there). */
  retry?: RetryOptions;
  clientKey: IdentityKey;
  /** Injected for tests; default globalThis.fetch. */
  fetch?: typeof fetch;
  /** Clock for request timestamps; default Date.now. */
  now?: () => number;
}

export interface RetryOptions {
  /** Tries of one call in all, the first included; default 40 (so `totalMs` is the usual bound). 1 = no retry. */
  attempts?: number;
  /** Longest wait between two tries; default 2 000 ms (from 100 ms, doubling). */
  maxDelayMs?: number;
  /** No retry starts later than this after the call began; default 15 000 ms (3 leases of 5 s). */
  totalMs?: number;
}

/** A call's path parameters, query and JSON body. */
export interface CallArgs {
  params?: Readonly<Record<string, string>>;
  query?: Readonly<Record<string, string | undefined>>;
  body?: unknown;
}

/** Connection errors that happen before any byte of the request left (undici's `cause.code`). */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT']);
/** Error answers that say this coordinator does not lead (docs/ha.md): the request ran nowhere. */
const NO_LEADER_CODES = new Set(['NO_LEADER', 'NOT_LEADER']);

/** True when a fetch failure certainly happened before the request reached a server. */
export function notSent(e: unknown): boolean {
  const seen = new Set<unknown>();
  const codes: string[] = [];
  const walk = (x: unknown): void => {
    if (typeof x !== 'object' || x === null || seen.has(x)) return;
    seen.add(x);
    const code = (x as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    walk((x as { cause?: unknown }).cause);
    const errors = (x as { errors?: unknown }).errors;
    if (Array.isArray(errors)) errors.forEach(walk);
  };
  walk(e);
  return codes.length > 0 && codes.every((c) => NOT_SENT.has(c));
}

function baseUrl(u: unknown, field: string): string {
  if (typeof u !== 'string' || !/^https?:\/\//.test(u)) throw new ClientError('BAD_ARGUMENT', { field, message: `${field}: expected http(s)://host:port` });
  return u.replace(/\/+$/, '');
}

function positive(v: number | undefined, dflt: number, field: string): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < 1) throw new ClientError('BAD_ARGUMENT', { field, message: `${field}: expected a positive integer` });
  return v;
}

export class ApiCore {
  /** The coordinator the last call reached (the first of `urls` at the start). */
  protected get base(): string {
    return this.urls[this.current]!;
  }
  protected readonly urls: string[];
  private current = 0;
  protected readonly clientKey: IdentityKey;
  protected readonly now: () => number;
  private readonly fetchFn: typeof fetch;
  private readonly retry: Required<RetryOptions>;

  constructor(opts: KeyquorumClientOptions) {
    if (opts?.url !== undefined && opts.urls !== undefined) throw new ClientError('BAD_ARGUMENT', { field: 'urls', message: 'url and urls: pass one of them' });
    if (opts?.urls !== undefined) {
      if (!Array.isArray(opts.urls) || opts.urls.length === 0) throw new ClientError('BAD_ARGUMENT', { field: 'urls', message: 'urls: expected a non-empty list' });
      this.urls = opts.urls.map((u, i) => baseUrl(u, `urls[${i}]`));
    } else {
      this.urls = [baseUrl(opts?.url, 'url')];
    }
    if (!(opts.clientKey instanceof IdentityKey)) throw new ClientError('BAD_ARGUMENT', { field: 'clientKey', message: 'clientKey: expected an IdentityKey' });
    this.clientKey = opts.clientKey;
    this.fetchFn = opts.fetch ?? globalThis.fetch;
    this.now = opts.now ?? Date.now;
    const r = opts.retry ?? {};
    this.retry = { attempts: positive(r.attempts, 40, 'retry.attempts'), maxDelayMs: positive(r.maxDelayMs, 2_000, 'retry.maxDelayMs'), totalMs: positive(r.totalMs, 15_000, 'retry.totalMs') };
  }

  /** Signs a request for `op` on `keyId` over `digest` (fresh nonce, current time). */
  signRequest(op: RequestOp, keyId: string, digest: Uint8Array): ClientRequest {
    return signClientRequest(this.clientKey, { op, keyId, digest, timestamp: this.now() });
  }

  /**
   * Calls `route` with its path parameters, query and JSON body; resolves to the
   * answer's JSON (a 204 to undefined), throws the API's error as a ClientError and a
   * 202 for approvals as ApprovalPendingError.
   *
   * Failover (docs/ha.md, README "SDK"): the same body (so the same signed
   * ClientRequest and its nonce) is sent again, with a fresh request-level signature, to
   * the next URL after a connection error that happened before the request was sent
   * (refused, DNS) or a 503 NO_LEADER / NOT_LEADER answer, with backoff, within
   * `retry`. A 307 to the leader is followed by fetch. Any other connection failure
   * (reset, timeout) of a non-GET call throws OUTCOME_UNKNOWN: the request may have run.
   */
  protected async call<R extends Route>(route: R, args: CallArgs = {}): Promise<SuccessOf<R>> {
    const { method } = route;
    const text = args.body === undefined ? '' : JSON.stringify(args.body);
    const target = targetOf(route, args.params, args.query);
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      const at = this.current;
      const failure = await this.once(method, target, text, args.body !== undefined);
      if (!('retry' in failure)) {
        if ('error' in failure) throw failure.error;
        return this.answer<R>(failure.res, failure.json);
      }
      const delay = Math.min(this.retry.maxDelayMs, 100 * 2 ** Math.floor((attempt - 1) / this.urls.length));
      if (attempt >= this.retry.attempts || Date.now() + delay - started > this.retry.totalMs) throw failure.retry;
      if (this.current === at) this.current = (at + 1) % this.urls.length;
      // Backoff once every URL was tried in this round; the next URL at once otherwise.
      if (attempt % this.urls.length === 0) await new Promise((r) => setTimeout(r, delay));
    }
  }

  /** One HTTP request to the current URL: its answer, an error to throw, or one to retry on. */
  private async once(method: string, target: string, text: string, hasBody: boolean): Promise<{ res: Response; json: unknown } | { error: ClientError } | { retry: ClientError }> {
    const base = this.base;
    let res: Response;
    try {
      const url = new URL(`${base}${target}`);
      // Request-level authentication: signed over exactly the target and bytes sent (fresh on every try).
      const auth = signHttpRequest(this.clientKey, { method, target: `${url.pathname}${url.search}`, body: new TextEncoder().encode(text) }, { timestamp: this.now() });
      const init: RequestInit = { method, headers: { accept: 'application/json', ...auth } };
      if (hasBody) {
        init.body = text;
        init.headers = { accept: 'application/json', 'content-type': 'application/json', ...auth };
      }
      res = await this.fetchFn(url, init);
    } catch (e) {
      const error = new ClientError('NETWORK', { message: `cannot reach ${base}: ${(e as Error).message}`, cause: e });
      if (notSent(e) || method === 'GET') return { retry: error };
      return { error: new ClientError('OUTCOME_UNKNOWN', { message: `${method} ${target} to ${base} failed after it was sent (${(e as Error).message}): the request may have run; check the audit log or the operation before sending a new one`, cause: e }) };
    }
    if (res.status === 204) return { res, json: undefined };
    let json: unknown;
    try {
      json = await res.json();
    } catch (e) {
      return { error: new ClientError('BAD_RESPONSE', { status: res.status, message: `non-JSON answer (HTTP ${res.status})`, cause: e }) };
    }
    if (res.status === 503) {
      const code = (json as Partial<ErrorJson>)?.error?.code;
      if (typeof code === 'string' && NO_LEADER_CODES.has(code)) return { retry: apiError((json as ErrorJson).error, 503) };
    }
    if (res.redirected) this.follow(res.url);
    return { res, json };
  }

  /** After a 307 to the leader: start there next time when it is one of our URLs. */
  private follow(finalUrl: string): void {
    const i = this.urls.findIndex((u) => finalUrl.startsWith(`${u}/`));
    if (i >= 0) this.current = i;
  }

  private answer<R extends Route>(res: Response, json: unknown): SuccessOf<R> {
    if (res.status === 204) return undefined as SuccessOf<R>;
    if (!res.ok) {
      const err = (json as Partial<ErrorJson>).error;
      if (err === undefined || typeof err.code !== 'string') throw new ClientError('BAD_RESPONSE', { status: res.status, message: `HTTP ${res.status} without an error body` });
      throw apiError(err, res.status);
    }
    if (res.status === 202) {
      const operation = (json as { operation?: unknown }).operation;
      if (isPendingOperation(operation)) throw new ApprovalPendingError(operation);
    }
    return json as SuccessOf<R>;
  }
}
