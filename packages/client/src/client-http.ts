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
  url: string;
  clientKey: IdentityKey;
  /** Injected for tests; default globalThis.fetch. */
  fetch?: typeof fetch;
  /** Clock for request timestamps; default Date.now. */
  now?: () => number;
}

/** A call's path parameters, query and JSON body. */
export interface CallArgs {
  params?: Readonly<Record<string, string>>;
  query?: Readonly<Record<string, string | undefined>>;
  body?: unknown;
}

export class ApiCore {
  protected readonly base: string;
  protected readonly clientKey: IdentityKey;
  protected readonly now: () => number;
  private readonly fetchFn: typeof fetch;

  constructor(opts: KeyquorumClientOptions) {
    if (typeof opts?.url !== 'string' || !/^https?:\/\//.test(opts.url)) throw new ClientError('BAD_ARGUMENT', { field: 'url', message: 'url: expected http(s)://host:port' });
    if (!(opts.clientKey instanceof IdentityKey)) throw new ClientError('BAD_ARGUMENT', { field: 'clientKey', message: 'clientKey: expected an IdentityKey' });
    this.base = opts.url.replace(/\/+$/, '');
    this.clientKey = opts.clientKey;
    this.fetchFn = opts.fetch ?? globalThis.fetch;
    this.now = opts.now ?? Date.now;
  }

  /** Signs a request for `op` on `keyId` over `digest` (fresh nonce, current time). */
  signRequest(op: RequestOp, keyId: string, digest: Uint8Array): ClientRequest {
    return signClientRequest(this.clientKey, { op, keyId, digest, timestamp: this.now() });
  }

  /**
   * Calls `route` with its path parameters, query and JSON body; resolves to the
   * answer's JSON (a 204 to undefined), throws the API's error as a ClientError and a
   * 202 for approvals as ApprovalPendingError.
   */
  protected async call<R extends Route>(route: R, args: CallArgs = {}): Promise<SuccessOf<R>> {
    const { method } = route;
    let res: Response;
    try {
      const url = new URL(`${this.base}${targetOf(route, args.params, args.query)}`);
      const text = args.body === undefined ? '' : JSON.stringify(args.body);
      // Request-level authentication: signed over exactly the target and bytes sent.
      const auth = signHttpRequest(this.clientKey, { method, target: `${url.pathname}${url.search}`, body: new TextEncoder().encode(text) }, { timestamp: this.now() });
      const init: RequestInit = { method, headers: { accept: 'application/json', ...auth } };
      if (args.body !== undefined) {
        init.body = text;
        init.headers = { accept: 'application/json', 'content-type': 'application/json', ...auth };
      }
      res = await this.fetchFn(url, init);
    } catch (e) {
      throw new ClientError('NETWORK', { message: `cannot reach ${this.base}: ${(e as Error).message}`, cause: e });
    }
    if (res.status === 204) return undefined as SuccessOf<R>;
    let json: unknown;
    try {
      json = await res.json();
    } catch (e) {
      throw new ClientError('BAD_RESPONSE', { status: res.status, message: `non-JSON answer (HTTP ${res.status})`, cause: e });
    }
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
