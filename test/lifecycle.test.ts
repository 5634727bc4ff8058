/**
 * The whole key lifecycle through real processes: coordinator and three signer
 * daemons over loopback WebSockets, driven through the HTTP API by the SDK, with
 * every signature checked by the standard verifier of its scheme.
 */
import { randomBytes } from 'node:crypto';
import { schnorr } from '@noble/curves/secp256k1.js';
import { hexToBytes } from '@noble/hashes/utils.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from './support/cluster.ts';
import { standardVerify } from './support/verify.ts';

describe('key lifecycle across real processes', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    // The one cluster initialised through the init CLIs (`keyquorum-coordinator init`, `keyquorum-signer init`); the others init in process.
    cluster = await Cluster.start({ signers: 3 });
  }, 120_000);
  afterAll(async () => cluster?.stop());

  describe.each(['frost-secp256k1-tr', 'frost-ed25519'] as const)('%s', (scheme) => {
    const keyId = `life-${scheme}`;
    const message = new Uint8Array(randomBytes(32));

    it('DKG creates an active 2-of-3 key whose public key every signer agreed on', async () => {
      const key = await cluster.client.createKey({ keyId, suite: scheme, threshold: 2, signers: cluster.signerIds });
      expect(key).toMatchObject({ id: keyId, scheme, threshold: 2, signers: cluster.signerIds, epoch: 0, state: 'active' });
      expect(hexToBytes(key.publicKey!).length).toBe(32);
    });

    it('signs, and the standard verifier accepts the signature', async () => {
      const key = await cluster.client.getKey(keyId);
      const { signature, publicKey } = await cluster.client.sign(keyId, { message });
      expect(publicKey).toBe(key.publicKey);
      expect(standardVerify(scheme, signature, message, publicKey)).toBe(true);
      expect(standardVerify(scheme, signature, new Uint8Array(32), publicKey)).toBe(false);
    });

    it('refresh moves to epoch 1 under the same public key, and the refreshed shares sign', async () => {
      const before = await cluster.client.getKey(keyId);
      const after = await cluster.client.refresh(keyId);
      expect(after.epoch).toBe(1);
      expect(after.publicKey).toBe(before.publicKey);
      const { signature, publicKey } = await cluster.client.sign(keyId, { message });
      expect(publicKey).toBe(before.publicKey);
      expect(standardVerify(scheme, signature, message, publicKey)).toBe(true);
    });

    it('a derived child key signs, under the key the derive endpoint reports', async () => {
      const derived = await cluster.client.deriveKey(keyId, 'm/44/0/7');
      const root = await cluster.client.getKey(keyId);
      expect(derived.publicKey).not.toBe(root.publicKey);
      const { signature, publicKey } = await cluster.client.sign(keyId, { message, path: 'm/44/0/7' });
      expect(publicKey).toBe(derived.publicKey);
      expect(standardVerify(scheme, signature, message, publicKey)).toBe(true);
    });

    if (scheme === 'frost-secp256k1-tr') {
      it('signs for the BIP341 taproot output key (key-path only)', async () => {
        const root = await cluster.client.getKey(keyId);
        const { signature, publicKey } = await cluster.client.sign(keyId, { message, taproot: {} });
        expect(publicKey).not.toBe(root.publicKey);
        expect(schnorr.verify(hexToBytes(signature), message, hexToBytes(publicKey))).toBe(true);
      });
    }

    it('retirement by quorum wipes every share, returns signed attestations, and signing is refused', async () => {
      const { key, attestations } = await cluster.client.retire(keyId);
      expect(key.state).toBe('retired');
      expect(attestations.map((a) => a.signer).sort()).toEqual(cluster.signerIds);
      await expect(cluster.client.sign(keyId, { message })).rejects.toMatchObject({ code: 'WRONG_STATE' });
      const audit = await cluster.client.audit(keyId);
      expect(audit.verification.ok).toBe(true);
      const events = audit.entries.map((e) => e.event);
      expect(events).toEqual(expect.arrayContaining(['key.created', 'key.refreshed', 'key.retired']));
    });
  });
});
