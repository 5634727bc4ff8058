/**
 * The key-session driver (rounds `KEY_ROUND`, docs/cluster-protocol.md): DKG, refresh
 * and reshare are configurations of it (key-configs.ts), and so is share repair
 * (repair.ts: R1 pairwise between helpers, the target alone confirms).
 * START -> CONTRIBUTION -> CONTRIBUTIONS (the contributed session id, runtime.ts) ->
 * R1 -> R1_DELIVER -> R2 -> R2_DELIVER -> CONFIRM, then the commit point (registry
 * write + queued COMMITs) and COMMIT; every COMMIT is answered by an ACK
 * (`recordAck`). Any failure before the commit point ABORTs every participant and
 * nothing changes; from the commit point on, the registry holds the new epoch and
 * the queued COMMITs, re-sent until acknowledged.
 */
import { equalBytes } from '@noble/curves/utils.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { assertPublicKeyPackage, type PublicKeyPackage } from '@keyquorum/crypto';
import {
  BROADCAST,
  KEY_ROUND,
  WireError,
  decodeBody,
  encodeBody,
  fromWirePublicKey,
  type AckBody,
  type ClientRequest,
  type ConfirmBody,
  type Envelope,
  type KeySuiteId,
  type ParticipantRef,
} from '@keyquorum/protocol';
import { CoordinatorError, isSessionFault, sessionFault } from '../errors.ts';
import type { CoordinatorStore, PendingCommit } from '../store/types.ts';
import type { Inbox } from './inbox.ts';
import { sameSession, toCoordinator, type SessionRuntime } from './runtime.ts';
import { schemeOf } from './schemes.ts';

export const KEY_SESSION_KINDS: readonly string[] = ['dkg', 'refresh', 'reshare', 'repair'];

/**
 * Who does what in a key session. DKG and refresh: everyone deals (R1, R2) and
 * receives (R2_DELIVER, CONFIRM). Reshare: dealers send R1 and R2, new members
 * receive and confirm, and `leavers` (old holders outside the session) get the
 * COMMIT only.
 */
export interface SessionRoles {
  dealers: string[];
  members: string[];
  leavers: string[];
}

export interface KeySession {
  kind: 'dkg' | 'refresh' | 'reshare' | 'repair';
  suite: KeySuiteId;
  keyId: string;
  /** Session participants (deriveSessionId's list): every dealer and member. */
  participants: string[];
  /** Default: everyone deals and receives, nobody leaves. */
  roles?: SessionRoles;
  /** R1 goes from each dealer to every other dealer, encrypted (repair's deltas), instead of a broadcast. */
  r1Pairwise?: boolean;
  /** A reshare's new members (signer -> index), for the resolution of the session if it fails once its id is derived (resolve.ts). */
  memberRefs?: ParticipantRef[];
  /** Who gets the COMMIT; default: every participant and leaver. */
  commitTo?: string[];
  startBody: Record<string, unknown>;
  /** The request's digest is bound into the session id (a scheduled refresh: the digest a refresh request would carry). */
  request: Pick<ClientRequest, 'digest'>;
  /** The epoch every CONFIRM must name. */
  epoch: number;
  /** Called with the derived session id, before any participant learns it (so before any can store a share of it). */
  derived?: (sessionId: Uint8Array) => Promise<void>;
  /** Called with the derived session id and every R1 envelope (by sender); may throw a session fault. */
  round1?: (sessionId: Uint8Array, r1: Map<string, Envelope>) => void;
  /** Checks the agreed public package against what the session must produce. */
  check: (pkg: PublicKeyPackage) => void;
  /** Registry writes of the commit point (run in the transaction that queues the COMMITs). */
  commit: (tx: CoordinatorStore, pkg: PublicKeyPackage, transcriptHash: Uint8Array) => Promise<void>;
}

