/**
 * COMMIT and ABORT of key sessions (docs/cluster-protocol.md "Key sessions"), run
 * from the keystore rather than from memory, because the coordinator re-sends a
 * COMMIT after the signer reconnects, possibly after a restart. COMMIT activates the
 * pending share only if every participant confirmed the transcript hash and public
 * key stored with it; a COMMIT for an epoch already active (a lost ACK) is ACKed
 * again. An old holder that leaves the key by reshare (a dealer, or a holder the
 * session did not involve) finds no CONFIRM of its own in the COMMIT: once every
 * new member has confirmed one transcript of its key at the next epoch, it wipes its
 * old share (`keystore.retire`, keeping a destruction attestation) and ACKs. A session
 * this signer vetoed is never activated; ABORT is `pending.ts`. A new member of a
 * reshare (and a repair target, repair.ts) records the policy handed over in its START
 * in the transaction that activates its share (`handoverRecord`, docs/governance.md
 * "Handover").
 */
import { equalBytes } from '@noble/curves/utils.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { COORDINATOR_ID, KEY_ROUND, encodeBody, policyDigest, policyFromText, policyToText, type ConfirmBody, type DeliverBody, type Envelope } from '@keyquorum/protocol';
import { SignerError } from '../errors.ts';
import { loadShare, wipeHeldShare } from '../schemes/index.ts';
import { decodeSharePublicPart, type HeldShare, type SharePublicPart } from '../held-share.ts';
import type { StoredPolicy } from '../keystore/index.ts';
import { hex, openRelayed, sendBody, type SessionContext } from './context.ts';
import { refuseVetoed } from './pending.ts';

/** The stored share's public record and state; its secrets are wiped at once (COMMIT needs none). */
function shareOf(ctx: SessionContext, keyId: string, epoch: number): HeldShare {
  try {
    const share = loadShare(ctx.keystore.getShare(keyId, epoch));
    wipeHeldShare(share);
    return share;
  } catch (e) {
    if (e instanceof SignerError && (e.code === 'NOT_FOUND' || e.code === 'WRONG_STATE')) {
      throw new SignerError('WRONG_KEY_STATE', { field: 'keyId', message: `no share of ${keyId} at epoch ${epoch}`, cause: e });
    }
    throw e;
  }
}

/**
 * A new holder's policy record from the handover kept with its pending share (docs/governance.md
 * "Handover"): undefined (records untouched) for a share without one (dkg, refresh, a holder
 * staying in a reshare); `{ policy: undefined }` for the default policy.
 */
export function handoverRecord(ctx: SessionContext, keyId: string, part: SharePublicPart): { policy: StoredPolicy | undefined } | undefined {
  const h = part.handover;
  if (h === undefined) return undefined;
  if (h.policy === undefined) return { policy: undefined };
  const policy = policyFromText(h.policy);
  return { policy: { keyId, version: policy.version, text: policyToText(policy), digest: policyDigest(policy), requestId: h.requestId, setAt: ctx.now() } };
}

export function commitKeySession(ctx: SessionContext, env: Envelope, body: DeliverBody): void {
  const { kind, suite, sessionId } = env.header;
  const expect = { kind, suite, round: KEY_ROUND.CONFIRM, sessionId, to: COORDINATOR_ID };
  const own = body.envelopes.filter((e) => e.header.from === ctx.signerId);
  if (kind === 'reshare' && own.length === 0) return leaveKey(ctx, env, body);
  refuseVetoed(ctx, sessionId);
  const mine = openRelayed<ConfirmBody>(ctx, own, { ...expect, required: [ctx.signerId] }).get(ctx.signerId)!;
  const share = shareOf(ctx, mine.keyId, mine.epoch);
  const { publicPart } = share;
  if (!equalBytes(publicPart.sessionId, sessionId)) throw new SignerError('BAD_TRANSCRIPT', { field: 'header.sessionId', message: `the stored share of ${share.keyId} comes from another session` });
  if (share.suite !== suite) throw new SignerError('WRONG_SUITE', { field: 'header.suite' });
  const confirms = openRelayed<ConfirmBody>(ctx, body.envelopes, { ...expect, required: publicPart.participants.map((p) => p.signer) });
  const publicKey = encodeBody(publicPart.publicKey);
  for (const [signer, c] of confirms) {
    const agrees = c.keyId === share.keyId && c.epoch === share.epoch && equalBytes(c.transcriptHash, publicPart.transcriptHash) && equalBytes(encodeBody(c.publicKey), publicKey);
    if (!agrees) throw new SignerError('BAD_TRANSCRIPT', { field: 'envelopes', message: `${signer} confirmed another transcript or public key` });
  }
  if (share.state === 'pending') {
    const handover = handoverRecord(ctx, share.keyId, publicPart);
    ctx.keystore.activate(share.keyId, share.epoch, handover);
    ctx.log.info('share activated', { kind, keyId: share.keyId, epoch: share.epoch, sessionId: hex(sessionId), ...(handover ? { policyVersion: handover.policy?.version ?? 0 } : {}) });
  }
  sendBody(ctx, { kind, suite, sessionId, round: KEY_ROUND.ACK }, { keyId: share.keyId, epoch: share.epoch });
}

