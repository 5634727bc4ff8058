/**
 * POST /v1/keys/{id}/sign-tx at the coordinator (docs/transactions.md section 5), over
 * real HTTP on loopback with in-process signers that talk the real protocol
 * (fake-signer.ts: a START with `tx` is parsed there as an honest signer does, its
 * message and path must be the transaction's target and the request `signTxDigest`).
 * Solana transfers (frost-ed25519 keys; messages built with @solana/web3.js, results
 * verified by it): the broadcastable answer, derivation paths, BAD_TX and bad bodies,
 * a request for another transaction or a raw signature, the coordinator's early
 * refusal by each transaction rule, a signer's own refusal, raw signing refused, and a
 * transaction above an approval threshold waiting for approvals, then run once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { base58 } from '@scure/base';
import { PublicKey } from '@solana/web3.js';
import {
  approvalToJson,
  createKeyDigest,
  generateIdentity,
  loadChain,
  parsePolicy,
  policyRequestDigest,
  requestToJson,
  signApproval,
  signClientRequest,
  signDigest,
  signHttpRequest,
  signTxDigest,
  type Approval,
  type ClientRequest,
  type IdentityKey,
  type PendingOperationJson,
} from '@keyquorum/protocol';
import { buildPsbt, checkWithBitcoinjs, otherParty } from '../../../test/support/bitcoin.ts';
import { ed25519Approver } from '../../../test/support/passkey.ts';
import { randomAddress, solanaMessage, solanaTransactionVerifies, solanaTransferMessage } from '../../../test/support/solana.ts';
import { eventually, freePort, startCluster, type Cluster } from './helpers.ts';

const KEY = 'sol-1';
const alice = generateIdentity();
const bob = generateIdentity();
const ALLOWED = randomAddress();

let c: Cluster;
let epoch = 0;
let version = 0;
let root: Uint8Array;

type Json = Record<string, unknown> & { error?: { code: string; rule?: string; txCode?: string; message: string; field?: string } };

async function call(method: string, path: string, body?: unknown, as: IdentityKey = c.admin): Promise<{ status: number; json: Json }> {
  const text = body === undefined ? '' : JSON.stringify(body);
  const auth = signHttpRequest(as, { method, target: path, body: new TextEncoder().encode(text) });
  const init: RequestInit = body === undefined ? { method, headers: auth } : { method, body: text, headers: { 'content-type': 'application/json', ...auth } };
  const res = await fetch(`${c.coordinator.url}${path}`, init);
  return { status: res.status, json: (await res.json()) as Json };
}

async function setPolicy(rest: Record<string, unknown>): Promise<void> {
  const json = { format: 1, version: version + 1, ...rest };
  const request = signClientRequest(c.admin, { op: 'policy', keyId: KEY, digest: policyRequestDigest({ keyId: KEY, policy: parsePolicy(json) }) });
  const r = await call('POST', `/v1/keys/${KEY}/policy`, { policy: json, request: requestToJson(request) });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  version += 1;
}

const txRequest = (data: Uint8Array, path?: string): ClientRequest =>
  signClientRequest(c.admin, { op: 'sign', keyId: KEY, digest: signTxDigest({ keyId: KEY, epoch, chain: 'solana', data, ...(path === undefined ? {} : { path }) }) });

function signTx(data: Uint8Array, o: { path?: string; request?: ClientRequest; approvals?: Approval[]; body?: Record<string, unknown> } = {}) {
  const request = o.request ?? txRequest(data, o.path);
  const withApprovals = o.approvals === undefined ? request : { ...request, approvals: o.approvals };
  const body = { chain: 'solana', tx: Buffer.from(data).toString('base64'), ...(o.path === undefined ? {} : { path: o.path }), request: requestToJson(withApprovals), ...o.body };
  return call('POST', `/v1/keys/${KEY}/sign-tx`, body);
}

const pay = (lamports: bigint, to = ALLOWED, from = root) => solanaTransferMessage(from, to, lamports);
const events = async (event: string) => (await c.coordinator.audit(KEY)).filter((e) => e.event === event);
const starts = () => c.signers.reduce((n, s) => n + s.signStarts, 0);
const txStarts = () => c.signers.flatMap((s) => s.txStarts);
/** Each signer's count of tx STARTs now, and the ones received since such a mark. */
const mark = () => c.signers.map((s) => s.txStarts.length);
const since = (m: number[]) => c.signers.flatMap((s, i) => s.txStarts.slice(m[i]));

