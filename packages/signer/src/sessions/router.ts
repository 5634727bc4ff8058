/**
 * Routes the coordinator's session frames (already signature-checked) to the
 * executors of docs/cluster-protocol.md: START creates a session; COMMIT of key
 * sessions and of retirement, and APPROVE-phase retirement, run from the keystore;
 * other rounds go to the live session their id names. A frame that does not fit
 * (undecodable body, unknown session, round out of order) is answered with a control
 * ERROR and changes nothing; a check that fails inside a session aborts it with a
 * session ABORT naming the reason and any culprits. Sessions that make no progress
 * for `roundTimeoutMs` are dropped. A round that runs off the event loop (a session's
 * `handle` returns a promise) is judged when it settles, if its session is still live.
 * A START whose action needs approvals under the key's policy here first has them
 * verified off the synchronous path (WebAuthn is asynchronous; sessions/approvals.ts
 * says why that is race-free), then runs as any START, unless the coordinator aborted
 * it or the link dropped meanwhile. A sign START with `tx` takes the same path: its
 * chain module is loaded first (`loadChain`, approvals.ts).
 */
import {
  CHECKPOINT_ROUND,
  KEY_ROUND,
  POLICY_ROUND,
  PolicyDeniedError,
  RETIRE_ROUND,
  SIGN_ROUND,
  STATE_ROUND,
  WireError,
  decodeBody,
  type AbortBody,
  type CheckpointStartBody,
  type DeliverBody,
  type DkgStartBody,
  type Envelope,
  type RefreshStartBody,
  type PolicyAbortBody,
  type PolicyStartBody,
  type ResolveBody,
  type RepairStartBody,
  type ReshareStartBody,
  type RetireCommitBody,
  type RetireStartBody,
  type SignPoolBody,
  type SignPooledBody,
  type SignStartBody,
  type StateStartBody,
} from '@keyquorum/protocol';
import { CryptoError } from '@keyquorum/crypto';
import { SignerError, policyDenied } from '../errors.ts';
import type { SchemeDriver } from '../schemes/driver.ts';
import { findScheme } from '../schemes/index.ts';
import { verifyStartApprovals, type ApprovalGrant } from './approvals.ts';
import { refuseByState } from './authorise.ts';
import { AuditGate, OPERATION_KINDS } from './checkpoint.ts';
import { hex, sendBody, type SessionContext, type SessionKind } from './context.ts';
import { commitKeySession } from './key-commit.ts';
import { abortPending, answerResolve, evidenceOf } from './pending.ts';
import { applyPolicy } from './policy.ts';
import { commitRepair, startRepair } from './repair.ts';
import { approveRetire, commitRetire, voidRetire } from './retire.ts';
import type { CloseReason, Session } from './session.ts';
import { startDkg, startRefresh, startReshare, startSign } from './start.ts';
import { applyState } from './state.ts';

const KEY_ROUNDS = [KEY_ROUND.START, KEY_ROUND.CONTRIBUTIONS, KEY_ROUND.R1_DELIVER, KEY_ROUND.R2_DELIVER, KEY_ROUND.COMMIT, KEY_ROUND.RESOLVE, KEY_ROUND.ABORT];
const RETIRE_ROUNDS = [RETIRE_ROUND.START, RETIRE_ROUND.COMMIT, RETIRE_ROUND.ABORT];
const STATE_ROUNDS = [STATE_ROUND.START];
const POLICY_ROUNDS = [POLICY_ROUND.START];

type Inbound = Readonly<Record<string, readonly number[]>>;

/**
 * Rounds the coordinator may send, per kind, for a suite no driver serves: every kind,
 * signing with the protocol's default rounds (`SIGN_ROUND`), as `decodeBody` reads
 * such a suite; the body is then refused UNKNOWN_SUITE.
 */
const ANY_SUITE: Inbound = { dkg: KEY_ROUNDS, refresh: KEY_ROUNDS, reshare: KEY_ROUNDS, repair: KEY_ROUNDS, sign: [SIGN_ROUND.START, SIGN_ROUND.SIGN, SIGN_ROUND.ABORT], retire: RETIRE_ROUNDS, state: STATE_ROUNDS, policy: POLICY_ROUNDS, checkpoint: [CHECKPOINT_ROUND.START] };

