/**
 * What an approver sees is what it approves (docs/governance.md "SDK and CLI"): the
 * SDK recomputes the digest of an operation's signed request from the operation's
 * params and refuses (DIGEST_MISMATCH, nothing posted) when a coordinator shows one
 * thing and asks approval for another. The lying coordinator here is a fixture: a
 * real HTTP server answering the routes of the contract with a forged operation.
 * Also the approver key file of `keyquorum approver keygen` and the CLI's usage errors.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { bytesToHex } from '@noble/hashes/utils.js';
import {
  approvalChallenge,
  clientRequestId,
  generateIdentity,
  parsePolicy,
  policyRequestDigest,
  requestToJson,
  signClientRequest,
  signDigest,
  signTxDigest,
  stateDigest,
  verifySignature,
  type ClientRequest,
} from '@keyquorum/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientError, KeyquorumClient, describeOperation, type KeyJson, type PendingOperation } from '../src/index.ts';
import { cli } from './support/cli.ts';

const client = generateIdentity();
const KEY: KeyJson = { id: 'k1', suite: 'frost-ed25519', scheme: 'frost-ed25519', threshold: 2, signers: ['s1', 's2', 's3'], publicKey: '11'.repeat(32), groupKey: '11'.repeat(32), epoch: 2, state: 'active' };
const MESSAGE = new Uint8Array(32).fill(7);

function operation(request: ClientRequest, params: Record<string, unknown>): PendingOperation {
  return {
    id: bytesToHex(clientRequestId(request)),
    kind: 'approval',
    keyId: request.keyId,
    op: request.op,
    action: request.op === 'state' ? (params.transition as 'suspend') : (request.op as 'sign'),
    state: 'pending',
    required: 2,
    approvals: [],
    challenge: bytesToHex(approvalChallenge(request)),
    expiresAt: request.timestamp + 3_600_000,
    request: requestToJson(request),
    params,
  };
}

const signRequest = (epoch: number, message = MESSAGE, path?: string) =>
  signClientRequest(client, { op: 'sign', keyId: 'k1', digest: signDigest({ keyId: 'k1', epoch, message, ...(path === undefined ? {} : { path }) }) });

describe('describeOperation recomputes the request digest from the params', () => {
  it('a sign: the message and path shown are those the request signs, at the epoch it names', () => {
    const request = signRequest(2, MESSAGE, 'm/44/0/7');
    const lines = Object.fromEntries(describeOperation(operation(request, { message: bytesToHex(MESSAGE), path: 'm/44/0/7' }), KEY, request.digest));
    expect(lines).toMatchObject({ message: bytesToHex(MESSAGE), path: 'm/44/0/7', epoch: '2' });
    const older = signRequest(1);
    expect(Object.fromEntries(describeOperation(operation(older, { message: bytesToHex(MESSAGE) }), KEY, older.digest)).epoch).toMatch(/^1 \(the key is at epoch 2 now/);
  });

  it('refuses a sign whose shown message, path or taproot is not what the request signs', () => {
    const request = signRequest(2, MESSAGE, 'm/44/0/7');
    const other = bytesToHex(new Uint8Array(32).fill(8));
    for (const params of [{ message: other, path: 'm/44/0/7' }, { message: bytesToHex(MESSAGE) }, { message: bytesToHex(MESSAGE), path: 'm/44/0/8' }, { message: bytesToHex(MESSAGE), path: 'm/44/0/7', taproot: {} }, { message: 'zz' }]) {
      expect(() => describeOperation(operation(request, params), KEY, request.digest)).toThrow(expect.objectContaining({ code: 'DIGEST_MISMATCH' }));
    }
  });

  it('a sign-tx: the transaction, path and network shown are those the request signs (its signTxDigest); any other is DIGEST_MISMATCH', () => {
    const tx = new Uint8Array([0x02, 0xc1, 0x80]);
    const request = signClientRequest(client, { op: 'sign', keyId: 'k1', digest: signTxDigest({ keyId: 'k1', epoch: 2, chain: 'ethereum', data: tx, path: 'm/0/7' }) });
    const lines = Object.fromEntries(describeOperation(operation(request, { chain: 'ethereum', tx: bytesToHex(tx), path: 'm/0/7' }), KEY, request.digest));
    expect(lines).toMatchObject({ chain: 'ethereum', transaction: `0x${bytesToHex(tx)}`, path: 'm/0/7', epoch: '2' });
    const btc = signClientRequest(client, { op: 'sign', keyId: 'k1', digest: signTxDigest({ keyId: 'k1', epoch: 2, chain: 'bitcoin', data: tx, network: 'regtest' }) });
    expect(Object.fromEntries(describeOperation(operation(btc, { chain: 'bitcoin', tx: bytesToHex(tx), network: 'regtest' }), KEY, btc.digest))).toMatchObject({ chain: 'bitcoin', transaction: Buffer.from(tx).toString('base64'), network: 'regtest' });
    for (const params of [
      { chain: 'ethereum', tx: bytesToHex(new Uint8Array([0x02, 0xc1, 0x81])), path: 'm/0/7' },
      { chain: 'ethereum', tx: bytesToHex(tx) },
      { chain: 'solana', tx: bytesToHex(tx), path: 'm/0/7' },
      { chain: 'ethereum', tx: bytesToHex(tx), path: 'm/0/7', network: 'regtest' },
      { message: bytesToHex(tx), path: 'm/0/7' },
      { chain: 'dogecoin', tx: bytesToHex(tx), path: 'm/0/7' },
    ]) {
      expect(() => describeOperation(operation(request, params), KEY, request.digest), JSON.stringify(params)).toThrow(expect.objectContaining({ code: 'DIGEST_MISMATCH' }));
    }
  });

  it('a policy change: the document shown is the one whose digest the request signs', () => {
    const doc = { format: 1, version: 1, approvers: [{ id: 'alice', type: 'ed25519', publicKey: bytesToHex(generateIdentity().publicKey) }], approvals: { sign: 1 }, velocity: [{ limit: 10, windowSeconds: 60, per: 'key' }] };
    const request = signClientRequest(client, { op: 'policy', keyId: 'k1', digest: policyRequestDigest({ keyId: 'k1', policy: parsePolicy(doc) }) });
    const lines = Object.fromEntries(describeOperation(operation(request, { policy: doc }), KEY, request.digest));
    expect(lines['policy version']).toBe('1');
    expect(JSON.parse(lines.policy!)).toMatchObject({ approvals: { sign: 1 }, velocity: [{ limit: 10 }] });
    const looser = { ...doc, velocity: [{ limit: 1000, windowSeconds: 60, per: 'key' }] };
    expect(() => describeOperation(operation(request, { policy: looser }), KEY, request.digest)).toThrow(expect.objectContaining({ code: 'DIGEST_MISMATCH' }));
    expect(() => describeOperation(operation(request, { policy: { format: 1 } }), KEY, request.digest)).toThrow(expect.objectContaining({ code: 'DIGEST_MISMATCH' }));
  });

  it('a state change: the transition and delay shown are those the request signs', () => {
    const request = signClientRequest(client, { op: 'state', keyId: 'k1', digest: stateDigest({ keyId: 'k1', transition: 'schedule-destroy', afterMs: 86_400_000 }) });
    expect(Object.fromEntries(describeOperation(operation(request, { transition: 'schedule-destroy', afterMs: 86_400_000 }), KEY, request.digest))).toMatchObject({ transition: 'schedule-destroy' });
    for (const params of [{ transition: 'schedule-destroy', afterMs: 1_000 }, { transition: 'resume' }, { transition: 'nonsense' }]) {
      expect(() => describeOperation(operation(request, params), KEY, request.digest)).toThrow(expect.objectContaining({ code: 'DIGEST_MISMATCH' }));
    }
  });
});

describe('approveWithKey against a coordinator that shows one message and asks approval for another', () => {
  let server: http.Server;
  let url: string;
  const posted: string[] = [];
  const honest = signRequest(2);
  const forged = signRequest(2, new Uint8Array(32).fill(9));
  const ops = new Map<string, PendingOperation>();

  beforeAll(async () => {
    // The forged operation shows MESSAGE but its request signs another message.
    const lie = { ...operation(forged, { message: bytesToHex(MESSAGE) }) };
    const truth = operation(honest, { message: bytesToHex(MESSAGE) });
    ops.set(lie.id, lie);
    ops.set(truth.id, truth);
    server = http.createServer((req, res) => {
      const send = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      const target = req.url ?? '';
      const m = /^\/v1\/operations\/([0-9a-f]{64})(\/approve)?$/.exec(target);
      if (req.method === 'GET' && target === '/v1/keys/k1') return send(200, KEY);
      if (m && req.method === 'GET' && m[2] === undefined) return ops.has(m[1]!) ? send(200, ops.get(m[1]!)) : send(404, { error: { code: 'NOT_FOUND', message: 'no such operation' } });
      if (m && req.method === 'POST' && m[2] === '/approve') {
        let body = '';
        req.on('data', (d: Buffer) => (body += d.toString()));
        req.on('end', () => {
          posted.push(body);
          const op = ops.get(m[1]!)!;
          send(200, { operation: { ...op, approvals: [JSON.parse(body).approval.approver] } });
        });
        return;
      }
      send(404, { error: { code: 'NOT_FOUND', message: target } });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('refuses with DIGEST_MISMATCH and posts no approval', async () => {
    const sdk = new KeyquorumClient({ url, clientKey: generateIdentity() });
    const alice = generateIdentity();
    const err = await sdk.approveWithKey(bytesToHex(clientRequestId(forged)), alice, 'alice').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClientError);
    expect(err).toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect(posted).toEqual([]);
  });

  it('approves an honest operation: the posted approval signs the challenge computed from the request', async () => {
    const sdk = new KeyquorumClient({ url, clientKey: generateIdentity() });
    const alice = generateIdentity();
    const after = await sdk.approveWithKey(bytesToHex(clientRequestId(honest)), alice, 'alice');
    expect(after.approvals).toEqual(['alice']);
    expect(posted).toHaveLength(1);
    const { approval } = JSON.parse(posted[0]!) as { approval: { approver: string; type: string; sig: string } };
    expect(approval).toMatchObject({ approver: 'alice', type: 'ed25519' });
    expect(verifySignature(alice.publicKey, approvalChallenge(honest), Buffer.from(approval.sig, 'hex'))).toBe(true);
  });
});

describe('keyquorum approver keygen and the governance commands\' usage errors', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyquorum-gov-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes a 0600 approver key file and prints its policy entry, which a policy accepts', async () => {
    const r = await cli(['approver', 'keygen', '--id', 'alice', '--out', 'alice.json', '--json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { keyFile: string; approver: { id: string; type: string; publicKey: string } };
    expect(out.approver).toMatchObject({ id: 'alice', type: 'ed25519', publicKey: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(fs.statSync(path.join(dir, 'alice.json')).mode & 0o777).toBe(0o600);
    const file = JSON.parse(fs.readFileSync(path.join(dir, 'alice.json'), 'utf8')) as Record<string, string>;
    expect(file).toMatchObject({ approverId: 'alice', type: 'ed25519', publicKey: out.approver.publicKey, secretKey: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(parsePolicy({ format: 1, version: 1, approvers: [out.approver], approvals: { sign: 1 } }).approvers[0]!.id).toBe('alice');
    const again = await cli(['approver', 'keygen', '--id', 'alice', '--out', 'alice.json'], { cwd: dir });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/exists; not overwriting/);
  }, 120_000);

  it('exits 2 for bad arguments, before any request', async () => {
    fs.writeFileSync(path.join(dir, 'broken.json'), '{ not json');
    fs.writeFileSync(path.join(dir, 'client.json'), JSON.stringify({ publicKey: bytesToHex(client.publicKey) }));
    const url = ['--url', 'http://127.0.0.1:1'];
    const results = await Promise.all([
      cli(['approver', 'keygen', '--id', 'bad id!', '--out', 'x.json'], { cwd: dir }),
      cli(['approver', 'keygen', '--out', 'x.json'], { cwd: dir }),
      cli(['approve', 'abc', '--key-file', 'alice.json', ...url], { cwd: dir }),
      cli(['approve', 'ab'.repeat(32), ...url], { cwd: dir }),
      cli(['approve', 'ab'.repeat(32), '--key-file', 'client.json', ...url], { cwd: dir }),
      cli(['policy', 'set', 'k1', '--file', 'broken.json', ...url], { cwd: dir }),
      cli(['policy', 'set', 'k1', ...url], { cwd: dir }),
      cli(['policy', 'frobnicate', 'k1'], { cwd: dir }),
      cli(['operations', 'list', 'extra'], { cwd: dir }),
    ]);
    expect(results.map((r) => r.code)).toEqual([2, 2, 2, 2, 2, 2, 2, 2, 2]);
    expect(results[4]!.stderr).toMatch(/not an approver key file/);
  }, 180_000);
});
