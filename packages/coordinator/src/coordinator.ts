/**
 * `Coordinator`: the library entry. It validates and authorises every request
 * before any signer sees it (checks.ts: fields, key state, the client's signed
 * request checked with the configured clients and a persistent replay window, and the
 * digest recomputed from the parameters), serialises lifecycle sessions per key
 * (key-locks.ts), and runs them through the session engine. A `Service`
 * (@keyquorum/protocol): start() opens the registry and starts the server, a failed
 * start stops what already started, stop() stops them in reverse. It implements
 * `CoordinatorApi` (api.ts), which is all the HTTP adapter knows of it.
 */
import { bytesToHex } from '@noble/hashes/utils.js';
import { deriveChild, isCryptoError, targetExternalKey, targetPublicKey, type PublicKeyPackage } from '@keyquorum/crypto';
import {
  KEY_ID_PATTERN, KEY_SUITES, NODE_ID_PATTERN, MAX_SIGN_MESSAGE_BYTES, DEFAULT_DESTROY_DELAY_MS, MAX_DESTROY_DELAY_MS, REQUESTED_TRANSITIONS, USAGE_STATES, Service,
  allowsUse, createKeyDigest, policyRequestDigest, refreshDigest, repairDigest, reshareDigest, retireDigest, signDigest, stateDigest,
  type ApprovalAction, type ClientRequest, type IdentityKey, type KeyPolicyJson, type KeySuiteId, type KeyView, type Operation, type PendingOperationJson,
  type PendingOperationState, type ServiceStatus, type StartStack, type UsageState,
} from '@keyquorum/protocol';
import type { PolicyParams, PolicySetOutput, CoordinatorApi, CreateKeyParams, DerivedPublicKey, KeyRequestParams, Readiness, RepairParams, ReshareParams, RetireOutput, SignerInfo, SignOutput, SignParams, SignTxOutput, SignTxParams, StateParams } from './api.ts';
import { authorise, badRequest, checkCaughtUp, checkSigners, checkThreshold } from './checks.ts';
import { resolveOptions, type CoordinatorOptions, type ResolvedOptions } from './config.ts';
import { SIGNER_PATH } from './constants.ts';
import { Governance, runOperation, type Admission, type Admitted } from './governance.ts';
import type { SignRequest } from './engine.ts';
import { readinessWithRole, startParts, type Parts } from './leadership.ts';
import { schemeOf } from './sessions/schemes.ts';
import { CoordinatorError } from './errors.ts';
import { createHttpHandler } from './http.ts';
import { KeyLocks } from './key-locks.ts';
import { CoordinatorMetrics } from './metrics.ts';
import { OperationLog } from './operations.ts';
import { toKeyView } from './registry/keys.ts';
import type { CoordinatorStore, Attestation, AuditEntry, AuditPage, Ban, AuditVerification, RegistryKey } from './store/types.ts';
import { CoordinatorServer } from './server.ts';
import { signTransaction } from './sign-tx.ts';

export type CoordinatorStatus = ServiceStatus;

export class Coordinator extends Service implements CoordinatorApi {
  readonly options: ResolvedOptions;
  /** Prometheus metrics (GET /metrics). */
  readonly metrics: CoordinatorMetrics;
  /** Long operations started without awaiting them (HTTP `?wait=false`): a bounded in-memory history (operations.ts). */
  readonly operations: OperationLog;
  private parts: Parts | undefined;
  private readonly locks = new KeyLocks();
  private readonly governance: Governance;

  constructor(options: CoordinatorOptions) {
    super();
    this.options = resolveOptions(options);
    this.governance = new Governance(this.options, () => this.started().registry);
    this.metrics = new CoordinatorMetrics(() =>
      this.status !== 'started' || this.parts === undefined
        ? undefined
        : {
            connectedSigners: () => this.parts!.server.connectedSigners().length,
            pooledCommitments: () => (this.parts!.leadership?.leading === false ? 0 : this.parts!.engine.pooledCommitments()),
            pooledPresignatures: () => (this.parts!.leadership?.leading === false ? 0 : this.parts!.engine.pooledPresignatures()),
            keys: async () => (await this.parts!.registry.listKeys()).map((k) => ({ id: k.id, suite: k.suite, state: k.state, epoch: k.epoch })),
          },
      { keyLabels: this.options.metricsKeyLabels },
    );
    this.operations = new OperationLog({
      now: this.options.now,
      onError: (e, op) => {
        this.metrics.error(e.code);
        if (e.code === 'INTERNAL') this.options.logger.error('operation failed', { operation: op.id, kind: op.kind, keyId: op.keyId, error: e.cause instanceof Error ? (e.cause.stack ?? e.cause.message) : String(e.cause) });
      },
    });
  }

