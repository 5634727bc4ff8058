/**
 * Unresolved key sessions (docs/cluster-protocol.md "Unresolved key sessions"; issue
 * 10, finding 3). A session commits only once every participant's signed CONFIRM
 * exists, and a signer signs its CONFIRM only after storing its share pending; so while
 * it holds that pending share, the session may have committed elsewhere (peers may have
 * activated it and wiped the old epoch). The pending share is therefore never discarded
 * on the coordinator's word: not on a new START (refused PENDING_UNRESOLVED while it
 * is held), not on a bare ABORT. It goes only
 * - by activation: a COMMIT carrying every participant's CONFIRM (`key-commit.ts`), or
 * - by proof the session can never commit: an ABORT carrying a participant's signed
 *   VETO of that session. A signer vetoes a session (answering RESOLVE) only if it holds
 *   no share of it and no active epoch at or past the session's; it records the veto
 *   durably before signing it and from then on refuses to store or activate the session.
 * A RESOLVE is answered with this signer's CONFIRM of the session when it holds a share
 * of it (pending or already active), its earlier VETO if it vetoed it, or a new VETO.
 */
import { equalBytes } from '@noble/curves/utils.js';
import {
  COORDINATOR_ID,
  KEY_ROUND,
  PROTOCOL_VERSION,
  WireError,
  decodeBody,
  decodeEnvelope,
  encodeBody,
  encodeEnvelope,
  openEnvelope,
  sealEnvelope,
  type AbortBody,
  type Envelope,
  type ParticipantRef,
  type ResolveBody,
} from '@keyquorum/protocol';
import { SignerError } from '../errors.ts';
import { decodeSharePublicPart, type SharePublicPart } from '../held-share.ts';
import { hex, pinnedKey, sameRefs, type SessionContext } from './context.ts';

const KEY_KINDS: readonly string[] = ['dkg', 'refresh', 'reshare'];

/** A START refused because the key holds an unresolved session; carries this signer's CONFIRM of it and the member refs stored with the share. */
export class PendingUnresolved extends SignerError {
  readonly evidence: Pick<AbortBody, 'envelopes' | 'participants'>;

  constructor(keyId: string, epoch: number, sessionId: Uint8Array, confirm: Envelope | undefined, participants: ParticipantRef[]) {
    super('PENDING_UNRESOLVED', { field: 'keyId', message: `${keyId} holds a pending share of session ${hex(sessionId)} at epoch ${epoch}; it must be resolved (COMMIT or a participant's VETO) first` });
    this.evidence = confirm === undefined ? {} : { envelopes: [confirm], participants };
  }
}

interface HeldOfSession {
  epoch: number;
  state: 'pending' | 'active';
  suite: string;
  publicPart: SharePublicPart;
}

/** The share of `keyId` at `epoch` (pending or active), public part only; its secret is zeroed at once. */
function heldAt(ctx: SessionContext, keyId: string, epoch: number): HeldOfSession {
  const row = ctx.keystore.getShare(keyId, epoch);
  row.secret.fill(0);
  return { epoch, state: row.state as 'pending' | 'active', suite: row.suite, publicPart: decodeSharePublicPart(row.public) };
}

/** The key's active epoch (null if none) and its pending share (undefined if none). */
function keyState(ctx: SessionContext, keyId: string): { active: number | null; pending: HeldOfSession | undefined } {
  const k = ctx.keystore.listKeys().find((s) => s.keyId === keyId);
  if (k === undefined || k.state === 'retired') return { active: null, pending: undefined };
  const pendingEpoch = k.state === 'pending' ? k.epoch : k.pendingEpoch;
  return { active: k.state === 'active' ? k.epoch : null, pending: pendingEpoch === null ? undefined : heldAt(ctx, keyId, pendingEpoch) };
}

/** This signer's stored CONFIRM of the share at `epoch`, when it belongs to `sessionId`. */
function storedConfirm(ctx: SessionContext, keyId: string, epoch: number, sessionId: Uint8Array): Envelope | undefined {
  const kept = ctx.keystore.confirmOf(keyId, epoch);
  if (kept === undefined || !equalBytes(kept.sessionId, sessionId)) return undefined;
  return decodeEnvelope(kept.envelope);
}

