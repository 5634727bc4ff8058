import { describe, expect, it } from 'vitest';
import { deriveSessionId, sessionContribution, type SessionIdInput } from '../src/session.ts';
import { expectWireError, seededRng } from './helpers.ts';

const rng = seededRng('contributions');
const contributions = { s1: sessionContribution(rng), s2: sessionContribution(rng), s3: sessionContribution(rng) };
const base: SessionIdInput = {
  kind: 'dkg',
  suite: 'frost-secp256k1-tr',
  keyId: 'hot-wallet-1',
  participants: ['s1', 's2', 's3'],
  contributions,
  requestDigest: seededRng('request')(32),
};

describe('session ids', () => {
  it('are 32 bytes and do not depend on the order participants are listed in', () => {
    const id = deriveSessionId(base);
    expect(id).toHaveLength(32);
    expect(deriveSessionId({ ...base, participants: ['s3', 's1', 's2'] })).toEqual(id);
  });

  it('change when any one participant’s contribution changes', () => {
    const id = deriveSessionId(base);
    for (const p of ['s1', 's2', 's3'] as const) {
      const fresh = { ...contributions, [p]: sessionContribution(seededRng(`fresh-${p}`)) };
      expect(deriveSessionId({ ...base, contributions: fresh })).not.toEqual(id);
    }
  });

  it('bind kind, suite, key id and request digest', () => {
    const id = deriveSessionId(base);
    const variants: SessionIdInput[] = [
      { ...base, kind: 'refresh' },
      { ...base, suite: 'frost-ed25519' },
      { ...base, keyId: 'hot-wallet-2' },
      { ...base, requestDigest: new Uint8Array(32) },
    ];
    for (const v of variants) expect(deriveSessionId(v)).not.toEqual(id);
  });

  it('bind who contributed what: swapping two contributions changes the id', () => {
    const swapped = { ...contributions, s1: contributions.s2, s2: contributions.s1 };
    expect(deriveSessionId({ ...base, contributions: swapped })).not.toEqual(deriveSessionId(base));
  });

  it('refuse a missing contribution', () => {
    const { s3: _missing, ...two } = contributions;
    expectWireError(() => deriveSessionId({ ...base, contributions: two }), 'BAD_FIELD', 'contributions.s3');
  });

  it('refuse a contribution from a non-participant', () => {
    const extra = { ...contributions, s4: sessionContribution(seededRng('s4')) };
    expectWireError(() => deriveSessionId({ ...base, contributions: extra }), 'UNKNOWN_FIELD', 'contributions.s4');
  });

  it('refuse a duplicated participant and a copied contribution', () => {
    expectWireError(() => deriveSessionId({ ...base, participants: ['s1', 's2', 's3', 's1'] }), 'BAD_FIELD', 'participants[3]');
    const copied = { ...contributions, s3: contributions.s1 };
    expectWireError(() => deriveSessionId({ ...base, contributions: copied }), 'BAD_FIELD', 'contributions.s3');
  });

  it('refuse contributions of the wrong length, bad ids and an empty participant list', () => {
    const short = { ...contributions, s2: new Uint8Array(31) };
    expectWireError(() => deriveSessionId({ ...base, contributions: short }), 'BAD_FIELD', 'contributions.s2');
    expectWireError(() => deriveSessionId({ ...base, participants: ['s1', 'S 2', 's3'] }), 'BAD_FIELD', 'participants[1]');
    expectWireError(() => deriveSessionId({ ...base, participants: [], contributions: {} }), 'BAD_FIELD', 'participants');
    expectWireError(() => deriveSessionId({ ...base, requestDigest: new Uint8Array(16) }), 'BAD_FIELD', 'requestDigest');
  });
});
