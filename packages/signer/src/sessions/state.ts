/**
 * Key state transitions (docs/cluster-protocol.md "Key states"; protocol key-states.ts;
 * NIST SP 800-57 Part 1 §5.3). START carries an admin's signed request; this signer
 * checks it itself against its own records, never the coordinator's word:
 *   - the key is one it holds (an active share, of the header's suite);
 *   - the transition is legal from the state it recorded (`nextState`): compromised
 *     and deactivated never return to active;
 *   - the request: op 'state', this key, `stateDigest` of exactly this transition and
 *     delay, not older than the last transition it applied, then `admitRequest`
 *     (trusted client whose role allows 'state', i.e. admin; signature; freshness;
 *     the key's policy here: client allow-list for 'state', the approvals it
 *     requires for this transition; the persistent replay window, consumed last). A restrictive transition
 *     (suspend, deactivate, compromise, schedule-destroy) may arrive after the
 *     request's window (re-delivered to a signer that was away): only the future bound
 *     of the freshness check applies to it, and its approvals do not expire.
 * Then it records the new state durably (with its history) and answers ACK. A START
 * re-sent after a lost ACK (same request id, already applied) is answered again.
 *
 * 'destroy' wipes the shares of a key scheduled for destruction: the START carries the
 * schedule's request, which must be the one this signer recorded, and this signer's
 * OWN clock must have passed its deadline (its clock when it recorded the schedule plus
 * the delay). It answers ATTEST, a signed destruction attestation (as retirement).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { equalBytes } from '@noble/curves/utils.js';
import {
  RESTRICTIVE,
  STATE_ROUND,
  WireError,
  clientRequestId,
  encodeBody,
  nextState,
  stateDigest,
  verifyClientRequest,
  type ApprovalAction,
  type Envelope,
  type RequestedTransition,
  type RetireAttestBody,
  type StateAckBody,
  type StateStartBody,
  type UsageState,
} from '@keyquorum/protocol';
import { admitRequest } from './admit.ts';
import type { ApprovalGrant } from './approvals.ts';
import { SignerError } from '../errors.ts';
import type { KeyStateRecord } from '../keystore/key-states.ts';
import { loadShare, wipeHeldShare } from '../schemes/index.ts';
import { hex, sendBody, sendPayload, type SessionContext } from './context.ts';

export function applyState(ctx: SessionContext, env: Envelope, body: StateStartBody, grant?: ApprovalGrant): void {
  const { keyId, transition } = body;
  const requestId = clientRequestId(body.request);
  const held = () => {
    const share = loadShare(ctx.keystore.getActive(keyId));
    wipeHeldShare(share);
    return share;
  };
  if (transition === 'destroy') return destroy(ctx, env, body, requestId);
  const record = ctx.keystore.keyState(keyId);
  const from: UsageState = record?.state ?? 'active';
  if (ctx.keystore.transitionApplied(keyId, requestId)) return ack(ctx, env, { keyId, transition, state: from, requestId });
  if (held().suite !== env.header.suite) throw new SignerError('WRONG_SUITE', { field: 'header.suite', message: `${keyId} is not ${env.header.suite}` });
  const to = nextState(from, transition, record?.previous);
  if (to === undefined) throw new SignerError('WRONG_KEY_STATE', { field: 'transition', message: `${keyId} is ${from} here: ${transition} is not allowed` });
  checkRequest(ctx, body, transition, record, grant);
  const now = ctx.now();
  const next: KeyStateRecord = {
    keyId,
    state: to,
    previous: transition === 'schedule-destroy' ? from : undefined,
    requestId,
    requestTimestamp: body.request.timestamp,
    notBefore: transition === 'schedule-destroy' ? now + body.afterMs : undefined,
    updatedAt: now,
  };
  ctx.keystore.recordKeyState(next, { keyId, transition, from, to, at: now, requestId });
  ctx.log.info('key state changed', { keyId, transition, from, to, sessionId: hex(env.header.sessionId) });
  ack(ctx, env, { keyId, transition, state: to, requestId });
}

function ack(ctx: SessionContext, env: Envelope, body: StateAckBody): void {
  sendBody(ctx, { kind: 'state', suite: env.header.suite, sessionId: env.header.sessionId, round: STATE_ROUND.ACK }, body);
}

/** The admin's request authorises exactly this transition, is not older than the last one applied, and is admitted (fresh, or late but restrictive; allowed by the policy; new). */
function checkRequest(ctx: SessionContext, { keyId, afterMs, request }: StateStartBody, transition: RequestedTransition, record: KeyStateRecord | undefined, grant: ApprovalGrant | undefined): void {
  const digest = stateDigest({ keyId, transition, afterMs });
  if (record !== undefined && request.op === 'state' && request.keyId === keyId && equalBytes(request.digest, digest) && request.timestamp < record.requestTimestamp) {
    throw new WireError('STALE', { field: 'request.timestamp', message: `STALE: older than the last transition of ${keyId} applied here` });
  }
  const action: ApprovalAction = transition;
  admitRequest(ctx, { op: 'state', keyId, request, digest, action, ...(grant ? { grant } : {}), late: RESTRICTIVE.includes(transition) });
}

