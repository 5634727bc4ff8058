/**
 * The session runtime, written once for every coordinator session driver
 * (docs/cluster-protocol.md). It opens a session (a random proposal id routed to a
 * fresh Inbox) and routes the derived id to it, seals and sends the coordinator's
 * messages, relays peer envelopes verbatim (through the optional relay hook),
 * ABORTs, negotiates the contributed session id (START -> CONTRIBUTION ->
 * `deriveSessionId` -> CONTRIBUTIONS), and runs the commit point: the registry
 * transaction that queues every COMMIT before the first is sent, then the wait for
 * the ACKs / ATTESTs. It knows no flow and no scheme: the drivers beside it do.
 *
 * Durable: only what the commit point writes (the driver's registry rows and the
 * queued COMMIT frames, re-sent on reconnect until acknowledged).
 *
 * Metrics: every round that completes is observed in the round latency histogram
 * (metrics.ts) under its session kind and round name.
 */
import { bytesToHex, randomBytes } from '@noble/hashes/utils.js';
import { equalBytes } from '@noble/curves/utils.js';
import {
  COORDINATOR_ID,
  KEY_ROUND,
  PROTOCOL_VERSION,
  SIGN_ROUND,
  WireError,
  decodeBody,
  deriveSessionId,
  encodeBody,
  encodeEnvelope,
  keyStateOf,
  openEnvelope,
  sealEnvelope,
  toWirePublicKey,
  type AbortBody,
  type ClientRequest,
  type ContributionBody,
  type Envelope,
  type IdentityKey,
  type KeySuiteId,
  type ParticipantRef,
  type SessionKeyState,
} from '@keyquorum/protocol';
import type { Logger } from '@keyquorum/protocol/logger';
import type { ResolvedOptions } from '../config.ts';
import { CoordinatorError, deniedRuleOf, isSessionFault } from '../errors.ts';
import type { CoordinatorMetrics } from '../metrics.ts';
import type { PendingCommit, CoordinatorStore } from '../store/types.ts';
import type { SignerLink } from '../server.ts';
import { Inbox, type RoundTable, type WaitOptions } from './inbox.ts';
import { CommitmentPool } from './nonce-pool.ts';
import { PresignaturePool } from './presign-pool.ts';

/** Every session kind's ABORT round (KEY_ROUND, SIGN_ROUND, ECDSA_SIGN_ROUND and RETIRE_ROUND agree). */
export const ABORT_ROUND = KEY_ROUND.ABORT;

/** The rounds of the contributed-session-id negotiation (KEY_ROUND and ECDSA_SIGN_ROUND agree). */
interface ContributionRounds {
  START: number;
  CONTRIBUTION: number;
  CONTRIBUTIONS: number;
}

export interface Negotiation {
  keyId: string;
  request: Pick<ClientRequest, 'digest'>;
  /** The START body. */
  start: unknown;
  rounds: ContributionRounds;
  timeoutMs: number;
  /** Declares round 1 under the derived id, before CONTRIBUTIONS go out. */
  declareRound1: (sessionId: Uint8Array) => void | Promise<void>;
}

/** The commit point of a key session or a retirement. */
export interface CommitPoint {
  keyId: string;
  epoch: number;
  /** Who gets a COMMIT (queued for all, sent to those online). */
  recipients: readonly string[];
  round: number;
  /** The signed envelopes each COMMIT carries (CONFIRMs, APPROVEs). */
  envelopes: readonly Envelope[];
  /** Fields the COMMIT body carries besides `envelopes` (a retirement's client request). */
  fields?: Readonly<Record<string, unknown>>;
  /** The driver's registry writes, in the transaction that queues the COMMITs. */
  record: (tx: CoordinatorStore) => Promise<void>;
}

/** A key session that failed once its id was derived: a participant may hold its share pending (resolve.ts). */
export interface UnresolvedSession {
  kind: 'dkg' | 'refresh' | 'reshare';
  suite: KeySuiteId;
  keyId: string;
  /** The epoch its shares are stored at. */
  epoch: number;
  sessionId: Uint8Array;
  /** Who may hold a share of it (the session's receiving members). */
  participants: string[];
  /** A reshare's new members (signer -> index): RESOLVE names them, and a commit by resolution records them. */
  members?: ParticipantRef[];
}

interface AckWaiter {
  pending: Set<string>;
  wake: () => void;
}

export function toCoordinator(e: Envelope): void {
  if (e.header.to !== COORDINATOR_ID) throw new WireError('WRONG_RECIPIENT', { field: 'header.to' });
}

