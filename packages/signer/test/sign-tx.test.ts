/**
 * Transaction-aware signing at the signer (docs/transactions.md section 4): a sign
 * START with `tx` is signed only if this signer, parsing the transaction itself, finds
 * the START's message to be the transaction's digest, the client's request to
 * authorise exactly that transaction (`signTxDigest`), and the key's policy here to
 * allow what it does: network, destinations, amounts per transaction and per window
 * (this signer's spend ledger, which survives a restart), approvals above an amount;
 * a plain sign START is refused when the policy says `rawSign: false`. Driven through
 * the real protocol (real daemons, a real WebSocket, real SQLite) by a fixture
 * coordinator that lies: it swaps the transaction under the client's request, sends
 * another message than the transaction's, replays, retries. Every refusal is typed and
 * leaves the keystore as it was: no replay entry, no nonce, no velocity or spend row.
 * The transactions are real: EIP-1559 transactions built with ethers (`Transaction`),
 * parsed by the signer with the protocol's ethereum module.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Transaction, computeAddress, parseEther } from 'ethers';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ECDSA_SIGN_ROUND,
  ECDSA_SUITE,
  POLICY_ROUND,
  SIGN_ROUND,
  createKeyDigest,
  decodeBody,
  parsePolicy,
  policyRequestDigest,
  policyToText,
  signApproval,
  signClientRequest,
  signDigest,
  signTxDigest,
  generateIdentity,
  fromWirePublicKey,
  loadChain,
  type ClientRequest,
  type PolicyAckBody,
  type SignCommitmentBody,
  type SignShareBody,
  type SolanaOutput,
  type WirePublicKey,
} from '@keyquorum/protocol';
import { aggregate } from '@keyquorum/crypto';
import { randomAddress, solanaTransactionVerifies, solanaTransferMessage } from '../../../test/support/solana.ts';
import { buildPsbt, otherParty } from '../../../test/support/bitcoin.ts';
import { ed25519Approver } from '../../../test/support/passkey.ts';
import { KEYSTORE_DB_FILE } from '../src/keystore/index.ts';
import { MAX_ATTEMPTS_PER_REQUEST } from '../src/constants.ts';
import { adminClient, removeTempDirs } from './helpers/cluster.ts';
import { SessionAborted, gather, refs, runKeySession, runSign } from './helpers/drive.ts';
import { ecdsaSign } from './helpers/ecdsa-drive.ts';
import { FakeCoordinator } from './helpers/fake-coordinator.ts';
import { TestClock, patient, snapshot, startClockedCluster, type ClockedCluster } from './helpers/state.ts';

const IDS = ['s1', 's2', 's3'];
const participants = refs(IDS);
const KEY = 'k-eth';
/** A frost-ed25519 key (a Solana key): it must not sign an Ethereum transaction. */
const ED_KEY = 'k-ed';
/** A frost-secp256k1-tr key (a Bitcoin Taproot key). */
const BTC_KEY = 'k-btc';
const ALICE = '0x' + '11'.repeat(20);
const MALLORY = '0x' + '66'.repeat(20);
const WINDOW_SECONDS = 600;
const alice = generateIdentity();

const clock = new TestClock();
let c: FakeCoordinator;
let cl: ClockedCluster;
let groupKey: Uint8Array;
let edKey: WirePublicKey;
let btcKey: WirePublicKey;

beforeAll(async () => {
  c = patient(await FakeCoordinator.start(), 120_000);
  cl = await startClockedCluster(c, IDS, clock, { clients: [{ publicKey: bytesToHex(adminClient.publicKey), roles: ['admin'] }] });
  const dkg = (keyId: string, suite: string) => {
    const request = signClientRequest(adminClient, { op: 'createKey', keyId, digest: createKeyDigest({ keyId, suite, threshold: 2, signers: IDS }), timestamp: clock.now() });
    return runKeySession(c, 'dkg', suite, participants, { keyId, threshold: 2, participants, request });
  };
  groupKey = (await dkg(KEY, ECDSA_SUITE)).publicKey.groupKey;
  edKey = (await dkg(ED_KEY, 'frost-ed25519')).publicKey;
  btcKey = (await dkg(BTC_KEY, 'frost-secp256k1-tr')).publicKey;
}, 600_000);
afterAll(async () => {
  await cl?.stop();
  await c?.close();
  removeTempDirs();
});

