/**
 * Share repair across real processes (docs/cluster-protocol.md "Share repair"): 2-of-3
 * FROST keys on signer-1..3; signer-3 loses its data directory, is re-initialised under
 * a new identity, and every operator pins that identity. `keys repair ID --signer
 * signer-3` (through the SDK, and through the CLI) rebuilds its share from two helpers;
 * a quorum including signer-3 then signs, checked with the standard verifier, and the
 * audit log has the repair. A lying helper (a fixture that adds one to its sigma) makes
 * the repair fail with SHARE_MISMATCH and signer-3 stores nothing. A repair for a
 * non-participant, without the client's authorisation, or of a signer that still holds the
 * key is refused with a typed error (that of an ecdsa-secp256k1 key: test/ecdsa.test.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientError, KeyquorumClient } from '@keyquorum/client';
import { exportIdentitySecret, generateIdentity } from '@keyquorum/protocol';
import { Keystore } from '@keyquorum/signer';
import { bytesToHex } from '@noble/hashes/utils.js';
import { Cluster } from './support/cluster.ts';
import { runCli } from './support/process.ts';
import { standardVerify } from './support/verify.ts';

const KEYS = [
  { keyId: 'repair-tr', suite: 'frost-secp256k1-tr' },
  { keyId: 'repair-ed', suite: 'frost-ed25519' },
  { keyId: 'lied-ed', suite: 'frost-ed25519' },
] as const;
const TARGET = 'signer-3';

async function refused(p: Promise<unknown>): Promise<ClientError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ClientError);
  return e as ClientError;
}

describe('share repair across real processes', () => {
  let cluster: Cluster;
  const publicKeys = new Map<string, string>();

  beforeAll(async () => {
    // signer-1 lies in its sigma for lied-* keys only; it is honest everywhere else.
    // A generous round timeout: nothing here waits for one to pass, and a refresh round timed out at 10 s at load ~26.
    cluster = await Cluster.start({ initInProcess: true, signers: 3, roundTimeoutMs: 30_000, signerScripts: { 'signer-1': 'test/fixtures/lying-helper.ts' } });
  }, 120_000);
  afterAll(async () => cluster?.stop());

  async function signAndVerify(keyId: string, suite: string): Promise<void> {
    const message = new Uint8Array(randomBytes(32));
    const out = await cluster.client.sign(keyId, { message });
    expect(out.publicKey).toBe(publicKeys.get(keyId));
    expect(standardVerify(suite, out.signature, message, out.publicKey)).toBe(true);
  }

  it('2-of-3 FROST keys are created and sign', async () => {
    for (const { keyId, suite } of KEYS) {
      const key = await cluster.client.createKey({ keyId, suite, threshold: 2, signers: cluster.signerIds });
      publicKeys.set(keyId, key.publicKey!);
      await signAndVerify(keyId, suite);
    }
  }, 240_000);

  it('refuses a repair for a non-participant, without client authorisation, or of a signer that holds the key; nothing changes', async () => {
    const notParticipant = await refused(cluster.client.repair('repair-ed', 'signer-9'));
    expect(notParticipant).toMatchObject({ code: 'BAD_REQUEST', field: 'signer' });

    const stranger = new KeyquorumClient({ url: cluster.url, clientKey: generateIdentity() });
    expect((await refused(stranger.repair('repair-ed', TARGET))).code).toMatch(/^UNAUTHORISED|UNAUTHENTICATED$/);

    // signer-3 still holds repair-ed: as the target it refuses (its own check), and no helper's share moves.
    const holds = await refused(cluster.client.repair('repair-ed', TARGET));
    expect(holds.code).toBe('SESSION_FAILED');
    expect(holds.message).toMatch(/WRONG_KEY_STATE/);
    await signAndVerify('repair-ed', 'frost-ed25519');
    const audit = await cluster.client.audit('repair-ed');
    expect(audit.entries.filter((e) => e.event === 'key.repaired')).toEqual([]);
    expect(audit.entries.find((e) => e.event === 'key.repair_failed')?.data).toMatchObject({ signer: TARGET, code: 'SESSION_FAILED' });
  }, 120_000);

  it('signer-3 loses its data directory and comes back under a new identity, pinned by every operator', async () => {
    await cluster.killSigner(TARGET, 'SIGKILL');
    const newKey = await cluster.reinitSigner(TARGET);
    expect(newKey).not.toBe('');
    await cluster.repin(TARGET, newKey);
    const signers = await cluster.client.listSigners();
    expect(signers.find((s) => s.id === TARGET)?.connected).toBe(true);
    // The other two still sign.
    await signAndVerify('repair-tr', 'frost-secp256k1-tr');
  }, 120_000);

  it('a lying helper makes the repair fail with SHARE_MISMATCH; signer-3 stores nothing', async () => {
    const e = await refused(cluster.client.repair('lied-ed', TARGET));
    expect(e.code).toBe('SESSION_FAILED');
    expect(e.message).toMatch(/SHARE_MISMATCH/);
    const audit = await cluster.client.audit('lied-ed');
    expect(audit.entries.filter((x) => x.event === 'key.repaired')).toEqual([]);
    expect(audit.entries.find((x) => x.event === 'key.repair_failed')?.data.reason).toMatch(/SHARE_MISMATCH/);
  }, 120_000);

  it('repairs signer-3 through the SDK and the CLI; a quorum with signer-3 signs; the audit log has the repairs', async () => {
    const key = await cluster.client.repair('repair-tr', TARGET);
    expect(key).toMatchObject({ id: 'repair-tr', epoch: 0, state: 'active', publicKey: publicKeys.get('repair-tr') });

    const keyFile = path.join(cluster.root, 'admin-key.json');
    fs.writeFileSync(keyFile, JSON.stringify({ publicKey: bytesToHex(cluster.admin.publicKey), secretKey: bytesToHex(exportIdentitySecret(cluster.admin)) }), { mode: 0o600 });
    const out = await runCli('packages/client/src/cli.ts', ['keys', 'repair', 'repair-ed', '--signer', TARGET, '--json', '--url', cluster.url, '--key-file', keyFile]);
    expect(JSON.parse(out)).toMatchObject({ id: 'repair-ed', epoch: 0, state: 'active', publicKey: publicKeys.get('repair-ed') });

    // signer-1 down: every signature now needs signer-3's repaired share.
    await cluster.killSigner('signer-1', 'SIGTERM');
    await cluster.waitSignerState('signer-1', false);
    await signAndVerify('repair-tr', 'frost-secp256k1-tr');
    await signAndVerify('repair-ed', 'frost-ed25519');
    const lied = await refused(cluster.client.sign('lied-ed', { message: new Uint8Array(32) }));
    expect(lied.code).toMatch(/^(NOT_ENOUGH_SIGNERS|SESSION_FAILED)$/);

    for (const keyId of ['repair-tr', 'repair-ed']) {
      const audit = await cluster.client.audit(keyId);
      expect(audit.verification.ok).toBe(true);
      expect(audit.entries.filter((e) => e.event === 'key.repaired').map((e) => e.data)).toEqual([
        expect.objectContaining({ epoch: 0, signer: TARGET, index: 3, helpers: ['signer-1', 'signer-2'], clientKey: bytesToHex(cluster.admin.publicKey) }),
      ]);
      expect(audit.entries.some((e) => e.event === 'commit.acked' && e.data.signer === TARGET && e.data.kind === 'repair')).toBe(true);
    }

    // The repaired share's record is whole: a refresh of the key with all three works, and it signs at epoch 1.
    await cluster.startSigner('signer-1');
    expect(await cluster.client.refresh('repair-tr')).toMatchObject({ epoch: 1, publicKey: publicKeys.get('repair-tr') });
    await signAndVerify('repair-tr', 'frost-secp256k1-tr');

    // signer-3's keystore: the repaired shares, sealed and active; nothing of lied-ed.
    await cluster.killSigner(TARGET, 'SIGTERM');
    const keystore = Keystore.open({ dataDir: cluster.dataDir(TARGET), kek: { passphrase: `passphrase of ${TARGET}` } });
    try {
      const held = keystore.listKeys().map((k) => ({ keyId: k.keyId, state: k.state, epoch: k.state === 'retired' ? null : k.epoch }));
      expect(held.sort((a, b) => a.keyId.localeCompare(b.keyId))).toEqual([
        { keyId: 'repair-ed', state: 'active', epoch: 0 },
        { keyId: 'repair-tr', state: 'active', epoch: 1 },
      ]);
    } finally {
      keystore.close();
    }
  }, 240_000);
});
