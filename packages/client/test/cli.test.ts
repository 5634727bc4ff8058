/**
 * The `keyquorum` CLI as a user runs it: `keyquorum dev` in a fresh directory
 * (coordinator and three signer daemons as child processes), then every other
 * command from that directory with no flags (found through ./.keyquorum), checked
 * for its JSON contract, its human output and its exit code; then Ctrl-C (SIGINT)
 * stops every child, and a second `keyquorum dev` reuses the same identities and keys.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { targetExternalKey } from '@keyquorum/crypto';
import { exportIdentitySecret, generateIdentity } from '@keyquorum/protocol';
import { keccak256, toUtf8Bytes } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkEthereum, type SignOutput } from '../../../test/support/verify.ts';
import { alive, cli, Dev, json } from './support/cli.ts';

const KEY_FIELDS = ['id', 'scheme', 'threshold', 'signers', 'publicKey', 'epoch', 'state'];
const SIGNERS = ['signer-1', 'signer-2', 'signer-3'];
const MESSAGE = 'ab'.repeat(32);
/** keccak-256 of an Ethereum-like payload, as hex without 0x (what `sign --message` takes). */
const digestOf = (text: string) => keccak256(toUtf8Bytes(text)).slice(2);

let dir: string;
let dev: Dev;
const run = (...args: string[]) => cli(args, { cwd: dir });

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyquorum-cli-'));
  dev = new Dev(dir);
  // The last progress line: "ready at" comes first, and the lines after it in later writes.
  await dev.waitFor(/Ctrl-C stops everything/);
}, 180_000);