const versions = new Map<string, number>();
/** Installs the next version of the key's policy on every signer, with `transactions` rules. */
async function install(transactions: Record<string, unknown> | undefined, rest: Record<string, unknown> = {}, keyId = KEY, suite: string = ECDSA_SUITE): Promise<void> {
  const version = (versions.get(keyId) ?? 0) + 1;
  versions.set(keyId, version);
  const policy = parsePolicy({ format: 1, version, approvers: [ed25519Approver('alice', alice)], ...(transactions ? { transactions } : {}), ...rest });
  const request = signClientRequest(adminClient, { op: 'policy', keyId, digest: policyRequestDigest({ keyId, policy }), timestamp: clock.now() });
  const sessionId = randomBytes(32);
  for (const id of IDS) c.send(id, { kind: 'policy', suite, sessionId, round: POLICY_ROUND.START }, { keyId, policy: policyToText(policy), request });
  const acks = [...(await gather(c, IDS, 'policy', POLICY_ROUND.ACK)).values()].map((l) => decodeBody<PolicyAckBody>('policy', POLICY_ROUND.ACK, suite, l[0]!.payload));
  expect(acks.map((a) => a.version)).toEqual(IDS.map(() => version));
}

/** Moves every signer's clock past the spend window: earlier tests' spends no longer count. */
const freshWindow = () => {
  clock.offsetMs += (WINDOW_SECONDS + 1) * 1000;
};

interface EthTx {
  data: Uint8Array;
  /** keccak256 of the unsigned serialisation: what the key signs. */
  hash: Uint8Array;
  unsigned: Transaction;
}

let txNonce = 0;
/** An unsigned EIP-1559 transfer (a fresh account nonce each, so every transaction differs). */
function ethTx(o: { to?: string; value?: bigint; chainId?: bigint } = {}): EthTx {
  const unsigned = Transaction.from({
    type: 2, chainId: o.chainId ?? 1n, nonce: txNonce++, to: o.to ?? ALICE, value: o.value ?? parseEther('0.1'),
    gasLimit: 21_000n, maxFeePerGas: 30_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n,
  });
  return { data: hexToBytes(unsigned.unsignedSerialized.slice(2)), hash: hexToBytes(unsigned.unsignedHash.slice(2)), unsigned };
}

/** The client's request to sign `tx` with `keyId` (chain ethereum, the root key), approved by alice if asked. */
function txRequest(tx: EthTx, o: { approved?: boolean; keyId?: string } = {}): ClientRequest {
  const keyId = o.keyId ?? KEY;
  const r = signClientRequest(adminClient, { op: 'sign', keyId, digest: signTxDigest({ keyId, epoch: 0, chain: 'ethereum', data: tx.data }), timestamp: clock.now() });
  return o.approved === true ? { ...r, approvals: [signApproval(alice, 'alice', r)] } : r;
}

const txBody = (tx: EthTx, request: ClientRequest, o: { message?: Uint8Array; keyId?: string; input?: number } = {}) => ({
  keyId: o.keyId ?? KEY, epoch: 0, message: o.message ?? tx.hash, request, tx: { chain: 'ethereum', data: tx.data, input: o.input ?? 0 },
});

/**
 * A sign START to s1 alone: resolves once s1 accepted it (its first round-1 answer),
 * then aborts it and waits until the session is gone; throws its ABORT.
 */
