/**
 * The FROST nonce pool through real processes (docs/cluster-protocol.md "Nonce pool";
 * issue 13, lever 2): a coordinator and three signer daemons over loopback WebSockets,
 * driven by the SDK. The first signature of a key finds no pooled commitment and takes
 * the two rounds (START -> COMMITMENT, SIGN -> SHARE); it makes the coordinator ask
 * every participant for a pool, and once the commitments are in, a signature is one
 * round trip (POOLED -> SHARE): the coordinator's own round counters
 * (`keyquorum_round_duration_seconds_count`, one per round it collected) show a SHARE
 * round and no COMMITMENT round. Killing a signer (kill -9) and starting it again
 * drops its pool on both sides and signing goes on, through the pool again once it
 * refilled; killing the coordinator leaves no commitment of the dead process in use:
 * the signers discard their pools with the link, and fill new ones for the new process.
 * Every signature is checked with a standard verifier.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from './support/cluster.ts';
import { standardVerify } from './support/verify.ts';
import { until } from './support/wait.ts';

const SUITE = 'frost-secp256k1-tr';
const KEY = 'pool-key';
/** The signers' default pool size (signer constants NONCE_POOL_SIZE). */
const POOL = 16;

describe('FROST nonce pool across real processes', () => {
  let cluster: Cluster;

  const metric = async (pattern: RegExp): Promise<number> => {
    const text = await (await fetch(`${cluster.url}/metrics`)).text();
    const m = pattern.exec(text);
    return m === null ? 0 : Number(m[1]);
  };
  const rounds = async () => ({
    commitment: await metric(/^keyquorum_round_duration_seconds_count\{kind="sign",round="commitment"\} (\d+)$/m),
    share: await metric(/^keyquorum_round_duration_seconds_count\{kind="sign",round="share"\} (\d+)$/m),
  });
  const pooled = () => metric(/^keyquorum_pooled_commitments (\d+)$/m);
  /** Signs a fresh message, checks it with the standard verifier, and returns the rounds the coordinator collected for it. */
  const signOnce = async () => {
    const before = await rounds();
    const message = new Uint8Array(randomBytes(32));
    const { signature, publicKey } = await cluster.client.sign(KEY, { message });
    expect(standardVerify(SUITE, signature, message, publicKey)).toBe(true);
    const after = await rounds();
    return { commitment: after.commitment - before.commitment, share: after.share - before.share };
  };
  const atLeast = (n: number) => until(`${n} pooled commitments`, async () => ((await pooled()) >= n ? true : undefined));

  beforeAll(async () => {
    cluster = await Cluster.start({ signers: 3, initInProcess: true });
    await cluster.client.createKey({ keyId: KEY, suite: SUITE, threshold: 2, signers: cluster.signerIds });
  }, 180_000);
  afterAll(async () => cluster?.stop());

  it('an empty pool falls back to two rounds; a full one signs in one round trip', async () => {
    expect(await pooled()).toBe(0);
    // No commitment is pooled for a key created after the signers connected: two rounds.
    expect(await signOnce()).toEqual({ commitment: 1, share: 1 });
    // That attempt asked every participant to pool; once they have: one round trip (POOLED -> SHARE).
    await atLeast(3 * POOL);
    expect(await signOnce()).toEqual({ commitment: 0, share: 1 });
    // The coordinator used one commitment of each quorum member and forgot them.
    expect(await pooled()).toBeLessThanOrEqual(3 * POOL - 2);
    expect(await signOnce()).toEqual({ commitment: 0, share: 1 });
  }, 180_000);

  it('kill -9 and restart of a signer: its pool is dropped, signing goes on, and through the pool again once refilled', async () => {
    await cluster.killSigner('signer-1', 'SIGKILL');
    await cluster.waitSignerState('signer-1', false);
    // The coordinator forgot signer-1's commitments with its connection.
    expect(await pooled()).toBeLessThanOrEqual(2 * POOL);
    for (let i = 0; i < 2; i++) await signOnce();
    const without = await pooled();
    await cluster.startSigner('signer-1');
    // Its new connection is asked for a pool of the key at once (the old nonces were discarded at its start).
    await atLeast(without + POOL);
    for (let i = 0; i < 3; i++) expect(await signOnce()).toEqual({ commitment: 0, share: 1 });
  }, 240_000);

  it('kill -9 of the coordinator: what the signers offered the dead process is discarded, the new one gets fresh pools and signs in one round trip', async () => {
    // Pools hold commitments offered to this process (refilled only below a low water mark).
    await atLeast(POOL);
    await cluster.coordinator.kill('SIGKILL');
    await cluster.restartCoordinator();
    for (const id of cluster.signerIds) await cluster.waitSignerState(id, true, 60_000);
    // A signer that kept its offered commitments would count its pool as full and offer
    // the new process nothing: full pools here mean each made a fresh one.
    await atLeast(3 * POOL);
    expect(await signOnce()).toEqual({ commitment: 0, share: 1 });
  }, 240_000);
});