beforeAll(async () => {
  await Promise.all([loadChain('solana'), loadChain('bitcoin')]); // the fixture signers parse with the module the coordinator loads
  // A fixed port: the restart case starts the coordinator again where the signers dial.
  c = await startCluster(['s1', 's2', 's3'], { options: { port: await freePort(), host: '127.0.0.1', refreshCheckMs: 3600_000 } });
  const request = c.request('createKey', KEY, createKeyDigest({ keyId: KEY, suite: 'frost-ed25519', threshold: 2, signers: ['s1', 's2', 's3'] }));
  const key = await c.coordinator.createKey({ request, keyId: KEY, suite: 'frost-ed25519', threshold: 2, signers: ['s1', 's2', 's3'] });
  epoch = key.epoch;
  root = key.publicKey!;
  await eventually(async () => (await events('commit.acked')).length === 3, 10_000);
}, 60_000);
afterAll(async () => c?.stop());

describe('sign-tx: the broadcastable transaction', () => {
  it('signs a solana transfer: the wire transaction verifies (web3.js), each quorum signer got the transaction, key.signed names it', async () => {
    const message = pay(1000n);
    const before = mark();
    const r = await signTx(message);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json).toMatchObject({ chain: 'solana', txId: bytesToHex(sha256(message)) });
    expect(solanaTransactionVerifies(r.json.transaction as string, message)).toBe(true);
    const sigs = r.json.signatures as Array<{ input: number; signature: string }>;
    expect(sigs).toHaveLength(1);
    expect(sigs[0]!.input).toBe(0);
    // The signature field is the base58 of those 64 bytes (the transaction id).
    expect(bytesToHex(base58.decode(r.json.signature as string))).toBe(sigs[0]!.signature);
    const seen = since(before);
    expect(seen.map((s) => [s.chain, s.input])).toEqual([['solana', 0], ['solana', 0]]);
    const row = (await events('key.signed')).at(-1)!;
    expect(row.data).toMatchObject({ tx: { chain: 'solana', id: bytesToHex(sha256(message)), input: 0 }, messageSha256: bytesToHex(sha256(message)), path: '' });
  });

  it('signs for the key derived at --path (the fee payer is the child key); the root path is no path', async () => {
    const child = (await c.coordinator.deriveKey(KEY, 'm/0/7')).publicKey;
    const message = pay(5n, ALLOWED, child);
    const r = await signTx(message, { path: 'm/0/7' });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(solanaTransactionVerifies(r.json.transaction as string, message)).toBe(true);
    expect((await events('key.signed')).at(-1)!.data).toMatchObject({ path: 'm/0/7', publicKey: bytesToHex(child) });

    // The same message at the root: the key is not its fee payer.
    const wrong = await signTx(message);
    expect(wrong.status).toBe(400);
    expect(wrong.json.error).toMatchObject({ code: 'BAD_TX', txCode: 'NOT_OUR_KEY' });
    const m = await signTx(pay(5n), { path: 'm' });
    expect(m.status).toBe(400);
    expect(m.json.error).toMatchObject({ code: 'BAD_REQUEST', field: 'path' });
  });
});

