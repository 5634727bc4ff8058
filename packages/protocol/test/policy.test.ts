import { bytesToHex } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { SoftwarePasskey, ed25519Approver } from '../../../test/support/passkey.ts';
import { operationDigest, signClientRequest } from '../src/auth.ts';
import { decode, encode } from '../src/codec.ts';
import { generateIdentity } from '../src/identity.ts';
import { decodeBody, encodeBody } from '../src/messages.ts';
import {
  DEFAULT_POLICY,
  PolicyDeniedError,
  checkPolicySuccessor,
  checkSignPolicy,
  parsePolicy,
  policyDigest,
  policyFromText,
  policyToJson,
  policyToText,
  type KeyPolicy,
  type SignUse,
} from '../src/policy.ts';
import { POLICY_ROUND, policyRequestDigest } from '../src/policy-messages.ts';
import { expectWireError, seededRng } from './helpers.ts';

const alice = generateIdentity(seededRng('alice'));
const bob = generateIdentity(seededRng('bob'));
const passkey = new SoftwarePasskey();
const wallet = generateIdentity(seededRng('wallet'));

export const examplePolicy = (over: Record<string, unknown> = {}) => ({
  format: 1,
  version: 2,
  approvers: [
    ed25519Approver('alice', alice),
    ed25519Approver('bob', bob),
    passkey.approver('carol-phone'),
  ],
  approvals: { sign: 2, resume: 2, policy: 2 },
  approvalTtlSeconds: 600,
  clients: { sign: [bytesToHex(wallet.publicKey)] },
  velocity: [{ limit: 10, windowSeconds: 60, per: 'key' }, { limit: 3, windowSeconds: 60, per: 'path' }],
  notBefore: '2026-01-01T00:00:00Z',
  notAfter: '2027-01-01T00:00:00Z',
  maxDerivationIndex: 1000,
  refresh: { periodSeconds: 86400, graceSeconds: 3600 },
  ...over,
});

const NOW = Date.parse('2026-06-01T00:00:00Z');
const use = (over: Partial<SignUse> = {}): SignUse => ({ now: NOW, clientKeyHex: bytesToHex(wallet.publicKey), path: [7], epochSince: NOW - 1000, used: () => 0, ...over });

function denied(fn: () => unknown, rule: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(PolicyDeniedError);
  expect((thrown as PolicyDeniedError).rule).toBe(rule);
}

