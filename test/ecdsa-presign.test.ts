/**
 * The ecdsa-secp256k1 presignature pool through real processes (docs/cluster-protocol.md
 * "Presignature pool"; issue 13, lever 2): a coordinator and three signer daemons over
 * loopback WebSockets, driven by the SDK, a 2-of-3 key. The first signature finds no
 * presignature and runs the full DKLs23 protocol (contributions, R1, R2, SHARE); after
 * it the coordinator presigns with that quorum in the background, and once the quorum
 * holds presignatures a signature is one round trip (POOLED -> SHARE): the coordinator's
 * own round counters (`keyquorum_round_duration_seconds_count`, one per round it
 * collected) show a SHARE round and no contribution, R1 or R2 round. Every signature,
 * for the key and for a BIP32 child, is checked with noble and ethers (checkEthereum).
 * A signer restarted meanwhile (kill -9) discarded its presignatures: the next signature
 * falls back to the full protocol and still verifies. Signers that answer POOLED with a
 * pool-miss ABORT (NONCE_UNKNOWN; fixture test/fixtures/forgetful-ecdsa-signer.ts) make
 * the coordinator run the full protocol with the same quorum: the signature verifies and
 * no failed attempt is audited.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from './support/cluster.ts';
import { checkEthereum } from './support/verify.ts';
import { until } from './support/wait.ts';

const SUITE = 'ecdsa-secp256k1';
const KEY = 'presign-key';
/** The coordinator's per-quorum target (coordinator constants PRESIGN_TARGET) and low-water mark (PRESIGN_LOW_WATER). */
const TARGET = 4;

describe('ecdsa presignature pool across real processes', () => {
  let cluster: Cluster;

  const metric = async (round: string): Promise<number> => {
    const text = await (await fetch(`${cluster.url}/metrics`)).text();
    const m = new RegExp(`^keyquorum_round_duration_seconds_count\\{kind="sign",round="${round}"\\} (\\d+)$`, 'm').exec(text);
    return m === null ? 0 : Number(m[1]);
  };
  const NAMES = ['contribution', 'r1', 'r2', 'share', 'presigned'] as const;
  const rounds = async () => Object.fromEntries(await Promise.all(NAMES.map(async (n) => [n, await metric(n)] as const))) as Record<(typeof NAMES)[number], number>;
  /** Signs a fresh digest (for `path`, if given), checks it with noble and ethers, and returns the rounds the coordinator collected meanwhile. */
  const signOnce = async (path?: string) => {
    const before = await rounds();
    const message = new Uint8Array(randomBytes(32));
    const out = await cluster.client.sign(KEY, { message, ...(path === undefined ? {} : { path }) });
    checkEthereum(out, message);
    const after = await rounds();
    return { contribution: after.contribution - before.contribution, r1: after.r1 - before.r1, r2: after.r2 - before.r2, share: after.share - before.share };
  };
  const presigned = (n: number) => until(`${n} presign sessions`, async () => ((await metric('presigned')) >= n ? true : undefined));
  /** The coordinator's gauge of presignatures held unused (keyquorum_pooled_presignatures). */
  const pooled = async (): Promise<number> => Number(/^keyquorum_pooled_presignatures (\d+)$/m.exec(await (await fetch(`${cluster.url}/metrics`)).text())?.[1]);

  beforeAll(async () => {
    cluster = await Cluster.start({ signers: 3, initInProcess: true, roundTimeoutMs: 30_000 });
    await cluster.client.createKey({ keyId: KEY, suite: SUITE, threshold: 2, signers: cluster.signerIds });
  }, 300_000);
  afterAll(async () => cluster?.stop());

  it('no presignature: the full protocol; after warm-up, one round trip (POOLED -> SHARE), for the key and a BIP32 child', async () => {
    expect(await metric('presigned')).toBe(0);
    // The full protocol (presign sessions it starts right after may add their own contribution and R1 rounds).
    const full = await signOnce();
    expect(full.share).toBe(1);
    expect(full.r2).toBeGreaterThanOrEqual(1);
    // That signature made the coordinator presign with its quorum, in the background, up to the target.
    await presigned(TARGET);
    // Two signatures leave the pool at the low-water mark or above: no presigning runs meanwhile, so the counts are exact.
    expect(await pooled()).toBe(TARGET);
    expect(await signOnce()).toEqual({ contribution: 0, r1: 0, r2: 0, share: 1 });
    expect(await signOnce('m/0/7')).toEqual({ contribution: 0, r1: 0, r2: 0, share: 1 });
    // Each pooled signature took one presignature out of the pool, whatever it signed for.
    expect(await pooled()).toBe(TARGET - 2);
  }, 300_000);

  it('a signer restarted (kill -9) discarded its presignatures: the next signature runs the full protocol and verifies, then the pool refills', async () => {
    const made = await metric('presigned');
    await cluster.killSigner('signer-1', 'SIGKILL');
    await cluster.waitSignerState('signer-1', false);
    await cluster.startSigner('signer-1');
    await cluster.waitSignerState('signer-1', true, 60_000);
    // The coordinator forgot the presignatures of signer-1's quorums with its connection: the full protocol.
    const full = await signOnce();
    expect(full.share).toBe(1);
    expect(full.r2).toBeGreaterThanOrEqual(1);
    // Which quorum signed, it now presigns again, and the next signature is one round trip.
    await presigned(made + TARGET);
    expect(await signOnce()).toEqual({ contribution: 0, r1: 0, r2: 0, share: 1 });
  }, 300_000);
});

