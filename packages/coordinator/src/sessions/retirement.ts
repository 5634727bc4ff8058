/**
 * The retirement driver (rounds `RETIRE_ROUND`, docs/cluster-protocol.md; NIST SP
 * 800-57 destruction): START to every connected participant, at least t APPROVEs of
 * this one client request (`clientRequestId`; a refusing signer counts as absent),
 * then, while the request is still fresh, the commit point: the key is marked retired
 * (audited) and a COMMIT carrying the client's request and the approvals is queued for
 * every participant, offline ones included. Each signer checks the request itself and
 * refuses a COMMIT once the request has expired or after the session's ABORT (issue
 * 10, finding 4), so a participant that comes back after the request's window keeps
 * its share (its attestation stays outstanding). Each participant wipes its share and answers
 * with a signed destruction attestation (`recordAttestation`), which the registry
 * keeps. The session id is the proposal id throughout.
 */
import { equalBytes } from '@noble/curves/utils.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { RETIRE_ROUND, WireError, clientRequestId, decodeBody, encodeEnvelope, type AbortBody, type ClientRequest, type Envelope, type RetireApproveBody, type RetireAttestBody } from '@keyquorum/protocol';
import { CoordinatorError, sessionFault } from '../errors.ts';
import type { Attestation, RegistryKey, PendingCommit } from '../store/types.ts';
import { sessionError, toCoordinator, type SessionRuntime } from './runtime.ts';

/** Retires `key`; returns the attestations received within the round timeout. */
export async function retire(rt: SessionRuntime, key: RegistryKey, request: ClientRequest): Promise<Attestation[]> {
  const ids = key.participants.map((p) => p.signer);
  const connected = ids.filter((id) => rt.link.isConnected(id));
  if (connected.length < key.threshold) throw new CoordinatorError('NOT_ENOUGH_SIGNERS', { message: `${connected.length} participants connected, ${key.threshold} approvals needed` });
  const { inbox, proposal } = rt.open('retire', key.suite, RETIRE_ROUND, ids);
  const log = rt.log.child({ kind: 'retire', keyId: key.id, epoch: key.epoch, session: bytesToHex(proposal) });
  const requestId = clientRequestId(request);
  let committed = false;
  try {
    inbox.expect(RETIRE_ROUND.APPROVE, connected, (e) => {
      toCoordinator(e);
      const body = decodeBody<RetireApproveBody>('retire', RETIRE_ROUND.APPROVE, key.suite, e.payload);
      if (body.keyId !== key.id || body.epoch !== key.epoch) throw new WireError('BAD_FIELD', { field: 'keyId', message: 'BAD_FIELD: approval names another key or epoch' });
      if (!equalBytes(body.requestId, requestId)) throw new WireError('BAD_FIELD', { field: 'requestId', message: 'BAD_FIELD: approval of another retire request' });
    });
    for (const id of connected) rt.send(inbox, id, proposal, RETIRE_ROUND.START, { keyId: key.id, epoch: key.epoch, request });
    const approvals = await rt.collect(inbox, { timeoutMs: rt.opts.roundTimeoutMs, min: key.threshold });
    if (approvals.size < key.threshold) throw sessionFault('abort', connected.filter((id) => !approvals.has(id)), [], `${approvals.size} approvals, ${key.threshold} needed`);
    if (rt.opts.now() - request.timestamp > rt.opts.maxSkewMs) throw sessionFault('timeout', [], [], 'the retire request expired before a quorum approved it');
    const approvers = [...approvals.keys()].sort();
    const frames = await rt.commit(inbox, proposal, {
      keyId: key.id,
      epoch: key.epoch,
      recipients: ids,
      round: RETIRE_ROUND.COMMIT,
      envelopes: approvers.map((id) => approvals.get(id)![0]!),
      fields: { request },
      record: async (tx) => {
        await tx.setState(key.id, 'retired');
        await tx.append('key.retired', key.id, { epoch: key.epoch, approvers });
      },
    });
    committed = true;
    log.info('key retired', { approvers });
    const missing = await rt.awaitCommitted(proposal, frames, connected);
    if (missing.length > 0) log.warn('attestations outstanding; COMMIT is re-sent on reconnect', { signers: missing });
    return await rt.registry.attestations(key.id);
  } catch (e) {
    if (!committed) rt.abort(inbox, connected, proposal, e);
    throw sessionError(e, 'retirement failed');
  } finally {
    rt.close(inbox);
  }
}

/** A participant's ATTEST of a retirement COMMIT: its signed record of the share's destruction. */
export async function recordAttestation(rt: SessionRuntime, signer: string, envelope: Envelope, pending: PendingCommit): Promise<void> {
  const h = envelope.header;
  const body = decodeBody<RetireAttestBody>(h.kind, h.round, h.suite, envelope.payload);
  if (body.keyId !== pending.keyId || body.epoch !== pending.epoch) throw new WireError('BAD_FIELD', { field: 'keyId', message: 'BAD_FIELD: attestation names another key or epoch' });
  const key = await rt.registry.getKey(pending.keyId);
  const index = key?.participants.find((p) => p.signer === signer)?.index;
  const expected = index === undefined ? undefined : key?.publicKey?.verifyingShares[index];
  if (expected === undefined || !equalBytes(expected, body.verifyingShare)) throw new WireError('BAD_FIELD', { field: 'verifyingShare' });
  const encoded = encodeEnvelope(envelope);
  await rt.registry.transaction(async (tx) => {
    await tx.addAttestation({ keyId: body.keyId, signer, epoch: body.epoch, destroyedAt: body.destroyedAt, verifyingShare: body.verifyingShare, envelope: encoded });
    await tx.removePendingCommit(pending.seq);
    // The signed ATTEST itself in the chained row: an audit export lets anyone check it against the signer's key.
    await tx.append('key.attested', body.keyId, { signer, epoch: body.epoch, destroyedAt: body.destroyedAt, verifyingShare: bytesToHex(body.verifyingShare), envelope: bytesToHex(encoded) });
  });
  rt.log.info('destruction attested', { signer, keyId: pending.keyId, epoch: pending.epoch, session: pending.sessionId });
}

/**
 * A participant's ABORT of a queued retirement COMMIT: it checked the client's request
 * itself and refused (the request expired while it was away, or the session had been
 * aborted). Such a refusal is final, so the COMMIT is dropped from the queue rather
 * than re-sent on every reconnect, and the refusal is audited: that signer still holds
 * its share of a retired key, and the operator knows which attestation will not come.
 */
export async function recordRefusedAttestation(rt: SessionRuntime, signer: string, envelope: Envelope, pending: PendingCommit): Promise<void> {
  const h = envelope.header;
  const body = decodeBody<AbortBody>(h.kind, h.round, h.suite, envelope.payload);
  await rt.registry.transaction(async (tx) => {
    await tx.removePendingCommit(pending.seq);
    await tx.append('key.attestation_refused', pending.keyId, { signer, epoch: pending.epoch, reason: body.reason });
  });
  rt.log.warn('retirement refused: the signer keeps its share', { signer, keyId: pending.keyId, epoch: pending.epoch, session: pending.sessionId, reason: body.reason });
}
