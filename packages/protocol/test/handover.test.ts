/** The policy a reshare or repair START hands over (docs/governance.md "Handover"): its parsing and `checkPolicyHandover`. */
import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_POLICY,
  KEY_ROUND,
  PolicyDeniedError,
  WireError,
  checkPolicyHandover,
  decodeBody,
  encodeBody,
  generateIdentity,
  parsePolicy,
  policyToText,
  repairDigest,
  reshareDigest,
  signClientRequest,
  type RepairStartBody,
  type ReshareStartBody,
} from '../src/index.ts';

const edPoint = () => ed25519.Point.BASE.multiply(7n).toBytes();
const publicKey = { suite: 'frost-ed25519', threshold: 2, participants: [1, 2, 3], groupKey: edPoint(), verifyingShares: [edPoint(), edPoint(), edPoint()], chainCode: new Uint8Array(32) };
const participants = [{ signer: 'a', index: 1 }, { signer: 'b', index: 2 }, { signer: 'c', index: 3 }];
const client = generateIdentity();
const v1 = parsePolicy({ format: 1, version: 1, velocity: [{ limit: 5, windowSeconds: 60, per: 'key' }] });

const starts = {
  reshare: {
    keyId: 'k', epoch: 0, oldPublicKey: publicKey, oldParticipants: participants, dealers: participants.slice(0, 2), newParticipants: participants, newThreshold: 2,
    request: signClientRequest(client, { op: 'reshare', keyId: 'k', digest: reshareDigest({ keyId: 'k', groupKey: publicKey.groupKey, newThreshold: 2, signers: ['a', 'b', 'c'] }) }),
  },
  repair: {
    keyId: 'k', epoch: 0, publicKey, participants, target: participants[2]!, helpers: participants.slice(0, 2),
    request: signClientRequest(client, { op: 'repair', keyId: 'k', digest: repairDigest({ keyId: 'k', target: 'c' }) }),
  },
};

function wireError(fn: () => unknown): WireError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(WireError);
    return e as WireError;
  }
  throw new Error('expected a WireError');
}

describe('policy handover', () => {
  it.each(['reshare', 'repair'] as const)('a %s START carries an optional policy text, checked on receipt', (kind) => {
    const start = starts[kind];
    const decode = (body: unknown) => decodeBody<ReshareStartBody | RepairStartBody>(kind, KEY_ROUND.START, 'frost-ed25519', encodeBody(body as never));
    expect(decode(start).policy).toBeUndefined();
    expect(decode({ ...start, policy: policyToText(v1) }).policy).toBe(policyToText(v1));
    expect(wireError(() => decode({ ...start, policy: 'not json' })).field).toBe('policy');
    expect(wireError(() => decode({ ...start, policy: 7 })).field).toBe('policy');
    // Version 0 has no text form: the default is the absent field.
    expect(wireError(() => decode({ ...start, policy: JSON.stringify({ format: 1, version: 0 }) })).field).toBe('policy.version');
  });

  it('checkPolicyHandover: only the same version and digest pass; two defaults are equal', () => {
    expect(() => checkPolicyHandover(DEFAULT_POLICY, DEFAULT_POLICY)).not.toThrow();
    expect(() => checkPolicyHandover(v1, parsePolicy({ format: 1, version: 1, velocity: [{ limit: 5, windowSeconds: 60, per: 'key' }] }))).not.toThrow();
    const refusals = [
      [v1, DEFAULT_POLICY],
      [DEFAULT_POLICY, v1],
      [parsePolicy({ format: 1, version: 2 }), v1],
      [v1, parsePolicy({ format: 1, version: 1 })],
    ] as const;
    for (const [current, handed] of refusals) {
      let err: unknown;
      try {
        checkPolicyHandover(current, handed);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(PolicyDeniedError);
      expect((err as PolicyDeniedError).rule).toBe('version');
      expect((err as PolicyDeniedError).message).toMatch(/^POLICY_DENIED \(version\): /);
    }
  });
});
