/**
 * Transaction-aware signing end to end (docs/transactions.md): a coordinator and three
 * signer daemons as real processes, a real EVM node (ganache, test/support/ganache.ts),
 * and the `keyquorum` CLI as a user runs it. A 2-of-3 ecdsa-secp256k1 key whose policy
 * (set with `keyquorum policy set`) allows raw signing never, native transfers only to
 * ALLOWED, at most 1 ETH per transaction and per hour:
 *   - `keyquorum sign-tx --chain ethereum` pays ALLOWED; the node mines it (status 1);
 *   - the same command to another address is refused POLICY_DENIED (destination), and
 *     raw `keyquorum sign` is refused (raw-sign): here by the coordinator's early
 *     refusal, from its copy of the policy;
 *   - after the coordinator process is killed and started again, a second payment that
 *     takes the hour's total over 1 ETH is refused (amount) by a SIGNER: the coordinator
 *     counts no spend (its copy passes it), each signer's own ledger does;
 *   - the signers decide, not the coordinator's copy: the coordinator is stopped, its
 *     registry made to hold a looser policy than the one the signers enforce (a lying
 *     coordinator), and started again; it then lets the payment to another address and
 *     a raw signature through to the signers, and a signer refuses each (audited with
 *     `where` the signer). Nothing is paid but the first payment.
 */
import fs from 'node:fs';
import path from 'node:path';
import { bytesToHex } from '@noble/hashes/utils.js';
import { JsonRpcProvider, Transaction, computeAddress, getBytes, hexlify, parseEther } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '@keyquorum/coordinator';
import { exportIdentitySecret, parsePolicy, policyDigest, policyToText } from '@keyquorum/protocol';
import { cli, type Run } from '../packages/client/test/support/cli.ts';
import { Cluster } from './support/cluster.ts';
import { startGanache, type Ganache } from './support/ganache.ts';

const KEY = 'eth-tx';
const CHAIN_ID = 31337;
const GWEI = 10n ** 9n;
const ALLOWED = hexlify(crypto.getRandomValues(new Uint8Array(20))).toLowerCase();
const OTHER = hexlify(crypto.getRandomValues(new Uint8Array(20))).toLowerCase();
const POLICY = {
  format: 1,
  transactions: {
    rawSign: false,
    networks: [`eip155:${CHAIN_ID}`],
    destinations: [ALLOWED],
    limits: [{ asset: 'native', perTransaction: parseEther('1').toString(), perWindow: parseEther('1').toString(), windowSeconds: 3600 }],
  },
};

