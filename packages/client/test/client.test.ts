import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schnorr } from '@noble/curves/secp256k1.js';
import { hexToBytes } from '@noble/hashes/utils.js';
import { generateIdentity } from '@keyquorum/protocol';
import { ClientError, KeyquorumClient, type KeyJson, type Retirement } from '../src/index.ts';
import { startCluster, type Cluster } from '../../coordinator/test/helpers.ts';

let c: Cluster;
let client: KeyquorumClient;

beforeAll(async () => {
  c = await startCluster(['s1', 's2', 's3']);
  client = new KeyquorumClient({ url: c.coordinator.url, clientKey: c.admin });
});
afterAll(async () => c.stop());

describe('KeyquorumClient against a running coordinator', () => {
  it('drives a key through its whole lifecycle with signed requests', async () => {
    expect(await client.health()).toBe(true);
    expect(await client.ready()).toBe(true);
    const key = await client.createKey({ keyId: 'sdk-1', suite: 'frost-secp256k1-tr', threshold: 2 });
    expect(key).toMatchObject({ id: 'sdk-1', scheme: 'frost-secp256k1-tr', threshold: 2, signers: ['s1', 's2', 's3'], epoch: 0, state: 'active' });
    expect(key.publicKey).toMatch(/^[0-9a-f]{64}$/);
    expect(await client.getKey('sdk-1')).toEqual(key);
    expect((await client.listKeys()).map((k) => k.id)).toEqual(['sdk-1']);

    const msg = 'ab'.repeat(32);
    const sig = await client.sign('sdk-1', { message: msg });
    expect(sig.publicKey).toBe(key.publicKey);
    expect(schnorr.verify(hexToBytes(sig.signature), hexToBytes(msg), hexToBytes(key.publicKey!))).toBe(true);

    const child = await client.deriveKey('sdk-1', 'm/44/0/7');
    const derivedSig = await client.sign('sdk-1', { message: hexToBytes(msg), path: 'm/44/0/7' });
    expect(derivedSig.publicKey).toBe(child.publicKey);
    expect(schnorr.verify(hexToBytes(derivedSig.signature), hexToBytes(msg), hexToBytes(child.publicKey))).toBe(true);

    const taproot = await client.sign('sdk-1', { message: msg, taproot: { merkleRoot: new Uint8Array(32).fill(3) } });
    expect(schnorr.verify(hexToBytes(taproot.signature), hexToBytes(msg), hexToBytes(taproot.publicKey))).toBe(true);

    expect(await client.refresh('sdk-1')).toMatchObject({ epoch: 1, publicKey: key.publicKey });
    const retired = await client.retire('sdk-1');
    expect(retired.key.state).toBe('retired');
    expect(retired.attestations).toHaveLength(3);

    const audit = await client.audit('sdk-1');
    expect(audit.verification.ok).toBe(true);
    expect(audit.entries.map((e) => e.event)).toContain('key.retired');
    expect((await client.listSigners()).every((s) => s.connected)).toBe(true);
  });

  it('starts long operations without waiting, and polls or awaits them', async () => {
    const op = await client.createKey({ keyId: 'sdk-op', suite: 'frost-ed25519', threshold: 2 }, { wait: false });
    expect(op).toMatchObject({ kind: 'createKey', keyId: 'sdk-op', state: 'running' });
    expect((await client.operation(op.id)).id).toBe(op.id);
    const created = await client.waitForOperation<KeyJson>(op.id, { intervalMs: 20, timeoutMs: 10_000 });
    expect(created.result).toMatchObject({ id: 'sdk-op', state: 'active', epoch: 0 });

    const refreshing = await client.refresh('sdk-op', { wait: false });
    expect((await client.waitForOperation<KeyJson>(refreshing.id, { intervalMs: 20 })).result).toMatchObject({ epoch: 1 });
    const resharing = await client.reshare('sdk-op', { signers: ['s1', 's2', 's3'], threshold: 3 }, { wait: false });
    expect(resharing.kind).toBe('reshare');
    // These fake signers do not speak reshare: it runs until its round times out (5 s), then the awaited error is thrown.
    await expect(client.waitForOperation(resharing.id, { intervalMs: 5, timeoutMs: 1 })).rejects.toMatchObject({ code: 'TIMEOUT', message: expect.stringMatching(/still running/) });
    await expect(client.waitForOperation(resharing.id, { intervalMs: 20 })).rejects.toMatchObject({ code: 'TIMEOUT', message: expect.not.stringMatching(/still running/) });
    const retiring = await client.retire('sdk-op', { wait: false });
    const retired = await client.waitForOperation<Retirement>(retiring.id, { intervalMs: 20 });
    expect(retired.result?.key.state).toBe('retired');
    await expect(client.operation('nope')).rejects.toMatchObject({ code: 'NOT_FOUND', status: 404 });
  });

  it('surfaces API errors as typed ClientErrors', async () => {
    const err = await client.getKey('missing').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClientError);
    expect(err).toMatchObject({ code: 'UNKNOWN_KEY', status: 404 });

    const stranger = new KeyquorumClient({ url: c.coordinator.url, clientKey: generateIdentity() });
    await expect(stranger.createKey({ keyId: 'x', suite: 'frost-ed25519', threshold: 2, signers: ['s1', 's2'] })).rejects.toMatchObject({ code: 'UNAUTHORISED', status: 403 });
    await expect(client.sign('missing', { message: 'zz' })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
  });

  it('reports an unreachable coordinator as NETWORK and refuses bad options', async () => {
    const dead = new KeyquorumClient({ url: 'http://127.0.0.1:1', clientKey: c.admin });
    await expect(dead.health()).rejects.toMatchObject({ code: 'NETWORK' });
    expect(() => new KeyquorumClient({ url: 'ftp://x', clientKey: c.admin })).toThrow(ClientError);
  });
});
