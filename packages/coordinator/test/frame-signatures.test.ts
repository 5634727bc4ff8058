/**
 * The coordinator's frame-signature check (engine.ts `onFrame` for session frames,
 * runtime.ts `answeredCommit` for ACKs): a frame on an authenticated signer's
 * connection whose envelope signature is corrupted, blank (all zero: no signature) or
 * made by another pinned signer's key is refused with control/ERROR BAD_SIGNATURE and
 * changes nothing: a forged signature share is not used (the honest body it carries
 * would have made a valid signature), a forged ACK does not record the epoch as held.
 * The forger is a fixture that speaks the real protocol (fake-signer.ts `Forgery`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schnorr } from '@noble/curves/secp256k1.js';
import { KEY_ROUND, SIGN_ROUND, createKeyDigest, signDigest } from '@keyquorum/protocol';
import { CoordinatorError } from '../src/index.ts';
import type { Forgery } from './fake-signer.ts';
import { eventually, startCluster, type Cluster } from './helpers.ts';

const IDS = ['s1', 's2', 's3'];
const SUITE = 'frost-secp256k1-tr';
let c: Cluster;

beforeAll(async () => {
  // Each forged case waits out one round timeout; honest rounds of in-process signers need far less, even on a loaded machine.
  c = await startCluster(IDS, { options: { roundTimeoutMs: 4000 } });
}, 60_000);
afterAll(async () => c?.stop());

async function createKey(keyId: string, signers: string[]) {
  const request = c.request('createKey', keyId, createKeyDigest({ keyId, suite: SUITE, threshold: 2, signers }));
  return c.coordinator.createKey({ request, keyId, suite: SUITE, threshold: 2, signers });
}

function sign(keyId: string, message: Uint8Array) {
  const request = c.request('sign', keyId, signDigest({ keyId, epoch: 0, message }));
  return c.coordinator.sign({ request, keyId, message });
}

const forger = () => c.signers[0]!;
const forgery = (kind: string, round: number, how: Forgery['how']): Forgery => ({ kind, round, how, ...(how === 'other' ? { key: c.signerIdentities.get('s2')! } : {}) });
const refusedAsBadSignature = (from: number) => forger().errors.slice(from).some((e) => e.code === 'BAD_SIGNATURE');
const HOWS: Array<[string, Forgery['how']]> = [
  ['a corrupted signature', 'corrupt'],
  ['a blank (all-zero) signature', 'blank'],
  ["another pinned signer's signature", 'other'],
];

describe('a signature share under a forged envelope signature (engine.ts onFrame)', () => {
  // A 2-of-2 key: the forger is in every quorum, so only the coordinator's check keeps its share out.
  let keyId = '';
  let publicKey: Uint8Array;
  beforeAll(async () => {
    keyId = 'k-2of2';
    publicKey = (await createKey(keyId, ['s1', 's2'])).publicKey!;
  }, 60_000);

  it.each(HOWS)('is refused (ERROR BAD_SIGNATURE), no signature is made or audited, and nothing is held against the signer (%s)', async (_, how) => {
    const message = new Uint8Array(32).fill(how.length);
    const errorsBefore = forger().errors.length;
    const signedBefore = c.coordinator.audit(keyId).filter((e) => e.event === 'key.signed').length;
    forger().misbehave = { forge: forgery('sign', SIGN_ROUND.SHARE, how) };
    try {
      const err = await sign(keyId, message).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(CoordinatorError);
      expect((err as CoordinatorError).code).toBe('SESSION_FAILED');
      await eventually(() => refusedAsBadSignature(errorsBefore));
      expect(c.coordinator.audit(keyId).filter((e) => e.event === 'key.signed')).toHaveLength(signedBefore);
      const failed = c.coordinator.audit(keyId).filter((e) => e.event === 'key.sign_attempt_failed').at(-1);
      expect(failed?.data).toMatchObject({ quorum: ['s1', 's2'], reason: 'timeout', banned: false });
    } finally {
      forger().misbehave = {};
    }
    // Nothing was recorded against s1: the same pair signs once it signs its frames honestly.
    const out = await sign(keyId, message);
    expect(schnorr.verify(out.signature, message, publicKey)).toBe(true);
    expect(c.coordinator.audit(keyId).filter((e) => e.event === 'key.signed').at(-1)?.data).toMatchObject({ quorum: ['s1', 's2'] });
  });
});

describe('an ACK under a forged envelope signature (runtime.ts answeredCommit)', () => {
  it.each(HOWS)('is refused (ERROR BAD_SIGNATURE) and the coordinator does not record the epoch as held by the forger (%s)', async (_, how) => {
    const keyId = `k-ack-${how}`;
    const errorsBefore = forger().errors.length;
    forger().misbehave = { forge: forgery('dkg', KEY_ROUND.ACK, how) };
    try {
      const key = await createKey(keyId, IDS);
      expect(key.state).toBe('active');
      await eventually(() => refusedAsBadSignature(errorsBefore));
    } finally {
      forger().misbehave = {};
    }
    const acked = c.coordinator.audit(keyId).filter((e) => e.event === 'commit.acked').map((e) => (e.data as { signer: string }).signer);
    expect(acked.sort()).toEqual(['s2', 's3']);
    const epochs = Object.fromEntries(c.coordinator.listSigners().map((s) => [s.id, s.epochs[keyId]]));
    expect(epochs).toEqual({ s1: undefined, s2: 0, s3: 0 });
  });
});
