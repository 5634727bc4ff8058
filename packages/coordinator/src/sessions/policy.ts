/**
 * Policy delivery (docs/governance.md; protocol policy-messages.ts), modelled on key
 * state transitions (state.ts): at one commit point the coordinator records the key's
 * next policy (audited 'key.policy_set') and queues a 'policy' START carrying the
 * policy's canonical text and the admin's request (with its approvals) for every
 * holder; it is sent now to those online and re-sent when the others reconnect, until
 * each answers. ACK: the holder enforces that version ('key.policy_applied'). ABORT: a
 * final refusal ('key.policy_refused', and 'policy.denied' with the rule when the
 * signer names one), no longer re-sent. Session id = `clientRequestId` of the request.
 */
import { bytesToHex } from '@noble/hashes/utils.js';
import {
  POLICY_ROUND,
  clientRequestId,
  decodeBody,
  decodeEnvelope,
  policyDigest,
  policyToText,
  type ClientRequest,
  type Envelope,
  type KeyPolicy,
  type PolicyAbortBody,
  type PolicyAckBody,
  type PolicyStartBody,
} from '@keyquorum/protocol';
import type { PendingCommit, RegistryKey } from '../store/types.ts';
import type { SessionRuntime } from './runtime.ts';

export interface PolicyChange {
  policy: KeyPolicy;
  /** The admin's request, with the approvals it carries. */
  request: ClientRequest;
  /** The approver ids the coordinator verified. */
  approvers: string[];
}

export interface PolicyDelivery {
  /** Holders that acknowledged the new version within one round timeout. */
  delivered: string[];
  /** Holders that have not answered yet: re-sent on reconnect. */
  pending: string[];
}

/** Records `change` and delivers it to every holder; waits one round timeout for the online ones. */
export async function setPolicy(rt: SessionRuntime, key: RegistryKey, change: PolicyChange): Promise<PolicyDelivery> {
  const { policy, request, approvers } = change;
  const text = policyToText(policy);
  const digest = bytesToHex(policyDigest(policy));
  const body: PolicyStartBody = { keyId: key.id, policy: text, request };
  const sessionId = clientRequestId(request);
  const hex = bytesToHex(sessionId);
  const holders = key.participants.map((p) => p.signer);
  const clientKey = bytesToHex(request.clientKey);
  const frames = await rt.queue('policy', key.suite, sessionId, {
    keyId: key.id, epoch: key.epoch, recipients: holders, round: POLICY_ROUND.START, body,
    record: async (tx) => {
      await tx.addPolicy({ keyId: key.id, version: policy.version, text, digest, clientKey, approvers });
      await tx.append('key.policy_set', key.id, { version: policy.version, digest, clientKey, approvers });
    },
  });
  rt.log.info('key policy set', { keyId: key.id, version: policy.version, digest });
  await rt.awaitCommitted(sessionId, frames, holders.filter((id) => rt.link.isConnected(id)));
  const acked = new Set(
    (await rt.registry.audit(key.id))
      .filter((e) => e.event === 'key.policy_applied' && e.data.version === policy.version)
      .map((e) => e.data.signer as string),
  );
  const pending: string[] = [];
  for (const id of holders) if ((await rt.registry.findPendingCommit(id, hex)) !== undefined) pending.push(id);
  return { delivered: holders.filter((id) => acked.has(id)), pending };
}

/**
 * A holder's answer to a queued policy START (its envelope already checked by
 * `answeredCommit`): ACK or ABORT drop it from the queue, audited.
 */
export async function recordPolicyAnswer(rt: SessionRuntime, signer: string, envelope: Envelope, pending: PendingCommit): Promise<void> {
  const h = envelope.header;
  const start = decodeEnvelope(pending.frame);
  const sent = decodeBody<PolicyStartBody>('policy', POLICY_ROUND.START, start.header.suite, start.payload);
  const version = (JSON.parse(sent.policy) as { version: number }).version;
  if (h.round === POLICY_ROUND.ACK) {
    const ack = decodeBody<PolicyAckBody>('policy', h.round, h.suite, envelope.payload);
    await rt.registry.transaction(async (tx) => {
      await tx.removePendingCommit(pending.seq);
      await tx.append('key.policy_applied', pending.keyId, { signer, version: ack.version, digest: bytesToHex(ack.digest) });
    });
    return;
  }
  const { reason, rule } = decodeBody<PolicyAbortBody>('policy', h.round, h.suite, envelope.payload);
  await rt.registry.transaction(async (tx) => {
    await tx.removePendingCommit(pending.seq);
    await tx.append('key.policy_refused', pending.keyId, { signer, version, reason, ...(rule === undefined ? {} : { rule }) });
    if (rule !== undefined) await tx.append('policy.denied', pending.keyId, { rule, where: signer, op: 'policy', reason, clientKey: bytesToHex(sent.request.clientKey) });
  });
  rt.log.warn('key policy refused by a holder', { signer, keyId: pending.keyId, version, reason, rule });
}
