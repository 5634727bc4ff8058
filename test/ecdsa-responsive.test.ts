/**
 * Issue 10, "heavy crypto off the event loop", for signing: a DKLs23 signing is a few
 * hundred milliseconds of CPU per signer (round 2's OT-extension work and presign's
 * step-8 checks grow with the quorum). Run on the signer's event loop, each such round
 * kept the loop from serving anything else (heartbeats, frames of other sessions,
 * health checks) until it was over. Here a 5-of-5 ecdsa-secp256k1 key (four peers in
 * every signing) signs digest after digest through real processes while the test
 * scrapes every signer's /metrics back to back. The rounds run on the signers' crypto
 * worker threads (`packages/signer/src/schemes/ecdsa-sign-rounds.ts`, `workers/`), so
 * each signer's event loop answers a scrape while one of its signing rounds is still
 * computing (`keyquorum_signer_cryptoCallsRunning` > 0 in the answer). That is an
 * event, not a time: a loop that runs the round itself cannot answer until the round
 * is over, when nothing is running any more, so with `KEYQUORUM_TEST_CRYPTO_WORKERS=0`
 * (rounds inline, as signing ran before) no scrape ever sees one and the test fails.
 * Every signature verifies, and no signer is dropped or disconnects meanwhile.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from './support/cluster.ts';
import { checkEthereum } from './support/verify.ts';
import { until } from './support/wait.ts';

/** Signatures at most: each signer is seen answering mid-round long before this (4 rounds per signature). */
const MAX_SIGNATURES = 12;
const DROPPED = new Set(['signer missed pongs; dropping', 'signer disconnected']);

/** The coordinator's presignatures per quorum once topped up (coordinator constants PRESIGN_TARGET). */
const PRESIGN_TARGET = 4;

/** Presignatures the coordinator holds unused (its keyquorum_pooled_presignatures gauge). */
async function pooledPresignatures(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^keyquorum_pooled_presignatures (\d+)$/m.exec(text)?.[1] ?? 0);
}

/** The crypto rounds a signer reports running, read off its /metrics (undefined if the scrape failed). */
async function callsRunning(base: string): Promise<number | undefined> {
  try {
    const text = await (await fetch(`${base}/metrics`)).text();
    const m = /^keyquorum_signer_cryptoCallsRunning (\d+)$/m.exec(text);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

describe('a 5-of-5 ecdsa-secp256k1 key signing repeatedly', () => {
  let cluster: Cluster;
  const keyId = 'eth-responsive';
  beforeAll(async () => {
    cluster = await Cluster.start({
      initInProcess: true,
      signers: 5,
      roundTimeoutMs: 300_000,
      coordinatorConfig: { heartbeatMs: 1000 },
      signerConfig: {
        listen: '127.0.0.1:0',
        ...(process.env.KEYQUORUM_TEST_CRYPTO_WORKERS === undefined ? {} : { cryptoWorkers: Number(process.env.KEYQUORUM_TEST_CRYPTO_WORKERS) }),
      },
    });
    const op = await cluster.client.createKey({ keyId, suite: 'ecdsa-secp256k1', threshold: 5, signers: cluster.signerIds }, { wait: false });
    const done = await cluster.client.waitForOperation(op.id, { timeoutMs: 540_000, intervalMs: 500 });
    expect(done.state).toBe('succeeded');
  }, 600_000);
  afterAll(async () => cluster?.stop());

  it("each signer's event loop answers while its own signing round computes; every signature verifies and nobody is dropped", async () => {
    const health = new Map(cluster.signerIds.map((id) => {
      const started = cluster.signers.get(id)!.lines.find((l) => l.msg === 'started');
      return [id, `http://${String(started?.health)}`];
    }));
    const before = cluster.coordinator.lines.length;
    const signerBefore = new Map(cluster.signerIds.map((id) => [id, cluster.signers.get(id)!.lines.length]));
    // Nothing runs before the first signature: a scrape now reads 0 from every signer.
    for (const base of health.values()) expect(await callsRunning(base)).toBe(0);

    const seenMidRound = new Set<string>();
    let signing = true;
    const scrapers = [...health].map(async ([id, base]) => {
      while (signing) {
        if (((await callsRunning(base)) ?? 0) > 0) seenMidRound.add(id);
        await new Promise((r) => setTimeout(r, 20)); // pacing only: the scrapers should not load the host
      }
    });
    let signatures = 0;
    try {
      while (signatures < MAX_SIGNATURES && seenMidRound.size < health.size) {
        const digest = new Uint8Array(randomBytes(32));
        checkEthereum(await cluster.client.sign(keyId, { message: digest }), digest);
        signatures++;
      }
    } finally {
      signing = false;
      await Promise.all(scrapers);
    }
    expect([...seenMidRound].sort()).toEqual([...cluster.signerIds].sort());

    const dropped = cluster.coordinator.lines.slice(before).filter((l) => DROPPED.has(String(l.msg)));
    expect(dropped).toEqual([]);
    expect((await cluster.client.listSigners()).every((s) => s.connected)).toBe(true);
    for (const id of cluster.signerIds) {
      const lines = cluster.signers.get(id)!.lines.slice(signerBefore.get(id));
      expect(lines.filter((l) => l.msg === 'disconnected')).toEqual([]);
      expect(lines.filter((l) => l.msg === 'signature share sent')).toHaveLength(signatures);
    }
    // Every round's call is answered: the signers' workers hold nothing for finished sessions, once the
    // coordinator's background presigning (docs/cluster-protocol.md "Presignature pool") is done too. It
    // tops the quorum's pool up one presign session after another, so a scrape between two of them reads 0
    // while more are to come: wait for the pool to be full (its gauge at the target, no top-up runs then).
    await until('the presignature pool full', async () => ((await pooledPresignatures(cluster.url)) >= PRESIGN_TARGET ? true : undefined), 300_000, 200);
    for (const base of health.values()) {
      for (let i = 0; i < 3000 && (await callsRunning(base)) !== 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(await callsRunning(base)).toBe(0);
    }
  }, 900_000);
});