  /** The identity public key signers pin. */
  get publicKey(): Uint8Array { return this.started().identity.publicKey; }

  /** `http://host:port` of the API; signers dial `ws://host:port/signer`. */
  get url(): string {
    const a = this.started().server.address();
    if (a === undefined) throw new CoordinatorError('NOT_STARTED');
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}`;
  }

  get signerUrl(): string { return `${this.url.replace(/^http/, 'ws')}${SIGNER_PATH}`; }

  protected async startParts(stack: StartStack): Promise<void> {
    this.parts = await startParts(this.options, stack, { http: createHttpHandler(this), metrics: this.metrics, locks: this.locks });
  }

  protected override afterStop(): void {
    this.parts?.stopEngine();
    this.parts = undefined;
  }

  protected wrongStatus(message: string): Error {
    return new CoordinatorError('NOT_STARTED', { message });
  }

  override async start(): Promise<void> {
    await super.start();
    this.options.logger.info(`coordinator listening on ${this.url} (signers: ${this.signerUrl})`, { publicKey: bytesToHex(this.publicKey) });
  }

  override async stop(): Promise<void> {
    const running = this.status === 'started';
    await super.stop();
    if (running) this.options.logger.info('coordinator stopped');
  }

  private started(): Parts {
    if (this.status !== 'started' || this.parts === undefined) throw new CoordinatorError('NOT_STARTED');
    return this.parts;
  }

  private async record(keyId: unknown): Promise<RegistryKey> {
    if (typeof keyId !== 'string' || !KEY_ID_PATTERN.test(keyId)) throw badRequest('keyId', `expected ${KEY_ID_PATTERN}`);
    const k = await this.started().registry.getKey(keyId);
    if (k === undefined) throw new CoordinatorError('UNKNOWN_KEY', { field: 'keyId', message: `no key ${keyId}` });
    return k;
  }

  /**
   * The key, if its lifecycle state (not pending or retired: WRONG_STATE) and its usage
   * state (key-states.ts `allowsUse`: WRONG_KEY_STATE naming it) allow `op`.
   */
  private async activeKey(keyId: unknown, op: Operation): Promise<RegistryKey & { publicKey: PublicKeyPackage }> {
    const k = await this.record(keyId);
    const usage = (USAGE_STATES as readonly string[]).includes(k.state) ? (k.state as UsageState) : undefined;
    if (usage === undefined || k.publicKey === undefined) throw new CoordinatorError('WRONG_STATE', { field: 'keyId', message: `key ${k.id} is ${k.state}` });
    if (!allowsUse(usage, op)) throw new CoordinatorError('WRONG_KEY_STATE', { field: 'keyId', message: `key ${k.id} is ${usage}: no ${op}` });
    return k as RegistryKey & { publicKey: PublicKeyPackage };
  }

  /** The request authenticated and admitted under the key's policy (governance.ts): may answer a pending operation (ApprovalPending). */
  private admit(op: Admission['op'], key: RegistryKey, request: unknown, digest: Uint8Array, params: Record<string, unknown>, action: ApprovalAction = op as ApprovalAction, precheck?: Admission['precheck']): Promise<Admitted> {
    this.started();
    return this.governance.admit({ op, action, key, request, digest, params, ...(precheck === undefined ? {} : { precheck }) });
  }

  // ---- operations ----

  /** Runs a DKG among the chosen signers; returns the active key. */
  async createKey(p: CreateKeyParams): Promise<KeyView> {
    const { registry, server, engine } = this.started();
    if (typeof p !== 'object' || p === null) throw badRequest('body', 'expected an object');
    if (typeof p.keyId !== 'string' || !KEY_ID_PATTERN.test(p.keyId)) throw badRequest('keyId', `expected ${KEY_ID_PATTERN}`);
    if (!(KEY_SUITES as readonly unknown[]).includes(p.suite)) throw badRequest('suite', `expected one of ${KEY_SUITES.join(', ')}`);
    const suite = p.suite as KeySuiteId;
    const signers: unknown = p.signers === undefined ? server.connectedSigners() : p.signers;
    checkSigners(signers, this.options.signers);
    checkThreshold(p.threshold, p.signers === undefined ? undefined : signers);
    const existing = await registry.getKey(p.keyId);
    if (existing?.state === 'pending' && !engine.creating(p.keyId)) {
      throw new CoordinatorError('WRONG_STATE', { field: 'keyId', message: `an earlier DKG of key ${p.keyId} was interrupted and is being resolved with its signers; retry later` });
    }
    if (existing !== undefined) throw new CoordinatorError('KEY_EXISTS', { field: 'keyId', message: `key ${p.keyId} already exists` });
    const request = await authorise(this.options, registry, 'createKey', p.keyId, p.request, createKeyDigest({ keyId: p.keyId, suite, threshold: p.threshold, signers }));
    if (signers.length < Math.max(2, p.threshold)) {
      throw new CoordinatorError('NOT_ENOUGH_SIGNERS', { message: `${signers.length} signers connected, ${Math.max(2, p.threshold)} needed` });
    }
    const offline = signers.filter((s) => !server.isConnected(s));
    if (offline.length > 0) throw new CoordinatorError('NOT_ENOUGH_SIGNERS', { message: `signers not connected: ${offline.join(',')}` });
    const participants = signers.map((signer, i) => ({ signer, index: i + 1 }));
    return this.locks.run(p.keyId, 'exclusive', async () => {
      await this.metrics.session('dkg', () => engine.dkg({ keyId: p.keyId, suite, threshold: p.threshold, participants, request }));
      return this.getKey(p.keyId);
    });
  }

  /** Threshold-signs `message` (for the derived and/or taproot target). */
  async sign(p: SignParams): Promise<SignOutput> {
    const { engine } = this.started();
    if (typeof p !== 'object' || p === null) throw badRequest('body', 'expected an object');
    const key = await this.activeKey(p.keyId, 'sign');
    if (!(p.message instanceof Uint8Array)) throw badRequest('message', 'expected bytes');
    if (p.message.length > MAX_SIGN_MESSAGE_BYTES) throw badRequest('message', `longer than ${MAX_SIGN_MESSAGE_BYTES} bytes`);
    const refused = schemeOf(key.suite).refuseMessage(p.message);
    if (refused !== undefined) throw badRequest('message', refused);
    const signing: SignRequest = { key, publicKey: key.publicKey, message: p.message, request: p.request };
    if (p.path !== undefined) {
      if (typeof p.path !== 'string') throw badRequest('path', "expected a path such as 'm/44/0/7'");
      signing.path = p.path;
    }
    if (p.taproot !== undefined) {
      if (key.suite !== 'frost-secp256k1-tr') throw badRequest('taproot', `taproot applies to frost-secp256k1-tr keys, not ${key.suite}`);
      const root = p.taproot?.merkleRoot;
      if (typeof p.taproot !== 'object' || p.taproot === null || (root !== undefined && (!(root instanceof Uint8Array) || root.length !== 32))) {
        throw badRequest('taproot.merkleRoot', 'expected 32 bytes');
      }
      signing.taproot = root === undefined ? {} : { merkleRoot: root };
    }
    try {
      targetPublicKey(key.publicKey, { path: signing.path, taproot: signing.taproot });
    } catch (e) {
      if (isCryptoError(e)) throw badRequest(e.field ?? 'path', e.message);
      throw e;
    }
    const digest = signDigest({ keyId: key.id, epoch: key.epoch, message: p.message, path: signing.path, taproot: signing.taproot });
    const precheck = (r: ClientRequest) => this.governance.checkSign(key, r, signing.path);
    signing.request = (await this.admit('sign', key, p.request, digest, { message: p.message, path: signing.path, taproot: signing.taproot }, 'sign', precheck)).request;
    await this.governance.recordSign(key, signing.request, signing.path);
    return this.locks.run(key.id, 'shared', async () => {
      const out = await this.metrics.session('sign', () => engine.sign(signing));
      this.metrics.signature(key.suite);
      return { signature: out.signature, publicKey: out.publicKey, ...(out.recoveryId === undefined ? {} : { recoveryId: out.recoveryId }) };
    });
  }

  /** Signs an unsigned transaction and returns it broadcastable (sign-tx.ts; docs/transactions.md). */
  signTx(p: SignTxParams): Promise<SignTxOutput> {
    return signTransaction({ activeKey: (id) => this.activeKey(id, 'sign'), governance: this.governance, locks: this.locks, metrics: this.metrics, engine: this.started().engine }, p);
  }

  /** Refreshes every share (epoch + 1, same public key); returns the key. */
  async refresh(p: KeyRequestParams): Promise<KeyView> {
    const { engine } = this.started();
    const key = await this.activeKey(p?.keyId, 'refresh');
    // Old holders that left the key by reshare may still owe an ACK; they do not take part.
    await checkCaughtUp(this.started().registry, key, key.participants.map((p) => p.signer));
    const { request } = await this.admit('refresh', key, p.request, refreshDigest({ keyId: key.id }), {});
    return this.locks.run(key.id, 'exclusive', async () => {
      const current = await this.activeKey(key.id, 'refresh');
      await this.metrics.session('refresh', () => engine.refresh(current, current.publicKey, request));
      return this.getKey(key.id);
    });
  }

  /**
   * Moves the key to a new signer set and threshold under the same group key
   * (epoch + 1): a quorum of connected old holders deals to the new members, who
   * must all be connected; old holders outside the new set wipe their shares at
   * COMMIT (offline ones when they reconnect). Returns the key.
   */
  async reshare(p: ReshareParams): Promise<KeyView> {
    const { engine, registry } = this.started();
    if (typeof p !== 'object' || p === null) throw badRequest('body', 'expected an object');
    const key = await this.activeKey(p.keyId, 'reshare');
    const unsupported = schemeOf(key.suite).reshareUnsupported;
    if (unsupported !== undefined) throw badRequest('keyId', unsupported);
    const signers: unknown = p.signers;
    checkSigners(signers, this.options.signers);
    checkThreshold(p.threshold, signers);
    const digest = reshareDigest({ keyId: key.id, groupKey: key.publicKey.groupKey, newThreshold: p.threshold, signers });
    const { request } = await this.admit('reshare', key, p.request, digest, { signers, threshold: p.threshold });
    return this.locks.run(key.id, 'exclusive', async () => {
      const current = await this.activeKey(key.id, 'reshare');
      // New members must be at the registry's epoch (dealers are chosen among old holders
      // that are; an old holder that is behind and leaves gets its COMMITs in order).
      await checkCaughtUp(registry, current, signers);
      const offline = signers.filter((s) => !this.started().server.isConnected(s));
      if (offline.length > 0) throw new CoordinatorError('NOT_ENOUGH_SIGNERS', { message: `new signers not connected: ${offline.join(',')}` });
      const newParticipants = signers.map((signer, i) => ({ signer, index: i + 1 }));
      await this.metrics.session('reshare', () => engine.reshare({ key: current, publicKey: current.publicKey, newParticipants, threshold: p.threshold, request }));
      return this.getKey(key.id);
    });
  }

  /**
   * Rebuilds the share of participant `p.signer`, which lost it (re-initialised under a
   * new identity that the operators pinned), from t helpers at the key's current epoch
   * (docs/cluster-protocol.md "Share repair"). Returns the key, unchanged.
   */
  async repair(p: RepairParams): Promise<KeyView> {
    const { engine } = this.started();
    if (typeof p !== 'object' || p === null) throw badRequest('body', 'expected an object');
    const key = await this.activeKey(p.keyId, 'repair');
    const unsupported = schemeOf(key.suite).repairUnsupported;
    if (unsupported !== undefined) throw badRequest('keyId', unsupported);
    const target = key.participants.find((r) => r.signer === p.signer);
    if (typeof p.signer !== 'string' || target === undefined) throw badRequest('signer', `not a participant of ${key.id}`);
    const { request } = await this.admit('repair', key, p.request, repairDigest({ keyId: key.id, target: target.signer }), { signer: target.signer });
    return this.locks.run(key.id, 'exclusive', async () => {
      const current = await this.activeKey(key.id, 'repair');
      await this.metrics.session('repair', () => engine.repair({ key: current, publicKey: current.publicKey, target, request }));
      return this.getKey(key.id);
    });
  }

  /** Retires the key with a quorum of approvals; returns it and the destruction attestations received. */
  async retire(p: KeyRequestParams): Promise<RetireOutput> {
    const { engine } = this.started();
    const key = await this.activeKey(p?.keyId, 'retire');
    const { request } = await this.admit('retire', key, p.request, retireDigest({ keyId: key.id }), {});
    return this.locks.run(key.id, 'exclusive', async () => {
      const current = await this.activeKey(key.id, 'retire');
      const attestations = await this.metrics.session('retire', () => engine.retire(current, request));
      return { key: await this.getKey(key.id), attestations };
    });
  }

  /**
   * Changes the key's state (docs/cluster-protocol.md "Key states"): the admin's signed
   * request (op 'state', `stateDigest`) is checked here, the transition against the
   * registry's record, then every holder gets it and checks both itself (sessions/state.ts).
   */
  async changeState(p: StateParams): Promise<KeyView> {
    const { engine } = this.started();
    if (typeof p !== 'object' || p === null) throw badRequest('body', 'expected an object');
    const key = await this.activeKey(p.keyId, 'state');
    if (!(REQUESTED_TRANSITIONS as readonly unknown[]).includes(p.transition)) throw badRequest('transition', `expected one of ${REQUESTED_TRANSITIONS.join(', ')}`);
    const afterMs = p.transition === 'schedule-destroy' ? (p.afterMs ?? DEFAULT_DESTROY_DELAY_MS) : (p.afterMs ?? 0);
    if (!Number.isSafeInteger(afterMs) || afterMs < 0 || afterMs > MAX_DESTROY_DELAY_MS) throw badRequest('afterMs', `expected 0..${MAX_DESTROY_DELAY_MS} ms`);
    if (p.transition !== 'schedule-destroy' && afterMs !== 0) throw badRequest('afterMs', 'only schedule-destroy takes a delay');
    const digest = stateDigest({ keyId: key.id, transition: p.transition, afterMs });
    const { request } = await this.admit('state', key, p.request, digest, { transition: p.transition, afterMs: p.afterMs }, p.transition);
    const change = { transition: p.transition, afterMs, request };
    return this.locks.run(key.id, 'exclusive', async () => {
      const missing = await engine.changeState(await this.activeKey(key.id, 'state'), change);
      if (missing.length > 0) this.options.logger.warn('key state transition not yet acknowledged; re-sent on reconnect', { keyId: key.id, signers: missing });
      return this.getKey(key.id);
    });
  }

  // ---- governance (docs/governance.md; governance.ts) ----

  async getPolicy(keyId: string): Promise<KeyPolicyJson> {
    return this.governance.view((await this.record(keyId)).id);
  }

  /**
   * Sets the key's next policy: checked (the next version exactly, the request and the
   * approvals the CURRENT policy requires), recorded and delivered to every holder.
   */
  async setPolicy(p: PolicyParams): Promise<PolicySetOutput> {
    const { engine } = this.started();
    if (typeof p !== 'object' || p === null) throw badRequest('body', 'expected an object');
    const key = await this.activeKey(p.keyId, 'policy');
    const policy = this.governance.parsePolicy(p.policy);
    await this.governance.checkSuccessor(key.id, policy);
    const { request, approvers } = await this.admit('policy', key, p.request, policyRequestDigest({ keyId: key.id, policy }), { policy: p.policy });
    return this.locks.run(key.id, 'exclusive', async () => {
      await this.governance.checkSuccessor(key.id, policy);
      const delivery = await engine.setPolicy(await this.activeKey(key.id, 'policy'), { policy, request, approvers });
      if (delivery.pending.length > 0) this.options.logger.warn('key policy not yet acknowledged; re-sent on reconnect', { keyId: key.id, signers: delivery.pending });
      return { ...(await this.governance.view(key.id)), ...delivery };
    });
  }

  listPendingOperations(state?: PendingOperationState): Promise<PendingOperationJson[]> {
    this.started();
    return this.governance.list(state);
  }

  pendingOperation(id: string): Promise<PendingOperationJson | undefined> {
    this.started();
    return this.governance.get(id);
  }

  approve(id: string, approval: unknown): Promise<PendingOperationJson> {
    this.started();
    return this.governance.approve(id, approval, (op, request) => runOperation(this, op, request));
  }

  async getKey(keyId: string): Promise<KeyView> {
    return toKeyView(await this.record(keyId));
  }

  async listKeys(): Promise<KeyView[]> {
    return (await this.started().registry.listKeys()).map(toKeyView);
  }

  async listSigners(): Promise<SignerInfo[]> {
    const { registry, server } = this.started();
    const epochs = await registry.signerEpochs();
    return server.status().map((s) => ({ ...s, epochs: Object.fromEntries(epochs.filter((e) => e.signer === s.id).map((e) => [e.keyId, e.epoch])) }));
  }

  /** The audit log, optionally one key's rows. */
  audit(keyId?: string): Promise<AuditEntry[]> {
    return this.started().registry.audit(keyId);
  }

  /** One page of the audit log, each row checked against its contents and predecessor. */
  auditPage(q: { keyId?: string | undefined; after: number; limit: number }): Promise<AuditPage> {
    return this.started().registry.auditPage(q);
  }

  verifyAudit(): Promise<AuditVerification> { return this.started().registry.verifyAudit(); }

  verifyAuditChain(): Promise<AuditVerification> { return this.started().registry.verifyAuditChain(); }

  async attestations(keyId: string): Promise<Attestation[]> {
    return this.started().registry.attestations((await this.record(keyId)).id);
  }

  /** The signers banned from sessions of `keyId` (caught cheating), with why and since when. */
  async bans(keyId: string): Promise<Ban[]> {
    return this.started().registry.bans((await this.record(keyId)).id);
  }

  /**
   * Lifts the ban of `signer` for `keyId` (an operator's decision), audited as
   * 'signer.unbanned' with the ban it lifted and, when known, who lifted it (`by`, a
   * client key hex). NOT_FOUND if `signer` is not banned for the key. The signers keep
   * their own bans (`keyquorum-signer unban`).
   */
  async clearBan(keyId: string, signer: string, by?: string): Promise<void> {
    const key = await this.record(keyId);
    if (typeof signer !== 'string' || !NODE_ID_PATTERN.test(signer)) throw badRequest('signer', `expected ${NODE_ID_PATTERN}`);
    await this.started().registry.transaction(async (tx) => {
      const ban = await tx.unban(key.id, signer);
      if (ban === undefined) throw new CoordinatorError('NOT_FOUND', { field: 'signer', message: `${signer} is not banned for key ${key.id}` });
      await tx.append('signer.unbanned', key.id, { signer, reason: ban.reason, bannedAt: ban.at, ...(by === undefined ? {} : { by }) });
    });
  }

  /** Readiness (GET /readyz): readiness.ts. */
  readiness(): Promise<Readiness> {
    return readinessWithRole(this.status, this.parts);
  }

  /** Where a write goes instead (http.ts): the leader's URL, null while none leads, undefined here (SQLite, or leading). */
  writeTarget(): string | null | undefined {
    return this.parts?.leadership?.writeTarget();
  }

  /** The child public key and chain code at a non-hardened path (public data only). */
  async deriveKey(keyId: string, path: string): Promise<DerivedPublicKey> {
    const k = await this.record(keyId);
    if (k.publicKey === undefined) throw new CoordinatorError('WRONG_STATE', { field: 'keyId', message: `key ${k.id} is ${k.state}` });
    if (typeof path !== 'string') throw badRequest('path', "expected a path such as 'm/44/0/7'");
    try {
      const child = deriveChild(k.publicKey, path);
      return { publicKey: targetExternalKey(k.publicKey, { path }), chainCode: child.chainCode, path };
    } catch (e) {
      if (isCryptoError(e)) throw badRequest('path', e.message);
      throw e;
    }
  }
}