describe('sign-tx: refused before any signer is contacted', () => {
  it('a transaction the module refuses is 400 BAD_TX with its code and field; a bad body is 400 naming the field', async () => {
    const n = starts();
    const other = await signTx(pay(1n, ALLOWED, randomAddress().toBytes()));
    expect(other.status).toBe(400);
    expect(other.json.error).toMatchObject({ code: 'BAD_TX', txCode: 'NOT_OUR_KEY' });
    expect(typeof other.json.error!.field).toBe('string');
    const junk = await signTx(new Uint8Array([1, 2, 3]));
    expect(junk.status).toBe(400);
    expect(junk.json.error).toMatchObject({ code: 'BAD_TX', txCode: 'MALFORMED_TX' });
    const notBase64 = await signTx(pay(1n), { body: { tx: 'not base64!' } });
    expect(notBase64.json.error).toMatchObject({ code: 'BAD_REQUEST', field: 'tx' });
    const eth = await signTx(pay(1n), { body: { chain: 'ethereum', tx: '0x01' } });
    expect(eth.json.error).toMatchObject({ code: 'BAD_REQUEST', field: 'chain' });
    const network = await signTx(pay(1n), { body: { network: 'regtest' } });
    expect(network.json.error).toMatchObject({ code: 'BAD_REQUEST', field: 'network' });
    const unknown = await signTx(pay(1n), { body: { message: '00' } });
    expect(unknown.json.error).toMatchObject({ code: 'BAD_REQUEST', field: 'message' });
    expect(starts()).toBe(n);
  });

  it('the request must authorise this transaction: one for another transaction, or a raw signature of its message, is refused', async () => {
    const n = starts();
    const message = pay(7n);
    const forOther = await signTx(message, { request: txRequest(pay(8n)) });
    expect(forOther.status).toBe(403);
    const raw = signClientRequest(c.admin, { op: 'sign', keyId: KEY, digest: signDigest({ keyId: KEY, epoch, message }) });
    const asRaw = await signTx(message, { request: raw });
    expect(asRaw.status).toBe(403);
    const atPath = await signTx(message, { request: txRequest(message, 'm/1') });
    expect(atPath.status).toBe(403);
    expect(starts()).toBe(n);
  });

  it("the coordinator's policy copy refuses by each transaction rule (audited), and raw signing when rawSign is false", async () => {
    await setPolicy({ transactions: { rawSign: false, networks: ['solana'], destinations: [ALLOWED.toBase58()], limits: [{ asset: 'native', perTransaction: '100000' }] } });
    const n = starts();
    const cases: Array<[Uint8Array, string]> = [
      [pay(10n, randomAddress()), 'destination'],
      [pay(100_001n), 'amount'],
      [solanaMessage(new PublicKey(root), [{ programId: randomAddress(), keys: [{ pubkey: new PublicKey(root), isSigner: true, isWritable: true }], data: Buffer.from([1]) }]), 'opaque'],
    ];
    for (const [message, rule] of cases) {
      const r = await signTx(message);
      expect(r.status, rule).toBe(403);
      expect(r.json.error).toMatchObject({ code: 'POLICY_DENIED', rule });
      expect((await events('policy.denied')).at(-1)!.data).toMatchObject({ rule, where: 'coordinator', op: 'sign' });
    }
    const msg = new Uint8Array(32).fill(3);
    const raw = await call('POST', `/v1/keys/${KEY}/sign`, { message: bytesToHex(msg), request: requestToJson(signClientRequest(c.admin, { op: 'sign', keyId: KEY, digest: signDigest({ keyId: KEY, epoch, message: msg }) })) });
    expect(raw.status).toBe(403);
    expect(raw.json.error).toMatchObject({ code: 'POLICY_DENIED', rule: 'raw-sign' });
    expect(starts()).toBe(n);
    // Within the rules it signs.
    const ok = await signTx(pay(100_000n));
    expect(ok.status, JSON.stringify(ok.json)).toBe(200);
  });

  it("the signers decide: one whose own policy refuses ends the signing with 403 naming its rule (audited where: the signer)", async () => {
    for (const s of c.signers) s.misbehave.policyDeny = 'destination';
    try {
      const r = await signTx(pay(11n));
      expect(r.status).toBe(403);
      expect(r.json.error).toMatchObject({ code: 'POLICY_DENIED', rule: 'destination' });
      expect((await events('policy.denied')).at(-1)!.data.where).toMatch(/^s[123]$/);
    } finally {
      for (const s of c.signers) delete s.misbehave.policyDeny;
    }
  });
});

describe('sign-tx: approvals above an amount', () => {
  it('waits for the approvals the transaction needs (202), runs once at quorum, and a smaller one runs at once', async () => {
    await setPolicy({
      approvers: [ed25519Approver('alice', alice), ed25519Approver('bob', bob)],
      approvalTtlSeconds: 600,
      transactions: { destinations: [ALLOWED.toBase58()], approvalsAbove: [{ asset: 'native', amount: '5000', approvals: 2 }] },
    });
    const small = await signTx(pay(5000n));
    expect(small.status, JSON.stringify(small.json)).toBe(200);

    const message = pay(5001n);
    const request = txRequest(message);
    const pending = await signTx(message, { request });
    expect(pending.status, JSON.stringify(pending.json)).toBe(202);
    const op = pending.json.operation as PendingOperationJson;
    expect(op).toMatchObject({ op: 'sign', action: 'sign', required: 2, state: 'pending', params: { chain: 'solana', tx: bytesToHex(message) } });
    const before = txStarts().length;
    const approve = (a: Approval) => call('POST', `/v1/operations/${op.id}/approve`, { approval: approvalToJson(a) }, c.auditor);
    const one = await approve(signApproval(alice, 'alice', request));
    expect((one.json.operation as PendingOperationJson).state).toBe('pending');
    expect(txStarts().length).toBe(before);
    const two = await approve(signApproval(bob, 'bob', request));
    const done = two.json.operation as PendingOperationJson;
    expect(done.state, JSON.stringify(done)).toBe('succeeded');
    expect(solanaTransactionVerifies((done.result as { transaction: string }).transaction, message)).toBe(true);
    expect(txStarts().length - before).toBe(2);
    expect((await events('key.signed')).at(-1)!.data).toMatchObject({ tx: { chain: 'solana', id: bytesToHex(sha256(message)) }, approvers: ['alice', 'bob'] });
    // Run once: the operation is no longer pending, and the approved request is not let through again.
    const again = await approve(signApproval(alice, 'alice', request));
    expect(again.status).toBe(409);
    const replay = await signTx(message, { request, approvals: [signApproval(alice, 'alice', request), signApproval(bob, 'bob', request)] });
    expect(replay.status).toBe(401);
    expect(txStarts().length - before).toBe(2);
  });
});