/** Rounds the coordinator may send, per kind, for a scheme: its own sign rounds; reshare and repair only if it has them. */
const inboundOf = (scheme: SchemeDriver): Inbound => ({
  dkg: KEY_ROUNDS, refresh: KEY_ROUNDS, ...(scheme.reshare === undefined ? {} : { reshare: KEY_ROUNDS }), ...(scheme.repairSecret === undefined ? {} : { repair: KEY_ROUNDS }), sign: scheme.signRounds, retire: RETIRE_ROUNDS, state: STATE_ROUNDS, policy: POLICY_ROUNDS,
});

const ABORT_ROUND: Readonly<Record<string, number>> = { dkg: KEY_ROUND.ABORT, refresh: KEY_ROUND.ABORT, reshare: KEY_ROUND.ABORT, repair: KEY_ROUND.ABORT, sign: SIGN_ROUND.ABORT, retire: RETIRE_ROUND.ABORT, state: STATE_ROUND.ABORT, policy: POLICY_ROUND.ABORT };

/** The START body of a START or of a pooled sign (FROST POOLED, ecdsa POOLED: the only other sign rounds that start a session; each carries one). */
const startBody = (env: Envelope, body: unknown): unknown => (env.header.kind === 'sign' && env.header.round !== 0 ? (body as SignPooledBody).start : body);

const isKeyKind = (kind: string) => kind === 'dkg' || kind === 'refresh' || kind === 'reshare' || kind === 'repair';

export interface Failure {
  code: string;
  message: string;
  culprits: string[];
  /** The policy rule of a 'POLICY_DENIED'. */
  rule?: PolicyAbortBody['rule'];
}

/** What to tell the coordinator about an error; internal errors say nothing more. */
export function describeFailure(e: unknown): Failure {
  if (e instanceof PolicyDeniedError) return describeFailure(policyDenied(e));
  if (e instanceof SignerError && e.rule !== undefined) return { code: e.code, message: e.message, culprits: e.culprits, rule: e.rule };
  if (e instanceof SignerError) {
    // The keystore's "no such share" and "not in that state" are, to the coordinator, the key's state.
    const code = e.code === 'NOT_FOUND' || e.code === 'WRONG_STATE' ? 'WRONG_KEY_STATE' : e.code;
    return { code, message: e.message, culprits: e.culprits };
  }
  if (e instanceof WireError) return { code: e.code, message: e.message, culprits: e.culprits };
  if (e instanceof CryptoError) return { code: e.code, message: e.message, culprits: [] };
  return { code: 'INTERNAL', message: 'internal error', culprits: [] };
}

export interface RouterEvents {
  /** Answer a frame with a control ERROR. */
  sendError(sessionId: Uint8Array, code: string, message: string): void;
  /** Counts outcomes for /metrics. */
  count(event: 'started' | 'completed' | 'aborted' | 'errors'): void;
}

export class SessionRouter {
  readonly #ctx: SessionContext;
  readonly #events: RouterEvents;
  readonly #roundTimeoutMs: number;
  readonly #maxFrameBytes: number;
  readonly #byId = new Map<string, Session>();
  readonly #timers = new Map<Session, NodeJS.Timeout>();
  /** Audit checkpoints and "no audit, no operation" (checkpoint.ts). */
  readonly audit: AuditGate;
  /** STARTs whose approvals are being verified, by session id hex: true once aborted (or the link dropped) meanwhile. */
  readonly #verifying = new Map<string, boolean>();
  /** POOLED signs whose SHARE waits for its consume's commit (group commit), by session id hex. */
  readonly #answering = new Set<string>();

  constructor(ctx: SessionContext, opts: { roundTimeoutMs: number; maxFrameBytes: number; maxUncheckpointed: number }, events: RouterEvents) {
    this.#ctx = ctx;
    this.audit = new AuditGate(ctx, opts.maxUncheckpointed);
    this.#roundTimeoutMs = opts.roundTimeoutMs;
    this.#maxFrameBytes = opts.maxFrameBytes;
    this.#events = events;
  }

  /** Live sessions. */
  get size(): number {
    return this.#timers.size;
  }

