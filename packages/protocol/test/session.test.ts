import { describe, expect, it } from 'vitest';
import { deriveSessionId, keyStateOf, publicKeyHash, sessionContribution, type SessionIdInput } from '../src/session.ts';
import type { WirePublicKey } from '../src/messages.ts';
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
  keyState: null,
};

const pkg: WirePublicKey = {
  suite: 'ecdsa-secp256k1',
  threshold: 2,
  participants: [1, 2, 3],
  groupKey: seededRng('group')(33),
  verifyingShares: [seededRng('y1')(33), seededRng('y2')(33), seededRng('y3')(33)],
  chainCode: seededRng('chain')(32),
};
const signing: SessionIdInput = { ...base, kind: 'sign', suite: 'ecdsa-secp256k1', keyState: keyStateOf(1, pkg) };

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

      { ...base, suite: 'frost-ed25519' },
      { ...base, keyId: 'hot-wallet-2' },
      { ...base, requestDigest: new Uint8Array(32) },
    ];
    for (const v of variants) expect(deriveSessionId(v)).not.toEqual(id);
    expect(deriveSessionId({ ...signing, kind: 'refresh' })).not.toEqual(deriveSessionId(signing));
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

  it('bind the key state each participant holds: signers at different epochs or with different packages derive different ids (a coordinator telling two signers different epochs)', () => {
    const id = deriveSessionId(signing);
    expect(deriveSessionId({ ...signing, keyState: keyStateOf(0, pkg) })).not.toEqual(id);
    const refreshed = { ...pkg, verifyingShares: [pkg.verifyingShares[0]!, pkg.verifyingShares[2]!, pkg.verifyingShares[1]!] };
    expect(deriveSessionId({ ...signing, keyState: keyStateOf(1, refreshed) })).not.toEqual(id);
    expect(deriveSessionId({ ...signing, keyState: keyStateOf(1, { ...pkg }) })).toEqual(id);
  });

  it('refuse a key state for a dkg and none for any other kind', () => {
    expectWireError(() => deriveSessionId({ ...base, keyState: keyStateOf(0, pkg) }), 'BAD_FIELD', 'keyState');
    expectWireError(() => deriveSessionId({ ...signing, keyState: null }), 'BAD_FIELD', 'keyState');
    expectWireError(() => deriveSessionId({ ...signing, keyState: { epoch: 1, publicKeyHash: new Uint8Array(31) } }), 'BAD_FIELD', 'keyState.publicKeyHash');
  });

  it('hash a public key package canonically: every field counts', () => {
    const h = publicKeyHash(pkg);
    expect(h).toHaveLength(32);
    for (const v of [{ ...pkg, threshold: 3 }, { ...pkg, chainCode: new Uint8Array(32) }, { ...pkg, participants: [1, 2, 4] }, { ...pkg, suite: 'frost-secp256k1' }]) {
      expect(publicKeyHash(v)).not.toEqual(h);
    }
  });
});
