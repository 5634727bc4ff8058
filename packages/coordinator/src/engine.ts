/**
 * The session engine: the signers' frames in, the session drivers out
 * (docs/cluster-protocol.md). It dispatches each authenticated signer frame: an ACK
 * or ATTEST answers a queued COMMIT, an ABORT fails its session, anything else goes
 * to its session's inbox once its signature (under the allow-listed key), session,
 * kind and suite are checked. The flows themselves live in sessions/: the runtime
 * (runtime.ts), the key sessions (key-session.ts with the DKG, refresh and reshare
 * configurations in key-configs.ts), signing (signing.ts, one attempt driver per
 * scheme registered in schemes.ts), retirement (retirement.ts), key state
 * transitions with their scheduled destructions (state.ts), key policies (policy.ts),
 * the signers' cosignatures of the audit log (checkpoints.ts, on its own timer) and the
 * refreshes key policies schedule (../refresh-schedule.ts).
 *
 * The coordinator never runs a crypto round on a secret: it relays peer envelopes
 * verbatim, verifies signature shares and the final signature with the public
 * functions of @keyquorum/crypto, and records commit points, bans and audit rows in
 * the registry. The inputs reaching this module are already validated and
 * authorised (coordinator.ts).
 */
import { bytesToHex } from '@noble/hashes/utils.js';
import type { PublicKeyPackage } from '@keyquorum/crypto';
import { KEY_ROUND, RETIRE_ROUND, SIGN_ROUND, WireError, decodeBody, openEnvelope, type AbortBody, type ClientRequest, type Envelope, type IdentityKey } from '@keyquorum/protocol';
import type { ResolvedOptions } from './config.ts';
import { sessionFault } from './errors.ts';
import type { KeyLocks } from './key-locks.ts';
import type { CoordinatorMetrics } from './metrics.ts';
import { RefreshSchedule } from './refresh-schedule.ts';
import type { Attestation, RegistryKey, CoordinatorStore } from './store/types.ts';
import type { SignerLink } from './server.ts';
import { dkg, refresh, reshare } from './sessions/key-configs.ts';
import { KEY_SESSION_KINDS, recordAck } from './sessions/key-session.ts';
import { repair } from './sessions/repair.ts';
import type { DkgRequest, RepairRequest, ReshareRequest, SignRequest, SignResult } from './sessions/requests.ts';
import { recordAttestation, recordRefusedAttestation, retire } from './sessions/retirement.ts';
import { Checkpointer } from './sessions/checkpoints.ts';
import { ABORT_ROUND, SessionRuntime, toCoordinator } from './sessions/runtime.ts';
import { Resolver } from './sessions/resolve.ts';
import type { SchemeDriver } from './sessions/scheme-driver.ts';
import { schemeOf } from './sessions/schemes.ts';
import { sign } from './sessions/signing.ts';
import { changeState, destroyDue, recordStateAnswer, type StateChange } from './sessions/state.ts';
import { recordPolicyAnswer, setPolicy, type PolicyChange, type PolicyDelivery } from './sessions/policy.ts';

export type { DkgRequest, RepairRequest, ReshareRequest, SignRequest, SignResult } from './sessions/requests.ts';

export class SessionEngine {
  private readonly opts: ResolvedOptions;
  private readonly runtime: SessionRuntime;
  /** Unresolved key sessions (issue 10, finding 3). */
  readonly resolver: Resolver;
  /** The signers' cosignatures of the audit log (sessions/checkpoints.ts). */
  readonly checkpoints: Checkpointer;

  /** Refreshes the key policies schedule (refresh-schedule.ts), checked every `refreshCheckMs`. */
  readonly refreshes: RefreshSchedule;

  constructor(opts: ResolvedOptions, identity: IdentityKey, registry: CoordinatorStore, link: SignerLink, metrics: CoordinatorMetrics, locks: KeyLocks) {
    this.opts = opts;
    this.runtime = new SessionRuntime(opts, identity, registry, link, metrics);
    this.resolver = new Resolver(this.runtime);
    this.runtime.onUnresolved = (s) => this.resolver.note(s);
    this.checkpoints = new Checkpointer(opts, identity, registry, link, metrics);
    this.refreshes = new RefreshSchedule({
      registry, locks, now: opts.now, log: this.runtime.log,
      refresh: (key, publicKey) => metrics.session('refresh', () => refresh(this.runtime, key, publicKey, 'scheduled')),
    });
  }

  /** Takes up what the registry left (before the server starts): pending keys of an interrupted DKG, due destructions; starts the timers. */
  async start(): Promise<void> {
    // Keys a DKG left pending when the coordinator died in it (resolve.ts).
    await this.resolver.adoptPendingKeys();
    for (const u of await this.runtime.registry.scheduledDestructions()) this.#armDestroy(u.keyId, u.schedule?.destroyAt ?? 0);
    this.checkpoints.start();
    this.#armRefreshCheck();
  }