export function sameSession(e: Envelope, sessionId: Uint8Array): void {
  if (!equalBytes(e.header.sessionId, sessionId)) throw new WireError('WRONG_SESSION', { field: 'header.sessionId' });
}

/**
 * The key's current policy (registry) as a reshare or repair START carries it to the new
 * holders; nothing for the default (docs/governance.md "Handover"). The old holders refuse
 * any other than their own.
 */
export async function handoverPolicy(rt: SessionRuntime, keyId: string): Promise<{ policy?: string }> {
  const current = await rt.registry.policy(keyId);
  return current === undefined ? {} : { policy: current.text };
}

/** The session fault (or anything else) as the coordinator's typed error. */
export function sessionError(e: unknown, what: string): CoordinatorError {
  if (isSessionFault(e)) {
    // A signer's policy refused (its ABORT reason starts 'POLICY_DENIED (<rule>):').
    const rule = e.fault.reason === 'abort' ? deniedRuleOf(e.message) : undefined;
    if (rule !== undefined) return new CoordinatorError('POLICY_DENIED', { rule, culprits: [], message: `(${rule}) ${what}: ${e.message}`, cause: e });
    return new CoordinatorError(e.fault.reason === 'timeout' ? 'TIMEOUT' : 'SESSION_FAILED', { culprits: e.culprits, message: `${what}: ${e.message}`, cause: e });
  }
  if (e instanceof CoordinatorError) return e;
  return new CoordinatorError('SESSION_FAILED', { message: `${what}: ${(e as Error).message}`, cause: e });
}

export class SessionRuntime {
  readonly opts: ResolvedOptions;
  readonly registry: CoordinatorStore;
  readonly link: SignerLink;
  readonly log: Logger;
  private readonly identity: IdentityKey;
  private readonly metrics: CoordinatorMetrics;
  /** Hex session id (proposal and derived) -> the running session's inbox. */
  private readonly sessions = new Map<string, Inbox>();
  /** Told of every key session left unresolved (the engine's resolve.ts Resolver). */
  onUnresolved: (session: UnresolvedSession) => void = () => undefined;
  /** The signers' pooled FROST commitments (nonce-pool.ts), in memory only. */
  readonly pool = new CommitmentPool();
  /** The quorums' ecdsa presignatures (presign-pool.ts), in memory only. */
  readonly presignatures = new PresignaturePool();
  /** Hex session id -> who still owes an ACK / ATTEST of its COMMIT. */
  private readonly ackWaiters = new Map<string, AckWaiter>();

  constructor(opts: ResolvedOptions, identity: IdentityKey, registry: CoordinatorStore, link: SignerLink, metrics: CoordinatorMetrics) {
    this.opts = opts;
    this.identity = identity;
    this.registry = registry;
    this.link = link;
    this.metrics = metrics;
    this.log = opts.logger;
  }

  /** The running session `sessionId` routes to. */
  inbox(sessionId: Uint8Array): Inbox | undefined {
    return this.sessions.get(bytesToHex(sessionId));
  }

  signerLost(signer: string): void {
    this.pool.dropSigner(signer);
    this.presignatures.dropSigner(signer);
    for (const inbox of new Set(this.sessions.values())) inbox.signerLost(signer);
  }

  open(kind: string, suite: string, rounds: RoundTable, participants: readonly string[]): { inbox: Inbox; proposal: Uint8Array } {
    const proposal = randomBytes(32);
    const inbox = new Inbox(kind, suite, rounds, participants, proposal);
    this.sessions.set(bytesToHex(proposal), inbox);
    return { inbox, proposal };
  }

  /** Routes a derived session id to `inbox`. */
  route(inbox: Inbox, sessionId: Uint8Array): void {
    const hex = bytesToHex(sessionId);
    inbox.ids.add(hex);
    this.sessions.set(hex, inbox);
  }

  close(inbox: Inbox): void {
    for (const id of inbox.ids) this.sessions.delete(id);
  }

  /** Waits for the round `inbox` expects and, once it completes, records its latency. */
  async collect(inbox: Inbox, wait: WaitOptions): Promise<Map<string, Envelope[]>> {
    const done = this.metrics.round(inbox.kind, inbox.roundName);
    const got = await inbox.wait(wait);
    done();
    return got;
  }

  /** Seals a message of `inbox`'s session and sends it; a signer that is not connected is marked lost. */
  send(inbox: Inbox, to: string, sessionId: Uint8Array, round: number, body: unknown): void {
    const sent = this.link.sendFrame(to, encodeEnvelope(this.seal(inbox, sessionId, round, to, body)));
    if (!sent) inbox.signerLost(to);
  }

