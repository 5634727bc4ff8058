/**
 * The crypto worker pool (`workers/pool.ts`): key rounds run on a worker thread give
 * what the same rounds give inline, and a worker that dies fails its sessions with a
 * typed error instead of leaving them waiting. The rounds draw fresh randomness, so
 * "the same" is checked as peers check it: a DKG (and a refresh) in which some parties
 * run pooled and some inline agrees on one group key and transcript, every share is
 * consistent with it, and a cheater's failure keeps its culprit across the thread.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from '@noble/hashes/utils.js';
import { ECDSA_SUITE, toWirePublicKey, type ParticipantRef } from '@keyquorum/protocol';
import { CryptoError } from '@keyquorum/crypto';
import { createLogger } from '@keyquorum/protocol/logger';
import { SignerError } from '../src/errors.ts';
import type { HeldShare } from '../src/held-share.ts';
import { schemeFor } from '../src/schemes/index.ts';
import type { AsyncKeyRounds, KeyOutcome, KeyRoundsSpec } from '../src/workers/api.ts';
import { CryptoPool } from '../src/workers/pool.ts';

const log = createLogger({ level: 'silent' });
const pooled = new CryptoPool({ size: 2, log });
const inline = new CryptoPool({ size: 0, log });
beforeAll(() => pooled.start());
afterAll(() => pooled.stop());

const refs = (n: number): ParticipantRef[] => Array.from({ length: n }, (_, i) => ({ signer: `s${i + 1}`, index: i + 1 }));

/** Runs one key protocol among `parts`, each party on its own runner; returns every outcome. */
async function run(parts: ParticipantRef[], open: (p: ParticipantRef) => AsyncKeyRounds): Promise<Map<string, KeyOutcome>> {
  const rounds = new Map(parts.map((p) => [p.signer, open(p)]));
  const sid = randomBytes(32);
  const r1 = new Map<string, unknown>();
  for (const [s, r] of rounds) r1.set(s, await r.round1(sid));
  const r2 = new Map<string, Map<string, { signingShare: Uint8Array }>>();
  await Promise.all([...rounds].map(async ([s, r]) => r2.set(s, await r.round2(new Map([...r1].filter(([from]) => from !== s))))));
  const out = new Map<string, KeyOutcome>();
  await Promise.all(
    [...rounds].map(async ([s, r]) => {
      const inbound = new Map([...r2].filter(([from]) => from !== s).map(([from, m]) => [from, m.get(s)!]));
      out.set(s, await r.round3(inbound));
      r.wipe();
    }),
  );
  return out;
}

const mixed = (p: ParticipantRef) => (p.index % 2 === 0 ? inline : pooled);

/** The share a party would seal, read back with its scheme's codec (which checks it against the public key). */
function heldShare(suite: string, parts: ParticipantRef[], p: ParticipantRef, o: KeyOutcome): HeldShare {
  const publicPart = { publicKey: toWirePublicKey(o.publicKey), participants: parts, self: p.index, sessionId: randomBytes(32), transcriptHash: o.transcriptHash };
  return { keyId: 'k', epoch: 0, suite, state: 'active', createdAt: 0, publicPart, ...schemeFor(suite).decodeSecret(o.secret.slice(), publicPart) };
}

function agree(out: Map<string, KeyOutcome>): void {
  const [first, ...rest] = [...out.values()];
  for (const o of rest) {
    expect(o.publicKey.groupKey).toEqual(first!.publicKey.groupKey);
    expect(o.transcriptHash).toEqual(first!.transcriptHash);
  }
}

describe.each([ECDSA_SUITE, 'frost-secp256k1-tr', 'frost-ed25519'])('%s', (suite) => {
  const parts = refs(3);
  let dkg: Map<string, KeyOutcome>;

  it('a DKG with pooled and inline parties agrees on one key, and each share decodes against it', async () => {
    dkg = await run(parts, (p) => mixed(p).keyRounds({ op: 'dkg', params: { suite, participants: parts, self: p.index, threshold: 2 } }));
    agree(dkg);
    for (const p of parts) expect(() => heldShare(suite, parts, p, dkg.get(p.signer)!)).not.toThrow();
  });

  it('a refresh with pooled and inline parties keeps the group key and yields shares that decode against it', async () => {
    const out = await run(parts, (p) => (p.index % 2 === 1 ? inline : pooled).keyRounds({ op: 'refresh', share: heldShare(suite, parts, p, dkg.get(p.signer)!) } satisfies KeyRoundsSpec));
    agree(out);
    expect(out.get('s1')!.publicKey.groupKey).toEqual(dkg.get('s1')!.publicKey.groupKey);
    for (const p of parts) expect(() => heldShare(suite, parts, p, out.get(p.signer)!)).not.toThrow();
  });
});

