/**
 * The coordinator hands a key's current policy to its new holders (docs/governance.md
 * "Handover"): every reshare and repair START carries the policy in its registry, as
 * canonical text, and none while the key has the default policy. (The signers' checks
 * of it are packages/signer/test/policy-handover.test.ts; these fake signers only
 * record the STARTs, so the sessions then time out before their commit point.)
 */
import { describe, expect, it } from 'vitest';
import { createKeyDigest, parsePolicy, policyRequestDigest, policyToText, repairDigest, reshareDigest } from '@keyquorum/protocol';
import { startCluster } from './helpers.ts';

describe('policy handover (coordinator)', () => {
  it('puts the current policy in reshare and repair STARTs, nothing for the default policy', async () => {
    // Four sessions here time out by design (the fake signers only record their STARTs): rounds of
    // 2 s instead of the default 5 s, as in engine.test.ts, so the test waits 8 s for them, not 20.
    const c = await startCluster(['s1', 's2', 's3', 's4'], { options: { roundTimeoutMs: 2000 } });
    try {
      const old = ['s1', 's2', 's3'];
      await c.coordinator.createKey({ keyId: 'k', suite: 'frost-ed25519', threshold: 2, signers: old, request: c.request('createKey', 'k', createKeyDigest({ keyId: 'k', suite: 'frost-ed25519', threshold: 2, signers: old })) });
      const groupKey = (await c.coordinator.getKey('k')).groupKey!;
      const signers = ['s2', 's3', 's4'];
      const reshare = () => c.coordinator.reshare({ keyId: 'k', signers, threshold: 2, request: c.request('reshare', 'k', reshareDigest({ keyId: 'k', groupKey, newThreshold: 2, signers })) });
      const repair = () => c.coordinator.repair({ keyId: 'k', signer: 's3', request: c.request('repair', 'k', repairDigest({ keyId: 'k', target: 's3' })) });
      const starts = () => c.signers.flatMap((s) => s.handoverStarts.splice(0).map((x) => ({ signer: s.id, ...x })));

      await expect(reshare()).rejects.toMatchObject({ code: 'TIMEOUT' });
      await expect(repair()).rejects.toMatchObject({ code: 'TIMEOUT' });
      const beforePolicy = starts();
      expect(beforePolicy.map((s) => `${s.kind}:${s.signer}`).sort()).toEqual(['repair:s1', 'repair:s2', 'repair:s3', 'reshare:s1', 'reshare:s2', 'reshare:s3', 'reshare:s4']);
      expect(beforePolicy.every((s) => s.policy === undefined)).toBe(true);

      for (const version of [1, 2]) {
        const json = { format: 1, version, clients: { sign: ['00'.repeat(32)] }, approvalTtlSeconds: 600 + version };
        await c.coordinator.setPolicy({ keyId: 'k', policy: json, request: c.request('policy', 'k', policyRequestDigest({ keyId: 'k', policy: parsePolicy(json) })) });
      }
      const current = await c.coordinator.getPolicy('k');
      expect(current.version).toBe(2);
      await expect(reshare()).rejects.toMatchObject({ code: 'TIMEOUT' });
      await expect(repair()).rejects.toMatchObject({ code: 'TIMEOUT' });
      const after = starts();
      expect(after).toHaveLength(7);
      for (const s of after) expect(s.policy, `${s.kind} START to ${s.signer}`).toBe(policyToText(parsePolicy(current.policy)));
    } finally {
      await c.stop();
    }
  });
});
