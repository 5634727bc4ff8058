/**
 * The session engine: drives DKG, refresh, reshare, signing and retirement rounds over the
 * signers' connections (docs/cluster-protocol.md). It never runs a crypto round on
 * a secret: it relays peer envelopes verbatim (CONTRIBUTIONS, R1_DELIVER,
 * R2_DELIVER, SIGN and COMMIT bodies carry the signers' original signed
 * envelopes), checks every signer message (signature under the allow-listed key,
 * session, round, body), verifies signature shares and the final signature with
 * the public functions of @keyquorum/crypto, and records commit points, bans and
 * audit rows in the registry.
 *
 * Session ids: key sessions use a random proposal id for START, CONTRIBUTION and
 * CONTRIBUTIONS, then `deriveSessionId` over every contribution; signing and
 * retirement attempts use their proposal id throughout. The inputs reaching this
 * module are already validated and authorised (coordinator.ts).
 *
 * Metrics: every round that completes is observed in the round latency histogram
 * (metrics.ts) under its session kind and round name.
 */
import { equalBytes } from '@noble/curves/utils.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, randomBytes } from '@noble/hashes/utils.js';
import {
  aggregate,
  assertPublicKeyPackage,
  isCryptoError,
  resharePublicKey,
  targetExternalKey,
  verifySignature,
  type PublicKeyPackage,
  type ReshareParams,
  type SigningPackage,
  type SigningTarget,
} from '@keyquorum/crypto';
import {
  BROADCAST,
  COORDINATOR_ID,
  KEY_ROUND,
  PROTOCOL_VERSION,
  RETIRE_ROUND,
  SIGN_ROUND,
  WireError,
  decodeBody,
  deriveSessionId,
  encodeBody,
  encodeEnvelope,
  fromWirePublicKey,
  openEnvelope,
  sealEnvelope,
  taprootLabel,
  toWirePublicKey,
  type AbortBody,
  type AckBody,
  type ClientRequest,
  type CommitmentBody,
  type ConfirmBody,
  type ContributionBody,
  type Envelope,
  type IdentityKey,
  type ParticipantRef,
  type RetireApproveBody,
  type RetireAttestBody,
  type SignCommitmentBody,
  type SignShareBody,
  type TaprootTarget,
  isEcdsaSuite,
  packageSuiteOf,
  type KeySuiteId,
} from '@keyquorum/protocol';
import type { Logger } from '@keyquorum/protocol/logger';
import type { ResolvedOptions } from './config.ts';
import { ECDSA_KEY_ROUND_TIMEOUT_FACTOR, MAX_SIGN_ATTEMPTS } from './constants.ts';
import { CoordinatorError } from './errors.ts';
import { ecdsaSignAttempt, type EcdsaSessionIo } from './ecdsa.ts';
import { Inbox, SessionFault, type WaitOptions } from './inbox.ts';
import type { CoordinatorMetrics } from './metrics.ts';
import type { Attestation, KeyRecord, Registry } from './registry.ts';
import type { SignerLink } from './server.ts';

const KEY_KINDS = ['dkg', 'refresh', 'reshare', 'repair'];
/** Every session kind's ABORT round (KEY_ROUND, SIGN_ROUND and RETIRE_ROUND agree). */
const ABORT_ROUND = KEY_ROUND.ABORT;

/** A round's name for metrics, e.g. ('dkg', 3) -> 'r1', ('sign', 3) -> 'share'. */
function roundName(kind: string, round: number | undefined): string {
  const rounds = kind === 'sign' ? SIGN_ROUND : kind === 'retire' ? RETIRE_ROUND : KEY_ROUND;
  const name = Object.entries(rounds).find(([, n]) => n === round)?.[0];
  return name === undefined ? String(round) : name.toLowerCase();
}

export interface DkgRequest {
  keyId: string;
  suite: KeySuiteId;
  threshold: number;
  participants: ParticipantRef[];
  request: ClientRequest;
}

export interface SignRequest {
  key: KeyRecord;
  publicKey: PublicKeyPackage;
  message: Uint8Array;
  path?: string;
  taproot?: TaprootTarget;
  request: ClientRequest;
}

export interface SignResult {
  signature: Uint8Array;
  /** External key of the target (child and/or taproot output key). */
  publicKey: Uint8Array;
  quorum: string[];
  attempts: number;
  /** ecdsa-secp256k1: the recovery id (0..3) of `signature` (r || s, low s). */
  recoveryId?: number;
}

export interface ReshareRequest {
  key: KeyRecord;
  /** The key's current public package (epoch `key.epoch`). */
  publicKey: PublicKeyPackage;
  /** The new set, numbered 1..n' in this order. */
  newParticipants: ParticipantRef[];
  threshold: number;
  request: ClientRequest;
}

/**
 * Who does what in a key session. DKG and refresh: everyone deals (R1, R2) and
 * receives (R2_DELIVER, CONFIRM). Reshare: dealers send R1 and R2, new members
 * receive and confirm, and `leavers` (old holders outside the session) get the
 * COMMIT only.
 */
interface SessionRoles {
  dealers: string[];
  members: string[];
  leavers: string[];
}

