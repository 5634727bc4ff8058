/**
 * Key states through real processes (issue 11 item 1; NIST SP 800-57 Part 1 §5.3): a
 * coordinator and three signer daemons over loopback WebSockets, driven by the SDK.
 * Suspension refuses signing until resumed, a signer that was down when the key was
 * suspended gets the transition when it reconnects, a compromised key never signs
 * again, and a scheduled destruction wipes every share with signed attestations once
 * the delay has passed, while a cancelled one leaves the key as it was.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isClientError } from '@keyquorum/client';
import { Keystore } from '@keyquorum/signer';
import { Cluster } from './support/cluster.ts';
import { standardVerify } from './support/verify.ts';

const SUITE = 'frost-ed25519';

async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  if (!isClientError(e)) throw new Error(`expected a refusal, got ${String(e)}`);
  return { code: e.code, message: e.message };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await probe();
    if (got !== undefined) return got;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('key states across real processes', () => {
  let cluster: Cluster;
  const message = new Uint8Array(randomBytes(32));
  const events = async (keyId: string, event: string) => (await cluster.client.audit(keyId)).entries.filter((e) => e.event === event);

  beforeAll(async () => {
    cluster = await Cluster.start({ signers: 3, initInProcess: true });
    for (const keyId of ['ks-suspend', 'ks-compromise', 'ks-destroy']) await cluster.client.createKey({ keyId, suite: SUITE, threshold: 2, signers: cluster.signerIds });
  }, 180_000);
  afterAll(async () => cluster?.stop());

  it('suspend: signing is refused (WRONG_KEY_STATE naming the state) until resumed; every signer recorded both', async () => {
    const suspended = await cluster.client.suspend('ks-suspend');
    expect(suspended.state).toBe('suspended');
    expect((await cluster.client.getKey('ks-suspend')).state).toBe('suspended');
    const refused = await refusal(cluster.client.sign('ks-suspend', { message }));
    expect(refused.code).toBe('WRONG_KEY_STATE');
    expect(refused.message).toContain('suspended');
    const applied = await until('every signer to record the suspension', async () => {
      const got = await events('ks-suspend', 'key.state_applied');
      return got.length === cluster.signerIds.length ? got : undefined;
    });
    expect(applied.map((e) => e.data.signer).sort()).toEqual(cluster.signerIds);
    const resumed = await cluster.client.resume('ks-suspend');
    expect(resumed.state).toBe('active');
    const { signature, publicKey } = await cluster.client.sign('ks-suspend', { message });
    expect(standardVerify(SUITE, signature, message, publicKey)).toBe(true);
  }, 120_000);

  it('a signer that was down when the key was suspended gets the suspension when it reconnects', async () => {
    const late = cluster.signerIds[2]!;
    await cluster.killSigner(late);
    await cluster.waitSignerState(late, false);
    const before = (await events('ks-suspend', 'key.state_applied')).length;
    await cluster.client.suspend('ks-suspend');
    await cluster.startSigner(late);
    const applied = await until('the late signer to apply the suspension', async () => {
      const got = (await events('ks-suspend', 'key.state_applied')).slice(before);
      return got.some((e) => e.data.signer === late) ? got : undefined;
    });
    expect(applied.map((e) => e.data.signer).sort()).toEqual(cluster.signerIds);
    await cluster.client.resume('ks-suspend');
  }, 120_000);

  it('schedule-destroy then cancel: the key returns to its previous state and signs', async () => {
    expect((await cluster.client.scheduleDestroy('ks-suspend')).state).toBe('destroy-scheduled');
    expect((await refusal(cluster.client.sign('ks-suspend', { message }))).code).toBe('WRONG_KEY_STATE');
    expect((await cluster.client.cancelDestroy('ks-suspend')).state).toBe('active');
    const { signature, publicKey } = await cluster.client.sign('ks-suspend', { message });
    expect(standardVerify(SUITE, signature, message, publicKey)).toBe(true);
  }, 120_000);

  it('compromise: the key never signs again and cannot be resumed', async () => {
    expect((await cluster.client.compromise('ks-compromise')).state).toBe('compromised');
    expect((await refusal(cluster.client.sign('ks-compromise', { message }))).code).toBe('WRONG_KEY_STATE');
    const resume = await refusal(cluster.client.resume('ks-compromise'));
    expect(resume.code).toBe('WRONG_KEY_STATE');
    expect(resume.message).toContain('compromised');
    expect((await cluster.client.getKey('ks-compromise')).state).toBe('compromised');
    const applied = await until('every signer to record the compromise', async () => {
      const got = await events('ks-compromise', 'key.state_applied');
      return got.length === cluster.signerIds.length ? got : undefined;
    });
    expect(applied.map((e) => e.data.state)).toEqual(['compromised', 'compromised', 'compromised']);
  }, 120_000);

  it('destroy --after a short delay: every signer wipes its share once the delay passed and attests it', async () => {
    expect((await cluster.client.scheduleDestroy('ks-destroy', 1_500)).state).toBe('destroy-scheduled');
    await until('the key to be destroyed and every share attested', async () => {
      const attested = await events('ks-destroy', 'key.attested');
      return attested.length === cluster.signerIds.length ? attested : undefined;
    });
    expect((await cluster.client.getKey('ks-destroy')).state).toBe('destroyed');
    expect((await refusal(cluster.client.sign('ks-destroy', { message }))).code).toMatch(/^WRONG_(KEY_)?STATE$/);
    for (const id of cluster.signerIds) {
      const keystore = Keystore.open({ dataDir: cluster.dataDir(id), kek: { passphrase: `passphrase of ${id}` } });
      try {
        expect(keystore.listKeys().find((k) => k.keyId === 'ks-destroy')?.state).toBe('retired');
        expect(keystore.keyState('ks-destroy')?.state).toBe('destroyed');
        expect(() => keystore.getActive('ks-destroy')).toThrow(/retired/);
      } finally {
        keystore.close();
      }
    }
  }, 120_000);
});
