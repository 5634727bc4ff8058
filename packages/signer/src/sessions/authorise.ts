/**
 * `authoriseUse`: will this signer do this operation, for this key, now? One answer
 * for every START (docs/cluster-protocol.md, ARCHITECTURE.md "Usage"): first its own
 * records of the key (its usage state: suspended, deactivated, compromised, ...; epoch, suite), then the operation's own checks against
 * the share, then the client request: op and key id, the digest this signer
 * recomputes, the signature, roles, freshness, the key's policy here (client
 * allow-list, approvals, for a signature the sign rules and velocity) and the
 * persistent replay window (last, so only admitted requests consume an entry;
 * admit.ts). Sign requests may be started
 * `MAX_ATTEMPTS_PER_REQUEST` times: attempt n is remembered as the request nonce
 * extended by the byte n. A refusal is a thrown `SignerError` (or the keystore's or
 * wire's typed error) and leaves no secret behind; the answer is the loaded share,
 * which the caller then owns and wipes.
 */
import { equalBytes } from '@noble/curves/utils.js';
import { parsePath } from '@keyquorum/crypto';
import { DEFAULT_POLICY, allowsUse, checkPolicyHandover, checkScheduledRefresh, encodeBody, policyFromText, type ClientRequest, type KeyPolicy, type Operation, type ParsedTx, type ParticipantRef, type WirePublicKey } from '@keyquorum/protocol';
import { MAX_ATTEMPTS_PER_REQUEST } from '../constants.ts';
import { SignerError, underPolicy } from '../errors.ts';
import { loadShare, wipeHeldShare } from '../schemes/index.ts';
import type { HeldShare } from '../held-share.ts';
import { admitRequest } from './admit.ts';
import { policyOf, type ApprovalGrant } from './approvals.ts';
import { sameRefs, type SessionContext } from './context.ts';

interface UseOf<O extends Operation> {
  op: O;
  keyId: string;
  /** The suite the START names. */
  suite: string;
  request: ClientRequest;
  /** The request digest this signer recomputes from the START body. */
  digest: Uint8Array;
  /** The START's approvals as verified before this synchronous path (sessions/approvals.ts). */
  grant?: ApprovalGrant | undefined;
}

/** A use of the key this signer holds active at `epoch`; `check` is the operation's own (participants, derivation target, message form). */
export interface ActiveKeyUse extends Omit<UseOf<'sign' | 'refresh' | 'retire'>, 'request'> {
  /** Undefined only for a scheduled refresh: the key's policy authorises it (`admitScheduled`). */
  request: ClientRequest | undefined;
  epoch: number;
  check?(share: HeldShare): void;
  /** A signature's derivation path as the START names it (the policy's derivation and per-path velocity rules). */
  path?: string | undefined;
  /** A transaction's signature: the input signed, and the transaction parsed against the share (its target checked; sign-tx.ts). */
  tx?: { input: number; parse(share: HeldShare): ParsedTx } | undefined;
}

/** A reshare: a holder's share must be the reshare's old key; a dealer must hold one. */
export interface ReshareUse extends UseOf<'reshare'> {
  epoch: number;
  oldPublicKey: WirePublicKey;
  oldParticipants: readonly ParticipantRef[];
  dealer: boolean;
  /** The policy the START hands over (canonical text; undefined = default): a holder's must be exactly it. */
  handover: string | undefined;
}

/**
 * A share repair: a helper must hold the key active at `epoch` with exactly this package and
 * participants; the target must hold none of it (a pending leftover is allowed: START drops it).
 */
export interface RepairUse extends UseOf<'repair'> {
  epoch: number;
  publicKey: WirePublicKey;
  participants: readonly ParticipantRef[];
  helper: boolean;
  /** As ReshareUse's: a helper's policy must be exactly it. */
  handover: string | undefined;
}

export type KeyUse = UseOf<'createKey'> | ActiveKeyUse | ReshareUse | RepairUse;

export function authoriseUse(ctx: SessionContext, use: UseOf<'createKey'>): undefined;
export function authoriseUse(ctx: SessionContext, use: ActiveKeyUse): HeldShare;
export function authoriseUse(ctx: SessionContext, use: ReshareUse | RepairUse): HeldShare | undefined;
export function authoriseUse(ctx: SessionContext, use: KeyUse): HeldShare | undefined {
  refuseByState(ctx, use.keyId, use.op);
  const share = heldShare(ctx, use);
  try {
    verifyRequest(ctx, use, share);
  } catch (e) {
    if (share) wipeHeldShare(share);
    throw e;
  }
  return share;
}

/**
 * The key's state as this signer recorded it (sessions/state.ts) allows the operation
 * (`allowsUse`): a suspended key signs nothing here whatever the coordinator says.
 */
export function refuseByState(ctx: SessionContext, keyId: string, op: Operation): void {
  const state = ctx.keystore.keyState(keyId)?.state;
  if (state !== undefined && !allowsUse(state, op)) throw new SignerError('WRONG_KEY_STATE', { field: 'keyId', message: `${keyId} is ${state} here: no ${op}` });
}