describe('sign-tx end to end: a policy-bound ethereum key, the CLI and a real EVM node', () => {
  let cluster: Cluster;
  let node: Ganache;
  let provider: JsonRpcProvider;
  let from: string;
  let keyFile: string;
  const run = (...args: string[]): Promise<Run> => cli([...args, '--url', cluster.url, '--key-file', keyFile], { cwd: cluster.root });

  /** An unsigned EIP-1559 transfer of `wei` from the key (or its child whose address is `sender`) to `to`, as hex. */
  async function transfer(to: string, wei: bigint, sender = from): Promise<string> {
    const block = await provider.getBlock('latest');
    const maxFeePerGas = 2n * block!.baseFeePerGas! + GWEI;
    const tx = Transaction.from({ type: 2, chainId: CHAIN_ID, nonce: await provider.getTransactionCount(sender), gasLimit: 21000, maxFeePerGas, maxPriorityFeePerGas: GWEI, to, value: wei });
    return tx.unsignedSerialized;
  }

  /** The error a refused CLI command printed (--json), after checking it exited 1. */
  function refusal(r: Run): { code: string; rule?: string; message: string } {
    expect(r.code, r.stdout + r.stderr).toBe(1);
    return (JSON.parse(r.stderr) as { error: { code: string; rule?: string; message: string } }).error;
  }

  const denied = async () => (await cluster.client.audit(KEY)).entries.filter((e) => e.event === 'policy.denied').map((e) => e.data as { rule: string; where: string });

  async function restartCoordinator(): Promise<void> {
    await cluster.coordinator.kill('SIGKILL');
    await cluster.restartCoordinator();
    for (const id of cluster.signerIds) await cluster.waitSignerState(id, true, 60_000);
  }

  beforeAll(async () => {
    const started = startGanache({ chainId: CHAIN_ID });
    started.catch(() => undefined); // awaited below; the cluster and its DKG run meanwhile
    // Rounds of 30 s and a long heartbeat: DKLs23 rounds on a loaded 2-core machine.
    cluster = await Cluster.start({ signers: 3, initInProcess: true, roundTimeoutMs: 30_000, heartbeatMs: 30_000 });
    keyFile = path.join(cluster.root, 'admin-key.json');
    fs.writeFileSync(keyFile, JSON.stringify({ publicKey: bytesToHex(cluster.admin.publicKey), secretKey: bytesToHex(exportIdentitySecret(cluster.admin)) }), { mode: 0o600 });
    const key = await cluster.client.createKey({ keyId: KEY, suite: 'ecdsa-secp256k1', threshold: 2, signers: cluster.signerIds });
    from = computeAddress(`0x${key.publicKey}`);
    node = await started;
    provider = new JsonRpcProvider(node.url, CHAIN_ID, { staticNetwork: true, cacheTimeout: -1 });
    await node.fund(from, parseEther('10'));
    const file = path.join(cluster.root, 'policy.json');
    fs.writeFileSync(file, JSON.stringify(POLICY));
    const set = await run('policy', 'set', KEY, '--file', file, '--json');
    expect(set.code, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({ keyId: KEY, version: 1 });
  }, 600_000);

  afterAll(async () => {
    provider?.destroy();
    await node?.stop();
    await cluster?.stop();
  }, 120_000);

  it('keyquorum sign-tx pays the allowed address: the node mines it (status 1) and the recipient is paid', async () => {
    const value = parseEther('0.6');
    const out = await run('sign-tx', KEY, '--chain', 'ethereum', '--tx', await transfer(ALLOWED, value), '--json');
    expect(out.code, out.stderr).toBe(0);
    const signed = JSON.parse(out.stdout) as { chain: string; signedTx: string; hash: string; from: string; txId: string };
    expect(signed).toMatchObject({ chain: 'ethereum', from });
    const sent = await provider.broadcastTransaction(signed.signedTx);
    expect(sent.hash).toBe(signed.hash);
    const receipt = await provider.waitForTransaction(signed.hash, 1, 120_000);
    expect(receipt!.status).toBe(1);
    expect(receipt!.from).toBe(from);
    expect(await provider.getBalance(ALLOWED)).toBe(value);
    // The audit row of the signature names the transaction.
    const rows = (await cluster.client.audit(KEY)).entries.filter((e) => e.event === 'key.signed');
    expect(rows.at(-1)!.data).toMatchObject({ tx: { chain: 'ethereum', id: signed.txId, input: 0 } });
  }, 300_000);

  it('keyquorum sign-tx --path m/0/7 pays from the child key: the node mines it from the child address', async () => {
    const derived = await run('keys', 'derive', KEY, '--path', 'm/0/7', '--json');
    expect(derived.code, derived.stderr).toBe(0);
    const child = computeAddress(`0x${(JSON.parse(derived.stdout) as { publicKey: string }).publicKey}`);
    expect(child).not.toBe(from);
    await node.fund(child, parseEther('1'));
    const before = await provider.getBalance(ALLOWED);
    const value = parseEther('0.05');
    const out = await run('sign-tx', KEY, '--chain', 'ethereum', '--tx', await transfer(ALLOWED, value, child), '--path', 'm/0/7', '--json');
    expect(out.code, out.stderr).toBe(0);
    const signed = JSON.parse(out.stdout) as { signedTx: string; hash: string; from: string };
    expect(signed.from).toBe(child);
    await provider.broadcastTransaction(signed.signedTx);
    const receipt = await provider.waitForTransaction(signed.hash, 1, 120_000);
    expect(receipt!.status).toBe(1);
    expect(receipt!.from).toBe(child);
    expect(await provider.getBalance(ALLOWED)).toBe(before + value);
  }, 300_000);

  it('to another address, and a raw signature, are refused (destination, raw-sign): the coordinator refuses early from its copy', async () => {
    const other = refusal(await run('sign-tx', KEY, '--chain', 'ethereum', '--tx', await transfer(OTHER, parseEther('0.1')), '--json'));
    expect(other).toMatchObject({ code: 'POLICY_DENIED', rule: 'destination' });
    const raw = refusal(await run('sign', KEY, '--message', 'ab'.repeat(32), '--json'));
    expect(raw).toMatchObject({ code: 'POLICY_DENIED', rule: 'raw-sign' });
    expect((await denied()).slice(-2)).toEqual([expect.objectContaining({ rule: 'destination', where: 'coordinator' }), expect.objectContaining({ rule: 'raw-sign', where: 'coordinator' })]);
    expect(await provider.getBalance(OTHER)).toBe(0n);
  }, 120_000);

  it('after a coordinator restart, a payment over the hour\'s limit is refused by a signer (its own ledger; the coordinator counts no spend)', async () => {
    await restartCoordinator();
    const nonce = await provider.getTransactionCount(from);
    const over = refusal(await run('sign-tx', KEY, '--chain', 'ethereum', '--tx', await transfer(ALLOWED, parseEther('0.6')), '--json'));
    expect(over).toMatchObject({ code: 'POLICY_DENIED', rule: 'amount' });
    expect((await denied()).at(-1)).toMatchObject({ rule: 'amount', where: expect.stringMatching(/^signer-\d$/) });
    expect(await provider.getTransactionCount(from)).toBe(nonce);
    // Within what is left of the hour it signs.
    const small = await run('sign-tx', KEY, '--chain', 'ethereum', '--tx', await transfer(ALLOWED, parseEther('0.3')));
    expect(small.code, small.stderr).toBe(0);
    expect(small.stdout).toMatch(/^hash\s+0x[0-9a-f]{64}$/m);
    expect(small.stdout).toMatch(/^signedTx\s+0x02[0-9a-f]+$/m);
  }, 300_000);

  it('the signers decide: a coordinator whose copy of the policy is looser still gets no signature to another address, nor a raw one', async () => {
    // A lying coordinator: its registry holds a version 2 without the transaction rules, which no signer ever received.
    await cluster.coordinator.kill('SIGKILL');
    const loose = parsePolicy({ format: 1, version: 2 });
    const registry = await SqliteStore.open(cluster.dataDir('coordinator'), {});
    try {
      await registry.addPolicy({ keyId: KEY, version: 2, text: policyToText(loose), digest: bytesToHex(policyDigest(loose)), clientKey: bytesToHex(cluster.admin.publicKey), approvers: [] });
    } finally {
      await registry.stop();
    }
    await restartCoordinator();
    expect(await cluster.client.getPolicy(KEY)).toMatchObject({ version: 2, policy: expect.not.objectContaining({ transactions: expect.anything() }) });

    const other = refusal(await run('sign-tx', KEY, '--chain', 'ethereum', '--tx', await transfer(OTHER, parseEther('0.1')), '--json'));
    expect(other).toMatchObject({ code: 'POLICY_DENIED', rule: 'destination' });
    expect((await denied()).at(-1)).toMatchObject({ rule: 'destination', where: expect.stringMatching(/^signer-\d$/) });
    const raw = refusal(await run('sign', KEY, '--message', 'ab'.repeat(32), '--json'));
    expect(raw).toMatchObject({ code: 'POLICY_DENIED', rule: 'raw-sign' });
    expect((await denied()).at(-1)).toMatchObject({ rule: 'raw-sign', where: expect.stringMatching(/^signer-\d$/) });
    expect(await provider.getBalance(OTHER)).toBe(0n);
  }, 300_000);
});
