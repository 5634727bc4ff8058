/**
 * `KeyquorumClient`: a typed SDK for the coordinator's HTTP API. Every HTTP request
 * carries request-level signature headers (`signHttpRequest`: method, target, body
 * hash, timestamp, nonce). Every mutating call also builds a `ClientRequest`
 * signed with the client's Ed25519 key over the digest of exactly the parameters sent (`@keyquorum/protocol` digests), with a fresh nonce
 * and the current time, so the coordinator and every signer can check it. Routes,
 * bodies and answers are the HTTP contract's (`ROUTES` and its types in
 * @keyquorum/protocol), the same the coordinator serves; bytes travel as lowercase hex.
 *
 * Long operations (createKey, refresh, reshare, retire) are awaited by default; with
 * `{ wait: false }` they resolve to the running `Operation` once the coordinator has
 * checked the request and started the session, to poll with `operation(id)` or await
 * with `waitForOperation(id)`.
 *
 * The HTTP core is client-http.ts; the governance calls (a key's policy, operations
 * waiting for approvals, approving them) are client-governance.ts, inherited here. Any
 * call the key's policy holds for approvals throws `ApprovalPendingError` (pending.ts).
 */
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import {
  AUDIT_PAGE_MAX,
  buildAuditExport,
  verifyAuditExport,
  type AuditChainRow,
  type AuditCheckpoint,
  type AuditExportVerification,
  ROUTES,
  createKeyDigest,
  refreshDigest,
  requestToJson,
  repairDigest,
  reshareDigest,
  retireDigest,
  stateDigest,
  DEFAULT_DESTROY_DELAY_MS,
  type RequestedTransition,
  type StateBodyJson,
  signDigest,
  signTxDigest,
  taprootToJson,
  txFromText,
  txToText,
  type BitcoinNetwork,
  type Chain,
  type SignTxBodyJson,
  type TxOutput,
  type AttestationJson,
  type AuditEntryJson,
  type AuditVerificationJson,
  type BanJson,
  type CreateKeyBodyJson,
  type DerivedKeyJson,
  type KeyJson,
  type KeySuiteId,
  type OperationJson,
  type RequestOnlyBodyJson,
  type RepairBodyJson,
  type ReshareBodyJson,
  type RetirementJson,
  type Route,
  type SignatureJson,
  type SignBodyJson,
  type SignerStatusJson,
  type TaprootTarget,
} from '@keyquorum/protocol';
import { GovernanceApi } from './client-governance.ts';
import type { CallArgs } from './client-http.ts';
import { ClientError, apiError } from './errors.ts';

export type { KeyquorumClientOptions } from './client-http.ts';
export type { PolicySet, PolicyView, ReviewedOperation } from './client-governance.ts';

export type { KeyJson, KeyState, OperationKind, OperationState } from '@keyquorum/protocol';

/** The API's JSON shapes, from the HTTP contract in @keyquorum/protocol. */
export type DerivedKey = DerivedKeyJson;
export type SignatureResult = SignatureJson;
export type Attestation = AttestationJson;
/** What retire answers. */
export type Retirement = RetirementJson;
export type SignerStatus = SignerStatusJson;
export type AuditEntry = AuditEntryJson;
/** A signer banned from sessions of a key (caught cheating), until an admin clears it. */
export type Ban = BanJson;
export type AuditVerification = AuditVerificationJson;

/** A long operation started with `{ wait: false }` (GET /v1/operations/:id); `result` is what the awaited call resolves to. */
export type Operation<R = KeyJson | Retirement> = Omit<OperationJson, 'result'> & { result?: R };

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

export interface CreateKeyOptions {
  keyId: string;
  suite: KeySuiteId;
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
  /**
   * The key epoch the request authorises (it is in the signed digest); read from the
   * coordinator when omitted. A request for another epoch than the key's is refused.
   */
  epoch?: number;
}

export interface SignTxOptions {
  chain: Chain;
  /** The unsigned transaction: bytes, or its text (ethereum 0x hex; bitcoin PSBT, solana message: base64). */
  tx: Uint8Array | string;
  /** ethereum, solana: the derivation path of the signing key (bitcoin inputs name their own). */
  path?: string;
  /** bitcoin only: the network its addresses are rendered for (default mainnet). */
  network?: BitcoinNetwork;
  /** The key epoch the request authorises; read from the coordinator when omitted. */
  epoch?: number;
}

/** What sign-tx answers: the broadcastable transaction (`TxOutput` by chain), the module's id of it and the signatures given per input. */
export type SignedTransaction = TxOutput & { txId: string; signatures: Array<{ input: number; signature: string }> };

