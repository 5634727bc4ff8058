/**
 * Key state transitions at the coordinator (docs/cluster-protocol.md "Key states";
 * protocol key-states.ts; NIST SP 800-57 Part 1 §5.3). The coordinator checks the
 * transition against its own record (`nextState`), then, at one commit point, records
 * the new state (audited) and queues a START carrying the admin's signed request for
 * every holder of the key, sent now to those online and re-sent when the others
 * reconnect until each answers. Each signer checks the request and the transition
 * against its own record and answers ACK, or ABORT when it refuses (the refusal is
 * final: audited as 'key.state_refused' and no longer re-sent). Partial delivery is
 * safe by construction: a restriction that reached only some holders leaves fewer
 * signers willing to sign; a resumption takes effect at each signer as it receives it.
 * A transition to the state the coordinator already records (e.g. resume of an active
 * key) is re-delivered without changing it, for a holder that missed or refused the
 * first one.
 *
 * Destruction: 'schedule-destroy' records the coordinator's deadline (its clock plus the
 * delay); once it passes (`destroyDue`), the key is marked destroyed and retired and a
 * 'destroy' START carrying the schedule's request is queued for every holder; each
 * signer wipes only once its OWN clock passed its own deadline, and answers ATTEST (a
 * signed destruction attestation, recorded as retirement's are). A signer that refuses
 * because its deadline is still ahead keeps the START queued; it is re-sent after
 * `DESTROY_RETRY_MS`, as is one refused for want of an audit checkpoint (AUDIT_*:
 * the signer refuses every operation until it cosigns one).
 */
import { bytesToHex, randomBytes } from '@noble/hashes/utils.js';
import {
  STATE_ROUND,
  decodeBody,
  decodeEnvelope,
  nextState,
  type AbortBody,
  type ClientRequest,
  type Envelope,
  type RequestedTransition,
  type StateAckBody,
  type StateStartBody,
  type Transition,
  type UsageState,
} from '@keyquorum/protocol';
import { CoordinatorError } from '../errors.ts';
import type { AuditEventType, PendingCommit, RegistryKey } from '../store/types.ts';
import { recordAttestation } from './retirement.ts';
import type { SessionRuntime } from './runtime.ts';

/** How long after a signer refused a due destruction (its own deadline still ahead) the START is re-sent. */
export const DESTROY_RETRY_MS = 2_000;

const EVENTS: Readonly<Record<Transition, AuditEventType>> = {
  suspend: 'key.suspended',
  resume: 'key.resumed',
  deactivate: 'key.deactivated',
  compromise: 'key.compromised',
  'schedule-destroy': 'key.destroy_scheduled',
  'cancel-destroy': 'key.destroy_cancelled',
  destroy: 'key.destroyed',
};

/** The state a transition leads to when the key is already there (re-delivery). */
const TARGET: Partial<Record<Transition, UsageState>> = { suspend: 'suspended', resume: 'active', deactivate: 'deactivated', compromise: 'compromised' };

export interface StateChange {
  transition: RequestedTransition;
  afterMs: number;
  request: ClientRequest;
}

/** The usage state the coordinator records for `key` ('active' without a record). */
export async function usageOf(rt: SessionRuntime, keyId: string): Promise<UsageState> {
  return (await rt.registry.keyUsage(keyId))?.state ?? 'active';
}

/**
 * Records and queues one transition (WRONG_KEY_STATE if the coordinator's own record
 * does not allow it); waits one round timeout for the online holders' answers and
 * returns who did not answer in time.
 */
export async function changeState(rt: SessionRuntime, key: RegistryKey, change: StateChange): Promise<string[]> {
  const { transition, afterMs, request } = change;
  const usage = await rt.registry.keyUsage(key.id);
  const from = usage?.state ?? 'active';
  const to = nextState(from, transition, usage?.previous) ?? (TARGET[transition] === from ? from : undefined);
  if (to === undefined) throw new CoordinatorError('WRONG_KEY_STATE', { field: 'transition', message: `key ${key.id} is ${from}: ${transition} is not allowed` });
  const now = rt.opts.now();
  const schedule = transition === 'schedule-destroy' ? { afterMs, destroyAt: now + afterMs, request } : undefined;
  const body: StateStartBody = { keyId: key.id, transition, afterMs, request };
  const clientKey = bytesToHex(request.clientKey);
  const approvers = request.approvals === undefined ? {} : { approvers: request.approvals.map((a) => a.approver).sort() };
  const sessionId = randomBytes(32);
  const holders = key.participants.map((p) => p.signer);
  const frames = await rt.queue('state', key.suite, sessionId, {
    keyId: key.id, epoch: key.epoch, recipients: holders, round: STATE_ROUND.START, body,
    record: async (tx) => {
      if (to === from && transition !== 'schedule-destroy') return;
      await tx.setKeyUsage({ keyId: key.id, state: to, previous: transition === 'schedule-destroy' ? from : undefined, schedule });
      if (schedule !== undefined) await tx.append('key.destroy_scheduled', key.id, { from, to, clientKey, ...approvers, afterMs, destroyAt: schedule.destroyAt });
      else await tx.append(EVENTS[transition] as 'key.suspended', key.id, { from, to, clientKey, ...approvers });
    },
  });
  rt.log.info('key state changed', { keyId: key.id, transition, from, to });
  return rt.awaitCommitted(sessionId, frames, holders.filter((id) => rt.link.isConnected(id)));
}