interface KeySession {
  kind: 'dkg' | 'refresh' | 'reshare';
  suite: KeySuiteId;
  keyId: string;
  /** Session participants (deriveSessionId's list): every dealer and member. */
  participants: string[];
  /** Default: everyone deals and receives, nobody leaves. */
  roles?: SessionRoles;
  startBody: Record<string, unknown>;
  request: ClientRequest;
  /** The epoch every CONFIRM must name. */
  epoch: number;
  /** Called with the derived session id and every R1 envelope (by sender); may throw a SessionFault. */
  round1?: (sessionId: Uint8Array, r1: Map<string, Envelope>) => void;
  /** Checks the agreed public package against what the session must produce. */
  check: (pkg: PublicKeyPackage) => void;
  /** Registry writes of the commit point (run in the transaction that queues the COMMITs). */
  commit: (pkg: PublicKeyPackage, transcriptHash: Uint8Array) => void;
}

interface AckWaiter {
  pending: Set<string>;
  wake: () => void;
}

function toCoordinator(e: Envelope): void {
  if (e.header.to !== COORDINATOR_ID) throw new WireError('WRONG_RECIPIENT', { field: 'header.to' });
}

/** The session fault (or anything else) as the coordinator's typed error. */
function sessionError(e: unknown, what: string): CoordinatorError {
  if (e instanceof CoordinatorError) return e;
  if (e instanceof SessionFault) {
    return new CoordinatorError(e.reason === 'timeout' ? 'TIMEOUT' : 'SESSION_FAILED', { culprits: e.culprits, message: `${what}: ${e.message}`, cause: e });
  }
  return new CoordinatorError('SESSION_FAILED', { message: `${what}: ${(e as Error).message}`, cause: e });
}

export class SessionEngine {
  private readonly opts: ResolvedOptions;
  private readonly identity: IdentityKey;
  private readonly registry: Registry;
  private readonly link: SignerLink;
  private readonly metrics: CoordinatorMetrics;
  private readonly log: Logger;
  private readonly sessions = new Map<string, Inbox>();
  private readonly ackWaiters = new Map<string, AckWaiter>();

  constructor(opts: ResolvedOptions, identity: IdentityKey, registry: Registry, link: SignerLink, metrics: CoordinatorMetrics) {
    this.opts = opts;
    this.identity = identity;
    this.registry = registry;
    this.link = link;
    this.metrics = metrics;
    this.log = opts.logger;
  }

  // ---- connection events (from server.ts) ----

  /** Re-sends every COMMIT the signer has not acknowledged, oldest first. */
  onSignerAuthenticated(signer: string): void {
    for (const c of this.registry.pendingCommits(signer)) {
      this.link.sendFrame(signer, c.frame);
      this.log.info('re-sent commit', { signer, keyId: c.keyId, kind: c.kind, epoch: c.epoch, session: c.sessionId });
    }
  }

  onSignerLost(signer: string): void {
    for (const inbox of new Set(this.sessions.values())) inbox.signerLost(signer);
  }

  /** An authenticated signer's frame. Throws (the server answers with control/ERROR) if it fits no session. */
  onFrame(signer: string, envelope: Envelope): void {
    const h = envelope.header;
    const pinned = this.opts.signers.get(signer)!;
    if ((KEY_KINDS.includes(h.kind) && h.round === KEY_ROUND.ACK) || (h.kind === 'retire' && h.round === RETIRE_ROUND.ATTEST)) {
      this.onAcknowledgement(signer, envelope, pinned);
      return;
    }
    const inbox = this.sessions.get(bytesToHex(h.sessionId));
    if (inbox === undefined || !inbox.participants.has(signer)) throw new WireError('WRONG_SESSION', { field: 'header.sessionId' });
    if (h.kind !== inbox.kind) throw new WireError('WRONG_KIND', { field: 'header.kind' });
    if (h.suite !== inbox.suite) throw new WireError('UNKNOWN_SUITE', { field: 'header.suite' });
    openEnvelope(envelope, pinned, { expect: { sessionId: h.sessionId } });
    if (h.round === ABORT_ROUND) {
      toCoordinator(envelope);
      const body = decodeBody<AbortBody>(h.kind, h.round, h.suite, envelope.payload);
      this.log.warn('signer aborted', { signer, kind: h.kind, session: bytesToHex(h.sessionId), reason: body.reason, culprits: body.culprits });
      // Retirement needs only a quorum of approvals: a refusing signer counts as absent.
      if (inbox.kind === 'retire') inbox.signerLost(signer);
      else inbox.fail(new SessionFault('abort', [signer], body.culprits ?? [], `${signer} aborted: ${body.reason}`));
      return;
    }
    if (!inbox.offer(envelope)) throw new WireError('WRONG_KIND', { field: 'header.round', message: `WRONG_KIND: no ${h.kind} round ${h.round} expected from ${signer} now` });
  }

