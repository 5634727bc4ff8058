/**
 * Policy changes (docs/cluster-protocol.md "Policy", docs/governance.md "Signer";
 * rounds `POLICY_ROUND`). START carries the next policy's canonical text and the
 * admin's request (with its approvals). This signer checks, against its own records:
 *   - it holds an active share of the key, of the header's suite, and the key's state
 *     allows 'policy';
 *   - a START for the version in force here with the same digest is a re-delivery
 *     (a lost ACK): answered ACK again, nothing written; another document under that
 *     version is refused (rule 'version');
 *   - the request (admit.ts): op 'policy', this key, `policyRequestDigest` recomputed
 *     from the text, trusted admin, signature, freshness or approval deadline; then
 *     under the policy IN FORCE here: `checkClient(current, 'policy')`, the approvals
 *     it requires for 'policy', `checkPolicySuccessor` (exactly the next version: no
 *     rollback, no replay, no skip); then the replay entry and the new version, in one
 *     transaction.
 * ACK names the version and digest it now enforces; a refusal is an ABORT whose
 * reason starts with the error code and which names the rule of a policy refusal.
 */
import {
  POLICY_ROUND,
  PolicyDeniedError,
  checkPolicySuccessor,
  clientRequestId,
  policyDigest,
  policyFromText,
  policyRequestDigest,
  policyToText,
  type Envelope,
  type PolicyAckBody,
  type PolicyStartBody,
} from '@keyquorum/protocol';
import { equalBytes } from '@noble/curves/utils.js';
import { SignerError, policyDenied } from '../errors.ts';
import { loadShare, wipeHeldShare } from '../schemes/index.ts';
import { admitRequest } from './admit.ts';
import type { ApprovalGrant } from './approvals.ts';
import { refuseByState } from './authorise.ts';
import { hex, sendBody, type SessionContext } from './context.ts';

export function applyPolicy(ctx: SessionContext, env: Envelope, body: PolicyStartBody, grant?: ApprovalGrant): void {
  const { keyId, request } = body;
  const share = loadShare(ctx.keystore.getActive(keyId));
  wipeHeldShare(share);
  if (share.suite !== env.header.suite) throw new SignerError('WRONG_SUITE', { field: 'header.suite', message: `${keyId} is ${share.suite}` });
  refuseByState(ctx, keyId, 'policy');
  const next = policyFromText(body.policy);
  const digest = policyDigest(next);
  const current = ctx.keystore.keyPolicy(keyId);
  if (current !== undefined && current.version === next.version) {
    if (!equalBytes(current.digest, digest)) throw policyDenied(new PolicyDeniedError('version', `another policy v${next.version} is in force here`));
    return ack(ctx, env, { keyId, version: next.version, digest });
  }
  const now = ctx.now();
  const approvers = admitRequest(ctx, {
    op: 'policy', keyId, request, digest: policyRequestDigest({ keyId, policy: next }), action: 'policy', ...(grant ? { grant } : {}),
    check: (inForce) => checkPolicySuccessor(inForce, next),
    record: { keyId, version: next.version, text: policyToText(next), digest, requestId: clientRequestId(request), setAt: now },
  });
  ctx.log.info('key policy set', { keyId, version: next.version, digest: hex(digest), approvers, sessionId: hex(env.header.sessionId) });
  ack(ctx, env, { keyId, version: next.version, digest });
}

function ack(ctx: SessionContext, env: Envelope, body: PolicyAckBody): void {
  sendBody(ctx, { kind: 'policy', suite: env.header.suite, sessionId: env.header.sessionId, round: POLICY_ROUND.ACK }, body);
}
