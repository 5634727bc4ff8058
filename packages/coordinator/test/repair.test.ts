/**
 * Coordinator side of share repair without real signers (the end-to-end run is
 * test/repair.test.ts): the request and the target are checked before any signer is
 * contacted, a target or helpers that are not connected are refused, and a session that
 * fails before its commit point changes nothing but the failure's audit row.
 */
import { describe, expect, it } from 'vitest';
import { createKeyDigest, repairDigest } from '@keyquorum/protocol';
import { eventually, startCluster } from './helpers.ts';

describe('repair (coordinator)', () => {
  it('checks the request and the target first; offline targets and helpers are refused; a failed session changes nothing', async () => {
    const c = await startCluster(['s1', 's2', 's3', 's4'], { connected: ['s1', 's2', 's3'] });
    try {
      await c.coordinator.createKey({ keyId: 'k', suite: 'frost-ed25519', threshold: 3, signers: ['s1', 's2', 's3'], request: c.request('createKey', 'k', createKeyDigest({ keyId: 'k', suite: 'frost-ed25519', threshold: 3, signers: ['s1', 's2', 's3'] })) });
      const repair = (signer: string, target = signer) => c.coordinator.repair({ keyId: 'k', signer, request: c.request('repair', 'k', repairDigest({ keyId: 'k', target })) });

      await expect(repair('s4')).rejects.toMatchObject({ code: 'BAD_REQUEST', field: 'signer' });
      await expect(repair('s9')).rejects.toMatchObject({ code: 'BAD_REQUEST', field: 'signer' });
      await expect(repair('s3', 's2')).rejects.toMatchObject({ code: 'UNAUTHORISED', field: 'request.digest' });
      await expect(c.coordinator.repair({ keyId: 'nope', signer: 's3', request: c.request('repair', 'nope', repairDigest({ keyId: 'nope', target: 's3' })) })).rejects.toMatchObject({ code: 'UNKNOWN_KEY' });
      expect((await c.coordinator.audit('k')).map((e) => e.event)).not.toContain('key.repair_failed');

      // t = 3 helpers are needed besides the target: only two other participants exist.
      await expect(repair('s3')).rejects.toMatchObject({ code: 'NOT_ENOUGH_SIGNERS' });
      const failed = (await c.coordinator.audit('k')).filter((e) => e.event === 'key.repair_failed');
      expect(failed.map((e) => e.data)).toEqual([expect.objectContaining({ epoch: 0, signer: 's3', code: 'NOT_ENOUGH_SIGNERS' })]);
      expect(await c.coordinator.getKey('k')).toMatchObject({ epoch: 0, state: 'active' });
      expect((await c.coordinator.audit('k')).map((e) => e.event)).not.toContain('key.repaired');
    } finally {
      await c.stop();
    }
  });

  it('a target that is not connected is refused; fake signers that do not speak repair time out before the commit point', async () => {
    const c = await startCluster(['s1', 's2', 's3'], { connected: ['s1', 's2', 's3'] });
    try {
      const old = ['s1', 's2', 's3'];
      await c.coordinator.createKey({ keyId: 'k', suite: 'frost-ed25519', threshold: 2, signers: old, request: c.request('createKey', 'k', createKeyDigest({ keyId: 'k', suite: 'frost-ed25519', threshold: 2, signers: old })) });
      const repair = (signer: string) => c.coordinator.repair({ keyId: 'k', signer, request: c.request('repair', 'k', repairDigest({ keyId: 'k', target: signer })) });
      await expect(repair('s3')).rejects.toMatchObject({ code: 'TIMEOUT' });
      const s3 = c.signers.find((s) => s.id === 's3')!;
      await s3.close();
      await eventually(async () => (await c.coordinator.listSigners()).some((s) => s.id === 's3' && !s.connected));
      await expect(repair('s3')).rejects.toMatchObject({ code: 'NOT_ENOUGH_SIGNERS', message: expect.stringMatching(/s3, is not connected/) });
      expect(await c.coordinator.getKey('k')).toMatchObject({ epoch: 0, state: 'active' });
      expect((await c.coordinator.audit('k')).map((e) => e.event)).toContain('key.repair_failed');
      expect((await c.coordinator.audit('k')).map((e) => e.event)).not.toContain('key.repaired');
    } finally {
      await c.stop();
    }
  });
});