  private onAcknowledgement(signer: string, envelope: Envelope, pinned: Uint8Array): void {
    const h = envelope.header;
    const session = bytesToHex(h.sessionId);
    const pending = this.registry.findPendingCommit(signer, session);
    if (pending === undefined || pending.kind !== h.kind) throw new WireError('WRONG_SESSION', { field: 'header.sessionId', message: 'WRONG_SESSION: no commit awaits this acknowledgement' });
    openEnvelope(envelope, pinned, { expect: { sessionId: h.sessionId, to: COORDINATOR_ID } });
    toCoordinator(envelope);
    const fields = { signer, keyId: pending.keyId, epoch: pending.epoch, session };
    if (h.kind === 'retire') {
      const body = decodeBody<RetireAttestBody>(h.kind, h.round, h.suite, envelope.payload);
      if (body.keyId !== pending.keyId || body.epoch !== pending.epoch) throw new WireError('BAD_FIELD', { field: 'keyId', message: 'BAD_FIELD: attestation names another key or epoch' });
      const key = this.registry.getKey(pending.keyId);
      const index = key?.participants.find((p) => p.signer === signer)?.index;
      const expected = index === undefined ? undefined : key?.publicKey?.verifyingShares[index];
      if (expected === undefined || !equalBytes(expected, body.verifyingShare)) throw new WireError('BAD_FIELD', { field: 'verifyingShare' });
      this.registry.transaction(() => {
        this.registry.addAttestation({ keyId: body.keyId, signer, epoch: body.epoch, destroyedAt: body.destroyedAt, verifyingShare: body.verifyingShare, envelope: encodeEnvelope(envelope) });
        this.registry.removePendingCommit(pending.seq);
        this.registry.append('key.attested', body.keyId, { signer, epoch: body.epoch, destroyedAt: body.destroyedAt, verifyingShare: bytesToHex(body.verifyingShare) });
      });
      this.log.info('destruction attested', fields);
    } else {
      const body = decodeBody<AckBody>(h.kind, h.round, h.suite, envelope.payload);
      if (body.keyId !== pending.keyId || body.epoch !== pending.epoch) throw new WireError('BAD_FIELD', { field: 'keyId', message: 'BAD_FIELD: ACK names another key or epoch' });
      this.registry.transaction(() => {
        this.registry.removePendingCommit(pending.seq);
        this.registry.acknowledgeEpoch(pending.keyId, signer, pending.epoch);
        this.registry.append('commit.acked', pending.keyId, { signer, kind: pending.kind, epoch: pending.epoch });
      });
      this.log.info('commit acknowledged', { ...fields, kind: h.kind });
    }
    const waiter = this.ackWaiters.get(session);
    if (waiter !== undefined) {
      waiter.pending.delete(signer);
      waiter.wake();
    }
  }

  // ---- plumbing ----

  private open(kind: string, suite: string, participants: readonly string[]): { inbox: Inbox; proposal: Uint8Array } {
    const proposal = randomBytes(32);
    const inbox = new Inbox(kind, suite, participants, proposal);
    this.sessions.set(bytesToHex(proposal), inbox);
    return { inbox, proposal };
  }

  private route(inbox: Inbox, sessionId: Uint8Array): void {
    const hex = bytesToHex(sessionId);
    inbox.ids.add(hex);
    this.sessions.set(hex, inbox);
  }

  /** Waits for the round `inbox` expects and, once it completes, records its latency. */
  private async collect(inbox: Inbox, wait: WaitOptions): Promise<Map<string, Envelope[]>> {
    const done = this.metrics.round(inbox.kind, roundName(inbox.kind, inbox.round));
    const got = await inbox.wait(wait);
    done();
    return got;
  }

  private close(inbox: Inbox): void {
    for (const id of inbox.ids) this.sessions.delete(id);
  }

  private seal(kind: string, suite: string, sessionId: Uint8Array, round: number, to: string, body: unknown): Envelope {
    const header = { v: PROTOCOL_VERSION, kind, suite, sessionId, round, from: COORDINATOR_ID, to } as const;
    return sealEnvelope(this.identity, header, encodeBody(body));
  }

  /** Seals a message of `inbox`'s session and sends it; a signer that is not connected is marked lost. */
  private send(inbox: Inbox, to: string, sessionId: Uint8Array, round: number, body: unknown): void {
    const sent = this.link.sendFrame(to, encodeEnvelope(this.seal(inbox.kind, inbox.suite, sessionId, round, to, body)));
    if (!sent) inbox.signerLost(to);
  }

  /** Peer envelopes as delivered to `to`, through the optional relay hook. */
  private relay(envelopes: readonly Envelope[], to: string, kind: string, round: number): Envelope[] {
    const hook = this.opts.relay;
    if (hook === undefined) return [...envelopes];
    return envelopes.map((e) => {
      const out = hook(e, { to, kind, round });
      return out.enc === undefined ? { header: out.header, payload: out.payload, sig: out.sig } : { header: out.header, payload: out.payload, sig: out.sig, enc: out.enc };
    });
  }

  private abort(inbox: Inbox, to: readonly string[], sessionId: Uint8Array, reason: string, culprits: readonly string[] = []): void {
    const body: AbortBody = culprits.length > 0 ? { reason, culprits: [...culprits] } : { reason };
    for (const id of to) this.send(inbox, id, sessionId, ABORT_ROUND, body);
  }