  /** Sends each of `to` its peer envelopes (`envelopes(id)`), relayed, as `{ ...fields, envelopes }`. */
  deliver(inbox: Inbox, to: readonly string[], sessionId: Uint8Array, round: number, envelopes: (to: string) => readonly Envelope[], fields: Readonly<Record<string, unknown>> = {}): void {
    for (const id of to) this.send(inbox, id, sessionId, round, { ...fields, envelopes: this.relay(inbox, envelopes(id), id, round) });
  }

  /**
   * Asks each of `signers` to top up its pooled commitments of the key at `epoch` (POOL,
   * sessionId fresh; the OFFERs come back under their own nonce ids).
   */
  askPool(signers: readonly string[], suite: string, keyId: string, epoch: number): void {
    for (const to of signers) {
      const header = { v: PROTOCOL_VERSION, kind: 'sign', suite, sessionId: randomBytes(32), round: SIGN_ROUND.POOL, from: COORDINATOR_ID, to } as const;
      this.link.sendFrame(to, encodeEnvelope(sealEnvelope(this.identity, header, encodeBody({ keyId, epoch }))));
    }
  }

  /** ABORTs `to`, giving `cause`'s message as the reason. */
  abort(inbox: Inbox, to: readonly string[], sessionId: Uint8Array, cause: unknown, culprits: readonly string[] = []): void {
    const reason = (cause as Error).message.slice(0, 512);
    const body: AbortBody = culprits.length > 0 ? { reason, culprits: [...culprits] } : { reason };
    for (const id of to) this.send(inbox, id, sessionId, ABORT_ROUND, body);
  }

  /**
   * The contributed session id: START under the proposal id to every participant, one
   * CONTRIBUTION back from each, then `deriveSessionId` over all of them and the key's
   * state in the registry (`keyState`), so the coordinator alone can neither choose nor
   * replay a session id. Routes the derived
   * id, lets the driver declare round 1, then relays every CONTRIBUTION to everyone
   * (CONTRIBUTIONS, under the proposal id).
   */
  async contributedSessionId(inbox: Inbox, proposal: Uint8Array, n: Negotiation): Promise<Uint8Array> {
    const ids = [...inbox.participants];
    inbox.expect(n.rounds.CONTRIBUTION, ids, (e) => {
      toCoordinator(e);
      sameSession(e, proposal);
      decodeBody<ContributionBody>(inbox.kind, n.rounds.CONTRIBUTION, inbox.suite, e.payload);
    });
    for (const id of ids) this.send(inbox, id, proposal, n.rounds.START, n.start);
    const got = await this.collect(inbox, { timeoutMs: n.timeoutMs });
    const contributions: Record<string, Uint8Array> = {};
    for (const [id, [e]] of got) contributions[id] = decodeBody<ContributionBody>(inbox.kind, n.rounds.CONTRIBUTION, inbox.suite, e!.payload).contribution;
    const sessionId = deriveSessionId({ kind: inbox.kind, suite: inbox.suite, keyId: n.keyId, participants: ids, contributions, requestDigest: n.request.digest, keyState: await this.keyState(inbox.kind, n.keyId) });
    this.route(inbox, sessionId);
    await n.declareRound1(sessionId);
    const all = ids.map((id) => got.get(id)![0]!);
    this.deliver(inbox, ids, proposal, n.rounds.CONTRIBUTIONS, () => all);
    return sessionId;
  }

  /**
   * The key a session of `kind` starts from, as the registry holds it: its epoch and
   * public package (none for a dkg). Each signer binds its own view, so a signer whose
   * records differ derives another session id.
   */
  private async keyState(kind: string, keyId: string): Promise<SessionKeyState | null> {
    if (kind === 'dkg') return null;
    const key = await this.registry.getKey(keyId);
    if (key?.publicKey === undefined) throw new CoordinatorError('WRONG_STATE', { message: `${keyId} has no public key package` });
    return keyStateOf(key.epoch, toWirePublicKey(key.publicKey));
  }

  /**
   * The commit point: a COMMIT carrying `c.envelopes` is sealed for every recipient
   * and, in one registry transaction, `c.record` runs and every COMMIT is queued,
   * before the first is sent. Returns the frames for `awaitCommitted`.
   */
  async commit(inbox: Inbox, sessionId: Uint8Array, c: CommitPoint): Promise<Map<string, Uint8Array>> {
    const frames = new Map(c.recipients.map((id) => [id, encodeEnvelope(this.seal(inbox, sessionId, c.round, id, { ...c.fields, envelopes: this.relay(inbox, c.envelopes, id, c.round) }))]));
    await this.registry.transaction(async (tx) => {
      await c.record(tx);
      for (const [id, frame] of frames) await tx.addPendingCommit({ signer: id, keyId: c.keyId, kind: inbox.kind, epoch: c.epoch, sessionId: bytesToHex(sessionId), frame });
    });
    return frames;
  }