describe('per-key policy documents', () => {
  it('round-trips through its canonical JSON text, with a stable digest', () => {
    const p = parsePolicy(examplePolicy());
    expect(parsePolicy(policyToJson(p))).toEqual(p);
    expect(policyFromText(policyToText(p))).toEqual(p);
    const reordered = parsePolicy(JSON.parse(JSON.stringify(examplePolicy({ approvals: { policy: 2, resume: 2, sign: 2 } }))));
    expect(bytesToHex(policyDigest(reordered))).toBe(bytesToHex(policyDigest(p)));
    expect(bytesToHex(policyDigest(parsePolicy(examplePolicy({ approvalTtlSeconds: 601 }))))).not.toBe(bytesToHex(policyDigest(p)));
  });

  it('refuses malformed documents naming the field', () => {
    expectWireError(() => parsePolicy(examplePolicy({ extra: 1 })), 'UNKNOWN_FIELD');
    expectWireError(() => parsePolicy(examplePolicy({ format: 2 })), 'UNSUPPORTED_VERSION', 'policy.format');
    expectWireError(() => parsePolicy(examplePolicy({ version: 0 })), 'BAD_FIELD', 'policy.version');
    expectWireError(() => parsePolicy(examplePolicy({ approvals: { sign: 4 } })), 'BAD_FIELD', 'policy.approvals.sign');
    expectWireError(() => parsePolicy(examplePolicy({ approvals: { fly: 1 } })), 'BAD_FIELD', 'policy.approvals.fly');
    expectWireError(() => parsePolicy(examplePolicy({ approvers: [{ id: 'a', type: 'ed25519', publicKey: '00' }] , approvals: {} })), 'BAD_FIELD', 'policy.approvers[0].publicKey');
    expectWireError(() => parsePolicy(examplePolicy({ approvers: [...examplePolicy().approvers, ed25519Approver('alice', bob)] })), 'BAD_FIELD', 'policy.approvers[3].id');
    expectWireError(() => parsePolicy(examplePolicy({ notAfter: '2025-01-01T00:00:00Z' })), 'BAD_FIELD', 'policy.notAfter');
    expectWireError(() => parsePolicy(examplePolicy({ notBefore: 'tomorrow' })), 'BAD_FIELD', 'policy.notBefore');
    expectWireError(() => parsePolicy(examplePolicy({ velocity: [{ limit: 1, windowSeconds: 0, per: 'key' }] })), 'BAD_FIELD', 'policy.velocity[0].windowSeconds');
    expectWireError(() => parsePolicy(examplePolicy({ clients: { sign: ['XY'] } })), 'BAD_FIELD', 'policy.clients.sign[0]');
    expectWireError(() => parsePolicy(examplePolicy({ approvers: [{ ...passkey.approver('p'), origin: 'http://evil.example' }], approvals: {} })), 'BAD_FIELD', 'policy.approvers[0].origin');
    expectWireError(() => policyFromText('{'), 'BAD_FIELD', 'policy');
  });

  it('each sign rule refuses with its name, and a use inside every rule passes', () => {
    const p = parsePolicy(examplePolicy());
    checkSignPolicy(p, use());
    denied(() => checkSignPolicy(p, use({ clientKeyHex: bytesToHex(alice.publicKey) })), 'clients');
    denied(() => checkSignPolicy(p, use({ now: Date.parse('2025-12-31T23:59:59Z') })), 'validity');
    denied(() => checkSignPolicy(p, use({ now: Date.parse('2027-01-01T00:00:01Z') })), 'validity');
    checkSignPolicy(p, use({ path: [1000, 0x80000000 + 1000] }));
    denied(() => checkSignPolicy(p, use({ path: [1001] })), 'derivation');
    denied(() => checkSignPolicy(p, use({ path: [0x80000000 + 1001] })), 'derivation');
    checkSignPolicy(p, use({ epochSince: NOW - (86400 + 3600) * 1000 }));
    denied(() => checkSignPolicy(p, use({ epochSince: NOW - (86400 + 3600) * 1000 - 1 })), 'refresh');
    checkSignPolicy(p, use({ used: (r) => r.limit - 1 }));
    denied(() => checkSignPolicy(p, use({ used: (r) => (r.per === 'path' ? 3 : 0) })), 'velocity');
    denied(() => checkSignPolicy(p, use({ used: (r) => (r.per === 'key' ? 10 : 0) })), 'velocity');
    checkSignPolicy(DEFAULT_POLICY, use({ clientKeyHex: bytesToHex(alice.publicKey), path: [0x7fffffff], epochSince: 0, used: () => 1e9 }));
  });

  it('a change must name exactly the next version', () => {
    const v2 = parsePolicy(examplePolicy());
    checkPolicySuccessor(v2, parsePolicy(examplePolicy({ version: 3 })));
    denied(() => checkPolicySuccessor(v2, parsePolicy(examplePolicy({ version: 2 }))), 'version');
    denied(() => checkPolicySuccessor(v2, parsePolicy(examplePolicy({ version: 1 }))), 'version');
    denied(() => checkPolicySuccessor(v2, parsePolicy(examplePolicy({ version: 4 }))), 'version');
    checkPolicySuccessor(DEFAULT_POLICY, parsePolicy(examplePolicy({ version: 1 })));
  });

  it('the policy request digest binds key, version and document; the START crosses the wire', () => {
    const p = parsePolicy(examplePolicy());
    const d = policyRequestDigest({ keyId: 'hot-1', policy: p });
    expect(bytesToHex(d)).not.toBe(bytesToHex(policyRequestDigest({ keyId: 'hot-2', policy: p })));
    expect(bytesToHex(d)).not.toBe(bytesToHex(policyRequestDigest({ keyId: 'hot-1', policy: parsePolicy(examplePolicy({ approvalTtlSeconds: 60 })) })));
    expect(bytesToHex(d)).toBe(bytesToHex(operationDigest('policy', { keyId: 'hot-1', version: 2, policy: policyDigest(p) })));
    const request = signClientRequest(alice, { op: 'policy', keyId: 'hot-1', digest: d });
    const body = { keyId: 'hot-1', policy: policyToText(p), request };
    const back = decodeBody<{ policy: string }>('policy', POLICY_ROUND.START, 'frost-ed25519', encodeBody(body));
    expect(policyFromText(back.policy)).toEqual(p);
    expectWireError(() => decodeBody('policy', POLICY_ROUND.START, 'frost-ed25519', encodeBody({ ...body, policy: '{"format":1}' })), 'BAD_FIELD');
    expect(decode(encode({ reason: 'x', rule: 'velocity' }))).toEqual({ reason: 'x', rule: 'velocity' });
    expectWireError(() => decodeBody('policy', POLICY_ROUND.ABORT, 'frost-ed25519', encodeBody({ reason: 'x', rule: 'mood' })), 'BAD_FIELD', 'rule');
  });
});