  /** Waits (bounded by the round timeout) for ACK/ATTEST of a commit from `signers`. */
  private async awaitAcks(sessionId: Uint8Array, signers: readonly string[]): Promise<string[]> {
    const hex = bytesToHex(sessionId);
    const waiter = this.ackWaiters.get(hex)!;
    waiter.pending = new Set([...waiter.pending].filter((s) => signers.includes(s)));
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

  private watchAcks(sessionId: Uint8Array, signers: readonly string[]): void {
    this.ackWaiters.set(bytesToHex(sessionId), { pending: new Set(signers), wake: () => undefined });
  }

  // ---- key sessions: DKG and refresh ----

  /** Generates a key by DKG among `participants`; the key is active at epoch 0 on success. */
  async dkg(p: DkgRequest): Promise<PublicKeyPackage> {
    const signers = p.participants.map((r) => r.signer);
    this.registry.transaction(() => {
      this.registry.insertPendingKey({ id: p.keyId, suite: p.suite, threshold: p.threshold, participants: p.participants });
      this.registry.append('key.pending', p.keyId, { suite: p.suite, threshold: p.threshold, signers });
    });
    try {
      return await this.keySession({
        kind: 'dkg',
        suite: p.suite,
        keyId: p.keyId,
        participants: signers,
        startBody: { keyId: p.keyId, threshold: p.threshold, participants: p.participants, request: p.request },
        request: p.request,
        epoch: 0,
        check: (pkg) => {
          const indices = p.participants.map((r) => r.index).sort((a, b) => a - b);
          if (pkg.suite !== packageSuiteOf(p.suite) || pkg.threshold !== p.threshold || pkg.participants.join() !== indices.join()) {
            throw new Error('the confirmed public key package does not match the requested suite, threshold or participants');
          }
        },
        commit: (pkg, transcriptHash) => {
          this.registry.setKeyMaterial(p.keyId, pkg, 0);
          this.registry.append('key.created', p.keyId, {
            suite: p.suite,
            threshold: p.threshold,
            signers,
            epoch: 0,
            publicKey: bytesToHex(targetExternalKey(pkg)),
            transcriptHash: bytesToHex(transcriptHash),
          });
        },
      });
    } catch (e) {
      const err = sessionError(e, 'DKG failed');
      this.registry.transaction(() => {
        this.registry.deleteKey(p.keyId);
        this.registry.append('key.create_failed', p.keyId, { code: err.code, reason: err.message, culprits: err.culprits });
      });
      throw err;
    }
  }

  /** Refreshes every share of an active key: epoch e -> e + 1, same public key. */
  async refresh(key: KeyRecord, publicKey: PublicKeyPackage, request: ClientRequest): Promise<PublicKeyPackage> {
    try {
      return await this.keySession({
        kind: 'refresh',
        suite: key.suite,
        keyId: key.id,
        participants: key.participants.map((p) => p.signer),
        startBody: { keyId: key.id, epoch: key.epoch, participants: key.participants, request },
        request,
        epoch: key.epoch + 1,
        check: (pkg) => {
          const same = equalBytes(pkg.groupKey, publicKey.groupKey) && equalBytes(pkg.chainCode, publicKey.chainCode) && pkg.threshold === publicKey.threshold && pkg.participants.join() === publicKey.participants.join();
          if (pkg.suite !== packageSuiteOf(key.suite) || !same) throw new Error('the refreshed public key package changes the group key, chain code, threshold or participants');
        },
        commit: (pkg, transcriptHash) => {
          this.registry.setKeyMaterial(key.id, pkg, key.epoch + 1);
          this.registry.append('key.refreshed', key.id, { fromEpoch: key.epoch, epoch: key.epoch + 1, transcriptHash: bytesToHex(transcriptHash) });
        },
      });
    } catch (e) {
      const err = sessionError(e, 'refresh failed');
      this.registry.append('key.refresh_failed', key.id, { epoch: key.epoch, code: err.code, reason: err.message, culprits: err.culprits });
      throw err;
    }
  }

  /**
   * Moves an active key to a new signer set and threshold (reshare): a quorum of t
   * connected old holders deals, the new members (all connected) receive and
   * confirm; the group key stays and the epoch moves to e + 1. Old holders outside
   * the new set (dealers or not) get the COMMIT too and wipe their share once it
   * carries every new member's CONFIRM.
   */
  async reshare(r: ReshareRequest): Promise<PublicKeyPackage> {
    const { key, publicKey } = r;
    // Dealers: the first t old holders (index order) that are connected, not banned for
    // the key, and have acknowledged every commit of it (so they hold epoch e).
    const unfit = new Set([...this.registry.bannedSigners(key.id), ...this.registry.unacknowledged(key.id)]);
    const dealerRefs = key.participants.filter((p) => !unfit.has(p.signer) && this.link.isConnected(p.signer)).slice(0, key.threshold);
    try {
      if (dealerRefs.length < key.threshold) {
        throw new CoordinatorError('NOT_ENOUGH_SIGNERS', { message: `${dealerRefs.length} usable old holders connected, ${key.threshold} dealers needed` });
      }
      const dealers = dealerRefs.map((p) => p.signer);
      const members = r.newParticipants.map((p) => p.signer);
      const participants = [...new Set([...dealers, ...members])];
      const leavers = key.participants.map((p) => p.signer).filter((s) => !participants.includes(s));
      const epoch = key.epoch + 1;
      const params = (sessionId: Uint8Array): ReshareParams => ({
        sessionId,
        oldPublicKey: publicKey,
        dealers: dealerRefs.map((p) => p.index),
        newParticipants: r.newParticipants.map((p) => p.index),
        newThreshold: r.threshold,
      });
      let expected: PublicKeyPackage | undefined;
      return await this.keySession({
        kind: 'reshare',
        suite: key.suite,
        keyId: key.id,
        participants,
        roles: { dealers, members, leavers },
        startBody: {
          keyId: key.id,
          epoch: key.epoch,
          oldPublicKey: toWirePublicKey(publicKey),
          oldParticipants: key.participants,
          dealers: dealerRefs,
          newParticipants: r.newParticipants,
          newThreshold: r.threshold,
          request: r.request,
        },
        request: r.request,
        epoch,
        round1: (sessionId, r1) => {
          // Anyone can compute the new public package from the dealers' commitments:
          // a dealer that did not reshare its own share is named before any share moves.
          const commitments = dealerRefs.map((p) => ({ from: p.index, commitment: decodeBody<CommitmentBody>('reshare', KEY_ROUND.R1, key.suite, r1.get(p.signer)!.payload).commitment }));
          try {
            expected = resharePublicKey(params(sessionId), commitments);
          } catch (e) {
            if (!isCryptoError(e)) throw e;
            const culprits = e.culprits.map((i) => dealerRefs.find((p) => p.index === i)?.signer).filter((x): x is string => x !== undefined);
            throw new SessionFault('invalid', culprits, culprits, `reshare commitments rejected: ${e.message}`);
          }
        },
        check: (pkg) => {
          if (expected === undefined || !equalBytes(encodeBody(toWirePublicKey(pkg)), encodeBody(toWirePublicKey(expected)))) {
            throw new Error("the confirmed public key package is not the one the dealers' commitments define");
          }
          if (!equalBytes(pkg.groupKey, publicKey.groupKey) || !equalBytes(pkg.chainCode, publicKey.chainCode)) throw new Error('the reshared public key package changes the group key or chain code');
        },
        commit: (pkg, transcriptHash) => {
          this.registry.setKeyMaterial(key.id, pkg, epoch, r.newParticipants);
          this.registry.append('key.reshared', key.id, {
            fromEpoch: key.epoch,
            epoch,
            fromThreshold: key.threshold,
            threshold: r.threshold,
            fromSigners: key.participants.map((p) => p.signer),
            signers: members,
            dealers,
            leavers,
            publicKey: bytesToHex(targetExternalKey(pkg)),
            transcriptHash: bytesToHex(transcriptHash),
            clientKey: bytesToHex(r.request.clientKey),
          });
        },
      });
    } catch (e) {
      const err = sessionError(e, 'reshare failed');
      this.registry.append('key.reshare_failed', key.id, { epoch: key.epoch, code: err.code, reason: err.message, culprits: err.culprits });
      throw err;
    }
  }

  /**
   * START -> CONTRIBUTION -> CONTRIBUTIONS -> R1 -> R1_DELIVER -> R2 -> R2_DELIVER ->
   * CONFIRM, then the commit point (registry write + queued COMMITs) and COMMIT.
   * Any failure before the commit point ABORTs every participant; nothing changes.
   * With roles (reshare): R1 and R2 come from the dealers only, R1_DELIVER goes to
   * every participant, R2_DELIVER and CONFIRM concern the new members only, and the
   * COMMIT also goes to the leavers (queued for those offline).
   */
  private async keySession(s: KeySession): Promise<PublicKeyPackage> {
    const ids = s.participants;
    const dealers = s.roles?.dealers ?? ids;
    const members = s.roles?.members ?? ids;
    const leavers = s.roles?.leavers ?? [];
    const offline = ids.filter((id) => !this.link.isConnected(id));
    if (offline.length > 0) throw new CoordinatorError('NOT_ENOUGH_SIGNERS', { message: `${s.kind} needs every participant connected; offline: ${offline.join(',')}` });
    const { inbox, proposal } = this.open(s.kind, s.suite, ids);
    const log = this.log.child({ kind: s.kind, keyId: s.keyId, epoch: s.epoch, proposal: bytesToHex(proposal) });
    // DKLs23 key sessions run pairwise base OTs (proofs made in R2, checked before CONFIRM): CPU-bound seconds per round.
    const timeoutMs = this.opts.roundTimeoutMs * (isEcdsaSuite(s.suite) ? ECDSA_KEY_ROUND_TIMEOUT_FACTOR : 1);
    let sessionId = proposal;
    let committed = false;
    try {
      log.info('key session started', s.roles ? { signers: ids, ...s.roles } : { signers: ids });
      inbox.expect(KEY_ROUND.CONTRIBUTION, ids, (e) => {
        toCoordinator(e);
        decodeBody<ContributionBody>(s.kind, KEY_ROUND.CONTRIBUTION, s.suite, e.payload);
      });
      for (const id of ids) this.send(inbox, id, proposal, KEY_ROUND.START, s.startBody);
      const contributionEnvelopes = await this.collect(inbox, { timeoutMs });
      const contributions: Record<string, Uint8Array> = {};
      for (const [id, [e]] of contributionEnvelopes) contributions[id] = decodeBody<ContributionBody>(s.kind, KEY_ROUND.CONTRIBUTION, s.suite, e!.payload).contribution;
      sessionId = deriveSessionId({ kind: s.kind, suite: s.suite, keyId: s.keyId, participants: ids, contributions, requestDigest: s.request.digest });
      this.route(inbox, sessionId);
      log.info('session id derived', { session: bytesToHex(sessionId) });

      inbox.expect(KEY_ROUND.R1, dealers, (e) => {
        if (!equalBytes(e.header.sessionId, sessionId)) throw new WireError('WRONG_SESSION', { field: 'header.sessionId' });
        if (e.header.to !== BROADCAST) throw new WireError('WRONG_RECIPIENT', { field: 'header.to' });
        decodeBody(s.kind, KEY_ROUND.R1, s.suite, e.payload);
      });
      const allContributions = ids.map((id) => contributionEnvelopes.get(id)![0]!);
      for (const id of ids) this.send(inbox, id, proposal, KEY_ROUND.CONTRIBUTIONS, { envelopes: this.relay(allContributions, id, s.kind, KEY_ROUND.CONTRIBUTIONS) });
      const r1 = await this.collect(inbox, { timeoutMs });
      s.round1?.(sessionId, new Map(dealers.map((id) => [id, r1.get(id)![0]!])));

      // Each dealer sends one encrypted share to every member but itself.
      const owed = (dealer: string) => members.filter((m) => m !== dealer).length;
      inbox.expect(
        KEY_ROUND.R2,
        dealers,
        (e, prior) => {
          const { to, from } = e.header;
          if (!equalBytes(e.header.sessionId, sessionId)) throw new WireError('WRONG_SESSION', { field: 'header.sessionId' });
          if (to === from || !members.includes(to) || prior.some((p) => p.header.to === to)) throw new WireError('WRONG_RECIPIENT', { field: 'header.to' });
          if (e.enc === undefined) throw new WireError('BAD_FIELD', { field: 'enc', message: 'BAD_FIELD: round-2 shares must be encrypted to their recipient' });
        },
        owed,
      );
      const allR1 = dealers.map((id) => r1.get(id)![0]!);
      for (const id of ids) this.send(inbox, id, sessionId, KEY_ROUND.R1_DELIVER, { envelopes: this.relay(allR1, id, s.kind, KEY_ROUND.R1_DELIVER) });
      const r2 = [...(await this.collect(inbox, { timeoutMs })).values()].flat();

      inbox.expect(KEY_ROUND.CONFIRM, members, (e) => {
        toCoordinator(e);
        if (!equalBytes(e.header.sessionId, sessionId)) throw new WireError('WRONG_SESSION', { field: 'header.sessionId' });
        const body = decodeBody<ConfirmBody>(s.kind, KEY_ROUND.CONFIRM, s.suite, e.payload);
        if (body.keyId !== s.keyId) throw new WireError('BAD_FIELD', { field: 'keyId' });
        if (body.epoch !== s.epoch) throw new WireError('BAD_FIELD', { field: 'epoch', message: `BAD_FIELD: epoch: expected ${s.epoch}, got ${body.epoch}` });
      });
      for (const id of members) {
        const mine = r2.filter((e) => e.header.to === id);
        this.send(inbox, id, sessionId, KEY_ROUND.R2_DELIVER, { envelopes: this.relay(mine, id, s.kind, KEY_ROUND.R2_DELIVER) });
      }
      const confirms = await this.collect(inbox, { timeoutMs });
      const confirmEnvelopes = members.map((id) => confirms.get(id)![0]!);
      const bodies = confirmEnvelopes.map((e) => decodeBody<ConfirmBody>(s.kind, KEY_ROUND.CONFIRM, s.suite, e.payload));
      const first = bodies[0]!;
      const firstKey = encodeBody(first.publicKey);
      const dissent = members.filter((_, i) => !equalBytes(bodies[i]!.transcriptHash, first.transcriptHash) || !equalBytes(encodeBody(bodies[i]!.publicKey), firstKey));
      if (dissent.length > 0) throw new SessionFault('invalid', dissent, [], `participants confirmed different transcripts (${[members[0]!, ...dissent].join(',')} disagree)`);
      const pkg = fromWirePublicKey(first.publicKey);
      assertPublicKeyPackage(pkg);
      s.check(pkg);

      // Commit point: the registry records the result and queues every COMMIT before the first is sent.
      const recipients = [...ids, ...leavers];
      const frames = new Map(recipients.map((id) => [id, encodeEnvelope(this.seal(s.kind, s.suite, sessionId, KEY_ROUND.COMMIT, id, { envelopes: this.relay(confirmEnvelopes, id, s.kind, KEY_ROUND.COMMIT) }))]));
      this.registry.transaction(() => {
        s.commit(pkg, first.transcriptHash);
        for (const [id, frame] of frames) this.registry.addPendingCommit({ signer: id, keyId: s.keyId, kind: s.kind, epoch: s.epoch, sessionId: bytesToHex(sessionId), frame });
      });
      committed = true;
      log.info('key session committed', { session: bytesToHex(sessionId) });
      const online = recipients.filter((id) => this.link.isConnected(id));
      this.watchAcks(sessionId, online);
      for (const [id, frame] of frames) this.link.sendFrame(id, frame);
      const unacked = [...(await this.awaitAcks(sessionId, online)), ...recipients.filter((id) => !online.includes(id))];
      if (unacked.length > 0) log.warn('commit not yet acknowledged; it is re-sent on reconnect', { signers: unacked });
      return pkg;
    } catch (e) {
      if (!committed) {
        const fault = e instanceof SessionFault ? e : undefined;
        log.warn('key session aborted', { reason: (e as Error).message, culprits: fault?.culprits });
        this.abort(inbox, ids, sessionId, (e as Error).message.slice(0, 512), fault?.culprits);
      }
      throw e;
    } finally {
      this.close(inbox);
    }
  }

  // ---- signing ----

  /**
   * Signs with a quorum of t connected participants. A quorum member that times out,
   * drops, aborts, or whose share fails `verifyShare` (banned for the key) is left
   * out and another quorum tried, up to MAX_SIGN_ATTEMPTS; fails with
   * NOT_ENOUGH_SIGNERS once fewer than t usable signers remain.
   */
  async sign(r: SignRequest): Promise<SignResult> {
    const { key } = r;
    const target: SigningTarget = {};
    if (r.path !== undefined) target.path = r.path;
    if (r.taproot !== undefined) target.taproot = r.taproot;
    const excluded = new Set(this.registry.bannedSigners(key.id));
    const culprits = new Set<string>();
    let lastFault: SessionFault | undefined;
    for (let attempt = 1; attempt <= MAX_SIGN_ATTEMPTS; attempt++) {
      const usable = key.participants.filter((p) => !excluded.has(p.signer) && this.link.isConnected(p.signer));
      if (usable.length < key.threshold) {
        throw new CoordinatorError('NOT_ENOUGH_SIGNERS', {
          culprits: [...culprits],
          message: `${usable.length} usable signers, ${key.threshold} needed${lastFault ? ` (last failure: ${lastFault.message})` : ''}`,
        });
      }
      const quorum = usable.slice(0, key.threshold);
      try {
        let signature: Uint8Array;
        let recoveryId: number | undefined;
        if (isEcdsaSuite(key.suite)) ({ signature, recoveryId } = await ecdsaSignAttempt(this.ecdsaIo(), r, quorum));
        else signature = await this.signAttempt(r, quorum, target);
        const publicKey = targetExternalKey(r.publicKey, target);
        const ids = quorum.map((p) => p.signer);
        this.registry.append('key.signed', key.id, {
          epoch: key.epoch,
          quorum: ids,
          attempts: attempt,
          messageSha256: bytesToHex(sha256(r.message)),
          path: r.path ?? '',
          taproot: taprootLabel(r.taproot),
          publicKey: bytesToHex(publicKey),
          signature: bytesToHex(signature),
          clientKey: bytesToHex(r.request.clientKey),
        });
        return { signature, publicKey, quorum: ids, attempts: attempt, ...(recoveryId === undefined ? {} : { recoveryId }) };
      } catch (e) {
        if (!(e instanceof SessionFault)) throw sessionError(e, 'signing failed');
        lastFault = e;
        for (const id of e.excluded) excluded.add(id);
        for (const id of e.culprits) culprits.add(id);
        // ecdsa-secp256k1: a peer named by a consistency check is banned for the key (DKLs23
        // reuses the pair's OT state), whoever reported it (e.signers: the reporting signer).
        const ban = e.culprits.length > 0 && (e.reason === 'invalid-share' || isEcdsaSuite(key.suite));
        this.registry.transaction(() => {
          if (ban) for (const id of e.culprits) this.registry.ban(key.id, id, e.message);
          this.registry.append('key.sign_attempt_failed', key.id, { epoch: key.epoch, attempt, quorum: quorum.map((p) => p.signer), reason: e.reason, excluded: e.excluded, culprits: e.culprits, banned: ban, ...(isEcdsaSuite(key.suite) && e.reason === 'abort' ? { reportedBy: e.signers } : {}) });
        });
        this.log.warn('sign attempt failed; retrying with another quorum', { keyId: key.id, epoch: key.epoch, attempt, reason: e.message, excluded: e.excluded });
      }
    }
    throw new CoordinatorError('SESSION_FAILED', { culprits: [...culprits], message: `no quorum produced a signature in ${MAX_SIGN_ATTEMPTS} attempts (last failure: ${lastFault?.message ?? 'none'})` });
  }

  /** The plumbing ecdsa.ts drives its rounds with. */
  private ecdsaIo(): EcdsaSessionIo {
    return {
      log: this.log,
      open: (kind, suite, participants) => this.open(kind, suite, participants),
      route: (inbox, sessionId) => this.route(inbox, sessionId),
      send: (inbox, to, sessionId, round, body) => this.send(inbox, to, sessionId, round, body),
      relay: (envelopes, to, kind, round) => this.relay(envelopes, to, kind, round),
      abort: (inbox, to, sessionId, reason, culprits) => this.abort(inbox, to, sessionId, reason, culprits),
      close: (inbox) => this.close(inbox),
      collect: async (inbox, roundName) => {
        const done = this.metrics.round(inbox.kind, roundName);
        const got = await inbox.wait({ timeoutMs: this.opts.roundTimeoutMs });
        done();
        return got;
      },
    };
  }

  private async signAttempt(r: SignRequest, quorum: ParticipantRef[], target: SigningTarget): Promise<Uint8Array> {
    const { key } = r;
    const ids = quorum.map((p) => p.signer);
    const { inbox, proposal } = this.open('sign', key.suite, ids);
    const log = this.log.child({ kind: 'sign', keyId: key.id, epoch: key.epoch, session: bytesToHex(proposal) });
    const timeoutMs = this.opts.roundTimeoutMs;
    try {
      log.info('sign attempt started', { quorum: ids });
      const start: Record<string, unknown> = { keyId: key.id, epoch: key.epoch, message: r.message, request: r.request };
      if (r.path !== undefined) start.path = r.path;
      if (r.taproot !== undefined) start.taproot = r.taproot.merkleRoot === undefined ? {} : { merkleRoot: r.taproot.merkleRoot };
      inbox.expect(SIGN_ROUND.COMMITMENT, ids, (e) => {
        toCoordinator(e);
        decodeBody(inbox.kind, SIGN_ROUND.COMMITMENT, inbox.suite, e.payload);
      });
      for (const id of ids) this.send(inbox, id, proposal, SIGN_ROUND.START, start);
      const commitments = await this.collect(inbox, { timeoutMs });
      const commitmentEnvelopes = ids.map((id) => commitments.get(id)![0]!);
      const signing: SigningPackage = {
        message: r.message,
        commitments: quorum.map((p, i) => {
          const body = decodeBody<SignCommitmentBody>(inbox.kind, SIGN_ROUND.COMMITMENT, inbox.suite, commitmentEnvelopes[i]!.payload);
          return { id: p.index, hiding: body.hiding, binding: body.binding };
        }),
      };

      inbox.expect(SIGN_ROUND.SHARE, ids, (e) => {
        toCoordinator(e);
        decodeBody(inbox.kind, SIGN_ROUND.SHARE, inbox.suite, e.payload);
      });
      for (const id of ids) this.send(inbox, id, proposal, SIGN_ROUND.SIGN, { envelopes: this.relay(commitmentEnvelopes, id, 'sign', SIGN_ROUND.SIGN) });
      const shareEnvelopes = await this.collect(inbox, { timeoutMs });
      const shares = quorum.map((p) => ({ id: p.index, share: decodeBody<SignShareBody>(inbox.kind, SIGN_ROUND.SHARE, inbox.suite, shareEnvelopes.get(p.signer)![0]!.payload).share }));
      // RFC 9591 §5.3 aggregate, optimistically: the shares are checked one by one
      // (§5.4) only when the aggregate fails, and then every failing signer is named.
      let signature: Uint8Array;
      try {
        signature = aggregate(r.publicKey, signing, shares, target);
      } catch (e) {
        if (!isCryptoError(e) || e.code !== 'INVALID_SIGNATURE_SHARE') throw e;
        const names = quorum.filter((p) => e.culprits.includes(p.index)).map((p) => p.signer);
        throw new SessionFault('invalid-share', names, names, `signature share(s) from ${names.join(',') || 'unattributable signers'} do not verify`);
      }
      if (!verifySignature(r.publicKey, r.message, signature, target)) {
        throw new CoordinatorError('SESSION_FAILED', { message: 'the aggregated signature does not verify under the standard verifier' });
      }
      log.info('signature produced', { quorum: ids });
      return signature;
    } catch (e) {
      log.warn('sign attempt aborted', { reason: (e as Error).message });
      this.abort(inbox, ids, proposal, (e as Error).message.slice(0, 512), e instanceof SessionFault ? e.culprits : []);
      throw e;
    } finally {
      this.close(inbox);
    }
  }

  // ---- retirement ----

  /**
   * START to every connected participant; at least t APPROVEs mark the key retired
   * (audited) and queue a COMMIT for every participant, offline ones included.
   * Returns the attestations received within the round timeout.
   */
  async retire(key: KeyRecord, request: ClientRequest): Promise<Attestation[]> {
    const ids = key.participants.map((p) => p.signer);
    const connected = ids.filter((id) => this.link.isConnected(id));
    if (connected.length < key.threshold) throw new CoordinatorError('NOT_ENOUGH_SIGNERS', { message: `${connected.length} participants connected, ${key.threshold} approvals needed` });
    const { inbox, proposal } = this.open('retire', key.suite, ids);
    const log = this.log.child({ kind: 'retire', keyId: key.id, epoch: key.epoch, session: bytesToHex(proposal) });
    let committed = false;
    try {
      inbox.expect(RETIRE_ROUND.APPROVE, connected, (e) => {
        toCoordinator(e);
        const body = decodeBody<RetireApproveBody>('retire', RETIRE_ROUND.APPROVE, key.suite, e.payload);
        if (body.keyId !== key.id || body.epoch !== key.epoch) throw new WireError('BAD_FIELD', { field: 'keyId', message: 'BAD_FIELD: approval names another key or epoch' });
        if (!equalBytes(body.requestDigest, request.digest)) throw new WireError('BAD_FIELD', { field: 'requestDigest' });
      });
      for (const id of connected) this.send(inbox, id, proposal, RETIRE_ROUND.START, { keyId: key.id, epoch: key.epoch, request });
      const approvals = await this.collect(inbox, { timeoutMs: this.opts.roundTimeoutMs, min: key.threshold });
      if (approvals.size < key.threshold) throw new SessionFault('abort', connected.filter((id) => !approvals.has(id)), [], `${approvals.size} approvals, ${key.threshold} needed`);
      const approvers = [...approvals.keys()].sort();
      const approveEnvelopes = approvers.map((id) => approvals.get(id)![0]!);
      const frames = new Map(ids.map((id) => [id, encodeEnvelope(this.seal('retire', key.suite, proposal, RETIRE_ROUND.COMMIT, id, { envelopes: this.relay(approveEnvelopes, id, 'retire', RETIRE_ROUND.COMMIT) }))]));
      this.registry.transaction(() => {
        this.registry.setState(key.id, 'retired');
        this.registry.append('key.retired', key.id, { epoch: key.epoch, approvers });
        for (const [id, frame] of frames) this.registry.addPendingCommit({ signer: id, keyId: key.id, kind: 'retire', epoch: key.epoch, sessionId: bytesToHex(proposal), frame });
      });
      committed = true;
      log.info('key retired', { approvers });
      this.watchAcks(proposal, connected);
      for (const id of connected) this.link.sendFrame(id, frames.get(id)!);
      const missing = await this.awaitAcks(proposal, connected);
      if (missing.length > 0) log.warn('attestations outstanding; COMMIT is re-sent on reconnect', { signers: missing });
      return this.registry.attestations(key.id);
    } catch (e) {
      if (!committed) this.abort(inbox, connected, proposal, (e as Error).message.slice(0, 512));
      throw sessionError(e, 'retirement failed');
    } finally {
      this.close(inbox);
    }
  }
}