async function start(body: Record<string, unknown>, suite: string = ECDSA_SUITE): Promise<void> {
  const sessionId = randomBytes(32);
  const accepted = suite === ECDSA_SUITE ? ECDSA_SIGN_ROUND.CONTRIBUTION : SIGN_ROUND.COMMITMENT;
  c.send('s1', { kind: 'sign', suite, sessionId, round: SIGN_ROUND.START }, body);
  try {
    await gather(c, ['s1'], 'sign', accepted);
  } finally {
    c.send('s1', { kind: 'sign', suite, sessionId, round: ECDSA_SIGN_ROUND.ABORT }, { reason: 'test done' });
  }
  const daemon = cl.daemons.get('s1')!;
  for (let waited = 0; (daemon.metrics().liveSessions ?? 0) > 0 || freshNonces() > 0; waited += 20) {
    if (waited > 60_000) throw new Error('s1 kept the session');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function readKeystore<T>(read: (db: Database.Database) => T): T {
  const db = new Database(path.join(cl.signers[0]!.dataDir, KEYSTORE_DB_FILE), { readonly: true, fileMustExist: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}
const freshNonces = () => readKeystore((db) => db.prepare<[], number>("SELECT count(*) FROM nonces WHERE state = 'fresh'").pluck().get()!);
/** s1's spend rows of the key: [asset, amount]. */
const spendRows = (keyId = KEY) => readKeystore((db) => db.prepare<[string], { asset: string; amount: string }>('SELECT asset, amount FROM spend_ledger WHERE key_id = ? ORDER BY at').all(keyId).map((r) => [r.asset, r.amount]));

/** Refused by s1 with `code` (and `rule`), and nothing durable changed there; returns the ABORT reason. */
async function expectRefused(run: () => Promise<unknown>, code: string, rule?: string): Promise<string> {
  const before = snapshot(cl.signers[0]!.dataDir);
  const e = await run().then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(SessionAborted);
  const reason = (e as SessionAborted).body.reason;
  expect(reason).toMatch(new RegExp(`^${code}\\b`));
  if (rule !== undefined) expect(reason.startsWith(`POLICY_DENIED (${rule}): `)).toBe(true);
  expect(snapshot(cl.signers[0]!.dataDir)).toEqual(before);
  return reason;
}

describe('the transaction is the one the client authorised, and the START signs its digest', () => {
  beforeAll(async () => install(undefined), 120_000);

  it('refuses a START whose transaction was swapped under the client request (recipient, amount, chain id): BAD_DIGEST, no nonce, no replay entry, no spend', async () => {
    const asked = ethTx({ to: ALICE, value: parseEther('0.1') });
    const request = txRequest(asked);
    const swaps = [
      Transaction.from({ ...asked.unsigned.toJSON(), to: MALLORY }),
      Transaction.from({ ...asked.unsigned.toJSON(), value: parseEther('90') }),
      Transaction.from({ ...asked.unsigned.toJSON(), chainId: 137n }),
    ];
    for (const swapped of swaps) {
      // A consistent lie: the message is the swapped transaction's own digest.
      const tx = { data: hexToBytes(swapped.unsignedSerialized.slice(2)), hash: hexToBytes(swapped.unsignedHash.slice(2)), unsigned: swapped };
      const reason = await expectRefused(() => start(txBody(tx, request)), 'BAD_DIGEST');
      expect(reason).toContain('request.digest');
    }
    expect(spendRows()).toEqual([]);
    // The genuine START of the same request is then accepted: the refusals consumed nothing.
    await start(txBody(asked, request));
    expect(spendRows()).toEqual([['native', parseEther('0.1').toString()]]);
  }, 120_000);

  it("refuses a START whose message is not the transaction's digest (BAD_DIGEST, field message)", async () => {
    const tx = ethTx();
    const reason = await expectRefused(() => start(txBody(tx, txRequest(tx), { message: sha256(utf8ToBytes('something else')) })), 'BAD_DIGEST');
    expect(reason).toContain('field message');
    expect(reason).toContain("the START's message does not match the transaction's input 0");
    // Another input than the transaction's one: the same refusal, saying which part differs.
    expect(await expectRefused(() => start(txBody(tx, txRequest(tx), { input: 1 })), 'BAD_DIGEST')).toContain("the START's input does not match the transaction's input 1");
  }, 120_000);

  it('refuses a transaction the chain module cannot read, typed with its code and field (BAD_FIELD, MALFORMED_TX)', async () => {
    const bad = { data: Uint8Array.of(0x02, 0xc1, 0xff), hash: sha256(utf8ToBytes('x')), unsigned: ethTx().unsigned };
    const reason = await expectRefused(() => start(txBody(bad, txRequest(bad))), 'BAD_FIELD');
    expect(reason).toMatch(/MALFORMED_TX|UNSUPPORTED_TX/);
  }, 120_000);

  it("refuses a transaction of a chain another suite signs, even when the key's suite is the START's (BAD_FIELD tx.chain)", async () => {
    const tx = ethTx();
    const reason = await expectRefused(() => start(txBody(tx, txRequest(tx, { keyId: ED_KEY }), { keyId: ED_KEY }), 'frost-ed25519'), 'BAD_FIELD');
    expect(reason).toContain('tx.chain');
    expect(reason).toContain('ethereum transactions are signed by ecdsa-secp256k1 keys, not frost-ed25519');
  }, 120_000);

  it("signs the transaction: two signers' ECDSA signature makes the transaction signed by the key's address", async () => {
    const tx = ethTx({ value: parseEther('0.01') });
    const body = txBody(tx, txRequest(tx));
    const signature = await ecdsaSign(c, participants.slice(0, 2), groupKey, body);
    const n = secp256k1.Point.Fn.ORDER;
    let s = BigInt('0x' + bytesToHex(signature.slice(32)));
    if (s > n / 2n) s = n - s;
    const r = '0x' + bytesToHex(signature.slice(0, 32));
    const signers = [0, 1].map((yParity) => Transaction.from({ ...tx.unsigned.toJSON(), signature: { r, s: '0x' + s.toString(16).padStart(64, '0'), yParity } }).from);
    expect(signers).toContain(computeAddress('0x' + bytesToHex(groupKey)));
  }, 300_000);
});

describe("the key's transaction rules, from this signer's own policy and spend ledger", () => {
  it('refuses a destination outside the allow-list (destination), signs to one inside', async () => {
    await install({ destinations: [ALICE], networks: ['eip155:1'] });
    const out = ethTx({ to: MALLORY });
    await expectRefused(() => start(txBody(out, txRequest(out))), 'POLICY_DENIED', 'destination');
    const wrongNet = ethTx({ to: ALICE, chainId: 137n });
    await expectRefused(() => start(txBody(wrongNet, txRequest(wrongNet))), 'POLICY_DENIED', 'network');
    const ok = ethTx({ to: ALICE });
    await start(txBody(ok, txRequest(ok)));
  }, 120_000);

  it('counts amounts per window across requests, and the window survives a signer restart (amount)', async () => {
    await install({ limits: [{ asset: 'native', perTransaction: parseEther('2').toString(), perWindow: parseEther('1.5').toString(), windowSeconds: WINDOW_SECONDS }] });
    freshWindow();
    const over = ethTx({ value: parseEther('2.5') });
    await expectRefused(() => start(txBody(over, txRequest(over))), 'POLICY_DENIED', 'amount');
    const first = ethTx({ value: parseEther('1') });
    await start(txBody(first, txRequest(first)));
    await cl.restart('s1');
    const second = ethTx({ value: parseEther('1') });
    const reason = await expectRefused(() => start(txBody(second, txRequest(second))), 'POLICY_DENIED', 'amount');
    expect(reason).toContain(`${parseEther('1')} + ${parseEther('1')}`);
    // What is left of the window is still available.
    const rest = ethTx({ value: parseEther('0.5') });
    await start(txBody(rest, txRequest(rest)));
    freshWindow();
    await start(txBody(second, txRequest(second)));
  }, 300_000);

  it("counts a request once: a retry (another attempt of the same request) is neither refused by its own spend nor recorded twice", async () => {
    freshWindow();
    const before = spendRows().length;
    const tx = ethTx({ value: parseEther('1') });
    const request = txRequest(tx);
    await start(txBody(tx, request));
    await start(txBody(tx, request));
    expect(spendRows().slice(before)).toEqual([['native', parseEther('1').toString()]]);
    // Each attempt took its own replay entry: MAX_ATTEMPTS_PER_REQUEST in all, then REPLAY.
    for (let attempt = 2; attempt < MAX_ATTEMPTS_PER_REQUEST; attempt++) await start(txBody(tx, request));
    await expectRefused(() => start(txBody(tx, request)), 'REPLAY');
  }, 300_000);

  it('needs approvals above the amount the policy names (approvals), not below it', async () => {
    await install({ approvalsAbove: [{ asset: 'native', amount: parseEther('0.5').toString(), approvals: 1 }] });
    const big = ethTx({ value: parseEther('1') });
    await expectRefused(() => start(txBody(big, txRequest(big))), 'POLICY_DENIED', 'approvals');
    await start(txBody(big, txRequest(big, { approved: true })));
    const small = ethTx({ value: parseEther('0.1') });
    await start(txBody(small, txRequest(small)));
  }, 120_000);

  it('refuses a plain sign when the policy says rawSign: false (raw-sign), and signs one when it does not', async () => {
    const message = sha256(utf8ToBytes('a digest nobody can read'));
    const plain = () => ({ keyId: KEY, epoch: 0, message, request: signClientRequest(adminClient, { op: 'sign', keyId: KEY, digest: signDigest({ keyId: KEY, epoch: 0, message }), timestamp: clock.now() }) });
    await install({ rawSign: false });
    await expectRefused(() => start(plain()), 'POLICY_DENIED', 'raw-sign');
    const tx = ethTx();
    await start(txBody(tx, txRequest(tx)));
    await install({ rawSign: true });
    await start(plain());
  }, 120_000);
});

describe('a Solana transfer (frost-ed25519: the signer signs the message itself)', () => {
  const solTx = (lamports: bigint, to = randomAddress()) => solanaTransferMessage(edKey.groupKey, to, lamports);
  const solRequest = (data: Uint8Array) =>
    signClientRequest(adminClient, { op: 'sign', keyId: ED_KEY, digest: signTxDigest({ keyId: ED_KEY, epoch: 0, chain: 'solana', data }), timestamp: clock.now() });
  const solBody = (data: Uint8Array, request: ClientRequest, message = data) => ({ keyId: ED_KEY, epoch: 0, message, request, tx: { chain: 'solana', data, input: 0 } });

  it('signs the message of a transfer into a broadcastable transaction; refuses another transfer under its request and another message', async () => {
    const data = solTx(1_000_000n);
    const request = solRequest(data);
    const other = solTx(1_000_000n);
    await expectRefused(() => start(solBody(other, request), 'frost-ed25519'), 'BAD_DIGEST');
    await expectRefused(() => start(solBody(data, request, other), 'frost-ed25519'), 'BAD_DIGEST');
    const signed = await runSign(c, 'frost-ed25519', ['s1', 's2'], solBody(data, request) as unknown as Parameters<typeof runSign>[3], request);
    const pkg = fromWirePublicKey(edKey);
    const idOf = (from: string) => participants.find((p) => p.signer === from)!.index;
    const commitments = signed.commitments.map((e) => ({ id: idOf(e.header.from), ...decodeBody<SignCommitmentBody>('sign', SIGN_ROUND.COMMITMENT, 'frost-ed25519', e.payload) }));
    const shares = signed.shares.map((e) => ({ id: idOf(e.header.from), share: decodeBody<SignShareBody>('sign', SIGN_ROUND.SHARE, 'frost-ed25519', e.payload).share }));
    const signature = aggregate(pkg, { message: data, commitments }, shares);
    const out = (await loadChain('solana')).finalize(data, pkg, {}, [{ input: 0, signature }]) as SolanaOutput;
    expect(solanaTransactionVerifies(out.transaction, data)).toBe(true);
  }, 300_000);
});

describe('a Bitcoin PSBT: every input of the key is signed under one request', () => {
  it('signs each input and a retry under the same request, counts its spend once, and refuses a START whose target is another input', async () => {
    const total = 100_000n;
    await install({ networks: ['regtest'], limits: [{ asset: 'native', perWindow: ((total * 3n) / 2n).toString(), windowSeconds: WINDOW_SECONDS }] }, {}, BTC_KEY, 'frost-secp256k1-tr');
    const pkg = fromWirePublicKey(btcKey);
    const data = buildPsbt({ key: pkg, network: 'regtest', label: 'sign-tx', inputs: [{ path: 'm/0/1', amount: 60_000n }, { path: 'm/0/2', amount: 50_000n }], pay: [{ address: otherParty('bob').address('regtest'), amount: total }] });
    // What the coordinator computes from the PSBT: one target per input of the key.
    const { targets } = (await loadChain('bitcoin')).parse(data, pkg, { network: 'regtest' });
    expect(targets.map((t) => [t.input, t.path])).toEqual([[0, 'm/0/1'], [1, 'm/0/2']]);
    const request = signClientRequest(adminClient, { op: 'sign', keyId: BTC_KEY, digest: signTxDigest({ keyId: BTC_KEY, epoch: 0, chain: 'bitcoin', data, network: 'regtest' }), timestamp: clock.now() });
    const body = (input: number, target = targets[input]!) => ({
      keyId: BTC_KEY, epoch: 0, message: target.message, path: target.path, taproot: target.taproot, request, tx: { chain: 'bitcoin', data, input, network: 'regtest' },
    });
    // Input 1 started with input 0's message, path and taproot: not its target.
    const reason = await expectRefused(() => start(body(1, targets[0]!), 'frost-secp256k1-tr'), 'BAD_DIGEST');
    expect(reason).toContain('field message');
    await start(body(0), 'frost-secp256k1-tr');
    await start(body(1), 'frost-secp256k1-tr');
    await start(body(0), 'frost-secp256k1-tr');
    expect(spendRows(BTC_KEY)).toEqual([['native', total.toString()]]);
    // The same payment again, under a new request: 2 x total is above the window.
    const again = signClientRequest(adminClient, { op: 'sign', keyId: BTC_KEY, digest: request.digest, timestamp: clock.now() });
    await expectRefused(() => start({ ...body(0), request: again }, 'frost-secp256k1-tr'), 'POLICY_DENIED', 'amount');
  }, 300_000);
});

describe("the START's path, taproot tweak and network are the transaction's, and a parse is reused only for the same ones", () => {
  it('signs one Ethereum transaction at the root and at a derived path its request names; a parse made for the root is never used for the path, and a path the request does not name is refused', async () => {
    const tx = ethTx();
    await start(txBody(tx, txRequest(tx)));
    const path = 'm/0/1';
    const atPath = signClientRequest(adminClient, { op: 'sign', keyId: KEY, digest: signTxDigest({ keyId: KEY, epoch: 0, chain: 'ethereum', data: tx.data, path }), timestamp: clock.now() });
    await start({ ...txBody(tx, atPath), path });
    // The root's request does not authorise a derived key's signature over the same transaction.
    const reason = await expectRefused(() => start({ ...txBody(tx, txRequest(tx)), path }), 'BAD_DIGEST');
    expect(reason).toContain('request.digest');
  }, 120_000);

  it("refuses a coordinator's claim that an already-signed transaction is to be signed, with the module's own reason (BAD_FIELD tx.signature ALREADY_SIGNED), not as unreadable", async () => {
    const tx = ethTx();
    const signed = Transaction.from({ ...tx.unsigned.toJSON(), signature: { r: '0x' + '11'.repeat(32), s: '0x' + '22'.repeat(32), yParity: 0 } });
    const bad = { data: hexToBytes(signed.serialized.slice(2)), hash: tx.hash, unsigned: tx.unsigned };
    const reason = await expectRefused(() => start(txBody(bad, txRequest(bad))), 'BAD_FIELD');
    expect(reason).toContain('field tx.signature');
    expect(reason).toContain('already carries a signature');
  }, 120_000);

  it("refuses a START that signs a PSBT input's sighash under another input's path or another taproot tweak, and does not reuse the PSBT's regtest parse for a testnet request", async () => {
    await install({ networks: ['regtest'] }, {}, BTC_KEY, 'frost-secp256k1-tr');
    const pkg = fromWirePublicKey(btcKey);
    const data = buildPsbt({ key: pkg, network: 'regtest', label: 'sign-tx-targets', inputs: [{ path: 'm/0/3', amount: 6_000n }, { path: 'm/0/4', amount: 5_000n }], pay: [{ address: otherParty('carol').address('regtest'), amount: 10_000n }] });
    const { targets } = (await loadChain('bitcoin')).parse(data, pkg, { network: 'regtest' });
    const request = signClientRequest(adminClient, { op: 'sign', keyId: BTC_KEY, digest: signTxDigest({ keyId: BTC_KEY, epoch: 0, chain: 'bitcoin', data, network: 'regtest' }), timestamp: clock.now() });
    const body = (over: Record<string, unknown> = {}) => ({
      keyId: BTC_KEY, epoch: 0, message: targets[0]!.message, path: targets[0]!.path, taproot: targets[0]!.taproot, request, tx: { chain: 'bitcoin', data, input: 0, network: 'regtest' }, ...over,
    });
    // Input 0's sighash under input 1's derived key.
    expect(await expectRefused(() => start(body({ path: targets[1]!.path }), 'frost-secp256k1-tr'), 'BAD_DIGEST')).toContain("the START's path does not match");
    // Input 0's sighash with no taproot tweak, or tweaked by a script tree the PSBT does not commit to.
    const { taproot: _, ...untweaked } = body();
    expect(await expectRefused(() => start(untweaked, 'frost-secp256k1-tr'), 'BAD_DIGEST')).toContain("the START's taproot does not match");
    const otherTree = sha256(utf8ToBytes('a script tree the PSBT does not commit to'));
    expect(await expectRefused(() => start(body({ taproot: { merkleRoot: otherTree } }), 'frost-secp256k1-tr'), 'BAD_DIGEST')).toContain("the START's taproot does not match");
    await start(body(), 'frost-secp256k1-tr');
    // The same PSBT under a request for testnet (the policy allows regtest only): parsed for testnet, refused for its network.
    const testnet = signClientRequest(adminClient, { op: 'sign', keyId: BTC_KEY, digest: signTxDigest({ keyId: BTC_KEY, epoch: 0, chain: 'bitcoin', data, network: 'testnet' }), timestamp: clock.now() });
    await expectRefused(() => start(body({ request: testnet, tx: { chain: 'bitcoin', data, input: 0, network: 'testnet' } }), 'frost-secp256k1-tr'), 'POLICY_DENIED', 'network');
  }, 300_000);
});
