/**
 * The bodies of unresolved-key-session resolution (resolve.ts; docs/cluster-protocol.md
 * "Unresolved key sessions"): RESOLVE and VETO, and a key session's ABORT carrying one
 * signed envelope. Codec round trips and the refusals, each a typed WireError naming
 * the field.
 */
import { describe, expect, it } from 'vitest';
import {
  COORDINATOR_ID,
  KEY_ROUND,
  PROTOCOL_VERSION,
  SIGN_ROUND,
  WireError,
  decodeBody,
  encodeBody,
  generateIdentity,
  openEnvelope,
  sealEnvelope,
  type AbortBody,
  type Envelope,
  type ResolveBody,
} from '../src/index.ts';

const SUITE = 'frost-ed25519';
const signer = generateIdentity();

function veto(): Envelope {
  const header = { v: PROTOCOL_VERSION, kind: 'refresh', suite: SUITE, sessionId: new Uint8Array(32).fill(7), round: KEY_ROUND.VETO, from: 's2', to: COORDINATOR_ID } as const;
  return sealEnvelope(signer, header, encodeBody({ keyId: 'k1', epoch: 1 }));
}

function expectWire(fn: () => unknown, code: string, field?: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(WireError);
  expect((caught as WireError).code).toBe(code);
  if (field !== undefined) expect((caught as WireError).field).toBe(field);
}

describe('RESOLVE and VETO bodies', () => {
  it.each([KEY_ROUND.RESOLVE, KEY_ROUND.VETO])('round %i round-trips {keyId, epoch} for every key kind', (round) => {
    for (const kind of ['dkg', 'refresh', 'reshare']) {
      expect(decodeBody<ResolveBody>(kind, round, SUITE, encodeBody({ keyId: 'k1', epoch: 3 }))).toEqual({ keyId: 'k1', epoch: 3 });
    }
  });

  it('refuses a missing field, an unknown field, a bad key id and a negative epoch', () => {
    expectWire(() => decodeBody('refresh', KEY_ROUND.RESOLVE, SUITE, encodeBody({ keyId: 'k1' })), 'BAD_FIELD');
    expectWire(() => decodeBody('refresh', KEY_ROUND.VETO, SUITE, encodeBody({ keyId: 'k1', epoch: 1, extra: 1 })), 'UNKNOWN_FIELD');
    expectWire(() => decodeBody('refresh', KEY_ROUND.RESOLVE, SUITE, encodeBody({ keyId: 'a/b', epoch: 1 })), 'BAD_FIELD', 'keyId');
    expectWire(() => decodeBody('refresh', KEY_ROUND.VETO, SUITE, encodeBody({ keyId: 'k1', epoch: -1 })), 'BAD_FIELD', 'epoch');
  });

  it('RESOLVE may name the members (participants); a VETO never does; duplicate refs are refused', () => {
    const participants = [{ signer: 's2', index: 1 }, { signer: 's5', index: 3 }];
    expect(decodeBody<ResolveBody>('reshare', KEY_ROUND.RESOLVE, SUITE, encodeBody({ keyId: 'k1', epoch: 2, participants }))).toEqual({ keyId: 'k1', epoch: 2, participants });
    expectWire(() => decodeBody('reshare', KEY_ROUND.VETO, SUITE, encodeBody({ keyId: 'k1', epoch: 2, participants })), 'UNKNOWN_FIELD');
    expectWire(() => decodeBody('reshare', KEY_ROUND.RESOLVE, SUITE, encodeBody({ keyId: 'k1', epoch: 2, participants: [participants[0], { signer: 's5', index: 1 }] })), 'BAD_FIELD');
  });

  it('RESOLVE and VETO are key-session rounds only', () => {
    expectWire(() => decodeBody('sign', KEY_ROUND.RESOLVE, SUITE, encodeBody({ keyId: 'k1', epoch: 1 })), 'UNKNOWN_KIND');
  });
});

describe("a key session's ABORT", () => {
  it('carries one signed envelope that still verifies after the round trip', () => {
    const v = veto();
    const body = decodeBody<AbortBody>('refresh', KEY_ROUND.ABORT, SUITE, encodeBody({ reason: 'vetoed', envelopes: [v] }));
    expect(body.reason).toBe('vetoed');
    expect(body.envelopes).toHaveLength(1);
    expect(() => openEnvelope(body.envelopes![0]!, signer.publicKey)).not.toThrow();
    expect(body.envelopes![0]!.header).toEqual(v.header);
  });

  it('without envelopes is the plain ABORT, culprits kept', () => {
    expect(decodeBody<AbortBody>('dkg', KEY_ROUND.ABORT, SUITE, encodeBody({ reason: 'r', culprits: ['s1'] }))).toEqual({ reason: 'r', culprits: ['s1'] });
  });

  it('refuses zero or two envelopes, and a malformed one, naming the field', () => {
    expectWire(() => decodeBody('refresh', KEY_ROUND.ABORT, SUITE, encodeBody({ reason: 'r', envelopes: [] })), 'BAD_FIELD', 'envelopes');
    expectWire(() => decodeBody('refresh', KEY_ROUND.ABORT, SUITE, encodeBody({ reason: 'r', envelopes: [veto(), veto()] })), 'BAD_FIELD', 'envelopes');
    const e = (() => {
      try {
        decodeBody('refresh', KEY_ROUND.ABORT, SUITE, encodeBody({ reason: 'r', envelopes: [{ header: 1 }] }));
      } catch (err) {
        return err as WireError;
      }
      return undefined;
    })();
    expect(e).toBeInstanceOf(WireError);
    expect(e?.field).toMatch(/^envelopes\[0\]\./);
  });

  it('carries the member refs beside the envelope only', () => {
    const participants = [{ signer: 's2', index: 1 }, { signer: 's3', index: 2 }];
    const body = decodeBody<AbortBody>('reshare', KEY_ROUND.ABORT, SUITE, encodeBody({ reason: 'PENDING_UNRESOLVED', envelopes: [veto()], participants }));
    expect(body.participants).toEqual(participants);
    expectWire(() => decodeBody('reshare', KEY_ROUND.ABORT, SUITE, encodeBody({ reason: 'r', participants })), 'BAD_FIELD', 'participants');
  });

  it('a sign ABORT carries no envelopes', () => {
    expectWire(() => decodeBody('sign', SIGN_ROUND.ABORT, SUITE, encodeBody({ reason: 'r', envelopes: [veto()] })), 'UNKNOWN_FIELD');
  });
});