export interface ReshareOptions {
  /** The new signer set, numbered 1..n' in this order (may overlap the current one). */
  signers: string[];
  /** The new threshold t' (2 <= t' <= signers.length). */
  threshold: number;
}

function messageBytes(m: Uint8Array | string): Uint8Array {
  if (m instanceof Uint8Array) return m;
  if (typeof m !== 'string' || m.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(m)) throw new ClientError('BAD_ARGUMENT', { field: 'message', message: 'message: expected bytes or hex' });
  return hexToBytes(m.toLowerCase());
}

export class KeyquorumClient extends GovernanceApi {
  async health(): Promise<boolean> {
    return (await this.call(ROUTES.health)).status === 'ok';
  }

  async ready(): Promise<boolean> {
    try {
      return (await this.call(ROUTES.ready)).ready;
    } catch (e) {
      if (e instanceof ClientError && e.status === 503) return false;
      throw e;
    }
  }

  async listSigners(): Promise<SignerStatus[]> {
    return (await this.call(ROUTES.listSigners)).signers;
  }

  /** A long operation: awaited (its result), or with `wait: false` the running operation. */
  private async long<R>(route: Route, args: CallArgs, opts: WaitOption | undefined): Promise<R | Operation<R>> {
    if (opts?.wait !== false) return (await this.call(route, args)) as R;
    return ((await this.call(route, { ...args, query: { wait: 'false' } })) as { operation: Operation<R> }).operation;
  }

  /** A long operation started with `{ wait: false }`; 404 NOT_FOUND once the coordinator forgot it (bounded history, restart). */
  async operation<R = KeyJson | Retirement>(id: string): Promise<Operation<R>> {
    return (await this.call(ROUTES.operation, { params: { id } })) as Operation<R>;
  }