/**
 * Runs one key session. With roles (reshare): R1 and R2 come from the dealers only,
 * R1_DELIVER goes to every participant, R2_DELIVER and CONFIRM concern the new members
 * only, and the COMMIT also goes to the leavers (queued for those offline).
 */
export async function runKeySession(rt: SessionRuntime, s: KeySession): Promise<PublicKeyPackage> {
  const ids = s.participants;
  const dealers = s.roles?.dealers ?? ids;
  const members = s.roles?.members ?? ids;
  const leavers = s.roles?.leavers ?? [];
  const offline = ids.filter((id) => !rt.link.isConnected(id));
  if (offline.length > 0) throw new CoordinatorError('NOT_ENOUGH_SIGNERS', { message: `${s.kind} needs every participant connected; offline: ${offline.join(',')}` });
  const { inbox, proposal } = rt.open(s.kind, s.suite, KEY_ROUND, ids);
  const log = rt.log.child({ kind: s.kind, keyId: s.keyId, epoch: s.epoch, proposal: bytesToHex(proposal) });
  const timeoutMs = rt.opts.roundTimeoutMs * schemeOf(s.suite).keyRoundTimeoutFactor;
  let sessionId = proposal;
  let committed = false;
  try {
    log.info('key session started', s.roles ? { signers: ids, ...s.roles } : { signers: ids });
    sessionId = await rt.contributedSessionId(inbox, proposal, {
      keyId: s.keyId,
      request: s.request,
      start: s.startBody,
      rounds: KEY_ROUND,
      timeoutMs,
      declareRound1: async (derived) => {
        log.info('session id derived', { session: bytesToHex(derived) });
        await s.derived?.(derived);
        if (s.r1Pairwise) expectPairwise(inbox, KEY_ROUND.R1, derived, dealers, dealers);
        else {
          inbox.expect(KEY_ROUND.R1, dealers, (e) => {
            sameSession(e, derived);
            if (e.header.to !== BROADCAST) throw new WireError('WRONG_RECIPIENT', { field: 'header.to' });
            decodeBody(s.kind, KEY_ROUND.R1, s.suite, e.payload);
          });
        }
      },
    });
    const r1 = await rt.collect(inbox, { timeoutMs });
    s.round1?.(sessionId, new Map(dealers.map((id) => [id, r1.get(id)![0]!])));

    // Each dealer sends one encrypted share to every member but itself.
    expectPairwise(inbox, KEY_ROUND.R2, sessionId, dealers, members);
    const allR1 = dealers.flatMap((id) => r1.get(id)!);
    rt.deliver(inbox, ids, sessionId, KEY_ROUND.R1_DELIVER, (id) => (s.r1Pairwise ? allR1.filter((e) => e.header.to === id) : allR1));
    const r2 = [...(await rt.collect(inbox, { timeoutMs })).values()].flat();

    inbox.expect(KEY_ROUND.CONFIRM, members, (e) => {
      toCoordinator(e);
      sameSession(e, sessionId);
      const body = decodeBody<ConfirmBody>(s.kind, KEY_ROUND.CONFIRM, s.suite, e.payload);
      if (body.keyId !== s.keyId) throw new WireError('BAD_FIELD', { field: 'keyId' });
      if (body.epoch !== s.epoch) throw new WireError('BAD_FIELD', { field: 'epoch', message: `BAD_FIELD: epoch: expected ${s.epoch}, got ${body.epoch}` });
    });
    rt.deliver(inbox, members, sessionId, KEY_ROUND.R2_DELIVER, (id) => r2.filter((e) => e.header.to === id));
    const confirms = await rt.collect(inbox, { timeoutMs });
    const confirmEnvelopes = members.map((id) => confirms.get(id)![0]!);
    const bodies = confirmEnvelopes.map((e) => decodeBody<ConfirmBody>(s.kind, KEY_ROUND.CONFIRM, s.suite, e.payload));
    const first = bodies[0]!;
    const firstKey = encodeBody(first.publicKey);
    const dissent = members.filter((_, i) => !equalBytes(bodies[i]!.transcriptHash, first.transcriptHash) || !equalBytes(encodeBody(bodies[i]!.publicKey), firstKey));
    if (dissent.length > 0) throw sessionFault('invalid', dissent, [], `participants confirmed different transcripts (${[members[0]!, ...dissent].join(',')} disagree)`);
    const pkg = fromWirePublicKey(first.publicKey);
    assertPublicKeyPackage(pkg);
    s.check(pkg);

    const recipients = s.commitTo ?? [...ids, ...leavers];
    const frames = await rt.commit(inbox, sessionId, {
      keyId: s.keyId,
      epoch: s.epoch,
      recipients,
      round: KEY_ROUND.COMMIT,
      envelopes: confirmEnvelopes,
      record: (tx) => s.commit(tx, pkg, first.transcriptHash),
    });
    committed = true;
    log.info('key session committed', { session: bytesToHex(sessionId) });
    const online = recipients.filter((id) => rt.link.isConnected(id));
    const unacked = [...(await rt.awaitCommitted(sessionId, frames, online)), ...recipients.filter((id) => !online.includes(id))];
    if (unacked.length > 0) log.warn('commit not yet acknowledged; it is re-sent on reconnect', { signers: unacked });
    return pkg;
  } catch (e) {
    if (!committed) {
      const culprits = isSessionFault(e) ? e.culprits : undefined;
      log.warn('key session aborted', { reason: (e as Error).message, culprits });
      rt.abort(inbox, ids, sessionId, e, culprits);
      // Past the derived id a member may have stored its share and confirmed: resolve the session (resolve.ts).
      // (A repair changes no one's share but the target's, which had none: nothing to resolve.)
      if (s.kind !== 'repair' && !equalBytes(sessionId, proposal)) rt.onUnresolved({ kind: s.kind, suite: s.suite, keyId: s.keyId, epoch: s.epoch, sessionId, participants: members, ...(s.memberRefs ? { members: s.memberRefs } : {}) });
    }
    throw e;
  } finally {
    rt.close(inbox);
  }
}