function destroy(ctx: SessionContext, env: Envelope, body: StateStartBody, requestId: Uint8Array): void {
  const { keyId } = body;
  const { suite, sessionId } = env.header;
  const header = { kind: 'state', suite, sessionId, round: STATE_ROUND.ATTEST };
  const record = ctx.keystore.keyState(keyId);
  if (record?.state === 'destroyed' && equalBytes(record.requestId, requestId)) return void sendPayload(ctx, header, ctx.keystore.getAttestation(keyId));
  if (record?.state !== 'destroy-scheduled') throw new SignerError('WRONG_KEY_STATE', { field: 'transition', message: `${keyId} is ${record?.state ?? 'active'} here, not destroy-scheduled` });
  // The schedule this signer recorded, and nothing else: its request id, its digest, still from a trusted admin.
  if (!equalBytes(record.requestId, requestId)) throw new SignerError('BAD_DIGEST', { field: 'request', message: 'not the destruction schedule recorded here' });
  const { request } = body;
  if (request.op !== 'state' || !equalBytes(request.digest, stateDigest({ keyId, transition: 'schedule-destroy', afterMs: body.afterMs }))) {
    throw new SignerError('BAD_DIGEST', { field: 'request.digest', message: 'not a destruction schedule' });
  }
  verifyClientRequest(request, { trusted: ctx.clients, now: request.timestamp, replay: { checkAndRemember: () => true } });
  const now = ctx.now();
  if (record.notBefore === undefined || now < record.notBefore) {
    throw new SignerError('WRONG_KEY_STATE', { field: 'transition', message: `${keyId} is destroy-scheduled here until ${new Date(record.notBefore ?? 0).toISOString()}` });
  }
  const share = loadShare(ctx.keystore.getActive(keyId));
  wipeHeldShare(share);
  if (share.suite !== suite) throw new SignerError('WRONG_SUITE', { field: 'header.suite' });
  const { publicPart } = share;
  const position = publicPart.publicKey.participants.indexOf(publicPart.self);
  const attest: RetireAttestBody = { keyId, epoch: share.epoch, destroyedAt: now, verifyingShare: publicPart.publicKey.verifyingShares[position]! };
  const payload = encodeBody(attest);
  const next: KeyStateRecord = { ...record, state: 'destroyed', previous: undefined, notBefore: undefined, updatedAt: now };
  ctx.keystore.recordKeyState(next, { keyId, transition: 'destroy', from: 'destroy-scheduled', to: 'destroyed', at: now, requestId }, { attestationDigest: sha256(payload), attestation: payload });
  sendPayload(ctx, header, payload);
  ctx.log.info('key destroyed', { keyId, epoch: share.epoch, sessionId: hex(sessionId) });
}
