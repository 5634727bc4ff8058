/**
 * Retirement (docs/cluster-protocol.md "Retirement"; rounds `RETIRE_ROUND`). START:
 * `authoriseUse` (the retire request, the key active at the epoch here); answer a
 * signed APPROVE bound to that one request (`clientRequestId`: its nonce and
 * timestamp). COMMIT carries the client's signed request and at least t APPROVEs of
 * it; every signer checks the request itself (trusted client, role, signature, op,
 * key, digest) and that it is still fresh, so approvals expire with their request,
 * then each APPROVE against its pinned key and the request id; then wipes the share
 * (`keystore.retire`) and answers ATTEST, a signed destruction attestation whose
 * payload the keystore keeps, so a COMMIT re-sent after a lost ATTEST (or a restart)
 * is answered with the same attestation.
 *
 * A retire session is settled once, by its COMMIT or by the coordinator's ABORT
 * (`voidRetire`): the settlement is remembered durably in the replay window under the
 * session id, so a COMMIT replaying the APPROVEs of an aborted retirement is refused,
 * and expires with the window, past which the request's timestamp refuses it anyway
 * (issue 10, finding 4).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import {
  COORDINATOR_ID,
  RETIRE_ROUND,
  clientRequestId,
  encodeBody,
  retireDigest,
  verifyClientRequest,
  type Envelope,
  type RetireApproveBody,
  type RetireAttestBody,
  type RetireCommitBody,
  type RetireStartBody,
} from '@keyquorum/protocol';
import { equalBytes } from '@noble/curves/utils.js';
import { MAX_REQUEST_SKEW_MS } from '../constants.ts';
import { SignerError } from '../errors.ts';
import { loadShare, wipeHeldShare } from '../schemes/index.ts';
import type { ApprovalGrant } from './approvals.ts';
import { authoriseUse, refuseByState } from './authorise.ts';
import { hex, openRelayed, sendBody, sendPayload, type SessionContext } from './context.ts';

/** The replay-window entry that settles a retire session: (session id, this mark). */
const SETTLED_MARK = '00';

export function approveRetire(ctx: SessionContext, env: Envelope, body: RetireStartBody, grant?: ApprovalGrant): void {
  const share = authoriseUse(ctx, { op: 'retire', keyId: body.keyId, epoch: body.epoch, suite: env.header.suite, request: body.request, digest: retireDigest({ keyId: body.keyId }), grant });
  wipeHeldShare(share);
  const approve: RetireApproveBody = { keyId: body.keyId, epoch: body.epoch, requestId: clientRequestId(body.request) };
  sendBody(ctx, { kind: 'retire', suite: share.suite, sessionId: env.header.sessionId, round: RETIRE_ROUND.APPROVE }, approve);
  ctx.log.info('retirement approved', { keyId: body.keyId, epoch: body.epoch, sessionId: hex(env.header.sessionId) });
}

/** The coordinator's ABORT of a retire session: no later COMMIT of it is honoured here. */
export function voidRetire(ctx: SessionContext, sessionId: Uint8Array): void {
  if (ctx.keystore.rememberRequest(hex(sessionId), SETTLED_MARK, settledUntil(ctx))) ctx.log.info('retirement voided', { sessionId: hex(sessionId) });
}

/**
 * The stamp of a settlement entry: kept while any request this session could carry is
 * fresh (a request may be stamped up to the skew ahead of this signer's clock).
 */
const settledUntil = (ctx: SessionContext) => ctx.now() + MAX_REQUEST_SKEW_MS;

export function commitRetire(ctx: SessionContext, env: Envelope, body: RetireCommitBody): void {
  const { suite, sessionId } = env.header;
  const { request } = body;
  const keyId = request.keyId;
  const header = { kind: 'retire', suite, sessionId, round: RETIRE_ROUND.ATTEST };
  if (ctx.keystore.listKeys().some((k) => k.keyId === keyId && k.state === 'retired')) {
    sendPayload(ctx, header, ctx.keystore.getAttestation(keyId));
    return;
  }
  refuseByState(ctx, keyId, 'retire');
  checkRetireRequest(ctx, body);
  const requestId = clientRequestId(request);
  const approvals = openRelayed<RetireApproveBody>(ctx, body.envelopes, {
    kind: 'retire', suite, round: RETIRE_ROUND.APPROVE, sessionId, to: COORDINATOR_ID, required: [], optional: [...ctx.peers.keys()],
  });
  const first = approvals.values().next().value;
  if (first === undefined) throw new SignerError('BAD_TRANSCRIPT', { field: 'envelopes', message: 'no APPROVE envelopes' });
  const { epoch } = first;
  for (const [signer, a] of approvals) {
    if (a.keyId !== keyId || a.epoch !== epoch || !equalBytes(a.requestId, requestId)) {
      throw new SignerError('BAD_TRANSCRIPT', { field: 'envelopes', message: `${signer} approved another retirement` });
    }
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
  // Settled here: refused if the coordinator aborted this session (or committed it once before).
  if (!ctx.keystore.rememberRequest(hex(sessionId), SETTLED_MARK, settledUntil(ctx))) {
    throw new SignerError('WRONG_KEY_STATE', { field: 'header.sessionId', message: 'this retirement was aborted: it is void' });
  }
  const position = publicPart.publicKey.participants.indexOf(publicPart.self);
  const attest: RetireAttestBody = { keyId, epoch, destroyedAt: ctx.now(), verifyingShare: publicPart.publicKey.verifyingShares[position]! };
  const payload = encodeBody(attest);
  const result = ctx.keystore.retire(keyId, sha256(payload), payload);
  sendPayload(ctx, header, payload);
  ctx.log.info('key retired', { keyId, epoch, sessionId: hex(sessionId), wipedEpochs: result.wipedEpochs.map(String) });
}

/**
 * The client's retire request, checked here as at START (trusted client with a role
 * allowing retire, signature, op, digest) and still fresh: a retirement not committed
 * within the request's window is void. Its nonce is not consumed again (the approvers
 * consumed it at START; this signer may never have seen it).
 */
function checkRetireRequest(ctx: SessionContext, { request }: RetireCommitBody): void {
  if (request.op !== 'retire') throw new SignerError('BAD_DIGEST', { field: 'request.op', message: 'expected retire' });
  if (!equalBytes(request.digest, retireDigest({ keyId: request.keyId }))) throw new SignerError('BAD_DIGEST', { field: 'request.digest' });
  // A request past its window is refused as STALE (WireError): the retirement is void.
  verifyClientRequest(request, { trusted: ctx.clients, now: ctx.now(), maxSkewMs: MAX_REQUEST_SKEW_MS, replay: { checkAndRemember: () => true } });
}
