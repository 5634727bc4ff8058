import { describe, expect, it } from 'vitest';
import { schnorr } from '@noble/curves/secp256k1.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import { createKeyDigest, refreshDigest, retireDigest, signDigest } from '@keyquorum/protocol';
import { CoordinatorError } from '../src/index.ts';
import { eventually, startCluster, type Cluster } from './helpers.ts';

const IDS = ['s1', 's2', 's3'];

async function createKey(c: Cluster, keyId: string, suite = 'frost-secp256k1-tr', threshold = 2, signers = IDS) {
  const request = c.request('createKey', keyId, createKeyDigest({ keyId, suite, threshold, signers }));
  return c.coordinator.createKey({ request, keyId, suite, threshold, signers });
}

async function sign(c: Cluster, keyId: string, message: Uint8Array, extra: { path?: string; taproot?: { merkleRoot?: Uint8Array } } = {}) {
  const epoch = (await c.coordinator.getKey(keyId)).epoch;
  const request = c.request('sign', keyId, signDigest({ keyId, epoch, message, ...extra }));
  return c.coordinator.sign({ request, keyId, message, ...extra });
}

describe('session engine against in-process signers', () => {
  it('creates a key by DKG, signs (plain, derived, taproot), refreshes and retires it', async () => {
    const c = await startCluster(IDS);
    try {
      const key = await createKey(c, 'hot-1');
      expect(key).toMatchObject({ id: 'hot-1', state: 'active', epoch: 0, threshold: 2 });
      expect(key.publicKey).toHaveLength(32);
      await eventually(async () => (await c.coordinator.audit('hot-1')).filter((e) => e.event === 'commit.acked').length === 3);
      expect(c.signers.every((s) => s.keys.get('hot-1')?.epoch === 0)).toBe(true);

      const msg = new Uint8Array(32).fill(7);
      const plain = await sign(c, 'hot-1', msg);
      expect(schnorr.verify(plain.signature, msg, key.publicKey!)).toBe(true);

      const derived = await sign(c, 'hot-1', msg, { path: 'm/44/0/7' });
      expect(derived.publicKey).toEqual((await c.coordinator.deriveKey('hot-1', 'm/44/0/7')).publicKey);
      expect(schnorr.verify(derived.signature, msg, derived.publicKey)).toBe(true);

      const tr = await sign(c, 'hot-1', msg, { taproot: {} });
      expect(tr.publicKey).not.toEqual(key.publicKey);
      expect(schnorr.verify(tr.signature, msg, tr.publicKey)).toBe(true);

      const refreshed = await c.coordinator.refresh({ keyId: 'hot-1', request: c.request('refresh', 'hot-1', refreshDigest({ keyId: 'hot-1' })) });
      expect(refreshed.epoch).toBe(1);
      expect(refreshed.publicKey).toEqual(key.publicKey);
      await eventually(() => c.signers.every((s) => s.keys.get('hot-1')?.epoch === 1));
      const after = await sign(c, 'hot-1', msg);
      expect(schnorr.verify(after.signature, msg, key.publicKey!)).toBe(true);

      const retired = await c.coordinator.retire({ keyId: 'hot-1', request: c.request('retire', 'hot-1', retireDigest({ keyId: 'hot-1' })) });
      expect(retired.key.state).toBe('retired');
      expect(retired.attestations.map((a) => a.signer).sort()).toEqual(IDS);
      await expect(sign(c, 'hot-1', msg)).rejects.toMatchObject({ code: 'WRONG_STATE' });

      const events = (await c.coordinator.audit('hot-1')).map((e) => e.event);
      for (const event of ['key.pending', 'key.created', 'key.signed', 'key.refreshed', 'key.retired', 'key.attested']) expect(events).toContain(event);
      expect(await c.coordinator.verifyAudit()).toMatchObject({ ok: true });

      const metrics = await c.coordinator.metrics.registry.metrics();
      for (const [kind, round, count] of [['dkg', 'contribution', 1], ['dkg', 'r1', 1], ['dkg', 'r2', 1], ['dkg', 'confirm', 1], ['refresh', 'confirm', 1], ['sign', 'commitment', 4], ['sign', 'share', 4], ['retire', 'approve', 1]] as const) {
        expect(metrics).toMatch(new RegExp(`^keyquorum_round_duration_seconds_count\\{kind="${kind}",round="${round}"\\} ${count}$`, 'm'));
      }
      for (const kind of ['dkg', 'refresh', 'retire']) expect(metrics).toMatch(new RegExp(`^keyquorum_sessions_total\\{kind="${kind}",outcome="ok"\\} 1$`, 'm'));
      expect(metrics).toMatch(/^keyquorum_sessions_total\{kind="sign",outcome="ok"\} 4$/m);
    } finally {
      await c.stop();
    }
  });

  it('signs with frost-ed25519 verifiable by the RFC 8032 verifier', async () => {
    const c = await startCluster(IDS);
    try {
      const key = await createKey(c, 'ed-1', 'frost-ed25519', 2);
      const msg = utf8ToBytes('withdrawal #42');
      const out = await sign(c, 'ed-1', msg);
      expect(ed25519.verify(out.signature, msg, key.publicKey!)).toBe(true);
    } finally {
      await c.stop();
    }
  });

  it('excludes and bans a signer whose signature share does not verify, and retries with another quorum', async () => {
    const c = await startCluster(IDS);
    try {
      const key = await createKey(c, 'k-cheat');
      c.signers[0]!.misbehave = { badShare: true };
      const msg = new Uint8Array(32).fill(9);
      const out = await sign(c, 'k-cheat', msg);
      expect(schnorr.verify(out.signature, msg, key.publicKey!)).toBe(true);
      const failed = (await c.coordinator.audit('k-cheat')).find((e) => e.event === 'key.sign_attempt_failed');
      expect(failed?.data).toMatchObject({ reason: 'invalid-share', culprits: ['s1'], banned: true });
      const signed = (await c.coordinator.audit('k-cheat')).filter((e) => e.event === 'key.signed').at(-1);
      expect(signed?.data.quorum).toEqual(['s2', 's3']);
    } finally {
      await c.stop();
    }
  });

  it('retries around a silent signer and fails with NOT_ENOUGH_SIGNERS when fewer than t usable remain', async () => {
    const c = await startCluster(IDS, { options: { roundTimeoutMs: 2000 } });
    try {
      await createKey(c, 'k-silent');
      c.signers[0]!.misbehave = { silentSign: true };
      const msg = new Uint8Array(32).fill(1);
      await expect(sign(c, 'k-silent', msg)).resolves.toBeDefined();
      c.signers[1]!.misbehave = { silentSign: true };
      const err = await sign(c, 'k-silent', msg).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CoordinatorError);
      expect((err as CoordinatorError).code).toBe('NOT_ENOUGH_SIGNERS');
      const metrics = await c.coordinator.metrics.registry.metrics();
      expect(metrics).toMatch(/^keyquorum_sessions_total\{kind="sign",outcome="ok"\} 1$/m);
      expect(metrics).toMatch(/^keyquorum_sessions_total\{kind="sign",outcome="NOT_ENOUGH_SIGNERS"\} 1$/m);
    } finally {
      await c.stop();
    }
  });

  it('a signer that left a sign round unanswered is asked last by the next request: that one signs at its first attempt instead of waiting a round timeout again', async () => {
    const c = await startCluster(IDS, { options: { roundTimeoutMs: 2000 } });
    try {
      await createKey(c, 'k-quiet');
      // Still connected (it answers pings), silent in sign rounds: a partition that drops
      // frames without a close looks the same until the heartbeat notices.
      c.signers[0]!.misbehave = { silentSign: true };
      const signed = async () => (await c.coordinator.audit('k-quiet')).filter((e) => e.event === 'key.signed' || e.event === 'key.sign_attempt_failed');
      await sign(c, 'k-quiet', new Uint8Array(32).fill(1));
      expect((await signed()).map((e) => [e.event, (e.data as { attempts?: number }).attempts])).toEqual([['key.sign_attempt_failed', undefined], ['key.signed', 2]]);
      await sign(c, 'k-quiet', new Uint8Array(32).fill(2));
      const last = (await signed()).at(-1)!;
      expect(last.event).toBe('key.signed');
      expect(last.data).toMatchObject({ attempts: 1 });
      expect(last.data.quorum as string[]).not.toContain(IDS[0]);
    } finally {
      await c.stop();
    }
  });

  it('aborts a DKG that a tampering relay breaks after its session id was derived, keeps its key pending for resolution (a retry answers WRONG_STATE), and a new DKG succeeds', async () => {
    let tamper = true;
    const c = await startCluster(IDS, {
      options: {
        relay: (e, ctx) => {
          if (!tamper || ctx.round !== 4) return e;
          const payload = e.payload.slice();
          payload[payload.length - 1]! ^= 1;
          return { ...e, payload };
        },
      },
    });
    try {
      const err = await createKey(c, 'k-relay').catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'SESSION_FAILED' });
      // A signer may hold a share of a session past its derived id: the key waits for the
      // resolver (these fake signers never answer RESOLVE; test/dkg-crash.test.ts resolves
      // such a DKG with real signers, both ways).
      expect((await c.coordinator.getKey('k-relay')).state).toBe('pending');
      expect((await c.coordinator.audit('k-relay')).map((e) => e.event)).toEqual(['key.pending']);
      await expect(createKey(c, 'k-relay')).rejects.toMatchObject({ code: 'WRONG_STATE' });
      tamper = false;
      const key = await createKey(c, 'k-relay-2');
      expect(key.state).toBe('active');
    } finally {
      await c.stop();
    }
  });

  it('refuses a DKG when a chosen signer is offline, before contacting any signer', async () => {
    const c = await startCluster(IDS, { connected: ['s1', 's2'] });
    try {
      await expect(createKey(c, 'k-off')).rejects.toMatchObject({ code: 'NOT_ENOUGH_SIGNERS' });
      expect(await c.coordinator.listKeys()).toEqual([]);
    } finally {
      await c.stop();
    }
  });

  it('re-sends an unacknowledged DKG COMMIT on reconnect and refuses a refresh until every signer caught up', async () => {
    const c = await startCluster(IDS, { options: { roundTimeoutMs: 2000 } });
    try {
      c.signers[2]!.misbehave = { dropAck: true };
      await createKey(c, 'k-ack');
      const epochs = async () => Object.fromEntries((await c.coordinator.listSigners()).map((s) => [s.id, s.epochs]));
      expect(await epochs()).toEqual({ s1: { 'k-ack': 0 }, s2: { 'k-ack': 0 }, s3: {} });
      const refresh = () => c.coordinator.refresh({ keyId: 'k-ack', request: c.request('refresh', 'k-ack', refreshDigest({ keyId: 'k-ack' })) });
      await expect(refresh()).rejects.toMatchObject({ code: 'WRONG_STATE', message: expect.stringMatching(/s3/) });
      c.signers[2]!.misbehave = {};
      await c.signers[2]!.close();
      await c.signers[2]!.connect();
      await eventually(async () => (await c.coordinator.audit('k-ack')).filter((e) => e.event === 'commit.acked').length === 3);
      expect(await epochs()).toEqual({ s1: { 'k-ack': 0 }, s2: { 'k-ack': 0 }, s3: { 'k-ack': 0 } });
      await expect(refresh()).resolves.toMatchObject({ epoch: 1 });
      expect(await epochs()).toEqual({ s1: { 'k-ack': 1 }, s2: { 'k-ack': 1 }, s3: { 'k-ack': 1 } });
    } finally {
      await c.stop();
    }
  });

  it('a signer back after the retire request expired refuses the COMMIT: the refusal is audited and the COMMIT is no longer re-sent', async () => {
    const c = await startCluster(IDS);
    try {
      await createKey(c, 'k-gone');
      await c.signers[2]!.close();
      await eventually(async () => !(await c.coordinator.listSigners()).find((s) => s.id === 's3')!.connected);
      await c.coordinator.retire({ keyId: 'k-gone', request: c.request('retire', 'k-gone', retireDigest({ keyId: 'k-gone' })) });
      c.signers[2]!.clockOffsetMs = 10 * 60_000;
      await c.signers[2]!.connect();
      await eventually(async () => (await c.coordinator.audit('k-gone')).some((e) => e.event === 'key.attestation_refused'), 10_000);
      const refusal = (await c.coordinator.audit('k-gone')).find((e) => e.event === 'key.attestation_refused')!;
      expect(refusal.data).toMatchObject({ signer: 's3', epoch: 0, reason: expect.stringMatching(/STALE|expired|old/i) });
      expect((await c.coordinator.attestations('k-gone')).map((a) => a.signer).sort()).toEqual(['s1', 's2']);
      // Not re-sent: a second reconnect draws no second refusal.
      await c.signers[2]!.close();
      await c.signers[2]!.connect();
      await new Promise((r) => setTimeout(r, 300));
      expect((await c.coordinator.audit('k-gone')).filter((e) => e.event === 'key.attestation_refused')).toHaveLength(1);
      expect(c.signers[2]!.retired.has('k-gone')).toBe(false);
      expect(await c.coordinator.verifyAudit()).toMatchObject({ ok: true });
    } finally {
      await c.stop();
    }
  });

  it('re-sends the retire COMMIT to a signer that was offline, which then attests', async () => {
    const c = await startCluster(IDS);
    try {
      await createKey(c, 'k-late');
      await c.signers[2]!.close();
      await eventually(async () => !(await c.coordinator.listSigners()).find((s) => s.id === 's3')!.connected);
      const out = await c.coordinator.retire({ keyId: 'k-late', request: c.request('retire', 'k-late', retireDigest({ keyId: 'k-late' })) });
      expect(out.attestations.map((a) => a.signer).sort()).toEqual(['s1', 's2']);
      await c.signers[2]!.connect();
      await eventually(async () => (await c.coordinator.attestations('k-late')).length === 3);
      expect((await c.coordinator.listSigners()).map((s) => s.epochs)).toEqual([{}, {}, {}]);
      expect(await c.coordinator.verifyAudit()).toMatchObject({ ok: true });
    } finally {
      await c.stop();
    }
  });
});