  dispatch(env: Envelope): void {
    const { kind, round, suite, sessionId } = env.header;
    const scheme = findScheme(suite);
    const inbound = scheme === undefined ? ANY_SUITE : inboundOf(scheme);
    if (!inbound[kind]?.includes(round)) {
      this.#error(env, kind in inbound ? 'WRONG_ROUND' : 'UNKNOWN_KIND', `this signer does not accept ${kind} round ${round}${kind in ANY_SUITE && !(kind in inbound) ? ` for ${suite}` : ''}`);
      return;
    }
    let body: unknown;
    try {
      body = decodeBody(kind, round, suite, env.payload, { maxBytes: this.#maxFrameBytes });
    } catch (e) {
      const f = describeFailure(e);
      this.#error(env, f.code, f.message);
      return;
    }
    if (kind === 'checkpoint') return this.audit.checkpoint(env, body as CheckpointStartBody);
    // Nonce pool (nonce-pool.ts): POOL tops up this signer's commitments; POOLED is a sign START in one round.
    if (kind === 'sign' && scheme?.pool !== undefined && round === SIGN_ROUND.POOL) return this.#pool(env, body as SignPoolBody);
    // Presignature pool (ecdsa, schemes/ecdsa-pooled.ts): PRESIGN opens a presign session; its POOLED is a sign START in one round.
    const presign = kind === 'sign' ? scheme?.presign : undefined;
    if (presign !== undefined && round === presign.rounds.start) return this.#presign(env, body as SignPoolBody, presign);
    const pooled = kind === 'sign' && ((scheme?.pool !== undefined && round === SIGN_ROUND.POOLED) || (presign !== undefined && round === presign.rounds.pooled));
    if (round === 0 || pooled) return this.#start(env, body);
    if (round === ABORT_ROUND[kind]) return this.#aborted(env, body as AbortBody);
    if (isKeyKind(kind) && round === KEY_ROUND.RESOLVE) return this.#stateless(env, () => answerResolve(this.#ctx, env, body as ResolveBody));
    if (isKeyKind(kind) && round === KEY_ROUND.COMMIT) {
      return this.#stateless(env, () => {
        if (kind === 'repair') commitRepair(this.#ctx, env, body as DeliverBody);
        else commitKeySession(this.#ctx, env, body as DeliverBody);
        const live = this.#byId.get(hex(sessionId));
        if (live) this.#finish(live, 'done');
        this.#events.count('completed');
      });
    }
    if (kind === 'retire' && round === RETIRE_ROUND.COMMIT) {
      return this.#stateless(env, () => {
        commitRetire(this.#ctx, env, body as RetireCommitBody);
        this.#events.count('completed');
      });
    }
    const session = this.#byId.get(hex(sessionId));
    if (session === undefined || session.kind !== kind) return this.#error(env, 'UNKNOWN_SESSION', `no live ${kind} session with this id`);
    if (session.suite !== suite) return this.#error(env, 'WRONG_SUITE', `this session is ${session.suite}`);
    let step: boolean | Promise<boolean>;
    try {
      step = session.handle(env, body);
    } catch (e) {
      return this.#failed(session, env, e);
    }
    if (!(step instanceof Promise)) return this.#advanced(session, step);
    // The round runs off the event loop: computing is progress, so no round timeout runs
    // meanwhile (it restarts when the round settles); the outcome counts only if the
    // session is still live.
    clearTimeout(this.#timers.get(session));
    // The session may have taken its derived id before awaiting (CONTRIBUTIONS): route it
    // now, so an ABORT under that id finds the session while its round still runs.
    for (const id of session.ids()) this.#byId.set(id, session);
    step.then(
      (done) => this.#timers.has(session) && this.#advanced(session, done),
      (e: unknown) => this.#timers.has(session) && this.#failed(session, env, e),
    );
  }

  #pool(env: Envelope, body: SignPoolBody): void {
    try {
      if (this.#ctx.pool === undefined) throw new SignerError('WRONG_SUITE', { message: 'no nonce pool here' });
      this.#ctx.pool.request(env.header.suite, body);
    } catch (e) {
      const f = describeFailure(e);
      this.#error(env, f.code, f.message);
    }
  }

  /** PRESIGN: a presign session, with no client request (the request is checked when a POOLED uses its presignature). */
  #presign(env: Envelope, body: SignPoolBody, presign: NonNullable<SchemeDriver['presign']>): void {
    const { sessionId, suite } = env.header;
    if (this.#byId.has(hex(sessionId)) || this.#verifying.has(hex(sessionId))) return this.#error(env, 'WRONG_ROUND', 'a session with this id is already running');
    // No pool here (config noncePool 0): refused as a frame, as a FROST POOL is ignored; nothing starts.
    if (this.#ctx.presignatures === undefined) return this.#error(env, 'WRONG_STATUS', 'this signer keeps no presignatures (noncePool 0)');
    this.#stateless(env, () => {
      refuseByState(this.#ctx, body.keyId, 'sign');
      const session = presign.start(this.#ctx, sessionId, body, suite);
      this.#events.count('started');
      this.#register(session);
    });
  }

  #advanced(session: Session, done: boolean): void {
    if (!done) return this.#register(session);
    this.#finish(session, 'done');
    this.#events.count('completed');
  }

  #failed(session: Session, env: Envelope, e: unknown): void {
    if (e instanceof SignerError && e.code === 'WRONG_ROUND') return this.#error(env, e.code, e.message);
    this.#abort(session.kind, session.suite, session.currentId, e);
    this.#finish(session, 'failed');
  }

  /** Drops every live session (link lost or daemon stopping); pending shares stay in the keystore. */
  dropAll(reason: CloseReason): void {
    for (const id of this.#verifying.keys()) this.#verifying.set(id, true);
    for (const session of [...this.#timers.keys()]) this.#finish(session, reason);
  }

  #start(env: Envelope, body: unknown): void {
    const { kind, sessionId } = env.header;
    const id = hex(sessionId);
    if (this.#byId.has(id) || this.#verifying.has(id) || this.#answering.has(id)) return this.#error(env, 'WRONG_ROUND', 'a session with this id is already running');
    const refuse = (e: unknown) => this.#stateless(env, () => {
      throw e;
    });
    let approvals: Promise<ApprovalGrant | undefined> | undefined;
    try {
      approvals = verifyStartApprovals(this.#ctx, kind, startBody(env, body));
    } catch (e) {
      return refuse(e);
    }
    if (approvals === undefined) return this.#startNow(env, body, undefined);
    this.#verifying.set(id, false);
    const settled = (): boolean => {
      const dropped = this.#verifying.get(id);
      this.#verifying.delete(id);
      return dropped === false;
    };
    // Rejects only if a transaction's chain module cannot be loaded (approvals' failures are kept in the grant).
    void approvals.then(
      (grant) => {
        if (settled()) this.#startNow(env, body, grant);
      },
      (e: unknown) => {
        if (settled()) refuse(e);
      },
    );
  }

  /** The synchronous part of a START: every check, the durable admission, the session. */
  #startNow(env: Envelope, body: unknown, grant: ApprovalGrant | undefined): void {
    const { kind, sessionId } = env.header;
    if (this.#byId.has(hex(sessionId)) || this.#answering.has(hex(sessionId))) return this.#error(env, 'WRONG_ROUND', 'a session with this id is already running');
    this.#stateless(env, () => {
      const k = kind as SessionKind;
      const { keyId } = startBody(env, body) as { keyId: string };
      if (OPERATION_KINDS.includes(k)) this.audit.admit(k);
      // One key session per key at a time (a confirmed one lives on until its COMMIT or timeout).
      if (isKeyKind(k) && [...this.#timers.keys()].some((s) => s.keyId === keyId && isKeyKind(s.kind))) {
        throw new SignerError('WRONG_KEY_STATE', { field: 'keyId', message: `a key session for ${keyId} is in progress` });
      }
      let session: Session | Promise<void> | undefined;
      if (k === 'dkg') session = startDkg(this.#ctx, env, body as DkgStartBody);
      else if (k === 'refresh') session = startRefresh(this.#ctx, env, body as RefreshStartBody, grant);
      else if (k === 'reshare') session = startReshare(this.#ctx, env, body as ReshareStartBody, grant);
      else if (k === 'repair') session = startRepair(this.#ctx, env, body as RepairStartBody, grant);
      else if (k === 'sign') session = startSign(this.#ctx, env, body as SignStartBody | SignPooledBody, grant);
      else if (k === 'state') applyState(this.#ctx, env, body as StateStartBody, grant);
      else if (k === 'policy') applyPolicy(this.#ctx, env, body as PolicyStartBody, grant);
      else approveRetire(this.#ctx, env, body as RetireStartBody, grant);
      this.#events.count('started');
      if (session instanceof Promise) {
        // A POOLED sign, answered in its one round once its nonce's consume is committed (group commit).
        const id = hex(sessionId);
        this.#answering.add(id);
        session.then(
          () => this.#events.count('completed'),
          (e: unknown) => this.#abort(kind, env.header.suite, sessionId, e),
        ).finally(() => this.#answering.delete(id));
      } else if (session) {
        this.#register(session);
        this.#ctx.log.info('session started', { kind, keyId: session.keyId, sessionId: hex(sessionId) });
      }
    });
  }

  /** Runs a step that keeps no live state; a failure is answered with a session ABORT. */
  #stateless(env: Envelope, step: () => void): void {
    try {
      step();
    } catch (e) {
      this.#abort(env.header.kind, env.header.suite, env.header.sessionId, e);
    }
  }

  #aborted(env: Envelope, body: AbortBody): void {
    const { kind, sessionId } = env.header;
    const session = this.#byId.get(hex(sessionId));
    if (this.#verifying.has(hex(sessionId))) this.#verifying.set(hex(sessionId), true);
    this.#ctx.log.info('session aborted by coordinator', { kind, sessionId: hex(sessionId), reason: body.reason });
    if (session !== undefined && session.kind === kind) this.#finish(session, 'aborted');
    // A pending share the session left goes only with a participant's VETO (pending.ts).
    if (isKeyKind(kind)) this.#stateless(env, () => void abortPending(this.#ctx, env, body));
    if (kind === 'retire') this.#stateless(env, () => voidRetire(this.#ctx, sessionId));
  }

  #register(session: Session): void {
    for (const id of session.ids()) this.#byId.set(id, session);
    clearTimeout(this.#timers.get(session));
    const timer = setTimeout(() => this.#timeout(session), this.#roundTimeoutMs);
    timer.unref();
    this.#timers.set(session, timer);
  }

  #timeout(session: Session): void {
    if (!session.confirmed) this.#abort(session.kind, session.suite, session.currentId, new SignerError('TIMEOUT', { message: `no progress in ${this.#roundTimeoutMs} ms` }));
    this.#finish(session, 'timeout');
  }

  #finish(session: Session, reason: CloseReason): void {
    clearTimeout(this.#timers.get(session));
    this.#timers.delete(session);
    for (const id of session.ids()) if (this.#byId.get(id) === session) this.#byId.delete(id);
    try {
      session.close(reason);
    } catch (e) {
      this.#ctx.log.error('session cleanup failed', { kind: session.kind, keyId: session.keyId, sessionId: hex(session.currentId), error: describeFailure(e).code });
    }
  }

  #abort(kind: string, suite: string, sessionId: Uint8Array, e: unknown): void {
    const f = describeFailure(e);
    const level = f.code === 'INTERNAL' ? 'error' : 'warn';
    this.#ctx.log[level]('session aborted', {
      kind, sessionId: hex(sessionId), code: f.code, reason: f.message, culprits: f.culprits,
      ...(f.code === 'INTERNAL' ? { detail: e instanceof Error ? e.message : String(e) } : {}),
    });
    this.#events.count('aborted');
    const reason = (f.message.startsWith(f.code) ? f.message : `${f.code}: ${f.message}`).slice(0, 1024);
    if (kind === 'policy') {
      const policyAbort: PolicyAbortBody = f.rule === undefined ? { reason } : { reason, rule: f.rule };
      return void sendBody(this.#ctx, { kind, suite, sessionId, round: POLICY_ROUND.ABORT }, policyAbort);
    }
    const body: AbortBody = { reason };
    if (f.culprits.length > 0) body.culprits = f.culprits;
    Object.assign(body, evidenceOf(e));
    sendBody(this.#ctx, { kind, suite, sessionId, round: ABORT_ROUND[kind]! }, body);
  }

  #error(env: Envelope, code: string, message: string): void {
    this.#ctx.log.warn('frame refused', { kind: env.header.kind, round: env.header.round, sessionId: hex(env.header.sessionId), code, reason: message });
    this.#events.count('errors');
    this.#events.sendError(env.header.sessionId, code, message);
  }
}