afterAll(async () => {
  if (dev?.child.exitCode === null) {
    dev.child.kill('SIGINT');
    await dev.exited;
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('keyquorum dev', () => {
  it('prints a progress line as each part comes up, then how to use it', () => {
    const text = dev.lines.join('\n');
    expect(text).toMatch(/2-of-3 cluster, data in .*\.keyquorum \(new\)/);
    expect(text).toMatch(/dev admin client key created/);
    for (const node of ['coordinator', 'signer-1', 'signer-2', 'signer-3']) expect(text).toMatch(new RegExp(`${node} identity created`));
    expect(text).toMatch(/coordinator listening on http:\/\/127\.0\.0\.1:\d+ {2}\(pid \d+\)/);
    for (const id of ['signer-1', 'signer-2', 'signer-3']) expect(text).toMatch(new RegExp(`${id} connected {2}\\(pid \\d+`));
    expect(text).toMatch(/Try: npx keyquorum keys create/);
    expect(dev.pids()).toHaveLength(4);
    expect(fs.statSync(path.join(dir, '.keyquorum', 'admin-key.json')).mode & 0o077).toBe(0);
  });
});

describe('keyquorum CLI against the dev cluster (no flags: found through ./.keyquorum)', () => {
  let key: Record<string, unknown>;

  it('keys create --json prints exactly { id, scheme, threshold, signers, publicKey, epoch, state }', async () => {
    key = json(await run('keys', 'create', '--scheme', 'frost-secp256k1-tr', '--threshold', '2', '--label', 'cli-tr', '--json'));
    expect(Object.keys(key)).toEqual(KEY_FIELDS);
    expect(key).toMatchObject({ id: 'cli-tr', scheme: 'frost-secp256k1-tr', threshold: 2, signers: ['signer-1', 'signer-2', 'signer-3'], epoch: 0, state: 'active' });
    expect(key.publicKey).toMatch(/^[0-9a-f]{64}$/);
  });

  it('keys show --json and keys list --json give the same seven fields', async () => {
    const [show, list] = await Promise.all([run('keys', 'show', 'cli-tr', '--json'), run('keys', 'list', '--json')]);
    expect(json(show)).toEqual(key);
    const keys = json<Array<Record<string, unknown>>>(list);
    expect(keys).toContainEqual(key);
    for (const k of keys) expect(Object.keys(k)).toEqual(KEY_FIELDS);
  });

  it('sign --json gives { signature, publicKey } that BIP340 verifies, also for a derived path', async () => {
    const [plain, derived, derive] = await Promise.all([
      run('sign', 'cli-tr', '--message', MESSAGE, '--json'),
      run('sign', 'cli-tr', '--message', MESSAGE, '--path', 'm/44/0/7', '--json'),
      run('keys', 'derive', 'cli-tr', '--path', 'm/44/0/7', '--json'),
    ]);
    const sig = json<{ signature: string; publicKey: string }>(plain);
    expect(Object.keys(sig)).toEqual(['signature', 'publicKey']);
    expect(sig.publicKey).toBe(key.publicKey);
    expect(schnorr.verify(hexToBytes(sig.signature), hexToBytes(MESSAGE), hexToBytes(sig.publicKey))).toBe(true);
    const child = json<{ publicKey: string }>(derive);
    const dsig = json<{ signature: string; publicKey: string }>(derived);
    expect(dsig.publicKey).toBe(child.publicKey);
    expect(schnorr.verify(hexToBytes(dsig.signature), hexToBytes(MESSAGE), hexToBytes(child.publicKey))).toBe(true);
  });

  it('sign --taproot [--merkle-root] signs for the BIP341 output key (checked by BIP340 and against targetExternalKey)', async () => {
    const root = 'cd'.repeat(32);
    const [keyPath, scriptPath] = await Promise.all([
      run('sign', 'cli-tr', '--message', MESSAGE, '--taproot', '--json'),
      run('sign', 'cli-tr', '--message', MESSAGE, '--taproot', '--merkle-root', root, '--json'),
    ]);
    const internal = hexToBytes(key.publicKey as string);
    // BIP341 taproot_tweak_pubkey, computed here with noble: Q = lift_x(P) + H_TapTweak(P || root) * G.
    const tweaked = (merkleRoot: Uint8Array) => {
      const t = secp256k1.Point.Fn.fromBytes(schnorr.utils.taggedHash('TapTweak', internal, merkleRoot));
      return schnorr.utils.pointToBytes(schnorr.utils.lift_x(secp256k1.Point.Fp.fromBytes(internal)).add(secp256k1.Point.BASE.multiply(t)));
    };
    // The crypto package's view of the same key (an x-only key stands for its even-y point, as in BIP341).
    const point = Uint8Array.from([2, ...internal]);
    const pkg = { suite: 'frost-secp256k1-tr' as const, threshold: 2, participants: [1, 2, 3], groupKey: point, verifyingShares: { 1: point, 2: point, 3: point }, chainCode: new Uint8Array(32) };
    for (const [out, merkleRoot, taproot] of [[keyPath, new Uint8Array(0), {}], [scriptPath, hexToBytes(root), { merkleRoot: hexToBytes(root) }]] as const) {
      const sig = json<{ signature: string; publicKey: string }>(out);
      expect(sig.publicKey).toBe(bytesToHex(tweaked(merkleRoot)));
      expect(sig.publicKey).toBe(bytesToHex(targetExternalKey(pkg, { taproot })));
      expect(sig.publicKey).not.toBe(key.publicKey);
      expect(schnorr.verify(hexToBytes(sig.signature), hexToBytes(MESSAGE), hexToBytes(sig.publicKey))).toBe(true);
    }
  });

  it('sign-tx and sign --taproot: usage errors exit 2 before any request; a transaction for another suite is refused (exit 1)', async () => {
    const eth = '0x02c0';
    const usage = await Promise.all([
      run('sign-tx', 'cli-tr', '--tx', eth),
      run('sign-tx', 'cli-tr', '--chain', 'dogecoin', '--tx', eth),
      run('sign-tx', 'cli-tr', '--chain', 'ethereum', '--psbt', 'AAAA'),
      run('sign-tx', 'cli-tr', '--chain', 'ethereum', '--tx', eth, '--psbt', 'AAAA'),
      run('sign-tx', 'cli-tr', '--chain', 'ethereum', '--tx', 'zz'),
      run('sign-tx', 'cli-tr', '--chain', 'bitcoin', '--psbt', 'AAAA', '--path', 'm/0'),
      run('sign-tx', 'cli-tr', '--chain', 'solana', '--message', 'AAAA', '--network', 'regtest'),
      run('sign-tx', 'cli-tr', '--chain', 'bitcoin', '--psbt', 'AAAA', '--network', 'signet'),
      run('sign-tx', 'cli-tr', '--chain', 'solana', '--message', 'not base64!'),
      run('sign', 'cli-tr', '--message', MESSAGE, '--merkle-root', 'cd'.repeat(32)),
      run('sign', 'cli-tr', '--message', MESSAGE, '--taproot', '--merkle-root', 'cd'),
    ]);
    expect(usage.map((r) => r.code)).toEqual(usage.map(() => 2));
    expect(usage.map((r) => r.stderr.split('\n')[0])).toEqual([
      'keyquorum: --chain is required',
      'keyquorum: --chain: expected one of ethereum, bitcoin, solana',
      'keyquorum: --psbt is not for --chain ethereum (its transaction goes in --tx)',
      'keyquorum: --psbt is not for --chain ethereum (its transaction goes in --tx)',
      'keyquorum: --tx: expected the unsigned transaction as hex',
      'keyquorum: --path is not for bitcoin: each PSBT input names its own path',
      'keyquorum: --network is for bitcoin only',
      'keyquorum: --network: expected one of mainnet, testnet, regtest',
      'keyquorum: --message: expected base64',
      'keyquorum: --merkle-root needs --taproot',
      'keyquorum: --merkle-root: expected 32 bytes of hex',
    ]);
    // Reaches the coordinator: an ethereum transaction is an ecdsa-secp256k1 key's to sign.
    const refused = await run('sign-tx', 'cli-tr', '--chain', 'ethereum', '--tx', eth, '--json');
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stderr)).toMatchObject({ error: { code: 'BAD_REQUEST' } });
    expect(JSON.parse(refused.stderr).error.message).toMatch(/chain: ethereum transactions are signed by ecdsa-secp256k1 keys/);
  });

  it('creates and signs with an frost-ed25519 key (32-byte public key, RFC 8032 signature)', async () => {
    const k = json<{ id: string; publicKey: string }>(await run('keys', 'create', '--scheme', 'frost-ed25519', '--threshold', '2', '--json'));
    expect(k.id).toMatch(/^key-[0-9a-f]{10}$/);
    expect(k.publicKey).toMatch(/^[0-9a-f]{64}$/);
    const sig = json<{ signature: string }>(await run('sign', k.id, '--message', MESSAGE, '--json'));
    expect(ed25519.verify(hexToBytes(sig.signature), hexToBytes(MESSAGE), hexToBytes(k.publicKey))).toBe(true);
    const reshared = json<Record<string, unknown>>(await run('keys', 'reshare', k.id, '--signers', 'signer-1,signer-2,signer-3', '--threshold', '3', '--json'));
    expect(reshared).toMatchObject({ id: k.id, threshold: 3, epoch: 1, publicKey: k.publicKey, state: 'active' });
    expect(Object.keys(reshared)).toEqual(KEY_FIELDS);
  });

  it('prints readable tables without --json', async () => {
    const [list, show, signers, audit] = await Promise.all([run('keys', 'list'), run('keys', 'show', 'cli-tr'), run('signers'), run('audit', '--key', 'cli-tr')]);
    expect(list.stdout).toMatch(/^ID\s+SCHEME\s+QUORUM\s+EPOCH\s+STATE\s+PUBLIC KEY$/m);
    expect(list.stdout).toMatch(/^cli-tr\s+frost-secp256k1-tr\s+2\/3\s+0\s+active\s+[0-9a-f]{64}$/m);
    expect(show.stdout).toMatch(/^quorum\s+2 of 3 \(signer-1, signer-2, signer-3\)$/m);
    expect(signers.stdout).toMatch(/^SIGNER\s+CONNECTED\s+LAST SEEN\s+KEYS \(EPOCH\)$/m);
    expect(signers.stdout).toMatch(/^signer-1\s+yes\s+\d{4}-\S+ \S+\s+cli-tr@0, key-[0-9a-f]{10}@1$/m);
    expect(audit.stdout).toMatch(/key\.created\s+cli-tr/);
    expect(audit.stdout).toMatch(/audit chain verified/);
  });

  it('refresh keeps the public key; retire then makes sign fail with exit 1', async () => {
    const refreshed = json<Record<string, unknown>>(await run('keys', 'refresh', 'cli-tr', '--json'));
    expect(refreshed).toEqual({ ...key, epoch: 1 });
    const retired = json<{ key: { state: string }; attestations: unknown[] }>(await run('keys', 'retire', 'cli-tr', '--json'));
    expect(retired.key.state).toBe('retired');
    expect(retired.attestations).toHaveLength(3);
    const refused = await run('sign', 'cli-tr', '--message', MESSAGE, '--json');
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stderr)).toMatchObject({ error: { code: 'WRONG_STATE' } });
  });

  it('keys suspend|resume|destroy|compromise --json change the state; a suspended or compromised key refuses to sign (exit 1, WRONG_KEY_STATE)', async () => {
    const k = json<{ id: string }>(await run('keys', 'create', '--scheme', 'frost-ed25519', '--threshold', '2', '--label', 'cli-states', '--json'));
    expect(json(await run('keys', 'suspend', k.id, '--json'))).toMatchObject({ id: k.id, state: 'suspended' });
    expect((await run('keys', 'show', k.id)).stdout).toMatch(/^state\s+suspended$/m);
    const refused = await run('sign', k.id, '--message', MESSAGE, '--json');
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stderr)).toMatchObject({ error: { code: 'WRONG_KEY_STATE' } });
    expect(json(await run('keys', 'resume', k.id, '--json'))).toMatchObject({ state: 'active' });
    expect((await run('sign', k.id, '--message', MESSAGE, '--json')).code).toBe(0);
    expect(json(await run('keys', 'destroy', k.id, '--after', '7d', '--json'))).toMatchObject({ state: 'destroy-scheduled' });
    expect(json(await run('keys', 'destroy', k.id, '--cancel', '--json'))).toMatchObject({ state: 'active' });
    expect((await run('keys', 'destroy', k.id, '--after', 'soon', '--json')).code).toBe(2);
    expect(json(await run('keys', 'compromise', k.id, '--json'))).toMatchObject({ state: 'compromised' });
    const resume = await run('keys', 'resume', k.id, '--json');
    expect(resume.code).toBe(1);
    expect(JSON.parse(resume.stderr)).toMatchObject({ error: { code: 'WRONG_KEY_STATE' } });
    // retire stays the immediate path for a compromised key (and leaves the later checks of signer epochs as they were)
    const retired = json<{ key: { state: string }; attestations: unknown[] }>(await run('keys', 'retire', k.id, '--json'));
    expect(retired.key.state).toBe('retired');
    expect(retired.attestations).toHaveLength(3);
  }, 240_000);

  it('shows the work in Prometheus metrics on the coordinator and on each signer', async () => {
    const { url } = JSON.parse(fs.readFileSync(path.join(dir, '.keyquorum', 'cluster.json'), 'utf8')) as { url: string };
    const coordinator = await (await fetch(`${url}/metrics`)).text();
    expect(coordinator).toMatch(/^keyquorum_sessions_total\{kind="dkg",outcome="ok"\} [1-9]/m);
    expect(coordinator).toMatch(/^keyquorum_signatures_total\{scheme="frost-secp256k1-tr"\} [2-9]/m);
    expect(coordinator).toMatch(/^keyquorum_signers_connected 3$/m);
    // Public and unauthenticated: keys counted by suite and state, no key id (metricsKeyLabels is off by default).
    expect(coordinator).toMatch(/^keyquorum_keys\{scheme="frost-secp256k1-tr",state="retired"\} [1-9]/m);
    expect(coordinator).not.toMatch(/cli-tr/);
    expect(coordinator).toMatch(/^keyquorum_session_duration_seconds_count\{kind="sign"\} [2-9]/m);
    const health = /signer-1 connected {2}\(pid \d+, health (http:\/\/[^)]+)\)/.exec(dev.lines.join('\n'))![1]!;
    const signer = await (await fetch(`${health}/metrics`)).text();
    expect(signer).toMatch(/^keyquorum_signer_connected 1$/m);
    expect(signer).toMatch(/^keyquorum_signer_sessionsCompleted [1-9]/m);
    // Counted, not named (the signer's metricsKeyLabels is off by default).
    expect(signer).toMatch(/^keyquorum_signer_active_keys [1-9]/m);
    expect(signer).not.toMatch(/key_epoch|key="/);
  });

  // The ecdsa-secp256k1 CLI path in `npm test` (2-of-3; `keys refresh` is above, an ecdsa
  // refresh through the SDK in test/ecdsa.test.ts); the 3-of-5 one through `keyquorum dev
  // --signers 5 --threshold 3`, refresh included, is cli-ecdsa.test.ts, in the slow set.
  it('creates an ecdsa-secp256k1 key and signs a 32-byte digest (also for --path): { signature, publicKey, recoveryId } verify and recover (ethers: the key address); retire: attestations from every signer, then sign fails with WRONG_STATE (exit 1)', async () => {
    const created = json<Record<string, unknown>>(await run('keys', 'create', '--scheme', 'ecdsa-secp256k1', '--threshold', '2', '--label', 'cli-ecdsa', '--json'));
    expect(Object.keys(created)).toEqual(KEY_FIELDS);
    expect(created).toMatchObject({ id: 'cli-ecdsa', scheme: 'ecdsa-secp256k1', threshold: 2, signers: SIGNERS, epoch: 0, state: 'active' });
    const k = created as { id: string; publicKey: string };
    expect(k.publicKey).toMatch(/^0[23][0-9a-f]{64}$/);
    const digest = digestOf('transfer 1 ETH to 0x00000000000000000000000000000000000000aa, nonce 7');
    const [plain, derived, derive] = await Promise.all([
      run('sign', k.id, '--message', digest, '--json'),
      run('sign', k.id, '--message', digest, '--path', 'm/44/60/0/0/1', '--json'),
      run('keys', 'derive', k.id, '--path', 'm/44/60/0/0/1', '--json'),
    ]);
    const child = json<{ publicKey: string }>(derive);
    expect(child.publicKey).not.toBe(k.publicKey);
    for (const [r, publicKey] of [[plain, k.publicKey], [derived, child.publicKey]] as const) {
      const sig = json<SignOutput>(r);
      expect(Object.keys(sig)).toEqual(['signature', 'publicKey', 'recoveryId']);
      expect(sig.publicKey).toBe(publicKey);
      checkEthereum(sig, hexToBytes(digest));
      const recovered = secp256k1.Signature.fromBytes(hexToBytes(sig.signature), 'compact').addRecoveryBit(sig.recoveryId!).recoverPublicKey(hexToBytes(digest));
      expect(bytesToHex(recovered.toBytes(true))).toBe(publicKey);
    }

    const retired = json<{ key: { state: string }; attestations: Array<{ signer: string }> }>(await run('keys', 'retire', k.id, '--json'));
    expect(retired.key.state).toBe('retired');
    expect(retired.attestations.map((a) => a.signer).sort()).toEqual(SIGNERS);
    const refused = await run('sign', k.id, '--message', digestOf('too late'), '--json');
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stderr)).toMatchObject({ error: { code: 'WRONG_STATE' } });
  }, 240_000);

  it('exits 1 for a refused request and 2 for a usage error', async () => {
    const results = await Promise.all([
      run('keys', 'show', 'nope'),
      run('keys', 'frobnicate'),
      run('sign', 'cli-tr'),
      run('sign', 'cli-tr', '--message', 'xyz'),
      run('keys', 'create', '--scheme', 'rsa', '--threshold', '2'),
      run('keys', 'list', '--bogus'),
      cli(['keys', 'list'], { cwd: os.tmpdir() }),
    ]);
    expect(results.map((r) => r.code)).toEqual([1, 2, 2, 2, 2, 2, 2]);
    expect(results[0]!.stderr).toMatch(/UNKNOWN_KEY/);
    expect(results[6]!.stderr).toMatch(/no coordinator URL/);
  });

  it('takes --url/--key-file, then KEYQUORUM_URL/KEYQUORUM_KEY_FILE, from any directory; an untrusted key is refused (exit 1)', async () => {
    const cluster = JSON.parse(fs.readFileSync(path.join(dir, '.keyquorum', 'cluster.json'), 'utf8')) as { url: string };
    const keyFile = path.join(dir, '.keyquorum', 'admin-key.json');
    const stranger = generateIdentity();
    const strangerFile = path.join(dir, 'stranger.json');
    fs.writeFileSync(strangerFile, JSON.stringify({ publicKey: bytesToHex(stranger.publicKey), secretKey: bytesToHex(exportIdentitySecret(stranger)) }));
    const elsewhere = os.tmpdir();
    const [flags, env, refused] = await Promise.all([
      cli(['signers', '--json', '--url', cluster.url, '--key-file', keyFile], { cwd: elsewhere }),
      cli(['signers', '--json'], { cwd: elsewhere, env: { KEYQUORUM_URL: cluster.url, KEYQUORUM_KEY_FILE: keyFile } }),
      run('keys', 'list', '--key-file', strangerFile),
    ]);
    const listed = json<Array<{ id: string; connected: boolean; epochs: Record<string, number> }>>(flags);
    expect(listed.map((s) => s.connected)).toEqual([true, true, true]);
    // cli-tr is retired and its shares destroyed; the frost-ed25519 key was reshared to epoch 1.
    for (const s of listed) expect(Object.entries(s.epochs)).toEqual([[expect.stringMatching(/^key-[0-9a-f]{10}$/), 1]]);
    expect(json<unknown[]>(env)).toHaveLength(3);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/UNAUTHORISED/);
  });
});

