/**
 * Coordinator side of reshare without real signers (the end-to-end run is
 * test/reshare.test.ts): request checks before any signer is contacted, and a
 * session that fails before its commit point leaves the registry as it was.
 */
import { describe, expect, it } from 'vitest';
import { createKeyDigest, reshareDigest } from '@keyquorum/protocol';
import { startCluster } from './helpers.ts';

describe('reshare (coordinator)', () => {
  it('checks the request and the new set first, and a failed session changes nothing', async () => {
    const c = await startCluster(['s1', 's2', 's3', 's4'], { connected: ['s1', 's2', 's3'] });
    try {
      const old = ['s1', 's2', 's3'];
      await c.coordinator.createKey({ keyId: 'k', suite: 'frost-ed25519', threshold: 2, signers: old, request: c.request('createKey', 'k', createKeyDigest({ keyId: 'k', suite: 'frost-ed25519', threshold: 2, signers: old })) });
      const groupKey = (await c.coordinator.getKey('k')).groupKey!;
      const reshare = (signers: string[], threshold: number, digest = reshareDigest({ keyId: 'k', groupKey, newThreshold: threshold, signers })) =>
        c.coordinator.reshare({ keyId: 'k', signers, threshold, request: c.request('reshare', 'k', digest) });

      await expect(reshare(['s1', 's2'], 3)).rejects.toMatchObject({ code: 'BAD_REQUEST', field: 'threshold' });
      await expect(reshare(['s1', 's9'], 2)).rejects.toMatchObject({ code: 'BAD_REQUEST', field: 'signers[1]' });
      await expect(reshare(['s1', 's1'], 2)).rejects.toMatchObject({ code: 'BAD_REQUEST', field: 'signers[1]' });
      await expect(reshare(['s1'], 1)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
      const otherKey = new Uint8Array(groupKey).reverse();
      await expect(reshare(['s1', 's2'], 2, reshareDigest({ keyId: 'k', groupKey: otherKey, newThreshold: 2, signers: ['s1', 's2'] }))).rejects.toMatchObject({ code: 'UNAUTHORISED', field: 'request.digest' });
      await expect(reshare(['s1', 's4'], 2)).rejects.toMatchObject({ code: 'NOT_ENOUGH_SIGNERS' });

      // These fake signers do not speak reshare: the session times out before its commit point.
      await expect(reshare(['s1', 's2', 's3'], 3)).rejects.toMatchObject({ code: 'TIMEOUT' });
      expect(await c.coordinator.getKey('k')).toMatchObject({ epoch: 0, threshold: 2, participants: old.map((signer, i) => ({ signer, index: i + 1 })) });
      expect((await c.coordinator.audit('k')).map((e) => e.event)).toContain('key.reshare_failed');
      expect((await c.coordinator.audit('k')).map((e) => e.event)).not.toContain('key.reshared');
    } finally {
      await c.stop();
    }
  });
});
