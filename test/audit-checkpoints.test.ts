/**
 * Signer-cosigned audit checkpoints through real processes (issue 11 item 4): a
 * coordinator and three signer daemons over loopback WebSockets. The coordinator has
 * every signer cosign its log as it grows; each signer keeps what it cosigned in its
 * own keystore; an export verified offline with the signers' keys is cosigned up to its
 * last entry by all three, also after a signer was killed and restarted.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { bytesToHex } from '@noble/hashes/utils.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditExport } from '@keyquorum/protocol';
import { Keystore } from '@keyquorum/signer';
import { Cluster } from './support/cluster.ts';

const SUITE = 'frost-ed25519';

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await probe();
    if (got !== undefined) return got;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe('audit checkpoints across real processes', () => {
  let cluster: Cluster;
  let signerKeys: Record<string, string>;

  /** The export, once every signer cosigned its last entry (verified with the signers' keys). */
  const cosignedExport = () =>
    until('every signer to cosign the head', async () => {
      const out = await cluster.client.exportAudit();
      const v = verifyAuditExport(out.text, { signerKeys });
      if (!v.ok) throw new Error(`the export does not verify: ${v.fault}: ${v.reason}`);
      return v.cosigned?.seq === v.count && v.cosigned.signers.length === cluster.signerIds.length ? v : undefined;
    });

  /** What the signer's own keystore says it cosigned last. */
  const keptBy = (id: string) => {
    const db = new Database(path.join(cluster.dataDir(id), 'keystore.db'), { readonly: true, fileMustExist: true });
    try {
      return db.prepare('SELECT seq, hash FROM audit_checkpoint WHERE id = 1').get() as { seq: number; hash: string } | undefined;
    } finally {
      db.close();
    }
  };

  beforeAll(async () => {
    cluster = await Cluster.start({ signers: 3, initInProcess: true, coordinatorConfig: { checkpointIntervalMs: 200 } });
    signerKeys = Object.fromEntries(cluster.signerIds.map((id) => [id, bytesToHex(Keystore.readIdentityPublicKey(cluster.dataDir(id)))]));
    await cluster.client.createKey({ keyId: 'cp-e2e', suite: SUITE, threshold: 2, signers: cluster.signerIds });
  }, 180_000);
  afterAll(async () => cluster?.stop());

  it("every signer cosigns the coordinator's log, and keeps what it cosigned in its own keystore", async () => {
    for (let i = 0; i < 3; i++) await cluster.client.sign('cp-e2e', { message: new Uint8Array(32).fill(i + 1) });
    const v = await cosignedExport();
    expect(v.cosigned).toMatchObject({ seq: v.count, signers: cluster.signerIds });
    expect(v.count).toBeGreaterThan(5);
    for (const id of cluster.signerIds) expect(keptBy(id)).toEqual({ seq: v.count, hash: v.head });
  }, 180_000);

  it('a signer killed and restarted resumes from its own checkpoint and cosigns the log as it grew meanwhile', async () => {
    const [down] = cluster.signerIds;
    await cluster.killSigner(down!);
    const before = keptBy(down!)!;
    // The two others sign meanwhile: the log grows past what the stopped signer cosigned.
    await cluster.client.sign('cp-e2e', { message: new Uint8Array(32).fill(9) });
    await cluster.startSigner(down!);
    await cluster.waitSignerState(down!, true);
    await cluster.client.sign('cp-e2e', { message: new Uint8Array(32).fill(10) });
    const v = await cosignedExport();
    expect(v.count).toBeGreaterThan(before.seq);
    expect(keptBy(down!)).toEqual({ seq: v.count, hash: v.head });
  }, 180_000);
});
