import { bytesToHex } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { SoftwarePasskey, ed25519Approver } from '../../../test/support/passkey.ts';
import { approvalFromJson, approvalToJson, type Approval } from '../src/approval-wire.ts';
import { approvalChallenge, signApproval, verifyApprovals } from '../src/approvals.ts';
import { clientRequestId, operationDigest, parseClientRequest, signClientRequest, type ClientRequest } from '../src/auth.ts';
import { decode, encode } from '../src/codec.ts';
import { generateIdentity } from '../src/identity.ts';
import { PolicyDeniedError, parsePolicy } from '../src/policy.ts';
import { expectWireError, seededRng } from './helpers.ts';

const alice = generateIdentity(seededRng('alice'));
const bob = generateIdentity(seededRng('bob'));
const mallory = generateIdentity(seededRng('mallory'));
const wallet = generateIdentity(seededRng('wallet'));
const carol = new SoftwarePasskey({ rpId: 'wallet.example', origin: 'https://wallet.example' });
const T0 = Date.parse('2026-06-01T00:00:00Z');

const policy = parsePolicy({
  format: 1,
  version: 1,
  approvers: [
    ed25519Approver('alice', alice),
    ed25519Approver('bob', bob),
    carol.approver('carol'),
  ],
  approvals: { sign: 2, resume: 3 },
  approvalTtlSeconds: 600,
});

let n = 0;
const request = (message = 1): ClientRequest =>
  signClientRequest(wallet, { op: 'sign', keyId: 'hot-1', digest: operationDigest('sign', { message: new Uint8Array(32).fill(message), path: 'm' }), timestamp: T0 }, seededRng(`n${n++}`));

async function denied(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(PolicyDeniedError);
  expect((e as PolicyDeniedError).rule).toBe('approvals');
  expect((e as Error).message).toMatch(pattern);
}

describe('approval quorums', () => {
  it('two distinct approvers (an Ed25519 key and a passkey) approve a sign; they cross the wire inside the request', async () => {
    const r = request();
    const approvals: Approval[] = [signApproval(alice, 'alice', r), carol.approve('carol', approvalChallenge(r))];
    expect(await verifyApprovals(policy, 'sign', r, approvals, T0 + 1000)).toEqual(['alice', 'carol']);
    const wire = parseClientRequest(decode(encode({ ...r, approvals } as unknown as Parameters<typeof encode>[0])));
    expect(wire.approvals).toEqual(approvals);
    expect(bytesToHex(clientRequestId(wire))).toBe(bytesToHex(clientRequestId(r)));
    const json = approvals.map(approvalToJson);
    expect(json.map((j) => approvalFromJson(JSON.parse(JSON.stringify(j))))).toEqual(approvals);
  });

  it('an action the policy does not gate needs none', async () => {
    expect(await verifyApprovals(policy, 'refresh', request(), [], T0 + 1e9)).toEqual([]);
  });

  it('too few, a repeated approver, a stranger, a forged or moved approval: refused', async () => {
    const r = request();
    await denied(verifyApprovals(policy, 'sign', r, [signApproval(alice, 'alice', r)], T0), /needs 2 approvals, 1 given/);
    await denied(verifyApprovals(policy, 'sign', r, [signApproval(alice, 'alice', r), signApproval(alice, 'alice', r)], T0), /approved twice/);
    await denied(verifyApprovals(policy, 'sign', r, [signApproval(alice, 'alice', r), signApproval(mallory, 'mallory', r)], T0), /not an approver/);
    await denied(verifyApprovals(policy, 'sign', r, [signApproval(alice, 'alice', r), signApproval(mallory, 'bob', r)], T0), /bob does not verify/);
    const other = request(2);
    await denied(verifyApprovals(policy, 'sign', r, [signApproval(alice, 'alice', r), signApproval(bob, 'bob', other)], T0), /bob does not verify/);
    await denied(verifyApprovals(policy, 'sign', r, [signApproval(alice, 'alice', r), { approver: 'carol', type: 'ed25519', sig: signApproval(alice, 'alice', r).sig }], T0), /approves with webauthn/);
  });

  it('approvals expire with the operation', async () => {
    const r = request();
    const approvals = [signApproval(alice, 'alice', r), signApproval(bob, 'bob', r)];
    expect(await verifyApprovals(policy, 'sign', r, approvals, T0 + 600_000)).toEqual(['alice', 'bob']);
    await denied(verifyApprovals(policy, 'sign', r, approvals, T0 + 600_001), /expired/);
  });

  it('a passkey assertion for another request, origin, RP, type, without user verification, or altered, does not verify', async () => {
    const r = request();
    const a = signApproval(alice, 'alice', r);
    const c = approvalChallenge(r);
    const cases: Array<[Approval, RegExp]> = [
      [carol.approve('carol', approvalChallenge(request(3))), /carol does not verify/],
      [carol.approve('carol', c, { origin: 'https://evil.example' }), /carol does not verify/],
      [carol.approve('carol', c, { rpId: 'evil.example' }), /carol does not verify/],
      [carol.approve('carol', c, { type: 'webauthn.create' }), /carol does not verify/],
      [carol.approve('carol', c, { userVerified: false }), /carol does not verify/],
      [new SoftwarePasskey({ rpId: 'wallet.example', origin: 'https://wallet.example' }).approve('carol', c), /carol does not verify/],
    ];
    const good = carol.approve('carol', c);
    const flipped = { ...good, signature: good.signature.slice() };
    flipped.signature.set([flipped.signature.at(-1)! ^ 1], flipped.signature.length - 1);
    cases.push([flipped, /carol does not verify/]);
    for (const [approval, pattern] of cases) await denied(verifyApprovals(policy, 'sign', r, [a, approval], T0), pattern);
    expect(await verifyApprovals(policy, 'sign', r, [a, good], T0)).toEqual(['alice', 'carol']);
  });

  it('malformed approvals are wire errors naming the field', () => {
    const r = request();
    expectWireError(() => parseClientRequest({ ...r, approvals: [{ approver: 'alice', type: 'ed25519', sig: new Uint8Array(3) }] }), 'BAD_FIELD', 'request.approvals[0].sig');
    expectWireError(() => parseClientRequest({ ...r, approvals: [{ approver: 'alice', type: 'rsa', sig: new Uint8Array(64) }] }), 'BAD_FIELD', 'request.approvals[0].type');
    expectWireError(() => parseClientRequest({ ...r, approvals: [{ approver: 'a b', type: 'ed25519', sig: new Uint8Array(64) }] }), 'BAD_FIELD', 'request.approvals[0].approver');
    expectWireError(() => approvalFromJson({ approver: 'carol', type: 'webauthn', authenticatorData: '!!', clientDataJSON: 'AA', signature: 'AA' }), 'BAD_FIELD', 'approval.authenticatorData');
  });
});