  #armRefreshCheck(): void {
    this.#later(this.opts.refreshCheckMs, async () => {
      this.#armRefreshCheck();
      await this.refreshes.check();
    });
  }

  /** Destruction deadlines, re-sends waiting (state.ts) and the next refresh check; cleared by `stop`. */
  readonly #timers = new Set<NodeJS.Timeout>();

  #later(delayMs: number, run: () => void | Promise<void>): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      const failed = (e: unknown) => this.runtime.log.error('scheduled key state work failed', { error: e instanceof Error ? e.message : String(e) });
      try {
        Promise.resolve(run()).catch(failed);
      } catch (e) {
        failed(e);
      }
    }, Math.max(0, delayMs));
    timer.unref();
    this.#timers.add(timer);
  }

  /** Runs the destruction of `keyId` once the coordinator's clock passes `destroyAt`. */
  #armDestroy(keyId: string, destroyAt: number): void {
    this.#later(destroyAt - this.opts.now(), async () => {
      const schedule = (await this.runtime.registry.keyUsage(keyId))?.schedule;
      if (!(await destroyDue(this.runtime, keyId)) && schedule !== undefined) this.#armDestroy(keyId, schedule.destroyAt);
    });
  }

  /** Stops the timers of scheduled destructions, re-sends, refresh checks and checkpoints. */
  stop(): void {
    this.checkpoints.stop();
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }

  /** Key ids whose DKG runs in this process now. */
  readonly #creating = new Set<string>();

  /** Whether a DKG of `keyId` runs in this process (a pending key without one is being resolved). */
  creating(keyId: string): boolean {
    return this.#creating.has(keyId);
  }

  // ---- connection events (from server.ts) ----

  /** Re-sends every COMMIT the signer has not acknowledged, oldest first. */
  async onSignerAuthenticated(signer: string): Promise<void> {
    await this.runtime.resendCommits(signer);
    // Nonce pool: a new connection starts with an empty pool; ask for one per active key it holds.
    this.runtime.pool.dropSigner(signer);
    this.runtime.presignatures.dropSigner(signer);
    for (const key of await this.runtime.registry.listKeys()) {
      if (key.state === 'active' && schemeOf(key.suite).noncePool === true && key.participants.some((p) => p.signer === signer)) this.runtime.askPool([signer], key.suite, key.id, key.epoch);
    }
    this.resolver.onSignerAuthenticated(signer);
    this.checkpoints.connected(signer);
  }

  onSignerLost(signer: string): void {
    this.runtime.signerLost(signer);
    this.checkpoints.lost(signer);
  }

  /** An authenticated signer's frame. Throws (the server answers with control/ERROR) if it fits no session. */
  async onFrame(signer: string, envelope: Envelope): Promise<void> {
    const h = envelope.header;
    const pinned = this.opts.signers.get(signer)!;
    if (h.kind === 'checkpoint') return this.checkpoints.onFrame(signer, envelope);
    if ((KEY_SESSION_KINDS.includes(h.kind) && h.round === KEY_ROUND.ACK) || (h.kind === 'retire' && h.round === RETIRE_ROUND.ATTEST)) {
      const pending = await this.runtime.answeredCommit(signer, envelope, pinned);
      if (h.kind === 'retire') await recordAttestation(this.runtime, signer, envelope, pending);
      else await recordAck(this.runtime, signer, envelope, pending);
      this.runtime.acknowledged(pending, signer);
      return;
    }
    if (h.kind === 'state') {
      const pending = await this.runtime.answeredCommit(signer, envelope, pinned);
      await recordStateAnswer(this.runtime, signer, envelope, pending, (delayMs) =>
        this.#later(delayMs, async () => {
          if ((await this.runtime.registry.findPendingCommit(signer, pending.sessionId)) !== undefined) this.runtime.link.sendFrame(signer, pending.frame);
        }),
      );
      this.runtime.acknowledged(pending, signer);
      return;
    }
    if (h.kind === 'policy') {
      const pending = await this.runtime.answeredCommit(signer, envelope, pinned);
      await recordPolicyAnswer(this.runtime, signer, envelope, pending);
      this.runtime.acknowledged(pending, signer);
      return;
    }
    if (h.kind === 'retire' && h.round === RETIRE_ROUND.ABORT && this.runtime.inbox(h.sessionId) === undefined) {
      const pending = await this.runtime.answeredCommit(signer, envelope, pinned);
      await recordRefusedAttestation(this.runtime, signer, envelope, pending);
      this.runtime.acknowledged(pending, signer);
      return;
    }
    if (KEY_SESSION_KINDS.includes(h.kind)) {
      if (this.resolver.offer(signer, envelope)) return;
      // PENDING_UNRESOLVED: the ABORT carries the signer's CONFIRM of a session left unresolved (even if its session ended meanwhile).
      if (h.round === ABORT_ROUND) await this.resolver.noteAbort(signer, envelope);
    }
    // A pooled commitment (nonce pool): kept in memory, under its own nonce id.
    if (h.kind === 'sign' && h.round === SIGN_ROUND.OFFER && (schemeOf(h.suite as RegistryKey['suite']) as SchemeDriver | undefined)?.noncePool === true) return this.runtime.pool.offer(this.runtime.registry, signer, pinned, envelope);
    const inbox = this.runtime.inbox(h.sessionId);
    if (inbox === undefined || !inbox.participants.has(signer)) throw new WireError('WRONG_SESSION', { field: 'header.sessionId' });
    if (h.kind !== inbox.kind) throw new WireError('WRONG_KIND', { field: 'header.kind' });
    if (h.suite !== inbox.suite) throw new WireError('UNKNOWN_SUITE', { field: 'header.suite' });
    openEnvelope(envelope, pinned, { expect: { sessionId: h.sessionId } });
    if (h.round === ABORT_ROUND) {
      toCoordinator(envelope);
      const body = decodeBody<AbortBody>(h.kind, h.round, h.suite, envelope.payload);
      this.runtime.log.warn('signer aborted', { signer, kind: h.kind, session: bytesToHex(h.sessionId), reason: body.reason, culprits: body.culprits });
      // Retirement needs only a quorum of approvals: a refusing signer counts as absent.
      if (inbox.kind === 'retire') inbox.signerLost(signer);
      else inbox.fail(sessionFault('abort', [signer], body.culprits ?? [], `${signer} aborted: ${body.reason}`));
      return;
    }
    if (!inbox.offer(envelope)) throw new WireError('WRONG_KIND', { field: 'header.round', message: `WRONG_KIND: no ${h.kind} round ${h.round} expected from ${signer} now` });
  }

  // ---- the flows (sessions/) ----

  /** Generates a key by DKG among `participants`; the key is active at epoch 0 on success. */
  async dkg(p: DkgRequest): Promise<PublicKeyPackage> {
    this.#creating.add(p.keyId);
    try {
      return await dkg(this.runtime, p);
    } finally {
      this.#creating.delete(p.keyId);
    }
  }

  /** Refreshes every share of an active key: epoch e -> e + 1, same public key. */
  refresh(key: RegistryKey, publicKey: PublicKeyPackage, request: ClientRequest): Promise<PublicKeyPackage> {
    return refresh(this.runtime, key, publicKey, request);
  }

  /** Moves an active key to a new signer set and threshold; same group key, epoch e + 1. */
  reshare(r: ReshareRequest): Promise<PublicKeyPackage> {
    return reshare(this.runtime, r);
  }

  /** Rebuilds one participant's lost share from t helpers; epoch and public key unchanged. */
  repair(r: RepairRequest): Promise<PublicKeyPackage> {
    return repair(this.runtime, r);
  }

  /** FROST commitments pooled now (sessions/nonce-pool.ts), for /metrics. */
  pooledCommitments(): number {
    return this.runtime.pool.total();
  }

  /** ecdsa-secp256k1 presignatures pooled now (sessions/presign-pool.ts), for /metrics. */
  pooledPresignatures(): number {
    return this.runtime.presignatures.total();
  }

  /** Signs with a quorum of t connected participants, retrying with other quorums. */
  sign(r: SignRequest): Promise<SignResult> {
    return sign(this.runtime, r);
  }

  /** Records a key state transition and delivers it to every holder (state.ts); returns who did not answer within a round. */
  async changeState(key: RegistryKey, change: StateChange): Promise<string[]> {
    const missing = await changeState(this.runtime, key, change);
    const schedule = (await this.runtime.registry.keyUsage(key.id))?.schedule;
    if (change.transition === 'schedule-destroy' && schedule !== undefined) this.#armDestroy(key.id, schedule.destroyAt);
    return missing;
  }

  /** Records the key's next policy and delivers it to every holder (sessions/policy.ts). */
  setPolicy(key: RegistryKey, change: PolicyChange): Promise<PolicyDelivery> {
    return setPolicy(this.runtime, key, change);
  }

  /** Retires a key once a quorum approves; returns the attestations received so far. */
  retire(key: RegistryKey, request: ClientRequest): Promise<Attestation[]> {
    return retire(this.runtime, key, request);
  }
}
