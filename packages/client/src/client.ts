/**
 * `KeyquorumClient`: a typed SDK for the coordinator's HTTP API. Every HTTP request
 * carries request-level signature headers (`signHttpRequest`: method, target, body
 * hash, timestamp, nonce). Every mutating call also builds a `ClientRequest`
 * signed with the client's Ed25519 key over the digest of exactly the parameters sent (`@keyquorum/protocol` digests), with a fresh nonce
 * and the current time, so the coordinator and every signer can check it. Bytes
 * travel as lowercase hex; results are the API's JSON shapes.
 *
 * Long operations (createKey, refresh, reshare, retire) are awaited by default; with
 * `{ wait: false }` they resolve to the running `Operation` once the coordinator has
 * checked the request and started the session, to poll with `operation(id)` or await
 * with `waitForOperation(id)`.
 */
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import {
  IdentityKey,
  createKeyDigest,
  refreshDigest,
  reshareDigest,
  retireDigest,
  signClientRequest,
  signDigest,
  signHttpRequest,
  type ClientRequest,
  type Operation as RequestOp,
  type TaprootTarget,
} from '@keyquorum/protocol';
import { ClientError, type ClientErrorCode } from './errors.ts';

export type KeyState = 'pending' | 'active' | 'retired';

export interface Key {
  id: string;
  /** The suite id, e.g. 'frost-secp256k1-tr'. */
  scheme: string;
  threshold: number;
  signers: string[];
  /** External public key hex (x-only for frost-secp256k1-tr); null while pending. */
  publicKey: string | null;
  /** Group key hex as an encoded point (33-byte compressed on secp256k1); null while pending. */
  groupKey: string | null;
  epoch: number;
  state: KeyState;
}

export interface DerivedKey {
  publicKey: string;
  chainCode: string;
  path: string;
}

export interface SignatureResult {
  /** Hex; for ecdsa-secp256k1 64 bytes r || s with s low (BIP62/EIP-2). */
  signature: string;
  /** External key of the signing target (derived child and/or taproot output key; 33-byte compressed for ecdsa-secp256k1). */
  publicKey: string;
  /** ecdsa-secp256k1 only: the recovery id (0..3) that recovers `publicKey` from the signature. */
  recoveryId?: number;
}

export interface Attestation {
  signer: string;
  epoch: number;
  destroyedAt: number;
  verifyingShare: string;
  /** The signer's signed ATTEST envelope, hex. */
  envelope: string;
}

/** What retire answers. */
export interface Retirement {
  key: Key;
  attestations: Attestation[];
}

export type OperationKind = 'createKey' | 'refresh' | 'reshare' | 'retire';
export type OperationState = 'running' | 'succeeded' | 'failed';

/** A long operation started with `{ wait: false }` (GET /v1/operations/:id). */
export interface Operation<R = Key | Retirement> {
  id: string;
  kind: OperationKind;
  keyId: string;
  state: OperationState;
  /** ms since the Unix epoch. */
  startedAt: number;
  /** Absent while running. */
  finishedAt?: number;
  /** When succeeded: what the awaited call resolves to (a Key; a Retirement for retire). */
  result?: R;
  /** When failed: the error the awaited call would have thrown. */
  error?: { code: string; message: string; field?: string; culprits?: string[] };
}

/** `wait: false`: resolve to the running operation instead of awaiting the session (default: wait). */
export interface WaitOption {
  wait?: boolean;
}

export interface WaitForOperationOptions {
  /** Poll interval; default 250 ms. */
  intervalMs?: number;
  /** Give up (ClientError 'TIMEOUT') after this long; default 120 000 ms. */
  timeoutMs?: number;
}

export interface SignerStatus {
  id: string;
  connected: boolean;
  lastSeen: number | null;
  /** Per key id, the epoch of the share the signer holds (its last acknowledged commit). */
  epochs: Record<string, number>;
}

