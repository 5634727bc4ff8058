/**
 * The coordinator's frame-signature check (engine.ts `onFrame` for session frames,
 * runtime.ts `answeredCommit` for ACKs): a frame on an authenticated signer's
 * connection whose envelope signature is corrupted, blank (all zero: no signature) or
 * made by another pinned signer's key is refused with control/ERROR BAD_SIGNATURE and
 * changes nothing: a forged signature share is not used (the honest body it carries
 * would have made a valid signature), a forged ACK does not record the epoch as held.
 * The forger is a fixture that speaks the real protocol (fake-signer.ts `Forgery`).
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { schnorr } from '@noble/curves/secp256k1.js';
import { KEY_ROUND, SIGN_ROUND, createKeyDigest, signDigest } from '@keyquorum/protocol';
import { CoordinatorError } from '../src/index.ts';
import type { Forgery } from './fake-signer.ts';
import { eventually, startCluster, type Cluster } from './helpers.ts';

const SUITE = 'frost-secp256k1-tr';
const HOWS: Array<[string, Forgery['how']]> = [
  ['a corrupted signature', 'corrupt'],
  ['a blank (all-zero) signature', 'blank'],
  ["another pinned signer's signature", 'other'],
];
// Every case has its own forger, key and signers (no signer is in two cases' sessions),
// so the six cases run at once: each forged case waits out one round timeout, and they
// wait it out together.
const signForger = (how: Forgery['how']) => `sign-${how}`;
const signPartner = (how: Forgery['how']) => `sign-${how}-partner`;
const ackForger = (how: Forgery['how']) => `ack-${how}`;
const ackHonest = (how: Forgery['how']) => [`ack-${how}-h1`, `ack-${how}-h2`];
const IDS = HOWS.flatMap(([, how]) => [signForger(how), signPartner(how), ackForger(how), ...ackHonest(how)]);
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

const signer = (id: string) => c.signers.find((s) => s.id === id)!;
/** `other`: the forger signs with the key of `victim`, another pinned signer. */
const forgery = (kind: string, round: number, how: Forgery['how'], victim: string): Forgery => ({ kind, round, how, ...(how === 'other' ? { key: c.signerIdentities.get(victim)! } : {}) });
const refusedAsBadSignature = (forger: string, from: number) => signer(forger).errors.slice(from).some((e) => e.code === 'BAD_SIGNATURE');

describe.concurrent('a signature share under a forged envelope signature (engine.ts onFrame)', () => {
  // A 2-of-2 key per case: the forger is in every quorum, so only the coordinator's check keeps its share out.
  const keys = new Map<Forgery['how'], { keyId: string; publicKey: Uint8Array }>();
  beforeAll(async () => {
    await Promise.all(
      HOWS.map(async ([, how]) => {
        const keyId = `k-2of2-${how}`;
        keys.set(how, { keyId, publicKey: (await createKey(keyId, [signForger(how), signPartner(how)])).publicKey! });
      }),
    );
  }, 60_000);

  it.for(HOWS)('is refused (ERROR BAD_SIGNATURE), no signature is made or audited, and nothing is held against the signer (%s)', async ([, how], { expect }) => {
    const { keyId, publicKey } = keys.get(how)!;
    const [forger, partner] = [signForger(how), signPartner(how)];
    const message = new Uint8Array(32).fill(how.length);
    const errorsBefore = signer(forger).errors.length;
    const signedBefore = (await c.coordinator.audit(keyId)).filter((e) => e.event === 'key.signed').length;
    signer(forger).misbehave = { forge: forgery('sign', SIGN_ROUND.SHARE, how, partner) };
    try {
      const err = await sign(keyId, message).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(CoordinatorError);
      expect((err as CoordinatorError).code).toBe('SESSION_FAILED');
      await eventually(() => refusedAsBadSignature(forger, errorsBefore));
      expect((await c.coordinator.audit(keyId)).filter((e) => e.event === 'key.signed')).toHaveLength(signedBefore);
      const failed = (await c.coordinator.audit(keyId)).filter((e) => e.event === 'key.sign_attempt_failed').at(-1);
      expect(failed?.data).toMatchObject({ quorum: [forger, partner].sort(), reason: 'timeout', banned: false });
    } finally {
      signer(forger).misbehave = {};
    }
    // Nothing was recorded against the forger: the same pair signs once it signs its frames honestly.
    const out = await sign(keyId, message);
    expect(schnorr.verify(out.signature, message, publicKey)).toBe(true);
    expect((await c.coordinator.audit(keyId)).filter((e) => e.event === 'key.signed').at(-1)?.data).toMatchObject({ quorum: [forger, partner].sort() });
  });
});

describe.concurrent('an ACK under a forged envelope signature (runtime.ts answeredCommit)', () => {
  it.for(HOWS)('is refused (ERROR BAD_SIGNATURE) and the coordinator does not record the epoch as held by the forger (%s)', async ([, how], { expect }) => {
    const keyId = `k-ack-${how}`;
    const forger = ackForger(how);
    const honest = ackHonest(how);
    const errorsBefore = signer(forger).errors.length;
    signer(forger).misbehave = { forge: forgery('dkg', KEY_ROUND.ACK, how, honest[0]!) };
    try {
      const key = await createKey(keyId, [forger, ...honest]);
      expect(key.state).toBe('active');
      await eventually(() => refusedAsBadSignature(forger, errorsBefore));
    } finally {
      signer(forger).misbehave = {};
    }
    const acked = (await c.coordinator.audit(keyId)).filter((e) => e.event === 'commit.acked').map((e) => (e.data as { signer: string }).signer);
    expect(acked.sort()).toEqual([...honest].sort());
    const epochs = Object.fromEntries((await c.coordinator.listSigners()).map((s) => [s.id, s.epochs[keyId]]));
    expect(epochs).toEqual(Object.fromEntries(IDS.map((id) => [id, honest.includes(id) ? 0 : undefined])));
  });
});
