/**
 * ecdsa-secp256k1 signing rounds on the crypto pool (`schemes/ecdsa-sign-rounds.ts`
 * through `workers/pool.ts`): a signer whose rounds run on a worker thread and one
 * whose rounds run inline sign together and the signature verifies; round 3 computes
 * a share only from the journal entry of its own session (NONCE_MISMATCH otherwise, and
 * the presignature is gone after one try); a cheater's step-8 failure keeps its
 * culprit across the thread; closing a session (wipe) refuses its running round and
 * leaves nothing open on the workers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { ECDSA_SUITE, toWirePublicKey, type ParticipantRef } from '@keyquorum/protocol';
import { CryptoError, ecdsa } from '@keyquorum/crypto';
import { createLogger } from '@keyquorum/protocol/logger';
import { SignerError } from '../src/errors.ts';
import type { HeldShare } from '../src/held-share.ts';
import { schemeFor } from '../src/schemes/index.ts';
import type { AsyncEcdsaSignRounds, EcdsaSignRound1Out } from '../src/workers/api.ts';
import { CryptoPool } from '../src/workers/pool.ts';

const log = createLogger({ level: 'silent' });
const pooled = new CryptoPool({ size: 2, log });
const inline = new CryptoPool({ size: 0, log });
beforeAll(() => pooled.start());
afterAll(() => pooled.stop());

const parts: ParticipantRef[] = [{ signer: 's1', index: 1 }, { signer: 's2', index: 2 }];
const quorum = [1, 2];
let groupKey: Uint8Array;
let encoded: Uint8Array[];

/** A 2-of-2 DKLs23 key (the crypto package's DKG), each share encoded as the keystore seals it. */
beforeAll(() => {
  const sessionId = randomBytes(32);
  const r1 = quorum.map((self) => ecdsa.ecdsaDkgRound1({ sessionId, self, participants: quorum, threshold: 2 }));
  const r2 = r1.map((p) => ecdsa.ecdsaDkgRound2(p.secret, r1.filter((o) => o.package.from !== p.package.from).map((o) => o.package)));
  const out = r2.map((r, k) => ecdsa.ecdsaDkgRound3(r.secret, r2.flatMap((o) => o.packages.filter((pkg) => pkg.to === quorum[k]))));
  groupKey = out[0]!.keyShare.frost.publicKey.groupKey;
  encoded = out.map((o) => ecdsa.encodeEcdsaKeyShare(o.keyShare));
}, 300_000);

/** Signer k's active share as a session loads it (decoded and checked by the scheme's codec). */
function share(k: number): HeldShare {
  const publicPart = { publicKey: toWirePublicKey(ecdsa.decodeEcdsaKeyShare(encoded[k]!.slice()).frost.publicKey), participants: parts, self: quorum[k]!, sessionId: randomBytes(32), transcriptHash: randomBytes(32) };
  return { keyId: 'k', epoch: 0, suite: ECDSA_SUITE, state: 'active', createdAt: 0, publicPart, ...schemeFor(ECDSA_SUITE).decodeSecret(encoded[k]!.slice(), publicPart) };
}

/** Rounds 1 and 2 and presign between the two; returns each side's journal entry (a copy of round 1's nonce, as sealed). */
async function presign(rounds: AsyncEcdsaSignRounds[], tamper?: (m: ecdsa.SignRound2Direct) => ecdsa.SignRound2Direct): Promise<{ journal: Uint8Array[]; presigned: { instancePoint: Uint8Array }[] }> {
  const sessionId = randomBytes(32);
  const r1: EcdsaSignRound1Out[] = await Promise.all(rounds.map((r) => r.round1({ sessionId, quorum })));
  const journal = r1.map((o) => o.nonce.slice());
  const others = (k: number) => quorum.map((from, i) => ({ from, i })).filter(({ i }) => i !== k);
  const r2 = await Promise.all(
    rounds.map((r, k) =>
      r.round2({
        broadcasts: others(k).map(({ from, i }) => ({ from, commitment: r1[i]!.commitment })),
        direct: others(k).flatMap(({ from, i }) => r1[i]!.direct.filter((d) => d.to === quorum[k]).map((d) => ({ from, to: d.to, mul: d.mul }))),
      }),
    ),
  );
  const presigned = await Promise.all(
    rounds.map((r, k) => r.presign(others(k).flatMap(({ i }) => r2[i]!.filter((m) => m.to === quorum[k]).map((m) => (tamper ? tamper(m) : m))))),
  );
  return { journal, presigned };
}

