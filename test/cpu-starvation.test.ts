/**
 * Issue 10, finding 6: a DKLs23 DKG round is seconds of CPU; run on the event loop it
 * starved the heartbeat, the coordinator dropped the signer and the DKG failed
 * ("signer-3 disconnected during dkg round 7"). Here a CPU hog (one busy process per
 * core) runs beside a 3-of-5 ecdsa-secp256k1 DKG through real processes, with the
 * coordinator's heartbeat short (1 s, so a signer whose loop is blocked for a few
 * seconds is dropped): the key rounds run on the signers' crypto worker threads
 * (`packages/signer/src/workers/`), every signer keeps answering, and none is dropped.
 * With `cryptoWorkers: 0` (rounds inline) the same test sees signers dropped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from './support/cluster.ts';

/** Busy loops, one per core; each also stops by itself after `maxMs`. */
function cpuHog(maxMs: number): ChildProcess[] {
  const code = `const end = Date.now() + ${maxMs}; while (Date.now() < end) {}`;
  return Array.from({ length: os.availableParallelism() }, () => spawn(process.execPath, ['-e', code], { stdio: 'ignore' }));
}

const DROPPED = new Set(['signer missed pongs; dropping', 'signer disconnected']);

describe('a CPU hog beside a 3-of-5 ecdsa-secp256k1 DKG', () => {
  let cluster: Cluster;
  let hog: ChildProcess[] = [];
  beforeAll(async () => {
    cluster = await Cluster.start({
      initInProcess: true,
      signers: 5,
      roundTimeoutMs: 300_000,
      coordinatorConfig: { heartbeatMs: 1000 },
      ...(process.env.KEYQUORUM_TEST_CRYPTO_WORKERS === undefined ? {} : { signerConfig: { cryptoWorkers: Number(process.env.KEYQUORUM_TEST_CRYPTO_WORKERS) } }),
    });
  }, 180_000);
  afterAll(async () => {
    for (const p of hog) p.kill('SIGKILL');
    await cluster?.stop();
  });

  it('starves no heartbeat: the DKG completes and the coordinator drops no signer (heavy rounds run on worker threads)', async () => {
    const before = cluster.coordinator.lines.length;
    hog = cpuHog(600_000);
    const op = await cluster.client.createKey({ keyId: 'hot-under-load', suite: 'ecdsa-secp256k1', threshold: 3, signers: cluster.signerIds }, { wait: false });
    const done = await cluster.client.waitForOperation(op.id, { timeoutMs: 540_000, intervalMs: 500 });
    for (const p of hog) p.kill('SIGKILL');
    expect(done.state).toBe('succeeded');
    const drops = cluster.coordinator.lines.slice(before).filter((l) => DROPPED.has(String(l.msg)));
    expect(drops).toEqual([]);
    expect((await cluster.client.listSigners()).every((s) => s.connected)).toBe(true);
    for (const id of cluster.signerIds) expect(cluster.signers.get(id)!.lines.filter((l) => l.msg === 'disconnected')).toEqual([]);
  }, 600_000);
});
