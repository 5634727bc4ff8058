import { afterEach, describe, expect, it } from 'vitest';
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { HealthServer, type HealthSource } from '../src/health.ts';
import { resolveSignerOptions } from '../src/config.ts';

const source: HealthSource = {
  ready: () => true,
  metrics: () => ({ framesIn: 3, connected: 1 }),
  keys: () => [
    { keyId: 'key-hot-wallet-eth', epoch: 4, suite: 'ecdsa-secp256k1' },
    { keyId: 'key-cold-btc', epoch: 1, suite: 'frost-secp256k1-tr' },
  ],
};

let server: HealthServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

async function scrape(options?: { keyLabels?: boolean }): Promise<string> {
  server = new HealthServer(source, { host: '127.0.0.1', port: 0 }, options);
  await server.start();
  return (await fetch(`http://127.0.0.1:${server.address!.port}/metrics`)).text();
}

describe('signer /metrics and key ids', () => {
  it('by default names no key: only the count of active keys', async () => {
    const text = await scrape();
    expect(text).toMatch(/^keyquorum_signer_active_keys 2$/m);
    expect(text).not.toContain('key-hot-wallet-eth');
    expect(text).not.toContain('key-cold-btc');
    expect(text).not.toContain('keyquorum_signer_key_epoch');
  });

  it('labels each key with its epoch only when the operator asks (metricsKeyLabels)', async () => {
    const text = await scrape({ keyLabels: true });
    expect(text).toMatch(/^keyquorum_signer_key_epoch\{key="key-hot-wallet-eth",scheme="ecdsa-secp256k1"\} 4$/m);
    expect(text).toMatch(/^keyquorum_signer_active_keys 2$/m);
  });

  it('metricsKeyLabels is off unless set to true, and must be a boolean', () => {
    const base = { signerId: 's1', dataDir: '/tmp/x', coordinatorUrl: 'ws://127.0.0.1:1', coordinatorPublicKey: bytesToHex(ed25519.getPublicKey(new Uint8Array(32).fill(7))), peers: { s2: bytesToHex(ed25519.getPublicKey(new Uint8Array(32).fill(8))) }, clients: [] };
    expect(resolveSignerOptions(base).metricsKeyLabels).toBe(false);
    expect(resolveSignerOptions({ ...base, metricsKeyLabels: true }).metricsKeyLabels).toBe(true);
    expect(() => resolveSignerOptions({ ...base, metricsKeyLabels: 'yes' })).toThrow(/metricsKeyLabels/);
  });
});
