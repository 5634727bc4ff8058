/**
 * Transaction-aware signing across real processes for Bitcoin and Solana (issue 12;
 * docs/transactions.md): a coordinator and three signer daemons, driven by the SDK as a
 * wallet service would. The client sends the unsigned transaction; each signer parses it,
 * computes what it signs and checks the key's policy; the result is judged by libraries
 * nobody here wrote:
 * - Bitcoin: a PSBT spending two Taproot outputs of a 2-of-3 frost-secp256k1-tr key (at
 *   the root and at m/0/7) with change to m/1/0: bitcoinjs-lib extracts the same
 *   transaction from the finalised PSBT, and libsecp256k1 (tiny-secp256k1) verifies both
 *   key-path witnesses over bitcoinjs' own BIP341 sighashes. The key's policy pins the
 *   network and allows one destination and 100 000 sat per transaction: a payment to
 *   another address and one over the limit are refused with the rule named.
 * - Solana: a legacy transfer paid by a 2-of-3 frost-ed25519 key at the root, and a v0
 *   transfer paid by its child at m/0/3: @solana/web3.js accepts the wire transactions
 *   (`verifySignatures()` for legacy; the v0 message round-trips and its signature
 *   verifies under the child key).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientError } from '@keyquorum/client';
import { deriveChild, type PublicKeyPackage } from '@keyquorum/crypto';
import { fromWirePublicKey } from '@keyquorum/protocol';
import { Keystore, decodeSharePublicPart } from '@keyquorum/signer';
import { Cluster } from './support/cluster.ts';
import { buildPsbt, checkWithBitcoinjs, otherParty } from './support/bitcoin.ts';
import { randomAddress, solanaTransactionVerifies, solanaTransferMessage } from './support/solana.ts';

const BTC = 'btc-tx';
const SOL = 'sol-tx';
const base64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');

describe('sign-tx across real processes: Bitcoin PSBTs and Solana messages', () => {
  let cluster: Cluster;
  let btcKey: PublicKeyPackage;
  let solKey: PublicKeyPackage;
  const bob = otherParty('bob').address('regtest');
  const carol = otherParty('carol').address('regtest');

  /** The key's public package as signer-1 holds it (a wallet gets the same from the key's public data). */
  function publicPackage(keyId: string): PublicKeyPackage {
    const id = cluster.signerIds[0]!;
    const keystore = Keystore.open({ dataDir: cluster.dataDir(id), kek: { passphrase: `passphrase of ${id}` } });
    try {
      const row = keystore.getActive(keyId);
      row.secret.fill(0);
      return fromWirePublicKey(decodeSharePublicPart(row.public).publicKey);
    } finally {
      keystore.close();
    }
  }

  async function refused(p: Promise<unknown>): Promise<{ code: string; rule: string | undefined }> {
    try {
      await p;
    } catch (e) {
      if (e instanceof ClientError) return { code: e.code, rule: e.rule };
      throw e;
    }
    throw new Error('expected a refusal');
  }

  beforeAll(async () => {
    cluster = await Cluster.start({ signers: 3, initInProcess: true, roundTimeoutMs: 30_000 });
    await cluster.client.createKey({ keyId: BTC, suite: 'frost-secp256k1-tr', threshold: 2, signers: cluster.signerIds });
    await cluster.client.createKey({ keyId: SOL, suite: 'frost-ed25519', threshold: 2, signers: cluster.signerIds });
    btcKey = publicPackage(BTC);
    solKey = publicPackage(SOL);
    await cluster.client.setPolicy(BTC, {
      format: 1,
      version: 1,
      transactions: { networks: ['regtest'], destinations: [bob], limits: [{ asset: 'native', perTransaction: '100000' }] },
    });
  }, 300_000);
  afterAll(async () => cluster?.stop(), 120_000);

  it('a PSBT spending the key at m and m/0/7 is finalised: bitcoinjs-lib extracts it and libsecp256k1 verifies both witnesses', async () => {
    const psbt = buildPsbt({
      key: btcKey, network: 'regtest', label: 'e2e-1',
      inputs: [{ amount: 60_000n }, { path: 'm/0/7', amount: 50_000n }],
      pay: [{ address: bob, amount: 100_000n }],
      change: { path: 'm/1/0', amount: 9_000n },
    });
    const out = await cluster.client.signTx(BTC, { chain: 'bitcoin', tx: base64(psbt), network: 'regtest' });
    if (out.chain !== 'bitcoin') throw new Error(`a ${out.chain} answer`);
    expect(out.signatures.map((s) => s.input)).toEqual([0, 1]);
    const check = checkWithBitcoinjs(out.psbt);
    expect(check.tx).toBe(out.tx);
    expect(check.txid).toBe(out.txid);
    expect(check.verified).toEqual([0, 1]);
    const signed = (await cluster.client.audit(BTC)).entries.filter((e) => e.event === 'key.signed').map((e) => e.data as { tx?: { id: string; input: number } });
    expect(signed.map((d) => d.tx)).toEqual([{ chain: 'bitcoin', id: out.txid, input: 0 }, { chain: 'bitcoin', id: out.txid, input: 1 }]);
  }, 180_000);

  it('refuses a PSBT paying another address (destination) and one paying more than the limit (amount)', async () => {
    const elsewhere = buildPsbt({ key: btcKey, network: 'regtest', label: 'e2e-2', inputs: [{ amount: 60_000n }], pay: [{ address: carol, amount: 50_000n }] });
    expect(await refused(cluster.client.signTx(BTC, { chain: 'bitcoin', tx: base64(elsewhere), network: 'regtest' }))).toEqual({ code: 'POLICY_DENIED', rule: 'destination' });
    const tooMuch = buildPsbt({ key: btcKey, network: 'regtest', label: 'e2e-3', inputs: [{ amount: 200_000n }], pay: [{ address: bob, amount: 100_001n }] });
    expect(await refused(cluster.client.signTx(BTC, { chain: 'bitcoin', tx: base64(tooMuch), network: 'regtest' }))).toEqual({ code: 'POLICY_DENIED', rule: 'amount' });
    // Rendered for mainnet, bob's script is another address: the policy pins regtest.
    const mainnet = buildPsbt({ key: btcKey, network: 'regtest', label: 'e2e-4', inputs: [{ amount: 60_000n }], pay: [{ address: bob, amount: 50_000n }] });
    expect(await refused(cluster.client.signTx(BTC, { chain: 'bitcoin', tx: base64(mainnet), network: 'mainnet' }))).toEqual({ code: 'POLICY_DENIED', rule: 'network' });
  }, 180_000);

  it('a legacy Solana transfer by the key and a v0 one by its child at m/0/3 are accepted by @solana/web3.js', async () => {
    const legacy = solanaTransferMessage(solKey.groupKey, randomAddress(), 1_000_000n, { computeUnitPrice: 1000n, computeUnitLimit: 1000 });
    const root = await cluster.client.signTx(SOL, { chain: 'solana', tx: base64(legacy) });
    if (root.chain !== 'solana') throw new Error(`a ${root.chain} answer`);
    expect(solanaTransactionVerifies(root.transaction, legacy)).toBe(true);

    const child = deriveChild(solKey, 'm/0/3').groupKey;
    const v0 = solanaTransferMessage(child, randomAddress(), 5_000n, { version: 0 });
    const derived = await cluster.client.signTx(SOL, { chain: 'solana', tx: base64(v0), path: 'm/0/3' });
    if (derived.chain !== 'solana') throw new Error(`a ${derived.chain} answer`);
    expect(solanaTransactionVerifies(derived.transaction, v0)).toBe(true);
    // The same message asked of the root key is not the key's to pay.
    expect(await refused(cluster.client.signTx(SOL, { chain: 'solana', tx: base64(v0) }))).toMatchObject({ code: 'BAD_TX' });
  }, 180_000);
});
