/**
 * `keyquorum-signer bans` and `unban` as real processes on a real keystore: bans lists
 * every key's peer bans without the passphrase; unban needs it, lifts one ban, and
 * works while another connection (the daemon) holds the keystore open, which sees
 * the lifted ban at once.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Keystore } from '../src/index.ts';
import { ENV, PASSPHRASE, initTestSigner, removeTempDirs, tempDir } from './helpers/cluster.ts';

const BIN = fileURLToPath(new URL('../bin/keyquorum-signer.js', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

afterEach(() => removeTempDirs());

function cli(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' });
}

describe('keyquorum-signer bans / unban', () => {
  it('lists bans without the passphrase, and unbans with it while the keystore is held open', () => {
    const { dataDir } = initTestSigner('s1', tempDir());
    const held = Keystore.open({ dataDir, kek: { passphrase: PASSPHRASE } });
    try {
      expect(cli(['bans', '--data', dataDir]).stdout).toBe('no peer bans\n');
      held.banPeer('k1', 's3', 'INVALID_SHARE');
      held.banPeer('k1', 's2', 'INVALID_PROOF');
      held.banPeer('k2', 's3', 'INVALID_SHARE');

      const listed = cli(['bans', '--data', dataDir, '--json']);
      expect(listed.status, listed.stderr).toBe(0);
      expect(JSON.parse(listed.stdout)).toEqual({
        bans: [
          { keyId: 'k1', peer: 's2', reason: 'INVALID_PROOF', bannedAt: expect.any(Number) },
          { keyId: 'k1', peer: 's3', reason: 'INVALID_SHARE', bannedAt: expect.any(Number) },
          { keyId: 'k2', peer: 's3', reason: 'INVALID_SHARE', bannedAt: expect.any(Number) },
        ],
      });
      expect(cli(['bans', '--data', dataDir]).stdout).toMatch(/^k1 {2}s2 {2}\d{4}-.*Z {2}INVALID_PROOF\n/);

      const unban = cli(['unban', '--data', dataDir, '--key', 'k1', '--peer', 's3', '--json'], ENV);
      expect(unban.status, unban.stderr).toBe(0);
      expect(JSON.parse(unban.stdout)).toEqual({ keyId: 'k1', peer: 's3', cleared: true });
      // The holder (a running daemon) reads bans from the database: the lift applies at once.
      expect(held.bannedPeers('k1')).toEqual(['s2']);
      expect(held.bannedPeers('k2')).toEqual(['s3']);

      const again = cli(['unban', '--data', dataDir, '--key', 'k1', '--peer', 's3'], ENV);
      expect(again.status).toBe(1);
      expect(JSON.parse(again.stderr)).toMatchObject({ level: 'error', code: 'NOT_FOUND', field: 'peer' });
    } finally {
      held.close();
    }
  }, 180_000); // several CLI processes, each a tsx start: over 60 s at load 20 on 2 cores

  it('unban refuses without the passphrase or with a wrong one, and without its flags', () => {
    const root = tempDir();
    const { dataDir } = initTestSigner('s1', root);
    const ks = Keystore.open({ dataDir, kek: { passphrase: PASSPHRASE } });
    ks.banPeer('k1', 's2', 'INVALID_SHARE');
    ks.close();

    const none = cli(['unban', '--data', dataDir, '--key', 'k1', '--peer', 's2']);
    expect(none.status).toBe(1);
    expect(none.stderr).toContain('KEYQUORUM_PASSPHRASE');
    const wrong = cli(['unban', '--data', dataDir, '--key', 'k1', '--peer', 's2'], { KEYQUORUM_PASSPHRASE: 'not it' });
    expect([wrong.status, JSON.parse(wrong.stderr).code]).toEqual([1, 'BAD_PASSPHRASE']);
    expect(cli(['unban', '--data', dataDir, '--key', 'k1'], ENV).status).toBe(2);

    const file = path.join(root, 'passphrase');
    fs.writeFileSync(file, `${PASSPHRASE}\n`, { mode: 0o600 });
    const viaFile = cli(['unban', '--data', dataDir, '--key', 'k1', '--peer', 's2', '--passphrase-file', file]);
    expect([viaFile.status, viaFile.stdout]).toEqual([0, 'ban of s2 on key k1 lifted\n']);
    expect(JSON.parse(cli(['bans', '--data', dataDir, '--json']).stdout)).toEqual({ bans: [] });
  }, 180_000); // several CLI processes, each a tsx start: over 60 s at load 20 on 2 cores
});