describe('keyquorum dev shutdown and restart', () => {
  it('SIGINT stops every child; a second run reuses the same identities and keys', async () => {
    const pids = dev.pids();
    expect(pids.every(alive)).toBe(true);
    dev.child.kill('SIGINT');
    expect(await dev.exited).toBe(0);
    expect(dev.lines.join('\n')).toMatch(/stopped\. Data kept/);
    expect(pids.filter(alive)).toEqual([]);

    dev = new Dev(dir);
    await dev.waitFor(/ready at http/);
    const text = dev.lines.join('\n');
    expect(text).toMatch(/reusing existing data/);
    expect(text).not.toMatch(/created/);
    for (const node of ['coordinator', 'signer-1', 'signer-2', 'signer-3']) expect(text).toMatch(new RegExp(`${node} identity loaded`));
    const keys = json<Array<{ id: string; scheme: string; publicKey: string }>>(await run('keys', 'list', '--json'));
    const ed = keys.find((k) => k.scheme === 'frost-ed25519')!;
    const sig = json<{ signature: string }>(await run('sign', ed.id, '--message', MESSAGE, '--json'));
    expect(ed25519.verify(hexToBytes(sig.signature), hexToBytes(MESSAGE), hexToBytes(ed.publicKey))).toBe(true);
  }, 240_000);
});
