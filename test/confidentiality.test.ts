/**
 * No share, and no group secret, exists unencrypted at rest: after DKG and a refresh
 * across real processes, the test (playing an attacker who holds every file but no
 * passphrase) scans every byte of every signer's data dir and the coordinator's
 * database for the shares and for the group secret the shares interpolate to. The
 * shares themselves are read the only legitimate way: unsealing each keystore with
 * its operator's passphrase.
 */
import { lagrange, getSuite, type KeyShare } from '@keyquorum/crypto';
import { Keystore, loadShare } from '@keyquorum/signer';
import { bytesToHex } from '@noble/hashes/utils.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from './support/cluster.ts';

/** The byte strings under which a 32-byte secret could appear in a file. */
function encodings(secret: Uint8Array): Buffer[] {
  const raw = Buffer.from(secret);
  return [raw, Buffer.from(raw).reverse(), Buffer.from(bytesToHex(secret)), Buffer.from(bytesToHex(secret).toUpperCase()), Buffer.from(raw.toString('base64'))];
}

describe('confidentiality at rest', () => {
  let cluster: Cluster;
  const shares: KeyShare[] = [];
  beforeAll(async () => {
    cluster = await Cluster.start({ initInProcess: true, signers: 3 });
    await cluster.client.createKey({ keyId: 'secret-ed', suite: 'frost-ed25519', threshold: 2, signers: cluster.signerIds });
    await cluster.client.createKey({ keyId: 'secret-tr', suite: 'frost-secp256k1-tr', threshold: 2, signers: cluster.signerIds });
    await cluster.client.refresh('secret-tr');
    // stop the signers so their databases are closed and checkpointed as an operator would leave them
    for (const id of cluster.signerIds) await cluster.killSigner(id, 'SIGTERM');
    for (const id of cluster.signerIds) {
      const keystore = Keystore.open({ dataDir: cluster.dataDir(id), kek: { passphrase: `passphrase of ${id}` } });
      for (const keyId of ['secret-ed', 'secret-tr']) shares.push(loadShare(keystore.getActive(keyId)).keyShare);
      keystore.close();
    }
  }, 120_000);
  afterAll(async () => cluster?.stop());

  it('every signer holds a share of each key, and the shares interpolate to the group key', () => {
    expect(shares).toHaveLength(6);
    for (const keyId of ['frost-ed25519', 'frost-secp256k1-tr']) {
      const of = shares.filter((s) => s.suite === keyId);
      const suite = getSuite(keyId);
      const ids = of.slice(0, 2).map((s) => s.id);
      const secret = of.slice(0, 2).reduce((acc, s) => suite.Fn.add(acc, suite.Fn.mul(lagrange(suite, ids, s.id), suite.Fn.fromBytes(s.signingShare))), 0n);
      expect(bytesToHex(suite.Point.BASE.multiply(secret).toBytes(true))).toBe(bytesToHex(of[0]!.publicKey.groupKey));
    }
  });

  it('no share and no group secret appears in any file of any signer or of the coordinator', () => {
    const secrets: Array<{ what: string; bytes: Uint8Array }> = shares.map((s) => ({ what: `share of signer ${s.id} (${s.suite})`, bytes: s.signingShare }));
    for (const suiteId of ['frost-ed25519', 'frost-secp256k1-tr']) {
      const of = shares.filter((s) => s.suite === suiteId);
      const suite = getSuite(suiteId);
      const ids = of.slice(0, 2).map((s) => s.id);
      const secret = of.slice(0, 2).reduce((acc, s) => suite.Fn.add(acc, suite.Fn.mul(lagrange(suite, ids, s.id), suite.Fn.fromBytes(s.signingShare))), 0n);
      secrets.push({ what: `group secret (${suiteId})`, bytes: suite.Fn.toBytes(secret) });
    }
    const files = ['coordinator', ...cluster.signerIds].flatMap((node) => cluster.filesOf(node));
    expect(files.some((f) => f.file.endsWith('.db'))).toBe(true);
    const found: string[] = [];
    for (const { file, bytes } of files) {
      for (const { what, bytes: secret } of secrets) {
        if (encodings(secret).some((e) => bytes.includes(e))) found.push(`${what} in ${file}`);
      }
    }
    expect(found).toEqual([]);
  });

  it('the same scan does find public key material, which is stored in the clear (the check is not vacuous)', () => {
    const files = cluster.filesOf('signer-1');
    for (const share of shares.filter((s) => s.id === 1)) {
      expect(files.some((f) => encodings(share.publicKey.groupKey).some((e) => f.bytes.includes(e)))).toBe(true);
    }
  });
});