/**
 * Runs a destruction whose deadline passed at the coordinator: the key is marked
 * destroyed (and retired) and the 'destroy' START queued for every holder. Returns false
 * if the key is not (or no longer) scheduled, or its deadline is still ahead.
 */
export async function destroyDue(rt: SessionRuntime, keyId: string): Promise<boolean> {
  const key = await rt.registry.getKey(keyId);
  const usage = await rt.registry.keyUsage(keyId);
  if (key === undefined || usage?.state !== 'destroy-scheduled' || usage.schedule === undefined || rt.opts.now() < usage.schedule.destroyAt) return false;
  const { request, afterMs } = usage.schedule;
  const body: StateStartBody = { keyId, transition: 'destroy', afterMs, request };
  const holders = key.participants.map((p) => p.signer);
  const sessionId = randomBytes(32);
  let still = true;
  const frames = await rt.queue('state', key.suite, sessionId, {
    keyId, epoch: key.epoch, recipients: holders, round: STATE_ROUND.START, body,
    record: async (tx) => {
      // Read again in the transaction: a cancel may have landed since the read above.
      still = (await tx.keyUsage(keyId))?.state === 'destroy-scheduled';
      if (!still) throw new Error(`${keyId} is no longer scheduled for destruction`);
      await tx.setKeyUsage({ keyId, state: 'destroyed', previous: undefined, schedule: undefined });
      await tx.setState(keyId, 'retired');
      await tx.append('key.destroyed', keyId, { from: 'destroy-scheduled', to: 'destroyed', clientKey: bytesToHex(request.clientKey) });
    },
  }).catch((e: unknown) => {
    if (still) throw e;
    return undefined;
  });
  if (frames === undefined) return false;
  for (const id of holders) rt.link.sendFrame(id, frames.get(id)!);
  rt.log.info('key destruction due: wipe queued for every holder', { keyId, signers: holders });
  return true;
}

/** The transition a queued state START carries. */
function transitionOf(pending: PendingCommit): Transition {
  const e = decodeEnvelope(pending.frame);
  return decodeBody<StateStartBody>('state', STATE_ROUND.START, e.header.suite, e.payload).transition;
}

/**
 * A holder's answer to a queued state START (its envelope already checked by
 * `answeredCommit`): ACK or ATTEST drop it from the queue (audited); ABORT drops it too
 * (a final refusal, audited), except the refusal of a due destruction, which is re-sent
 * after `DESTROY_RETRY_MS` (`retry`).
 */
export async function recordStateAnswer(rt: SessionRuntime, signer: string, envelope: Envelope, pending: PendingCommit, retry: (delayMs: number) => void): Promise<void> {
  const h = envelope.header;
  if (h.round === STATE_ROUND.ATTEST) return recordAttestation(rt, signer, envelope, pending);
  const transition = transitionOf(pending);
  if (h.round === STATE_ROUND.ACK) {
    const ack = decodeBody<StateAckBody>('state', h.round, h.suite, envelope.payload);
    await rt.registry.transaction(async (tx) => {
      await tx.removePendingCommit(pending.seq);
      await tx.append('key.state_applied', pending.keyId, { signer, transition, state: ack.state });
    });
    return;
  }
  const { reason } = decodeBody<AbortBody>('state', h.round, h.suite, envelope.payload);
  if (transition === 'destroy' && reason.startsWith('WRONG_KEY_STATE') && reason.includes('destroy-scheduled here until')) {
    rt.log.info('destruction not yet due at the signer; re-sending later', { signer, keyId: pending.keyId, reason });
    return retry(DESTROY_RETRY_MS);
  }
  if (reason.startsWith('AUDIT_')) {
    // Not a refusal of the transition: the signer waits for an audit checkpoint (checkpoints.ts) first.
    rt.log.warn('a holder deferred a key state transition until its audit checkpoint', { signer, keyId: pending.keyId, reason });
    return retry(DESTROY_RETRY_MS);
  }
  await rt.registry.transaction(async (tx) => {
    await tx.removePendingCommit(pending.seq);
    await tx.append('key.state_refused', pending.keyId, { signer, transition, reason });
  });
  rt.log.warn('key state transition refused by a holder', { signer, keyId: pending.keyId, transition, reason });
}