describe('failures across the thread', () => {
  it('a cheating DKG peer is named the same by a pooled party as by an inline one (CryptoError culprits survive the thread)', async () => {
    const parts = refs(3);
    const failures: unknown[] = [];
    for (const runner of [pooled, inline]) {
      const rounds = parts.map((p) => runner.keyRounds({ op: 'dkg', params: { suite: ECDSA_SUITE, participants: parts, self: p.index, threshold: 2 } }));
      const sid = randomBytes(32);
      const r1 = await Promise.all(rounds.map((r) => r.round1(sid)));
      const forged = { ...(r1[1] as object), proofOfKnowledge: (r1[2] as { proofOfKnowledge: Uint8Array }).proofOfKnowledge };
      failures.push(await rounds[0]!.round2(new Map([['s2', forged], ['s3', r1[2]]])).catch((e: unknown) => e));
      for (const r of rounds) r.wipe();
    }
    for (const e of failures) {
      expect(e).toBeInstanceOf(CryptoError);
      expect((e as CryptoError).culprits).toEqual([2]);
    }
    expect((failures[0] as CryptoError).code).toBe((failures[1] as CryptoError).code);
  });

  it('a crypto worker killed mid-round fails that round with WORKER_FAILED (no hang), and the pool goes on with a new worker', async () => {
    const pool = new CryptoPool({ size: 1, log });
    await pool.start();
    try {
      const parts = refs(5);
      const rounds = parts.map((p) => pool.keyRounds({ op: 'dkg', params: { suite: ECDSA_SUITE, participants: parts, self: p.index, threshold: 3 } }));
      const sid = randomBytes(32);
      const r1 = await Promise.all(rounds.map((r) => r.round1(sid)));
      // Round 2 of a 5-party DKLs23 DKG runs base OTs for four pairs: the worker is busy when it is killed.
      const pending = rounds[0]!.round2(new Map(r1.slice(1).map((b, i) => [`s${i + 2}`, b])));
      const [worker] = pool.workers;
      await worker!.terminate();
      const e = await pending.catch((x: unknown) => x);
      expect(e).toBeInstanceOf(SignerError);
      expect((e as SignerError).code).toBe('WORKER_FAILED');
      // Every other session opened on the dead worker fails at once too.
      const later = await rounds[1]!.round2(new Map()).catch((x: unknown) => x);
      expect((later as SignerError).code).toBe('WORKER_FAILED');
      for (const r of rounds) r.wipe();
      // A replacement worker serves new sessions.
      await new Promise<void>((resolve) => {
        const wait = () => (pool.workers.length === 1 && pool.workers[0] !== worker ? resolve() : setTimeout(wait, 20));
        wait();
      });
      const fresh = await run(refs(2), (p) => pool.keyRounds({ op: 'dkg', params: { suite: 'frost-ed25519', participants: refs(2), self: p.index, threshold: 2 } }));
      agree(fresh);
    } finally {
      await pool.stop();
    }
  });

  it('closing a session while its round runs refuses the round (nothing of it reaches the session)', async () => {
    const parts = refs(3);
    const rounds = parts.map((p) => pooled.keyRounds({ op: 'dkg', params: { suite: ECDSA_SUITE, participants: parts, self: p.index, threshold: 2 } }));
    const sid = randomBytes(32);
    const r1 = await Promise.all(rounds.map((r) => r.round1(sid)));
    const pending = rounds[0]!.round2(new Map([['s2', r1[1]], ['s3', r1[2]]]));
    rounds[0]!.wipe();
    expect(((await pending.catch((x: unknown) => x)) as SignerError).code).toBe('WORKER_FAILED');
    for (const r of rounds.slice(1)) r.wipe();
  });
});