describe('ecdsa presignature pool: a pool-miss ABORT falls back to the full protocol', () => {
  let cluster: Cluster;
  const FORGETFUL = 'test/fixtures/forgetful-ecdsa-signer.ts';
  const presigned = async (): Promise<number> => {
    const text = await (await fetch(`${cluster.url}/metrics`)).text();
    const m = /^keyquorum_round_duration_seconds_count\{kind="sign",round="presigned"\} (\d+)$/m.exec(text);
    return m === null ? 0 : Number(m[1]);
  };
  const r2 = async (): Promise<number> => {
    const text = await (await fetch(`${cluster.url}/metrics`)).text();
    const m = /^keyquorum_round_duration_seconds_count\{kind="sign",round="r2"\} (\d+)$/m.exec(text);
    return m === null ? 0 : Number(m[1]);
  };

  beforeAll(async () => {
    cluster = await Cluster.start({ signers: 3, initInProcess: true, roundTimeoutMs: 30_000, signerScripts: { 'signer-1': FORGETFUL, 'signer-2': FORGETFUL, 'signer-3': FORGETFUL } });
    await cluster.client.createKey({ keyId: KEY, suite: SUITE, threshold: 2, signers: cluster.signerIds });
  }, 300_000);
  afterAll(async () => cluster?.stop());

  it('every quorum member refusing its presignature as unknown: the same request signs with the full protocol, nothing audited as failed', async () => {
    checkEthereum(await cluster.client.sign(KEY, { message: new Uint8Array(32).fill(1) }), new Uint8Array(32).fill(1));
    await until('presignatures', async () => ((await presigned()) >= TARGET ? true : undefined));
    const failedBefore = (await cluster.client.audit(KEY)).entries.filter((e) => e.event === 'key.sign_attempt_failed').length;
    const flags = cluster.signerIds.map((id) => path.join(cluster.dataDir(id), 'forget-presignatures'));
    for (const f of flags) fs.writeFileSync(f, '');
    try {
      const before = await r2();
      const message = new Uint8Array(randomBytes(32));
      checkEthereum(await cluster.client.sign(KEY, { message }), message);
      // The pooled attempt was refused; the full protocol ran (its R2 round) for the same request.
      expect((await r2()) - before).toBeGreaterThanOrEqual(1);
    } finally {
      for (const f of flags) fs.rmSync(f, { force: true });
    }
    const audit = (await cluster.client.audit(KEY)).entries;
    expect(audit.filter((e) => e.event === 'key.sign_attempt_failed').length).toBe(failedBefore);
    const forgot = [...cluster.signers.values()].flatMap((p) => p.lines.filter((l) => l.msg === 'session aborted' && l.code === 'NONCE_UNKNOWN'));
    expect(forgot.length).toBeGreaterThan(0);
  }, 300_000);
});