  /**
   * A commit point without a session inbox (key state transitions): `body` is sealed for
   * every recipient as round `round`, and in one registry transaction `record` runs and
   * every frame is queued (re-sent on reconnect until answered). Returns the frames.
   */
  async queue(kind: string, suite: string, sessionId: Uint8Array, c: { keyId: string; epoch: number; recipients: readonly string[]; round: number; body: unknown; record: (tx: CoordinatorStore) => Promise<void> }): Promise<Map<string, Uint8Array>> {
    const seal = (to: string) => sealEnvelope(this.identity, { v: PROTOCOL_VERSION, kind, suite, sessionId, round: c.round, from: COORDINATOR_ID, to }, encodeBody(c.body));
    const frames = new Map(c.recipients.map((id) => [id, encodeEnvelope(seal(id))]));
    await this.registry.transaction(async (tx) => {
      await c.record(tx);
      for (const [id, frame] of frames) await tx.addPendingCommit({ signer: id, keyId: c.keyId, kind, epoch: c.epoch, sessionId: bytesToHex(sessionId), frame });
    });
    return frames;
  }

  /** Sends the queued COMMITs to `online` and waits (one round timeout at most) for their ACK / ATTEST; returns who did not answer. */
  async awaitCommitted(sessionId: Uint8Array, frames: ReadonlyMap<string, Uint8Array>, online: readonly string[]): Promise<string[]> {
    const hex = bytesToHex(sessionId);
    const waiter: AckWaiter = { pending: new Set(online), wake: () => undefined };
    this.ackWaiters.set(hex, waiter);
    for (const id of online) this.link.sendFrame(id, frames.get(id)!);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.opts.roundTimeoutMs);
      waiter.wake = () => {
        if (waiter.pending.size > 0) return;
        clearTimeout(timer);
        resolve();
      };
      waiter.wake();
    });
    this.ackWaiters.delete(hex);
    return [...waiter.pending];
  }

  /** Re-sends every COMMIT `signer` has not acknowledged, oldest first. */
  async resendCommits(signer: string): Promise<void> {
    for (const c of await this.registry.pendingCommits(signer)) {
      this.link.sendFrame(signer, c.frame);
      this.log.info('re-sent commit', { signer, keyId: c.keyId, kind: c.kind, epoch: c.epoch, session: c.sessionId });
    }
  }

  /** The queued COMMIT an ACK / ATTEST answers, once its envelope is checked (pinned signature, session, to the coordinator). */
  async answeredCommit(signer: string, envelope: Envelope, pinned: Uint8Array): Promise<PendingCommit> {
    const h = envelope.header;
    const pending = await this.registry.findPendingCommit(signer, bytesToHex(h.sessionId));
    if (pending === undefined || pending.kind !== h.kind) throw new WireError('WRONG_SESSION', { field: 'header.sessionId', message: 'WRONG_SESSION: no commit awaits this acknowledgement' });
    openEnvelope(envelope, pinned, { expect: { sessionId: h.sessionId, to: COORDINATOR_ID } });
    toCoordinator(envelope);
    return pending;
  }

  /** Records that `signer` answered `commit` (after the driver's registry writes). */
  acknowledged(commit: PendingCommit, signer: string): void {
    const waiter = this.ackWaiters.get(commit.sessionId);
    if (waiter === undefined) return;
    waiter.pending.delete(signer);
    waiter.wake();
  }

  /** Peer envelopes as delivered to `to`, through the optional relay hook. */
  private relay(inbox: Inbox, envelopes: readonly Envelope[], to: string, round: number): Envelope[] {
    const hook = this.opts.relay;
    if (hook === undefined) return [...envelopes];
    return envelopes.map((e) => {
      const out = hook(e, { to, kind: inbox.kind, round });
      return out.enc === undefined ? { header: out.header, payload: out.payload, sig: out.sig } : { header: out.header, payload: out.payload, sig: out.sig, enc: out.enc };
    });
  }

  private seal(inbox: Inbox, sessionId: Uint8Array, round: number, to: string, body: unknown): Envelope {
    const header = { v: PROTOCOL_VERSION, kind: inbox.kind, suite: inbox.suite, sessionId, round, from: COORDINATOR_ID, to } as const;
    return sealEnvelope(this.identity, header, encodeBody(body));
  }
}