export interface AuditEntry {
  seq: number;
  ts: number;
  event: string;
  keyId: string | null;
  data: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

/** A signer banned from sessions of a key (caught cheating), until an admin clears it. */
export interface Ban {
  signer: string;
  reason: string;
  /** ms since the Unix epoch. */
  at: number;
}

export type AuditVerification = { ok: true; count: number; head: string } | { ok: false; seq: number; reason: string };

export interface CreateKeyOptions {
  keyId: string;
  suite: 'frost-secp256k1-tr' | 'frost-ed25519' | 'frost-secp256k1' | 'ecdsa-secp256k1';
  threshold: number;
  /** Participants in DKG order; default: every signer the coordinator reports connected. */
  signers?: string[];
}

export interface SignOptions {
  /** The message (usually a 32-byte digest), bytes or hex. */
  message: Uint8Array | string;
  path?: string;
  /** frost-secp256k1-tr only; `{}` = key-path only (BIP86). */
  taproot?: TaprootTarget;
}

export interface ReshareOptions {
  /** The new signer set, numbered 1..n' in this order (may overlap the current one). */
  signers: string[];
  /** The new threshold t' (2 <= t' <= signers.length). */
  threshold: number;
}

export interface KeyquorumClientOptions {
  /** Base URL of the coordinator, e.g. 'http://127.0.0.1:7400'. */
  url: string;
  clientKey: IdentityKey;
  /** Injected for tests; default globalThis.fetch. */
  fetch?: typeof fetch;
  /** Clock for request timestamps; default Date.now. */
  now?: () => number;
}

/** A ClientRequest as the API's JSON (hex bytes). */
export function requestToJson(r: ClientRequest): Record<string, string | number> {
  return {
    v: r.v,
    op: r.op,
    keyId: r.keyId,
    digest: bytesToHex(r.digest),
    timestamp: r.timestamp,
    nonce: bytesToHex(r.nonce),
    clientKey: bytesToHex(r.clientKey),
    sig: bytesToHex(r.sig),
  };
}

function messageBytes(m: Uint8Array | string): Uint8Array {
  if (m instanceof Uint8Array) return m;
  if (typeof m !== 'string' || m.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(m)) throw new ClientError('BAD_ARGUMENT', { field: 'message', message: 'message: expected bytes or hex' });
  return hexToBytes(m.toLowerCase());
}

export class KeyquorumClient {
  private readonly base: string;
  private readonly clientKey: IdentityKey;
  private readonly fetchFn: typeof fetch;
  private readonly now: () => number;

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