/** This signer's own records of the key allow the use: the share it needs, if any. */
function heldShare(ctx: SessionContext, use: KeyUse): HeldShare | undefined {
  const { keyId } = use;
  if (use.op === 'createKey') {
    if (ctx.keystore.listKeys().some((k) => k.keyId === keyId && k.state !== 'pending')) {
      throw new SignerError('WRONG_KEY_STATE', { field: 'keyId', message: `${keyId} already exists` });
    }
    return undefined;
  }
  if (use.op === 'reshare') return reshareShare(ctx, use);
  if (use.op === 'repair') return repairShare(ctx, use);
  const share = loadShare(ctx.keystore.getActive(keyId));
  try {
    if (share.epoch !== use.epoch) throw new SignerError('WRONG_KEY_STATE', { field: 'epoch', message: `${keyId} is active at epoch ${share.epoch}` });
    if (share.suite !== use.suite) throw new SignerError('WRONG_SUITE', { field: 'header.suite', message: `${keyId} is ${share.suite}` });
    use.check?.(share);
  } catch (e) {
    wipeHeldShare(share);
    throw e;
  }
  return share;
}

function reshareShare(ctx: SessionContext, use: ReshareUse): HeldShare | undefined {
  const { keyId } = use;
  const held = ctx.keystore.listKeys().find((k) => k.keyId === keyId);
  if (held === undefined || held.state === 'pending') {
    if (use.dealer) throw new SignerError('WRONG_KEY_STATE', { field: 'dealers', message: `${ctx.signerId} holds no share of ${keyId}` });
    return undefined;
  }
  const share = loadShare(ctx.keystore.getActive(keyId));
  const matches = share.epoch === use.epoch && share.suite === use.suite &&
    equalBytes(encodeBody(share.publicPart.publicKey), encodeBody(use.oldPublicKey)) && sameRefs(share.publicPart.participants, use.oldParticipants);
  if (!matches) {
    wipeHeldShare(share);
    throw new SignerError('WRONG_KEY_STATE', { field: 'oldPublicKey', message: `${keyId} here differs from the reshare's epoch ${use.epoch} key` });
  }
  return share;
}

function repairShare(ctx: SessionContext, use: RepairUse): HeldShare | undefined {
  const { keyId } = use;
  const held = ctx.keystore.listKeys().find((k) => k.keyId === keyId);
  if (!use.helper) {
    if (held !== undefined && held.state !== 'pending') throw new SignerError('WRONG_KEY_STATE', { field: 'target', message: `${ctx.signerId} holds ${keyId} (${held.state}): nothing to repair` });
    return undefined;
  }
  const share = loadShare(ctx.keystore.getActive(keyId));
  const matches = share.epoch === use.epoch && share.suite === use.suite &&
    equalBytes(encodeBody(share.publicPart.publicKey), encodeBody(use.publicKey)) && sameRefs(share.publicPart.participants, use.participants);
  if (!matches) {
    wipeHeldShare(share);
    throw new SignerError('WRONG_KEY_STATE', { field: 'publicKey', message: `${keyId} here differs from the repair's epoch ${use.epoch} key` });
  }
  return share;
}

/**
 * The client request authorises exactly this use, is genuine, fresh, allowed by the key's policy here, and new (admit.ts).
 * An old holder of a reshare or repair (it holds a share) also checks the policy the START hands to the new holders
 * is exactly its own (`checkPolicyHandover`: docs/governance.md "Handover").
 */
function verifyRequest(ctx: SessionContext, use: KeyUse, share: HeldShare | undefined): void {
  const { op, keyId, request, digest, grant } = use;
  if (request === undefined) return admitScheduled(ctx, op, keyId, share!);
  if (op === 'createKey') return void admitRequest(ctx, { op, keyId, request, digest });
  const tx = op === 'sign' && use.tx !== undefined ? { input: use.tx.input, parsed: use.tx.parse(share!) } : undefined;
  const sign = op === 'sign' ? { path: parsePath(use.path ?? []), epochSince: share!.createdAt, ...(tx ? { tx } : {}) } : undefined;
  const handover = (op === 'reshare' || op === 'repair') && share !== undefined ? use.handover : null;
  const check = handover === null ? undefined : (inForce: KeyPolicy) => checkPolicyHandover(inForce, handover === undefined ? DEFAULT_POLICY : policyFromText(handover));
  admitRequest(ctx, { op, keyId, request, digest, action: op, grant, ...(sign ? { sign, attempts: MAX_ATTEMPTS_PER_REQUEST } : {}), ...(check ? { check } : {}) });
}

/**
 * A scheduled refresh (START `scheduled: true`, no client request): the key's policy HERE
 * must have a refresh rule and this signer's share of the current epoch must be due by
 * its own clock (`checkScheduledRefresh`). Nothing is written: it changes no public key
 * and no holder, and once committed the new share is not due again for a period.
 */
function admitScheduled(ctx: SessionContext, op: Operation, keyId: string, share: HeldShare): void {
  if (op !== 'refresh') throw new SignerError('BAD_FIELD', { field: 'request', message: `${op} needs a client request` });
  const { policy } = policyOf(ctx, keyId);
  underPolicy(() => checkScheduledRefresh(policy, { now: ctx.now(), epochSince: share.createdAt }));
}
