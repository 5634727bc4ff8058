/**
 * Approvals of a START's request, against the policy in force here (docs/governance.md
 * "Trust model"). WebAuthn verification (@simplewebauthn/server) is asynchronous, while
 * every other START check, and the durable admission of the request, is synchronous so
 * that nothing can interleave between a check and the write it justifies. So a START
 * whose action needs approvals runs in two steps (router.ts):
 *   1. `verifyStartApprovals`, asynchronous: reads the policy in force, verifies the
 *      request's approvals against it (signatures and passkey assertions only, not
 *      the deadline), and returns a grant naming what it checked: key, action, the
 *      request's id and the policy's digest; a failure is kept in the grant.
 *   2. the START's synchronous path, later, reads the policy in force AGAIN and
 *      `checkApprovals` accepts the grant only if it was made for exactly that policy
 *      digest, action and request; then the deadline against the clock of that moment;
 *      then the kept failure, in the order of the other checks (state, share, request
 *      signature, clients come first). A policy changed while step 1 ran makes the grant
 *      void: the START is refused (rule approvals) and the coordinator starts again.
 * The replay entry is taken in step 2 only, in the transaction that admits the
 * request, so two STARTs of one request both verified in step 1 cannot both pass.
 * A sign START with `tx` (docs/transactions.md) first has its chain module loaded
 * (`loadChain`), and its approvals are counted for the transaction
 * (`txRequiredApprovals`: `approvalsAbove` may ask more than the sign action); step 2
 * parses again and counts again (`checkApprovals`' `required`): a grant with fewer
 * approvers than that is refused.
 */
import { bytesToHex } from '@noble/hashes/utils.js';
import {
  DEFAULT_POLICY,
  PolicyDeniedError,
  approvalDeadline,
  clientRequestId,
  policyFromText,
  requiredApprovals,
  verifyApprovals,
  type ApprovalAction,
  type ClientRequest,
  type KeyPolicy,
  type SignStartBody,
  loadChain,
} from '@keyquorum/protocol';
import type { SessionContext } from './context.ts';
import { txApprovalsRequired } from './sign-tx.ts';

/** What step 1 verified, for step 2 to check it still applies. */
export interface ApprovalGrant {
  keyId: string;
  action: ApprovalAction;
  /** Hex of the request's `clientRequestId` and of the policy's digest. */
  requestId: string;
  policyDigest: string;
  outcome: { approvers: string[] } | { error: unknown };
}

/** The policy in force for the key here (DEFAULT_POLICY if none was set) and its digest (hex; '' for the default). */
export function policyOf(ctx: SessionContext, keyId: string): { policy: KeyPolicy; digest: string } {
  const stored = ctx.keystore.keyPolicy(keyId);
  return stored === undefined ? { policy: DEFAULT_POLICY, digest: '' } : { policy: policyFromText(stored.text), digest: bytesToHex(stored.digest) };
}

const OPERATION_KINDS: readonly string[] = ['sign', 'refresh', 'reshare', 'repair', 'retire', 'policy'];

/** The key, approval action and request of a START, for kinds that have one ('dkg' and the 'destroy' follow-up have none). */
export function actionOf(kind: string, body: unknown): { keyId: string; action: ApprovalAction; request: ClientRequest } | undefined {
  const b = body as { keyId: string; request?: ClientRequest; transition?: string };
  // A scheduled refresh has no request: the key's policy authorises it (authorise.ts), without approvals.
  if (b.request === undefined) return undefined;
  if (OPERATION_KINDS.includes(kind)) return { keyId: b.keyId, action: kind as ApprovalAction, request: b.request };
  if (kind === 'state' && b.transition !== 'destroy') return { keyId: b.keyId, action: b.transition as ApprovalAction, request: b.request };
  return undefined;
}

/**
 * Step 1: undefined when nothing is asynchronous: no transaction to load a chain module
 * for, and the policy in force requires no approvals for the START's action. A
 * transaction's START always resolves (to undefined when it needs no approvals), or
 * rejects if its module cannot be loaded.
 */
export function verifyStartApprovals(ctx: SessionContext, kind: string, body: unknown): Promise<ApprovalGrant | undefined> | undefined {
  const tx = kind === 'sign' ? (body as SignStartBody).tx : undefined;
  if (tx === undefined) return verifyFor(ctx, kind, body);
  return loadChain(tx.chain).then(() => verifyFor(ctx, kind, body, txApprovalsRequired(ctx, { ...(body as SignStartBody), tx })));
}

function verifyFor(ctx: SessionContext, kind: string, body: unknown, required?: (policy: KeyPolicy) => number): Promise<ApprovalGrant> | undefined {
  const use = actionOf(kind, body);
  if (use === undefined) return undefined;
  const { policy, digest } = policyOf(ctx, use.keyId);
  const count = required === undefined ? requiredApprovals(policy, use.action) : required(policy);
  if (count === 0) return undefined;
  const grant = (outcome: ApprovalGrant['outcome']): ApprovalGrant => ({ keyId: use.keyId, action: use.action, requestId: bytesToHex(clientRequestId(use.request)), policyDigest: digest, outcome });
  // The deadline is step 2's: verified here as of the request's own time.
  return verifyApprovals(policy, use.action, use.request, use.request.approvals ?? [], use.request.timestamp, count).then(
    (approvers) => grant({ approvers }),
    (error: unknown) => grant({ error }),
  );
}

/**
 * Step 2: the request carries the approvals `action` needs under `policy` (digest
 * `policyDigest`; `required` if given: a transaction's count), verified in step 1 for
 * exactly this policy and request, at least `required` of them, and is not past its
 * approval deadline at `now` (unless `late`: a restrictive transition re-delivered to a
 * signer that was away). Throws PolicyDeniedError('approvals').
 */
export function checkApprovals(
  p: { policy: KeyPolicy; policyDigest: string; action: ApprovalAction; request: ClientRequest; requestId: string; grant: ApprovalGrant | undefined; now: number; late: boolean; required?: number },
): string[] {
  const required = p.required ?? requiredApprovals(p.policy, p.action);
  if (required === 0) return [];
  const deadline = approvalDeadline(p.policy, p.request);
  if (!p.late && p.now > deadline) throw new PolicyDeniedError('approvals', `the request expired for approval at ${new Date(deadline).toISOString()}`);
  const g = p.grant;
  if (g === undefined || g.policyDigest !== p.policyDigest || g.action !== p.action || g.requestId !== p.requestId) {
    throw new PolicyDeniedError('approvals', `${p.action} needs ${required} approvals under policy v${p.policy.version}; none were verified against it`);
  }
  if ('error' in g.outcome) throw g.outcome.error;
  if (g.outcome.approvers.length < required) throw new PolicyDeniedError('approvals', `${p.action} needs ${required} approvals, ${g.outcome.approvers.length} were verified`);
  return g.outcome.approvers;
}
