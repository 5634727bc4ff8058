/**
 * Reshare across real processes (docs/cluster-protocol.md "Reshare"): a 2-of-3 key
 * on signer-1..3 grows to 3-of-5 on signer-1..5, then shrinks to 2-of-3 on
 * signer-1, signer-2, signer-4. The public key never changes, the epoch moves by
 * one each time, every signature passes the standard verifier, and the old holders
 * that leave (signer-3, a dealer, and signer-5, which takes no part in the second
 * session) wipe their shares when the COMMIT reaches them.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keystore } from '@keyquorum/signer';
import { Cluster } from './support/cluster.ts';
import { standardVerify } from './support/verify.ts';

const SCHEMES = ['frost-ed25519', 'frost-secp256k1-tr'] as const;
const keyIdOf = (scheme: string) => `reshare-${scheme}`;
const wiped = (keyId: string) => (l: { msg?: unknown; keyId?: unknown }) => l.msg === 'left the key after reshare; old share wiped' && l.keyId === keyId;

describe('reshare across real processes', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await Cluster.start({ initInProcess: true, signers: 5 });
  }, 120_000);
  afterAll(async () => cluster?.stop());

  async function signAndVerify(scheme: string, keyId: string, publicKey: string): Promise<void> {
    const message = new Uint8Array(randomBytes(32));
    const out = await cluster.client.sign(keyId, { message });
    expect(out.publicKey).toBe(publicKey);
    expect(standardVerify(scheme, out.signature, message, out.publicKey)).toBe(true);
  }

  describe.each(SCHEMES)('%s', (scheme) => {
    const keyId = keyIdOf(scheme);
    let publicKey: string;

    it('a 2-of-3 key on signer-1..3 signs', async () => {
      const key = await cluster.client.createKey({ keyId, suite: scheme, threshold: 2, signers: ['signer-1', 'signer-2', 'signer-3'] });
      expect(key).toMatchObject({ threshold: 2, epoch: 0, state: 'active' });
      publicKey = key.publicKey!;
      await signAndVerify(scheme, keyId, publicKey);
    });

    it('reshares to 3-of-5 on signer-1..5 under the same public key; the new members sign', async () => {
      const all = cluster.signerIds;
      const key = await cluster.client.reshare(keyId, { signers: all, threshold: 3 });
      expect(key).toMatchObject({ id: keyId, scheme, threshold: 3, signers: all, publicKey, epoch: 1, state: 'active' });
      await signAndVerify(scheme, keyId, publicKey);
      // A quorum of signer-3..5 (two of them new) signs too.
      for (const id of ['signer-1', 'signer-2']) await cluster.killSigner(id, 'SIGTERM');
      await Promise.all(['signer-1', 'signer-2'].map((id) => cluster.waitSignerState(id, false)));
      await signAndVerify(scheme, keyId, publicKey);
      await Promise.all(['signer-1', 'signer-2'].map((id) => cluster.startSigner(id)));
    });

    it('reshares to 2-of-3 on signer-1, signer-2, signer-4: it signs, and signer-3 and signer-5 wipe their shares', async () => {
      const signers = ['signer-1', 'signer-2', 'signer-4'];
      // On the second key signer-5 is down during the reshare: it gets the COMMIT when it reconnects.
      const offline = scheme === 'frost-secp256k1-tr';
      if (offline) {
        await cluster.killSigner('signer-5', 'SIGTERM');
        await cluster.waitSignerState('signer-5', false);
      }
      const key = await cluster.client.reshare(keyId, { signers, threshold: 2 });
      expect(key).toMatchObject({ threshold: 2, signers, publicKey, epoch: 2, state: 'active' });
      await signAndVerify(scheme, keyId, publicKey);
      if (offline) await cluster.startSigner('signer-5');
      // Dealers are signer-1..3 (the first t = 3 old holders): signer-3 deals and leaves,
      // signer-5 never hears of the session but gets the COMMIT and leaves too.
      for (const id of ['signer-3', 'signer-5']) await cluster.signers.get(id)!.waitFor(wiped(keyId), 5_000, `${id} wiping ${keyId}`);

      let audit = await cluster.client.audit(keyId);
      for (let i = 0; i < 50 && !audit.entries.some((e) => e.event === 'commit.acked' && e.data.signer === 'signer-5' && e.data.epoch === 2); i++) {
        await new Promise((r) => setTimeout(r, 50));
        audit = await cluster.client.audit(keyId);
      }
      expect(audit.verification.ok).toBe(true);
      const reshared = audit.entries.filter((e) => e.event === 'key.reshared');
      expect(reshared.map((e) => e.data)).toEqual([
        expect.objectContaining({ fromEpoch: 0, epoch: 1, fromThreshold: 2, threshold: 3, signers: cluster.signerIds, leavers: [] }),
        expect.objectContaining({ fromEpoch: 1, epoch: 2, fromThreshold: 3, threshold: 2, signers, dealers: ['signer-1', 'signer-2', 'signer-3'], leavers: ['signer-5'] }),
      ]);
      const acked = audit.entries.filter((e) => e.event === 'commit.acked' && e.data.epoch === 2).map((e) => e.data.signer);
      expect([...acked].sort()).toEqual(cluster.signerIds);
    });
  });

  it('refuses a reshare whose threshold exceeds the new set, and one to an offline signer', async () => {
    const keyId = keyIdOf(SCHEMES[0]);
    await expect(cluster.client.reshare(keyId, { signers: ['signer-1', 'signer-2'], threshold: 3 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await cluster.killSigner('signer-5', 'SIGTERM');
    await cluster.waitSignerState('signer-5', false);
    await expect(cluster.client.reshare(keyId, { signers: ['signer-1', 'signer-5'], threshold: 2 })).rejects.toMatchObject({ code: 'NOT_ENOUGH_SIGNERS' });
    expect((await cluster.client.getKey(keyId)).epoch).toBe(2);
  });

  it("the leavers' keystores hold no share of either key; the members' hold epoch 2", async () => {
    for (const id of ['signer-3', 'signer-4']) await cluster.killSigner(id, 'SIGTERM');
    const keysOf = (id: string) => {
      const keystore = Keystore.open({ dataDir: cluster.dataDir(id), kek: { passphrase: `passphrase of ${id}` }, signerId: id });
      try {
        return keystore.listKeys();
      } finally {
        keystore.close();
      }
    };
    for (const id of ['signer-3', 'signer-5']) {
      expect(keysOf(id).map((k) => [k.keyId, k.state])).toEqual(SCHEMES.map((s) => [keyIdOf(s), 'retired']));
    }
    expect(keysOf('signer-4').map((k) => [k.keyId, k.state, k.state === 'active' ? k.epoch : -1])).toEqual(SCHEMES.map((s) => [keyIdOf(s), 'active', 2]));
  });
});