  private async call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      const url = new URL(`${this.base}${path}`);
      const text = body === undefined ? '' : JSON.stringify(body);
      // Request-level authentication: signed over exactly the target and bytes sent.
      const auth = signHttpRequest(this.clientKey, { method, target: `${url.pathname}${url.search}`, body: new TextEncoder().encode(text) }, { timestamp: this.now() });
      const init: RequestInit = { method, headers: { accept: 'application/json', ...auth } };
      if (body !== undefined) {
        init.body = text;
        init.headers = { accept: 'application/json', 'content-type': 'application/json', ...auth };
      }
      res = await this.fetchFn(url, init);
    } catch (e) {
      throw new ClientError('NETWORK', { message: `cannot reach ${this.base}: ${(e as Error).message}`, cause: e });
    }
    if (res.status === 204) return undefined as T;
    let json: unknown;
    try {
      json = await res.json();
    } catch (e) {
      throw new ClientError('BAD_RESPONSE', { status: res.status, message: `non-JSON answer (HTTP ${res.status})`, cause: e });
    }
    if (!res.ok) {
      const err = (json as { error?: { code?: string; message?: string; field?: string; culprits?: string[] } }).error;
      if (err === undefined || typeof err.code !== 'string') throw new ClientError('BAD_RESPONSE', { status: res.status, message: `HTTP ${res.status} without an error body` });
      const opts: ConstructorParameters<typeof ClientError>[1] = { status: res.status, message: err.message ?? err.code, culprits: err.culprits ?? [] };
      if (err.field !== undefined) opts.field = err.field;
      throw new ClientError(err.code as ClientErrorCode, opts);
    }
    return json as T;
  }

  private static key(id: string): string {
    return encodeURIComponent(id);
  }

  async health(): Promise<boolean> {
    return (await this.call<{ status: string }>('GET', '/healthz')).status === 'ok';
  }

  async ready(): Promise<boolean> {
    try {
      return (await this.call<{ ready: boolean }>('GET', '/readyz')).ready;
    } catch (e) {
      if (e instanceof ClientError && e.status === 503) return false;
      throw e;
    }
  }

  async listSigners(): Promise<SignerStatus[]> {
    return (await this.call<{ signers: SignerStatus[] }>('GET', '/v1/signers')).signers;
  }

  /** POST of a long operation: awaited (its result), or with `wait: false` the running operation. */
  private async long<R>(path: string, body: unknown, opts: WaitOption | undefined): Promise<R | Operation<R>> {
    if (opts?.wait !== false) return this.call<R>('POST', path, body);
    return (await this.call<{ operation: Operation<R> }>('POST', `${path}?wait=false`, body)).operation;
  }

  /** A long operation started with `{ wait: false }`; 404 NOT_FOUND once the coordinator forgot it (bounded history, restart). */
  async operation<R = Key | Retirement>(id: string): Promise<Operation<R>> {
    return this.call<Operation<R>>('GET', `/v1/operations/${encodeURIComponent(id)}`);
  }

  /**
   * Polls `operation(id)` until it has finished: resolves to the succeeded operation
   * (its `result` is what the awaited call resolves to); a failed one throws the
   * ClientError the awaited call would have thrown (its code, field and culprits;
   * status 0); still running after `timeoutMs` throws ClientError 'TIMEOUT'.
   */
  async waitForOperation<R = Key | Retirement>(id: string, o: WaitForOperationOptions = {}): Promise<Operation<R>> {
    const intervalMs = o.intervalMs ?? 250;
    const timeoutMs = o.timeoutMs ?? 120_000;
    const until = Date.now() + timeoutMs;
    for (;;) {
      const op = await this.operation<R>(id);
      if (op.state === 'succeeded') return op;
      if (op.state === 'failed') {
        const e = op.error ?? { code: 'INTERNAL', message: 'failed without an error' };
        const opts: ConstructorParameters<typeof ClientError>[1] = { message: e.message, culprits: e.culprits ?? [] };
        if (e.field !== undefined) opts.field = e.field;
        throw new ClientError(e.code as ClientErrorCode, opts);
      }
      if (Date.now() + intervalMs > until) throw new ClientError('TIMEOUT', { message: `operation ${id} (${op.kind} of ${op.keyId}) still running after ${timeoutMs} ms` });
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }

  /** Runs a DKG; resolves to the active key (or, with `{ wait: false }`, to the running operation). */
  async createKey(o: CreateKeyOptions, opts?: { wait?: true }): Promise<Key>;
  async createKey(o: CreateKeyOptions, opts: { wait: false }): Promise<Operation<Key>>;
  async createKey(o: CreateKeyOptions, opts?: WaitOption): Promise<Key | Operation<Key>>;
  async createKey(o: CreateKeyOptions, opts?: WaitOption): Promise<Key | Operation<Key>> {
    const signers = o.signers ?? (await this.listSigners()).filter((s) => s.connected).map((s) => s.id);
    const request = this.signRequest('createKey', o.keyId, createKeyDigest({ keyId: o.keyId, suite: o.suite, threshold: o.threshold, signers }));
    return this.long<Key>('/v1/keys', { keyId: o.keyId, suite: o.suite, threshold: o.threshold, signers, request: requestToJson(request) }, opts);
  }

  async listKeys(): Promise<Key[]> {
    return (await this.call<{ keys: Key[] }>('GET', '/v1/keys')).keys;
  }

  async getKey(keyId: string): Promise<Key> {
    return this.call<Key>('GET', `/v1/keys/${KeyquorumClient.key(keyId)}`);
  }

  /** The child public key at a non-hardened path (no signer involved). */
  async deriveKey(keyId: string, path: string): Promise<DerivedKey> {
    return this.call<DerivedKey>('GET', `/v1/keys/${KeyquorumClient.key(keyId)}/derive?path=${encodeURIComponent(path)}`);
  }

  async sign(keyId: string, o: SignOptions): Promise<SignatureResult> {
    const message = messageBytes(o.message);
    const request = this.signRequest('sign', keyId, signDigest({ keyId, message, ...(o.path !== undefined ? { path: o.path } : {}), ...(o.taproot !== undefined ? { taproot: o.taproot } : {}) }));
    const body: Record<string, unknown> = { message: bytesToHex(message), request: requestToJson(request) };
    if (o.path !== undefined) body.path = o.path;
    if (o.taproot !== undefined) body.taproot = o.taproot.merkleRoot === undefined ? {} : { merkleRoot: bytesToHex(o.taproot.merkleRoot) };
    return this.call<SignatureResult>('POST', `/v1/keys/${KeyquorumClient.key(keyId)}/sign`, body);
  }

  /** Refreshes every share (epoch + 1, same public key); `{ wait: false }`: the running operation. */
  async refresh(keyId: string, opts?: { wait?: true }): Promise<Key>;
  async refresh(keyId: string, opts: { wait: false }): Promise<Operation<Key>>;
  async refresh(keyId: string, opts?: WaitOption): Promise<Key | Operation<Key>>;
  async refresh(keyId: string, opts?: WaitOption): Promise<Key | Operation<Key>> {
    const request = this.signRequest('refresh', keyId, refreshDigest({ keyId }));
    return this.long<Key>(`/v1/keys/${KeyquorumClient.key(keyId)}/refresh`, { request: requestToJson(request) }, opts);
  }

  /**
   * Moves the key to a new signer set and threshold under the same public key
   * (epoch + 1); old holders outside the new set wipe their shares. The request
   * signs the key's group key (read from the coordinator and checked against its
   * public key), so it authorises resharing this key only. `{ wait: false }`: the running operation.
   */
  async reshare(keyId: string, o: ReshareOptions, opts?: { wait?: true }): Promise<Key>;
  async reshare(keyId: string, o: ReshareOptions, opts: { wait: false }): Promise<Operation<Key>>;
  async reshare(keyId: string, o: ReshareOptions, opts?: WaitOption): Promise<Key | Operation<Key>>;
  async reshare(keyId: string, o: ReshareOptions, opts?: WaitOption): Promise<Key | Operation<Key>> {
    const key = await this.getKey(keyId);
    if (key.groupKey === null || key.publicKey === null) throw new ClientError('BAD_ARGUMENT', { field: 'keyId', message: `key ${keyId} is ${key.state}` });
    // The external key is the group key itself, or its x-coordinate on frost-secp256k1-tr.
    const external = key.scheme === 'frost-secp256k1-tr' ? key.groupKey.slice(2) : key.groupKey;
    if (external !== key.publicKey) throw new ClientError('BAD_RESPONSE', { field: 'groupKey', message: `the coordinator's group key of ${keyId} does not match its public key` });
    const request = this.signRequest('reshare', keyId, reshareDigest({ keyId, groupKey: hexToBytes(key.groupKey), newThreshold: o.threshold, signers: o.signers }));
    return this.long<Key>(`/v1/keys/${KeyquorumClient.key(keyId)}/reshare`, { signers: o.signers, threshold: o.threshold, request: requestToJson(request) }, opts);
  }

  /** Retires the key; resolves to it and the destruction attestations received so far (`{ wait: false }`: the running operation). */
  async retire(keyId: string, opts?: { wait?: true }): Promise<Retirement>;
  async retire(keyId: string, opts: { wait: false }): Promise<Operation<Retirement>>;
  async retire(keyId: string, opts?: WaitOption): Promise<Retirement | Operation<Retirement>>;
  async retire(keyId: string, opts?: WaitOption): Promise<Retirement | Operation<Retirement>> {
    const request = this.signRequest('retire', keyId, retireDigest({ keyId }));
    return this.long<Retirement>(`/v1/keys/${KeyquorumClient.key(keyId)}/retire`, { request: requestToJson(request) }, opts);
  }

  /** The signers banned from sessions of `keyId` (caught cheating), with why and since when. */
  async bans(keyId: string): Promise<Ban[]> {
    return (await this.call<{ bans: Ban[] }>('GET', `/v1/keys/${KeyquorumClient.key(keyId)}/bans`)).bans;
  }

  /**
   * Lifts the coordinator's ban of `signer` for `keyId` (admin; audited as
   * 'signer.unbanned'); NOT_FOUND if it is not banned. Signers keep their own bans
   * (`keyquorum-signer unban` on each).
   */
  async clearBan(keyId: string, signer: string): Promise<void> {
    await this.call<undefined>('DELETE', `/v1/keys/${KeyquorumClient.key(keyId)}/bans/${encodeURIComponent(signer)}`);
  }

  /** Audit rows (one key's, or all) and the coordinator's verification of the whole chain. */
  async audit(keyId?: string): Promise<{ entries: AuditEntry[]; verification: AuditVerification }> {
    return this.call('GET', keyId === undefined ? '/v1/audit' : `/v1/audit?key=${encodeURIComponent(keyId)}`);
  }
}
