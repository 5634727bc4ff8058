/**
 * Approval quorums, the second factor of a key's use (docs/governance.md). An
 * operation that the key's policy says needs k approvals waits at the coordinator as
 * a pending operation until k distinct approvers named in the policy have signed its
 * approval challenge
 *   SHA-256(lp(APPROVAL_TAG) || clientRequestId(request))
 * with an Ed25519 approver key, or with a WebAuthn passkey (an ES256 assertion whose
 * `challenge` is the approval challenge, W3C WebAuthn Level 3 §7.2, verified with
 * @simplewebauthn/server). The request id covers every field of the client's signed
 * request, so an approval approves exactly one request and cannot be moved to another.
 * Every signer verifies the approvals itself against ITS OWN copy of the policy; the
 * coordinator verifies them too, for early refusal only.
 *
 * Approvals expire with their operation: a request that needs approvals is honoured
 * until `request.timestamp + approvalTtlSeconds`, and no later.
 */
import { bytesToHex } from '@noble/hashes/utils.js';
import { clientRequestId, type ClientRequest } from './auth.ts';
import { taggedHash } from './canonical.ts';
import { sign, verifySignature, type IdentityKey } from './identity.ts';
import type { Approval, Ed25519Approval } from './approval-wire.ts';
import { PolicyDeniedError, requiredApprovals, type ApprovalAction, type KeyPolicy } from './policy.ts';

export const APPROVAL_TAG = 'keyquorum/approval/v1';

/** What an approver signs (or gives its passkey as the WebAuthn challenge) to approve `request`. */
export function approvalChallenge(request: ClientRequest): Uint8Array {
  return taggedHash(APPROVAL_TAG, clientRequestId(request));
}

/** An Ed25519 approver's approval of `request`. */
export function signApproval(approver: IdentityKey, approverId: string, request: ClientRequest): Ed25519Approval {
  return { approver: approverId, type: 'ed25519', sig: sign(approver, approvalChallenge(request)) };
}

/** The last instant (ms) at which a request needing approvals is honoured. */
export function approvalDeadline(policy: KeyPolicy, request: ClientRequest): number {
  return request.timestamp + policy.approvalTtlSeconds * 1000;
}

/**
 * Checks one approval of `request` against `policy`: its approver is named there and
 * its signature (or passkey assertion: challenge, origin, RP id, user presence and
 * verification, ES256 signature) verifies. Throws `PolicyDeniedError('approvals')`.
 */
export async function verifyApproval(policy: KeyPolicy, request: ClientRequest, approval: Approval): Promise<void> {
  const approver = policy.approvers.find((a) => a.id === approval.approver);
  if (approver === undefined) throw new PolicyDeniedError('approvals', `${approval.approver} is not an approver of this key's policy v${policy.version}`);
  if (approver.type !== approval.type) throw new PolicyDeniedError('approvals', `${approval.approver} approves with ${approver.type}, not ${approval.type}`);
  const challenge = approvalChallenge(request);
  if (approval.type === 'ed25519' && approver.type === 'ed25519') {
    if (!verifySignature(approver.publicKey, challenge, approval.sig)) throw new PolicyDeniedError('approvals', `the approval of ${approval.approver} does not verify`);
    return;
  }
  if (approval.type !== 'webauthn' || approver.type !== 'webauthn') throw new PolicyDeniedError('approvals', 'unknown approval type');
  const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64url');
  let verified = false;
  try {
    // Loaded on first use: the library's module graph takes ~2 s to import, which every
    // process and crypto worker importing this package would otherwise pay at start.
    const { verifyAuthenticationResponse } = await import('@simplewebauthn/server');
    const out = await verifyAuthenticationResponse({
      response: {
        id: approver.credentialId,
        rawId: approver.credentialId,
        type: 'public-key',
        response: { authenticatorData: b64(approval.authenticatorData), clientDataJSON: b64(approval.clientDataJSON), signature: b64(approval.signature) },
        clientExtensionResults: {},
      },
      expectedChallenge: b64(challenge),
      expectedOrigin: approver.origin,
      expectedRPID: approver.rpId,
      expectedType: 'webauthn.get',
      credential: { id: approver.credentialId, publicKey: new Uint8Array(approver.publicKey), counter: 0 },
      requireUserVerification: true,
    });
    verified = out.verified;
  } catch (e) {
    throw new PolicyDeniedError('approvals', `the passkey approval of ${approval.approver} does not verify: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!verified) throw new PolicyDeniedError('approvals', `the passkey approval of ${approval.approver} does not verify`);
}

/**
 * Checks that `approvals` approve `request` for `action` under `policy`: at least the
 * number the policy requires, each from a distinct approver it names, each verifying,
 * and the request not past its approval deadline at `now`. Every approval given must
 * verify (a forged one is refused, not skipped). `required` overrides the policy's count
 * for the action (a transaction's, `txRequiredApprovals`). Returns the approver ids.
 */
export async function verifyApprovals(
  policy: KeyPolicy, action: ApprovalAction, request: ClientRequest, approvals: readonly Approval[], now: number, required = requiredApprovals(policy, action),
): Promise<string[]> {
  if (required === 0) return [];
  if (now > approvalDeadline(policy, request)) throw new PolicyDeniedError('approvals', `the request expired for approval at ${new Date(approvalDeadline(policy, request)).toISOString()}`);
  const seen = new Set<string>();
  for (const a of approvals) {
    if (seen.has(a.approver)) throw new PolicyDeniedError('approvals', `${a.approver} approved twice`);
    seen.add(a.approver);
    await verifyApproval(policy, request, a);
  }
  if (seen.size < required) throw new PolicyDeniedError('approvals', `${action} needs ${required} approvals, ${seen.size} given`);
  return [...seen].sort();
}

/** The approval challenge as hex (what `keyquorum approve` shows and signs). */
export const approvalChallengeHex = (request: ClientRequest): string => bytesToHex(approvalChallenge(request));