/**
 * An old holder outside the new set (a dealer of the reshare, or a holder that took
 * no part in it): wipe the old share once every new member confirmed. Such a signer
 * may never have seen the session, so the COMMIT alone must convince it: the
 * CONFIRMs are signed by distinct pinned peers, one per participant of the new
 * public package, all for the same key, epoch, transcript and package; that epoch is
 * its active epoch + 1, the package keeps its group key, chain code and suite, and
 * it is not itself a new member of this session (a pending share from it means its
 * own CONFIRM was withheld: it must not leave).
 */
function leaveKey(ctx: SessionContext, env: Envelope, body: DeliverBody): void {
  const { kind, suite, sessionId } = env.header;
  const confirms = openRelayed<ConfirmBody>(ctx, body.envelopes, {
    kind, suite, round: KEY_ROUND.CONFIRM, sessionId, to: COORDINATOR_ID, required: [], optional: [...ctx.peers.keys()].filter((p) => p !== ctx.signerId),
  });
  const first = confirms.values().next().value;
  if (first === undefined) throw new SignerError('BAD_TRANSCRIPT', { field: 'envelopes', message: 'no CONFIRM envelopes' });
  const publicKey = encodeBody(first.publicKey);
  for (const [signer, c] of confirms) {
    if (c.keyId !== first.keyId || c.epoch !== first.epoch || !equalBytes(c.transcriptHash, first.transcriptHash) || !equalBytes(encodeBody(c.publicKey), publicKey)) {
      throw new SignerError('BAD_TRANSCRIPT', { field: 'envelopes', message: `${signer} confirmed another transcript or public key` });
    }
  }
  if (confirms.size !== first.publicKey.participants.length) {
    throw new SignerError('BAD_TRANSCRIPT', { field: 'envelopes', message: `${first.publicKey.participants.length} new members must confirm, got ${confirms.size}` });
  }
  if (first.publicKey.suite !== suite) throw new SignerError('WRONG_SUITE', { field: 'publicKey.suite' });
  const ack = { kind, suite, sessionId, round: KEY_ROUND.ACK };
  const held = ctx.keystore.listKeys().find((k) => k.keyId === first.keyId);
  if (held?.state === 'retired') {
    sendBody(ctx, ack, { keyId: first.keyId, epoch: first.epoch });
    return;
  }
  if (held === undefined || held.state !== 'active' || held.epoch + 1 !== first.epoch) {
    throw new SignerError('WRONG_KEY_STATE', { field: 'keyId', message: `${first.keyId} is not active here at epoch ${first.epoch - 1}` });
  }
  if (held.pendingEpoch !== null) {
    const pending = ctx.keystore.getShare(held.keyId, held.pendingEpoch);
    pending.secret.fill(0);
    if (equalBytes(decodeSharePublicPart(pending.public).sessionId, sessionId)) {
      throw new SignerError('BAD_TRANSCRIPT', { field: 'envelopes', message: `this signer is a new member of the reshare of ${held.keyId}, but its CONFIRM is missing` });
    }
  }
  const share = shareOf(ctx, held.keyId, held.epoch);
  const old = share.publicPart.publicKey;
  if (share.suite !== suite || !equalBytes(old.groupKey, first.publicKey.groupKey) || !equalBytes(old.chainCode, first.publicKey.chainCode)) {
    throw new SignerError('WRONG_KEY_STATE', { field: 'keyId', message: `${first.keyId} at epoch ${held.epoch} is not the reshared key` });
  }
  const position = old.participants.indexOf(share.publicPart.self);
  const attest = encodeBody({ keyId: share.keyId, epoch: share.epoch, destroyedAt: ctx.now(), verifyingShare: old.verifyingShares[position]! });
  ctx.keystore.retire(share.keyId, sha256(attest), attest);
  ctx.log.info('left the key after reshare; old share wiped', { keyId: share.keyId, epoch: share.epoch, newEpoch: first.epoch, sessionId: hex(sessionId) });
  sendBody(ctx, ack, { keyId: first.keyId, epoch: first.epoch });
}