  /**
   * Polls `operation(id)` until it has finished: resolves to the succeeded operation
   * (its `result` is what the awaited call resolves to); a failed one throws the
   * ClientError the awaited call would have thrown (its code, field and culprits;
   * status 0); an approval operation that expired throws OPERATION_EXPIRED; still running after `timeoutMs` throws ClientError 'TIMEOUT'.
   */
  async waitForOperation<R = KeyJson | Retirement>(id: string, o: WaitForOperationOptions = {}): Promise<Operation<R>> {
    const intervalMs = o.intervalMs ?? 250;
    const timeoutMs = o.timeoutMs ?? 120_000;
    const until = Date.now() + timeoutMs;
    for (;;) {
      const op = await this.operation<R>(id);
      if (op.state === 'succeeded') return op;
      if (op.state === 'failed') throw apiError(op.error ?? { code: 'INTERNAL', message: 'failed without an error' }, 0);
      // An operation waiting for approvals (pending.ts) that was not approved in time.
      if ((op.state as string) === 'expired') throw new ClientError('OPERATION_EXPIRED', { message: `operation ${id} (${op.keyId}) expired before its approvals` });
      if (Date.now() + intervalMs > until) throw new ClientError('TIMEOUT', { message: `operation ${id} (${op.kind} of ${op.keyId}) still running after ${timeoutMs} ms` });
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }

  /** Runs a DKG; resolves to the active key (or, with `{ wait: false }`, to the running operation). */
  async createKey(o: CreateKeyOptions, opts?: { wait?: true }): Promise<KeyJson>;
  async createKey(o: CreateKeyOptions, opts: { wait: false }): Promise<Operation<KeyJson>>;
  async createKey(o: CreateKeyOptions, opts?: WaitOption): Promise<KeyJson | Operation<KeyJson>>;
  async createKey(o: CreateKeyOptions, opts?: WaitOption): Promise<KeyJson | Operation<KeyJson>> {
    const signers = o.signers ?? (await this.listSigners()).filter((s) => s.connected).map((s) => s.id);
    const request = this.signRequest('createKey', o.keyId, createKeyDigest({ keyId: o.keyId, suite: o.suite, threshold: o.threshold, signers }));
    const body: CreateKeyBodyJson = { keyId: o.keyId, suite: o.suite, threshold: o.threshold, signers, request: requestToJson(request) };
    return this.long<KeyJson>(ROUTES.createKey, { body }, opts);
  }

  async listKeys(): Promise<KeyJson[]> {
    return (await this.call(ROUTES.listKeys)).keys;
  }

  async getKey(keyId: string): Promise<KeyJson> {
    return this.call(ROUTES.getKey, { params: { id: keyId } });
  }

  /** The child public key at a non-hardened path (no signer involved). */
  async deriveKey(keyId: string, path: string): Promise<DerivedKey> {
    return this.call(ROUTES.deriveKey, { params: { id: keyId }, query: { path } });
  }

  async sign(keyId: string, o: SignOptions): Promise<SignatureResult> {
    const message = messageBytes(o.message);
    const epoch = o.epoch ?? (await this.getKey(keyId)).epoch;
    const request = this.signRequest('sign', keyId, signDigest({ keyId, epoch, message, ...(o.path !== undefined ? { path: o.path } : {}), ...(o.taproot !== undefined ? { taproot: o.taproot } : {}) }));
    const body: SignBodyJson = { message: bytesToHex(message), request: requestToJson(request) };
    if (o.path !== undefined) body.path = o.path;
    if (o.taproot !== undefined) body.taproot = taprootToJson(o.taproot);
    // A 202 (the key's policy requires approvals) is the SDK's to type (docs/governance.md "SDK and CLI").
    return this.call(ROUTES.sign, { params: { id: keyId }, body }) as Promise<SignatureResult>;
  }

  /**
   * Signs an unsigned transaction (docs/transactions.md): the request authorises the
   * transaction itself (`signTxDigest`); every signer parses it and checks the key's
   * policy against what it pays. Resolves to the broadcastable transaction; throws
   * ApprovalPendingError when the policy holds it for approvals.
   */
  async signTx(keyId: string, o: SignTxOptions): Promise<SignedTransaction> {
    let data: Uint8Array;
    try {
      data = o.tx instanceof Uint8Array ? o.tx : txFromText(o.chain, o.tx);
    } catch (e) {
      throw new ClientError('BAD_ARGUMENT', { field: 'tx', message: (e as Error).message, cause: e });
    }
    const epoch = o.epoch ?? (await this.getKey(keyId)).epoch;
    // The root key is no path at all (the signers read the path from the START, which omits 'm').
    const opt = { ...(o.path === undefined || o.path === 'm' ? {} : { path: o.path }), ...(o.network === undefined ? {} : { network: o.network }) };
    const request = this.signRequest('sign', keyId, signTxDigest({ keyId, epoch, chain: o.chain, data, ...opt }));
    const body: SignTxBodyJson = { chain: o.chain, tx: txToText(o.chain, data), ...opt, request: requestToJson(request) };
    return (await this.call(ROUTES.signTx, { params: { id: keyId }, body })) as SignedTransaction;
  }

  /** Refreshes every share (epoch + 1, same public key); `{ wait: false }`: the running operation. */
  async refresh(keyId: string, opts?: { wait?: true }): Promise<KeyJson>;
  async refresh(keyId: string, opts: { wait: false }): Promise<Operation<KeyJson>>;
  async refresh(keyId: string, opts?: WaitOption): Promise<KeyJson | Operation<KeyJson>>;
  async refresh(keyId: string, opts?: WaitOption): Promise<KeyJson | Operation<KeyJson>> {
    const body: RequestOnlyBodyJson = { request: requestToJson(this.signRequest('refresh', keyId, refreshDigest({ keyId }))) };
    return this.long<KeyJson>(ROUTES.refresh, { params: { id: keyId }, body }, opts);
  }

  /**
   * Moves the key to a new signer set and threshold under the same public key
   * (epoch + 1); old holders outside the new set wipe their shares. The request
   * signs the key's group key (read from the coordinator and checked against its
   * public key), so it authorises resharing this key only. `{ wait: false }`: the running operation.
   */
  async reshare(keyId: string, o: ReshareOptions, opts?: { wait?: true }): Promise<KeyJson>;
  async reshare(keyId: string, o: ReshareOptions, opts: { wait: false }): Promise<Operation<KeyJson>>;
  async reshare(keyId: string, o: ReshareOptions, opts?: WaitOption): Promise<KeyJson | Operation<KeyJson>>;
  async reshare(keyId: string, o: ReshareOptions, opts?: WaitOption): Promise<KeyJson | Operation<KeyJson>> {
    const key = await this.getKey(keyId);
    if (key.groupKey === null || key.publicKey === null) throw new ClientError('BAD_ARGUMENT', { field: 'keyId', message: `key ${keyId} is ${key.state}` });
    // The external key is the group key itself, or its x-coordinate on frost-secp256k1-tr.
    const external = key.suite === 'frost-secp256k1-tr' ? key.groupKey.slice(2) : key.groupKey;
    if (external !== key.publicKey) throw new ClientError('BAD_RESPONSE', { field: 'groupKey', message: `the coordinator's group key of ${keyId} does not match its public key` });
    const request = this.signRequest('reshare', keyId, reshareDigest({ keyId, groupKey: hexToBytes(key.groupKey), newThreshold: o.threshold, signers: o.signers }));
    const body: ReshareBodyJson = { signers: o.signers, threshold: o.threshold, request: requestToJson(request) };
    return this.long<KeyJson>(ROUTES.reshare, { params: { id: keyId }, body }, opts);
  }

  /**
   * Rebuilds `signer`'s lost share of the key from t helpers, none of which learns it
   * (the signer was re-initialised and its new identity pinned by every operator); the
   * key keeps its epoch and public key. The request names the key and the signer. Not
   * for ecdsa-secp256k1 keys (400 BAD_REQUEST). `{ wait: false }`: the running operation.
   */
  async repair(keyId: string, signer: string, opts?: { wait?: true }): Promise<KeyJson>;
  async repair(keyId: string, signer: string, opts: { wait: false }): Promise<Operation<KeyJson>>;
  async repair(keyId: string, signer: string, opts?: WaitOption): Promise<KeyJson | Operation<KeyJson>>;
  async repair(keyId: string, signer: string, opts?: WaitOption): Promise<KeyJson | Operation<KeyJson>> {
    const body: RepairBodyJson = { signer, request: requestToJson(this.signRequest('repair', keyId, repairDigest({ keyId, target: signer }))) };
    return this.long<KeyJson>(ROUTES.repair, { params: { id: keyId }, body }, opts);
  }

  /** Retires the key; resolves to it and the destruction attestations received so far (`{ wait: false }`: the running operation). */
  async retire(keyId: string, opts?: { wait?: true }): Promise<Retirement>;
  async retire(keyId: string, opts: { wait: false }): Promise<Operation<Retirement>>;
  async retire(keyId: string, opts?: WaitOption): Promise<Retirement | Operation<Retirement>>;
  async retire(keyId: string, opts?: WaitOption): Promise<Retirement | Operation<Retirement>> {
    const body: RequestOnlyBodyJson = { request: requestToJson(this.signRequest('retire', keyId, retireDigest({ keyId }))) };
    return this.long<Retirement>(ROUTES.retire, { params: { id: keyId }, body }, opts);
  }

  /**
   * Changes the key's state (NIST SP 800-57 states; docs/cluster-protocol.md "Key
   * states"): 'suspend' | 'resume' | 'deactivate' | 'compromise' | 'schedule-destroy'
   * (`afterMs`, default 7 days) | 'cancel-destroy'. Needs the admin role; every signer
   * checks the request and the transition against its own record. Resolves to the key.
   */
  async changeState(keyId: string, change: { transition: RequestedTransition; afterMs?: number }): Promise<KeyJson> {
    const afterMs = change.afterMs ?? (change.transition === 'schedule-destroy' ? DEFAULT_DESTROY_DELAY_MS : 0);
    const request = this.signRequest('state', keyId, stateDigest({ keyId, transition: change.transition, afterMs }));
    const body: StateBodyJson = { transition: change.transition, ...(change.transition === 'schedule-destroy' ? { afterMs } : {}), request: requestToJson(request) };
    // A 202 (the key's policy requires approvals) is the SDK's to type (docs/governance.md "SDK and CLI").
    return this.call(ROUTES.state, { params: { id: keyId }, body }) as Promise<KeyJson>;
  }

  suspend(keyId: string): Promise<KeyJson> {
    return this.changeState(keyId, { transition: 'suspend' });
  }

  resume(keyId: string): Promise<KeyJson> {
    return this.changeState(keyId, { transition: 'resume' });
  }

  deactivate(keyId: string): Promise<KeyJson> {
    return this.changeState(keyId, { transition: 'deactivate' });
  }

  compromise(keyId: string): Promise<KeyJson> {
    return this.changeState(keyId, { transition: 'compromise' });
  }

  /** Schedules the destruction of the key's shares `afterMs` from now (default 7 days); `cancelDestroy` undoes it until then. */
  scheduleDestroy(keyId: string, afterMs: number = DEFAULT_DESTROY_DELAY_MS): Promise<KeyJson> {
    return this.changeState(keyId, { transition: 'schedule-destroy', afterMs });
  }

  cancelDestroy(keyId: string): Promise<KeyJson> {
    return this.changeState(keyId, { transition: 'cancel-destroy' });
  }

  /** The signers banned from sessions of `keyId` (caught cheating), with why and since when. */
  async bans(keyId: string): Promise<Ban[]> {
    return (await this.call(ROUTES.bans, { params: { id: keyId } })).bans;
  }

  /**
   * Lifts the coordinator's ban of `signer` for `keyId` (admin; audited as
   * 'signer.unbanned'); NOT_FOUND if it is not banned. Signers keep their own bans
   * (`keyquorum-signer unban` on each).
   */
  async clearBan(keyId: string, signer: string): Promise<void> {
    await this.call(ROUTES.clearBan, { params: { id: keyId, signer } });
  }

  /**
   * One page of audit rows (one key's, or all), oldest first: rows after `after` (a
   * seq; default 0), at most `limit` (the coordinator's default 100, at most 1000);
   * `next` is the `after` of the following page, null on the last. `verification` is the
   * coordinator's check of the whole chain.
   */
  async auditPage(o: { keyId?: string; after?: number; limit?: number } = {}): Promise<{ entries: AuditEntry[]; next: number | null; verification: AuditVerification; checkpoints?: AuditCheckpoint[] }> {
    return this.call(ROUTES.audit, { query: { key: o.keyId, after: o.after === undefined ? undefined : String(o.after), limit: o.limit === undefined ? undefined : String(o.limit) } });
  }

  /** Every audit row (one key's, or all), page by page, and the chain's verification (the first failing one, else the last page's). */
  async audit(keyId?: string): Promise<{ entries: AuditEntry[]; verification: AuditVerification }> {
    const entries: AuditEntry[] = [];
    let after: number | null = 0;
    let verification: AuditVerification | undefined;
    while (after !== null) {
      const page: Awaited<ReturnType<KeyquorumClient['auditPage']>> = await this.auditPage({ ...(keyId === undefined ? {} : { keyId }), after, limit: AUDIT_PAGE_MAX });
      entries.push(...page.entries);
      if (verification === undefined || verification.ok) verification = page.verification;
      if (page.next !== null && page.next <= after) throw new ClientError('BAD_RESPONSE', { field: 'next', message: 'next: the audit page does not advance' });
      after = page.next;
    }
    return { entries, verification: verification! };
  }

  /**
   * The whole audit log as the text of an export file (@keyquorum/protocol
   * audit-export.ts), read page by page (`onProgress` gets the count read so far after
   * each page; `pageSize` entries a page, default and at most AUDIT_PAGE_MAX), its number of entries, and that text verified here with `verifyAuditExport`, as anyone can
   * later with no coordinator. A log that does not verify is still exported (it is the
   * evidence); `verification` names its first bad entry. The signers' cosignatures of
   * the log (audit checkpoints) go into the file with the entries.
   *
   * Each entry's `data` is written as the coordinator hashed it: the coordinator hashed
   * JSON.stringify(payload) and serves that JSON parsed; JSON.stringify gives the text
   * of a JSON.parse of its own output back unchanged (same keys in the same order, same
   * number and string spellings), so nothing is re-encoded differently.
   */
  async exportAudit(opts: { onProgress?: (entries: number) => void; pageSize?: number } = {}): Promise<{ text: string; entries: number; verification: AuditExportVerification }> {
    const entries: AuditChainRow[] = [];
    const checkpoints: AuditCheckpoint[] = [];
    let after: number | null = 0;
    while (after !== null) {
      const page: Awaited<ReturnType<KeyquorumClient['auditPage']>> = await this.auditPage({ after, limit: opts.pageSize ?? AUDIT_PAGE_MAX });
      if (!Array.isArray(page.entries) || page.entries.some((e) => typeof e !== 'object' || e === null)) {
        throw new ClientError('BAD_RESPONSE', { field: 'entries', message: 'entries: expected an array of audit entries' });
      }
      for (const e of page.entries) entries.push({ seq: e.seq, ts: e.ts, event: e.event, keyId: e.keyId, data: JSON.stringify(e.data), prevHash: e.prevHash, hash: e.hash });
      for (const k of page.checkpoints ?? []) checkpoints.push({ signer: k.signer, seq: k.seq, hash: k.hash, sig: k.sig });
      if (page.next !== null && page.next <= after) throw new ClientError('BAD_RESPONSE', { field: 'next', message: 'next: the audit page does not advance' });
      after = page.next;
      opts.onProgress?.(entries.length);
    }
    const text = buildAuditExport({ coordinatorUrl: this.base, exportedAt: this.now(), entries, checkpoints });
    return { text, entries: entries.length, verification: verifyAuditExport(text) };
  }
}
