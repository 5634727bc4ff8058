/**
 * `init` and the CLI as real processes: the identity key is stored sealed (its seed
 * appears in no file of the data dir), files are 0600 in a 0700 dir, `pubkey` reads
 * the public key without the passphrase, the passphrase is never taken from a flag,
 * `start` connects, prints a readable "connected" line and stops on SIGTERM, and a
 * daemon killed while a nonce is outstanding never uses it (crash recovery at start).
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { bytesToHex } from '@noble/hashes/utils.js';
import { SIGN_ROUND } from '@keyquorum/protocol';
import { Keystore, SCRYPT_N_MIN, SignerDaemon, initSigner, readPublicKey, silentLogger } from '../src/index.ts';
import { ENV, PASSPHRASE, initTestSigner, optionsFor, removeTempDirs, tempDir } from './helpers/cluster.ts';
import { dkgStart, gather, refs, runKeySession, signRequest } from './helpers/drive.ts';
import { FakeCoordinator } from './helpers/fake-coordinator.ts';

const BIN = fileURLToPath(new URL('../bin/keyquorum-signer.js', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

let coordinator: FakeCoordinator | undefined;
afterEach(async () => {
  await coordinator?.close();
  coordinator = undefined;
  removeTempDirs();
});

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack).indexOf(Buffer.from(needle)) >= 0;
}

function cli(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' });
}

describe('init', () => {
  it('stores the identity sealed: its seed is in no file of the data dir; files 0600 in a 0700 dir', () => {
    const signer = initTestSigner('s1', tempDir());
    const files = fs.readdirSync(signer.dataDir).map((f) => path.join(signer.dataDir, f));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      expect(contains(fs.readFileSync(f), signer.seed)).toBe(false);
      expect(fs.statSync(f).mode & 0o777).toBe(0o600);
    }
    expect(fs.statSync(signer.dataDir).mode & 0o777).toBe(0o700);
    expect(readPublicKey(signer.dataDir)).toBe(bytesToHex(signer.identity.publicKey));
    const ks = Keystore.open({ dataDir: signer.dataDir, kek: { passphrase: PASSPHRASE } });
    expect(bytesToHex(ks.getIdentity().seed)).toBe(bytesToHex(signer.seed));
    ks.close();
  });

  it('refuses to initialise a data dir twice', () => {
    const dir = path.join(tempDir(), 's1');
    initSigner({ dataDir: dir, signerId: 's1', kek: { passphrase: PASSPHRASE }, scryptN: SCRYPT_N_MIN });
    expect(() => initSigner({ dataDir: dir, signerId: 's1', kek: { passphrase: PASSPHRASE }, scryptN: SCRYPT_N_MIN })).toThrow(/EXISTS/);
  });
});

describe('keyquorum-signer CLI', () => {
  it('init --json prints the signer id and public key, and pubkey prints the same key', () => {
    const dir = path.join(tempDir(), 'cli');
    const init = cli(['init', '--data', dir, '--id', 'signer-1', '--json', '--scrypt-n', String(SCRYPT_N_MIN)], { KEYQUORUM_PASSPHRASE: PASSPHRASE });
    expect(init.status, init.stderr).toBe(0);
    const out = JSON.parse(init.stdout) as { signerId: string; publicKey: string };
    expect(out.signerId).toBe('signer-1');
    expect(out.publicKey).toMatch(/^[0-9a-f]{64}$/);
    const pub = cli(['pubkey', '--data', dir]);
    expect(pub.stdout.trim()).toBe(out.publicKey);
  });

  it('refuses a passphrase flag, and refuses to init without a passphrase, saying where to put it', () => {
    const dir = path.join(tempDir(), 'cli');
    const flag = cli(['init', '--data', dir, '--id', 's1', '--passphrase', 'hunter2']);
    expect(flag.status).toBe(2);
    expect(flag.stderr).toContain('never taken from a flag');
    const none = cli(['init', '--data', dir, '--id', 's1']);
    expect(none.status).toBe(1);
    expect(none.stderr).toContain('KEYQUORUM_PASSPHRASE');
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('start connects, logs a readable connected line on stderr, and stops gracefully on SIGTERM', async () => {
    coordinator = await FakeCoordinator.start();
    const root = tempDir();
    const signer = initTestSigner('s1', root);
    const peer = initTestSigner('s2', root);
    const config = path.join(root, 'signer.json');
    fs.writeFileSync(config, JSON.stringify({ ...optionsFor(signer, [signer, peer], coordinator), dataDir: 's1' }));
    const child = spawn(process.execPath, [BIN, 'start', '--config', config], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', KEYQUORUM_PASSPHRASE: PASSPHRASE } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await coordinator.waitFor('s1', 20_000);
    const deadline = Date.now() + 5000;
    while (!stderr.includes('"msg":"connected"') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const lines = stderr.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.find((l) => l.msg === 'connected')).toMatchObject({ signer: 's1', publicKey: bytesToHex(signer.identity.publicKey) });
    expect(stderr).not.toContain(PASSPHRASE);
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    expect(stderr).toContain('"msg":"stopped"');
  });

  it('start --coordinator (comma-separated and repeated) replaces the config file\'s URL and is dialled in turn', async () => {
    coordinator = await FakeCoordinator.start();
    const dead = [await FakeCoordinator.start(), await FakeCoordinator.start()];
    for (const d of dead) await d.close();
    const root = tempDir();
    const signer = initTestSigner('s1', root);
    const peer = initTestSigner('s2', root);
    const config = path.join(root, 'signer.json');
    fs.writeFileSync(config, JSON.stringify({ ...optionsFor(signer, [signer, peer], coordinator), coordinatorUrl: dead[0]!.url }));
    const args = ['start', '--config', config, '--coordinator', `${dead[0]!.url},${dead[1]!.url}`, '--coordinator', coordinator.url];
    const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', KEYQUORUM_PASSPHRASE: PASSPHRASE } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      await coordinator.waitFor('s1', 30_000);
      const deadline = Date.now() + 10_000;
      while (!stderr.includes('"msg":"connected"') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const lines = stderr.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.find((l) => l.msg === 'connected')).toMatchObject({ coordinator: new URL(coordinator.url).toString() });
    } finally {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((resolve) => child.on('exit', resolve));
      }
    }
  });

  it('a daemon killed with SIGKILL while a nonce is outstanding discards it at the next start', async () => {
    coordinator = await FakeCoordinator.start();
    const c = coordinator;
    const root = tempDir();
    const signers = ['s1', 's2', 's3'].map((id) => initTestSigner(id, root));
    const inProcess = [];
    for (const s of signers.slice(0, 2)) {
      const d = new SignerDaemon(optionsFor(s, signers, c), { env: ENV, log: silentLogger });
      await d.start();
      inProcess.push(d);
    }
    const config = path.join(root, 's3.json');
    fs.writeFileSync(config, JSON.stringify(optionsFor(signers[2]!, signers, c)));
    const launch = () => {
      const child = spawn(process.execPath, [BIN, 'start', '--config', config], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', KEYQUORUM_PASSPHRASE: PASSPHRASE } });
      const out = { child, stderr: '' };
      child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
      return out;
    };
    try {
      const first = launch();
      for (const id of ['s1', 's2', 's3']) await c.waitFor(id, 20_000);
      const suite = 'frost-ed25519';
      const participants = refs(['s1', 's2', 's3']);
      await runKeySession(c, 'dkg', suite, participants, dkgStart('k1', suite, 2, participants));
      const params = { keyId: 'k1', epoch: 0, message: new Uint8Array(32).fill(9) };
      c.send('s3', { kind: 'sign', suite, sessionId: new Uint8Array(32).fill(1), round: SIGN_ROUND.START }, { ...params, request: signRequest(params) });
      await gather(c, ['s3'], 'sign', SIGN_ROUND.COMMITMENT);
      first.child.kill('SIGKILL');
      await new Promise((resolve) => first.child.on('exit', resolve));
      const second = launch();
      await c.waitFor('s3', 20_000);
      const deadline = Date.now() + 5000;
      while (!second.stderr.includes('"msg":"started"') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const started = second.stderr.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'started');
      expect(started).toMatchObject({ signer: 's3', discardedNonces: 1, keys: 1 });
      second.child.kill('SIGTERM');
      await new Promise((resolve) => second.child.on('exit', resolve));
    } finally {
      for (const d of inProcess) await d.stop();
    }
  });
});
