/**
 * The second step of a START's approval check (sessions/approvals.ts `checkApprovals`):
 * approvals verified asynchronously count only for exactly the policy, action and
 * request they were verified against, and only until the request's deadline. The race
 * this guards (a policy change landing while a passkey assertion is verified) cannot
 * be timed through the protocol reliably, so the binding is checked here directly, on
 * a grant made by the real verification.
 */
import { describe, expect, it } from 'vitest';
import { bytesToHex } from '@noble/hashes/utils.js';
import {
  PolicyDeniedError,
  approvalChallenge,
  approvalDeadline,
  clientRequestId,
  generateIdentity,
  parsePolicy,
  policyDigest,
  signApproval,
  signClientRequest,
  verifyApprovals,
  type ClientRequest,
  type KeyPolicy,
} from '@keyquorum/protocol';
import { SoftwarePasskey, ed25519Approver } from '../../../test/support/passkey.ts';
import { checkApprovals, type ApprovalGrant } from '../src/sessions/approvals.ts';

const client = generateIdentity();
const alice = generateIdentity();
const bob = new SoftwarePasskey();
const policyV = (version: number): KeyPolicy =>
  parsePolicy({ format: 1, version, approvers: [ed25519Approver('alice', alice), bob.approver('bob')], approvals: { sign: 2 } });

async function grantFor(policy: KeyPolicy, request: ClientRequest): Promise<ApprovalGrant> {
  const approvers = await verifyApprovals(policy, 'sign', request, request.approvals ?? [], request.timestamp);
  return { keyId: 'k', action: 'sign', requestId: bytesToHex(clientRequestId(request)), policyDigest: bytesToHex(policyDigest(policy)), outcome: { approvers } };
}

function approved(): ClientRequest {
  const r = signClientRequest(client, { op: 'sign', keyId: 'k', digest: new Uint8Array(32).fill(7) });
  return { ...r, approvals: [signApproval(alice, 'alice', r), bob.approve('bob', approvalChallenge(r))] };
}

const rule = (f: () => unknown): string | undefined => {
  try {
    f();
    return undefined;
  } catch (e) {
    return e instanceof PolicyDeniedError ? e.rule : String(e);
  }
};

describe('approvals verified off the synchronous path count only for what they were verified against', () => {
  it('accepts a grant for the policy in force, this action and this request, before the deadline', async () => {
    const policy = policyV(1);
    const request = approved();
    const grant = await grantFor(policy, request);
    const base = { policy, policyDigest: grant.policyDigest, action: 'sign' as const, request, requestId: grant.requestId, grant, now: request.timestamp, late: false };
    expect(checkApprovals(base)).toEqual(['alice', 'bob']);
    // Verified against v1, while v2 came into force: void.
    expect(rule(() => checkApprovals({ ...base, policy: policyV(2), policyDigest: bytesToHex(policyDigest(policyV(2))) }))).toBe('approvals');
    // For another request, or another action.
    const other = approved();
    expect(rule(() => checkApprovals({ ...base, request: other, requestId: bytesToHex(clientRequestId(other)) }))).toBe('approvals');
    expect(rule(() => checkApprovals({ ...base, grant: { ...grant, action: 'refresh' } }))).toBe('approvals');
    // None verified at all (the policy required none when the START arrived).
    expect(rule(() => checkApprovals({ ...base, grant: undefined }))).toBe('approvals');
    // Past the deadline, unless a late restriction.
    const after = approvalDeadline(policy, request) + 1;
    expect(rule(() => checkApprovals({ ...base, now: after }))).toBe('approvals');
    expect(checkApprovals({ ...base, now: after, late: true })).toEqual(['alice', 'bob']);
  });

  it('a failure kept in the grant is raised in step 2', async () => {
    const policy = policyV(1);
    const request = approved();
    const forged = { ...request, approvals: [request.approvals![0]!, signApproval(generateIdentity(), 'bob', request)] };
    const error = await verifyApprovals(policy, 'sign', forged, forged.approvals, forged.timestamp).then(() => undefined, (e: unknown) => e);
    const grant: ApprovalGrant = { keyId: 'k', action: 'sign', requestId: bytesToHex(clientRequestId(forged)), policyDigest: bytesToHex(policyDigest(policy)), outcome: { error } };
    expect(rule(() => checkApprovals({ policy, policyDigest: grant.policyDigest, action: 'sign', request: forged, requestId: grant.requestId, grant, now: forged.timestamp, late: false }))).toBe('approvals');
  });
});