/** Refuses a key-session START for `keyId` while it holds a pending share (before the request is checked, so nothing is consumed). */
export function refuseUnresolved(ctx: SessionContext, keyId: string): void {
  const { pending } = keyState(ctx, keyId);
  if (pending === undefined) return;
  const { sessionId } = pending.publicPart;
  throw new PendingUnresolved(keyId, pending.epoch, sessionId, storedConfirm(ctx, keyId, pending.epoch, sessionId), pending.publicPart.participants);
}

/** What a failure carries to the coordinator besides its reason: a PENDING_UNRESOLVED's CONFIRM and the member refs stored with the share. */
export function evidenceOf(e: unknown): Pick<AbortBody, 'envelopes' | 'participants'> {
  return e instanceof PendingUnresolved ? e.evidence : {};
}

function seal(ctx: SessionContext, h: { kind: string; suite: string; sessionId: Uint8Array; round: number }, body: unknown): Envelope {
  return sealEnvelope(ctx.identity, { v: PROTOCOL_VERSION, ...h, from: ctx.signerId, to: COORDINATOR_ID }, encodeBody(body));
}

/** A CONFIRM of the share, as first signed (the stored envelope) or signed again under the RESOLVE's kind (a share stored before keystore migration 2). */
function confirmOf(ctx: SessionContext, env: Envelope, keyId: string, held: HeldOfSession): Envelope {
  const { sessionId } = env.header;
  const kept = storedConfirm(ctx, keyId, held.epoch, sessionId);
  if (kept !== undefined) return kept;
  const { publicKey, transcriptHash } = held.publicPart;
  return seal(ctx, { kind: env.header.kind, suite: held.suite, sessionId, round: KEY_ROUND.CONFIRM }, { keyId, epoch: held.epoch, transcriptHash, publicKey });
}

/**
 * RESOLVE (C->S, header = the session's kind, suite and id): this signer's CONFIRM of the
 * session if it holds a share of it, else its VETO (recorded durably before it is
 * signed). No veto when its active epoch is at or past the session's epoch: it may
 * have committed that session (WRONG_KEY_STATE). A RESOLVE naming the session's members
 * (`participants`, a reshare's) is refused BAD_PARTICIPANTS when they are not the refs
 * stored with this signer's share (the coordinator would record them), and, from a
 * signer holding no share, when they do not name it: only a member's VETO counts, so
 * a signer not named (a reshare's leaver) is no one to veto.
 */
export function answerResolve(ctx: SessionContext, env: Envelope, body: ResolveBody): void {
  const { kind, suite, sessionId } = env.header;
  const { keyId, epoch, participants } = body;
  const badRefs = (message: string) => new SignerError('BAD_PARTICIPANTS', { field: 'participants', message });
  const k = ctx.keystore.listKeys().find((s) => s.keyId === keyId);
  if (k !== undefined && k.state !== 'retired') {
    const epochs = [k.epoch, ...(k.state === 'active' && k.pendingEpoch !== null ? [k.pendingEpoch] : [])];
    for (const e of epochs) {
      const held = heldAt(ctx, keyId, e);
      if (!equalBytes(held.publicPart.sessionId, sessionId)) continue;
      if (participants !== undefined && !sameRefs(participants, held.publicPart.participants)) throw badRefs('not the members this signer stored with its share of the session');
      ctx.send(confirmOf(ctx, env, keyId, held));
      ctx.log.info('resolve: confirmed the session again', { keyId, epoch: e, state: held.state, sessionId: hex(sessionId) });
      return;
    }
  }
  if (participants !== undefined && !participants.some((p) => p.signer === ctx.signerId)) throw badRefs(`${ctx.signerId} holds no share of the session and is not one of the members named: it does not veto`);
  const earlier = ctx.keystore.vetoOf(sessionId);
  if (earlier !== undefined) {
    ctx.send(decodeEnvelope(earlier.envelope));
    return;
  }
  if (k?.state === 'active' && k.epoch >= epoch) {
    throw new SignerError('WRONG_KEY_STATE', { field: 'epoch', message: `${keyId} is active here at epoch ${k.epoch}: no veto of a session for epoch ${epoch}` });
  }
  const veto = seal(ctx, { kind, suite, sessionId, round: KEY_ROUND.VETO }, { keyId, epoch });
  ctx.keystore.recordVeto(sessionId, keyId, epoch, encodeEnvelope(veto));
  ctx.log.warn('resolve: vetoed a session this signer holds no share of', { keyId, epoch, sessionId: hex(sessionId) });
  ctx.send(veto);
}

