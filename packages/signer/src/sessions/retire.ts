/**
 * Retirement (docs/cluster-protocol.md "Retirement"; rounds `RETIRE_ROUND`). START:
 * `authoriseUse` (the retire request, the key active at the epoch here); answer a
 * signed APPROVE. COMMIT: at least t APPROVE envelopes from distinct participants of
 * the key, each checked against its pinned key and the retire digest; then wipe the
 * share (`keystore.retire`) and answer ATTEST, a signed destruction attestation whose
 * payload the keystore keeps, so a COMMIT re-sent after a lost ATTEST (or a restart)
 * is answered with the same attestation. Both steps keep no session state.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { COORDINATOR_ID, RETIRE_ROUND, encodeBody, retireDigest, type DeliverBody, type Envelope, type RetireApproveBody, type RetireAttestBody, type RetireStartBody } from '@keyquorum/protocol';
import { equalBytes } from '@noble/curves/utils.js';
import { SignerError } from '../errors.ts';
import { loadShare, wipeHeldShare } from '../schemes/index.ts';
import { authoriseUse } from './authorise.ts';
import { hex, openRelayed, sendBody, sendPayload, type SessionContext } from './context.ts';

export function approveRetire(ctx: SessionContext, env: Envelope, body: RetireStartBody): void {
  const share = authoriseUse(ctx, { op: 'retire', keyId: body.keyId, epoch: body.epoch, suite: env.header.suite, request: body.request, digest: retireDigest({ keyId: body.keyId }) });
  wipeHeldShare(share);
  const approve: RetireApproveBody = { keyId: body.keyId, epoch: body.epoch, requestDigest: body.request.digest };
  sendBody(ctx, { kind: 'retire', suite: share.suite, sessionId: env.header.sessionId, round: RETIRE_ROUND.APPROVE }, approve);
  ctx.log.info('retirement approved', { keyId: body.keyId, epoch: body.epoch, sessionId: hex(env.header.sessionId) });
}

export function commitRetire(ctx: SessionContext, env: Envelope, body: DeliverBody): void {
  const { suite, sessionId } = env.header;
  const approvals = openRelayed<RetireApproveBody>(ctx, body.envelopes, {
    kind: 'retire', suite, round: RETIRE_ROUND.APPROVE, sessionId, to: COORDINATOR_ID, required: [], optional: [...ctx.peers.keys()],
  });
  const first = approvals.values().next().value;
  if (first === undefined) throw new SignerError('BAD_TRANSCRIPT', { field: 'envelopes', message: 'no APPROVE envelopes' });
  const { keyId, epoch } = first;
  const digest = retireDigest({ keyId });
  for (const [signer, a] of approvals) {
    if (a.keyId !== keyId || a.epoch !== epoch || !equalBytes(a.requestDigest, digest)) {
      throw new SignerError('BAD_TRANSCRIPT', { field: 'envelopes', message: `${signer} approved another retirement` });
    }
  }
  const header = { kind: 'retire', suite, sessionId, round: RETIRE_ROUND.ATTEST };
  if (ctx.keystore.listKeys().some((k) => k.keyId === keyId && k.state === 'retired')) {
    sendPayload(ctx, header, ctx.keystore.getAttestation(keyId));
    return;
  }
  const share = loadShare(ctx.keystore.getActive(keyId));
  wipeHeldShare(share);
  const { publicPart } = share;
  if (share.epoch !== epoch) throw new SignerError('WRONG_KEY_STATE', { field: 'epoch', message: `${keyId} is active at epoch ${share.epoch}` });
  if (share.suite !== suite) throw new SignerError('WRONG_SUITE', { field: 'header.suite' });
  const outsiders = [...approvals.keys()].filter((s) => !publicPart.participants.some((p) => p.signer === s));
  if (outsiders.length > 0) throw new SignerError('BAD_TRANSCRIPT', { field: 'envelopes', message: `${outsiders.join(',')} hold no share of ${keyId}` });
  if (approvals.size < publicPart.publicKey.threshold) {
    throw new SignerError('BAD_TRANSCRIPT', { field: 'envelopes', message: `retirement needs ${publicPart.publicKey.threshold} approvals, got ${approvals.size}` });
  }
  const position = publicPart.publicKey.participants.indexOf(publicPart.self);
  const attest: RetireAttestBody = { keyId, epoch, destroyedAt: ctx.now(), verifyingShare: publicPart.publicKey.verifyingShares[position]! };
  const payload = encodeBody(attest);
  const result = ctx.keystore.retire(keyId, sha256(payload), payload);
  sendPayload(ctx, header, payload);
  ctx.log.info('key retired', { keyId, epoch, sessionId: hex(sessionId), wipedEpochs: result.wipedEpochs.map(String) });
}