describe('ecdsa-secp256k1 signing rounds on the crypto pool', () => {
  it('a pooled and an inline signer sign together: the signature verifies, and nothing stays open on the workers', async () => {
    const rounds = [pooled.ecdsaSignRounds(share(0)), inline.ecdsaSignRounds(share(1))];
    expect(pooled.openJobs).toBe(1);
    const { journal, presigned } = await presign(rounds);
    expect(journal.every((n) => n.length === 64)).toBe(true);
    expect(presigned[0]!.instancePoint).toEqual(presigned[1]!.instancePoint);
    const digest = randomBytes(32);
    const shares = await Promise.all(rounds.map((r, k) => r.round3({ journalled: journal[k]!, digest })));
    for (const r of rounds) r.wipe();
    expect(pooled.openJobs).toBe(0);
    expect(pooled.callsRunning).toBe(0);
    const signed = ecdsa.combineSignature({ quorum, instancePoint: presigned[0]!.instancePoint, publicKey: groupKey }, digest, shares.map((s, k) => ({ from: quorum[k]!, ...s })));
    expect(secp256k1.verify(signed.signature, digest, groupKey, { prehash: false })).toBe(true);
  }, 120_000);

  it('round 3 refuses a journal entry that is not its own session\'s (NONCE_MISMATCH), computes nothing, and the presignature is gone after it', async () => {
    for (const runner of [pooled, inline]) {
      const rounds = [runner.ecdsaSignRounds(share(0)), runner.ecdsaSignRounds(share(1))];
      const { journal } = await presign(rounds);
      const digest = randomBytes(32);
      // Signer 0 is handed signer 1's entry (another session's r || phi).
      const e = await rounds[0]!.round3({ journalled: journal[1]!.slice(), digest }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(SignerError);
      expect((e as SignerError).code).toBe('NONCE_MISMATCH');
      // Single use: even its own entry no longer yields a share.
      const again = await rounds[0]!.round3({ journalled: journal[0]!, digest }).catch((x: unknown) => x);
      expect((again as SignerError).code).toBe('WRONG_STATUS');
      for (const r of rounds) r.wipe();
    }
    expect(pooled.openJobs).toBe(0);
  }, 120_000);

  it('a cheater failing a step-8 check is named the same by a pooled signer as by an inline one (culprits survive the thread)', async () => {
    const failures: unknown[] = [];
    for (const runner of [pooled, inline]) {
      const rounds = [runner.ecdsaSignRounds(share(0)), runner.ecdsaSignRounds(share(1))];
      // Signer 2's Gamma_u towards signer 1 is replaced by another point: chi*R_2 != d_u*G + Gamma_u at signer 1.
      const tamper = (m: ecdsa.SignRound2Direct) => (m.from === 2 ? { ...m, gammaU: secp256k1.Point.BASE.toBytes(true) } : m);
      failures.push(await presign(rounds, tamper).catch((x: unknown) => x));
      for (const r of rounds) r.wipe();
    }
    for (const e of failures) {
      expect(e).toBeInstanceOf(CryptoError);
      expect((e as CryptoError).code).toBe('INVALID_SHARE');
      expect((e as CryptoError).culprits).toEqual([2]);
    }
    expect(pooled.openJobs).toBe(0);
  }, 120_000);

  it('closing a session while its round runs refuses the round and frees the worker (no session leaks there)', async () => {
    const rounds = [pooled.ecdsaSignRounds(share(0)), pooled.ecdsaSignRounds(share(1))];
    const pending = rounds[0]!.round1({ sessionId: randomBytes(32), quorum });
    rounds[0]!.wipe();
    expect(((await pending.catch((x: unknown) => x)) as SignerError).code).toBe('WORKER_FAILED');
    // The job is gone on the worker too: a later call is refused, never answered from stale state.
    const after = await rounds[0]!.round1({ sessionId: randomBytes(32), quorum }).catch((x: unknown) => x);
    expect((after as SignerError).code).toBe('WORKER_FAILED');
    rounds[1]!.wipe();
    expect(pooled.openJobs).toBe(0);
  }, 120_000);
});