/**
 * A key session's ABORT from the coordinator, for a session no longer live here. A
 * pending share of that session is kept on a bare ABORT (it may have committed); it is
 * discarded only with a participant's VETO of it, checked in full ('BAD_VETO', nothing
 * changed, otherwise). True if a pending share was discarded.
 */
export function abortPending(ctx: SessionContext, env: Envelope, body: AbortBody): boolean {
  const { sessionId } = env.header;
  const pending = pendingOfSession(ctx, sessionId);
  if (pending === undefined) return false;
  const { keyId, held } = pending;
  if (body.envelopes === undefined) {
    ctx.log.warn('ABORT without a VETO after CONFIRM: the pending share is kept until the session is resolved', { keyId, epoch: held.epoch, sessionId: hex(sessionId) });
    return false;
  }
  checkVeto(ctx, body.envelopes[0]!, keyId, held, sessionId);
  ctx.keystore.discardPending(keyId, held.epoch);
  ctx.log.info('pending share discarded: a participant vetoed its session', { keyId, epoch: held.epoch, sessionId: hex(sessionId), vetoedBy: body.envelopes[0]!.header.from });
  return true;
}

function pendingOfSession(ctx: SessionContext, sessionId: Uint8Array): { keyId: string; held: HeldOfSession } | undefined {
  for (const k of ctx.keystore.listKeys()) {
    if (k.state === 'retired') continue;
    const { pending } = keyState(ctx, k.keyId);
    if (pending !== undefined && equalBytes(pending.publicPart.sessionId, sessionId)) return { keyId: k.keyId, held: pending };
  }
  return undefined;
}

/** A VETO proves the session cannot commit: signed by the pinned key of another participant of it, about this session, key and epoch. */
function checkVeto(ctx: SessionContext, veto: Envelope, keyId: string, held: HeldOfSession, sessionId: Uint8Array): void {
  const h = veto.header;
  const bad = (message: string) => new SignerError('BAD_VETO', { field: 'envelopes[0]', message });
  if (!KEY_KINDS.includes(h.kind) || h.round !== KEY_ROUND.VETO || h.to !== COORDINATOR_ID) throw bad('not a VETO');
  if (!equalBytes(h.sessionId, sessionId)) throw bad('a VETO of another session');
  if (h.suite !== held.suite) throw bad('a VETO under another suite');
  if (h.from === ctx.signerId) throw bad('this signer holds the share: it never vetoes its session');
  if (!held.publicPart.participants.some((p) => p.signer === h.from)) throw bad(`${h.from} is not a participant of the session`);
  let body: ResolveBody;
  try {
    openEnvelope(veto, pinnedKey(ctx, h.from));
    body = decodeBody<ResolveBody>(h.kind, h.round, h.suite, veto.payload);
  } catch (e) {
    if (!(e instanceof WireError)) throw e;
    throw bad(`${e.code}: the VETO does not verify under ${h.from}'s pinned key`);
  }
  if (body.keyId !== keyId || body.epoch !== held.epoch) throw bad(`a VETO of ${body.keyId} epoch ${body.epoch}, not ${keyId} epoch ${held.epoch}`);
}

/** Seals this signer's CONFIRM without sending it (it is stored with the pending share first). */
export function sealConfirm(ctx: SessionContext, h: { kind: string; suite: string; sessionId: Uint8Array }, body: unknown): Envelope {
  return seal(ctx, { ...h, round: KEY_ROUND.CONFIRM }, body);
}

/** 'VETOED' if this signer vetoed the session: it is never activated here. */
export function refuseVetoed(ctx: SessionContext, sessionId: Uint8Array): void {
  if (ctx.keystore.vetoOf(sessionId) !== undefined) throw new SignerError('VETOED', { field: 'header.sessionId', message: 'this signer vetoed this session' });
}