/** Each of `from` sends one envelope of `round`, encrypted, to every one of `to` but itself. */
function expectPairwise(inbox: Inbox, round: number, sessionId: Uint8Array, from: readonly string[], to: readonly string[]): void {
  inbox.expect(
    round,
    from,
    (e, prior) => {
      const h = e.header;
      sameSession(e, sessionId);
      if (h.to === h.from || !to.includes(h.to) || prior.some((p) => p.header.to === h.to)) throw new WireError('WRONG_RECIPIENT', { field: 'header.to' });
      if (e.enc === undefined) throw new WireError('BAD_FIELD', { field: 'enc', message: 'BAD_FIELD: secret rounds must be encrypted to their recipient' });
    },
    (sender) => to.filter((m) => m !== sender).length,
  );
}

/** A member's ACK of a key session's COMMIT: it holds the new epoch. */
export async function recordAck(rt: SessionRuntime, signer: string, envelope: Envelope, pending: PendingCommit): Promise<void> {
  const h = envelope.header;
  const body = decodeBody<AckBody>(h.kind, h.round, h.suite, envelope.payload);
  if (body.keyId !== pending.keyId || body.epoch !== pending.epoch) throw new WireError('BAD_FIELD', { field: 'keyId', message: 'BAD_FIELD: ACK names another key or epoch' });
  await rt.registry.transaction(async (tx) => {
    await tx.removePendingCommit(pending.seq);
    await tx.acknowledgeEpoch(pending.keyId, signer, pending.epoch);
    await tx.append('commit.acked', pending.keyId, { signer, kind: pending.kind, epoch: pending.epoch });
  });
  rt.log.info('commit acknowledged', { signer, keyId: pending.keyId, epoch: pending.epoch, session: pending.sessionId, kind: h.kind });
}