describe('sign-tx: a pending transaction across a coordinator restart', () => {
  it('survives the restart (same SQLite file) with its approvals, and runs once approved after it', async () => {
    const message = pay(5002n);
    const request = txRequest(message);
    const pending = await signTx(message, { request });
    expect(pending.status, JSON.stringify(pending.json)).toBe(202);
    const op = pending.json.operation as PendingOperationJson;
    const approve = (a: Approval) => call('POST', `/v1/operations/${op.id}/approve`, { approval: approvalToJson(a) }, c.auditor);
    expect(((await approve(signApproval(alice, 'alice', request))).json.operation as PendingOperationJson).approvals).toEqual(['alice']);
    await c.coordinator.stop();
    await c.coordinator.start();
    await Promise.all(c.signers.map((s) => s.connect()));
    const listed = (await call('GET', '/v1/operations?state=pending')).json.operations as PendingOperationJson[];
    expect(listed.find((o) => o.id === op.id)).toMatchObject({ state: 'pending', op: 'sign', approvals: ['alice'], required: 2, params: { chain: 'solana', tx: bytesToHex(message) } });
    const before = txStarts().length;
    const done = (await approve(signApproval(bob, 'bob', request))).json.operation as PendingOperationJson;
    expect(done.state, JSON.stringify(done)).toBe('succeeded');
    expect(solanaTransactionVerifies((done.result as { transaction: string }).transaction, message)).toBe(true);
    expect(txStarts().length - before).toBe(2);
    expect((await approve(signApproval(alice, 'alice', request))).status).toBe(409);
  }, 60_000);
});

describe('sign-tx: a PSBT with two inputs of the key (bitcoin)', () => {
  it('runs one signing per input with the same request (START tx naming the input), finalises, and audits each with the txid', async () => {
    const BTC = 'btc-1';
    const create = c.request('createKey', BTC, createKeyDigest({ keyId: BTC, suite: 'frost-secp256k1-tr', threshold: 2, signers: ['s1', 's2', 's3'] }));
    const key = await c.coordinator.createKey({ request: create, keyId: BTC, suite: 'frost-secp256k1-tr', threshold: 2, signers: ['s1', 's2', 's3'] });
    await eventually(async () => (await c.coordinator.audit(BTC)).filter((e) => e.event === 'commit.acked').length === 3, 10_000);
    const pkg = c.signers[0]!.keys.get(BTC)!.share.publicKey;
    const psbt = buildPsbt({
      key: pkg,
      inputs: [{ amount: 60_000n }, { path: 'm/0/3', amount: 50_000n, merkleRoot: new Uint8Array(32).fill(9) }],
      pay: [{ address: otherParty('dave').address('regtest'), amount: 80_000n }],
      change: { path: 'm/1/0', amount: 25_000n },
      network: 'regtest',
      label: 'coordinator-sign-tx',
    });
    const request = signClientRequest(c.admin, { op: 'sign', keyId: BTC, digest: signTxDigest({ keyId: BTC, epoch: key.epoch, chain: 'bitcoin', data: psbt, network: 'regtest' }) });
    const before = mark();
    const r = await call('POST', `/v1/keys/${BTC}/sign-tx`, { chain: 'bitcoin', tx: Buffer.from(psbt).toString('base64'), network: 'regtest', request: requestToJson(request) });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect((r.json.signatures as Array<{ input: number }>).map((x) => x.input)).toEqual([0, 1]);
    // bitcoinjs-lib + libsecp256k1 extract the transaction and verify both key-path witnesses (one for a script-tree output).
    const checked = checkWithBitcoinjs(r.json.psbt as string);
    expect(checked.verified).toEqual([0, 1]);
    expect(r.json).toMatchObject({ chain: 'bitcoin', txid: checked.txid, txId: checked.txid });
    expect(since(before).map((s) => [s.chain, s.input]).sort()).toEqual([['bitcoin', 0], ['bitcoin', 0], ['bitcoin', 1], ['bitcoin', 1]]);
    expect(new Set(since(before).map((s) => bytesToHex(s.request.nonce))).size).toBe(1);
    const rows = (await c.coordinator.audit(BTC)).filter((e) => e.event === 'key.signed');
    expect(rows.map((e) => e.data.tx)).toEqual([{ chain: 'bitcoin', id: checked.txid, input: 0 }, { chain: 'bitcoin', id: checked.txid, input: 1 }]);
    expect(rows.map((e) => e.data.path)).toEqual(['', 'm/0/3']);
    // A path is the PSBT's to name, not the body's.
    const withPath = await call('POST', `/v1/keys/${BTC}/sign-tx`, { chain: 'bitcoin', tx: Buffer.from(psbt).toString('base64'), path: 'm/0', request: requestToJson(request) });
    expect(withPath.json.error).toMatchObject({ code: 'BAD_REQUEST', field: 'path' });
  }, 60_000);
});
