/**
 * Signer bans through the SDK (`bans`, `clearBan`) and the CLI (`keyquorum bans ID`,
 * `keyquorum bans clear ID --signer S`, with --json), against a coordinator whose
 * registry holds bans recorded as the engine records them.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportIdentitySecret } from '@keyquorum/protocol';
import type { SqliteStore } from '../../coordinator/src/index.ts';
import { startCluster, type Cluster } from '../../coordinator/test/helpers.ts';
import { ClientError, KeyquorumClient } from '../src/index.ts';
import { writeClientKeyFile } from '../src/discovery.ts';
import { cli, json } from './support/cli.ts';

let c: Cluster;
let registry: SqliteStore;
let client: KeyquorumClient;
let dir: string;
let flags: string[];

beforeAll(async () => {
  c = await startCluster(['s1', 's2', 's3'], { connected: [] });
  registry = (c.coordinator as unknown as { parts: { registry: SqliteStore } }).parts.registry;
  await registry.insertPendingKey({ id: 'k1', suite: 'ecdsa-secp256k1', threshold: 2, participants: ['s1', 's2', 's3'].map((signer, i) => ({ signer, index: i + 1 })) });
  client = new KeyquorumClient({ url: c.coordinator.url, clientKey: c.admin });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyquorum-bans-'));
  const keyFile = path.join(dir, 'admin-key.json');
  writeClientKeyFile(keyFile, exportIdentitySecret(c.admin), c.admin.publicKey);
  flags = ['--url', c.coordinator.url, '--key-file', keyFile];
});
afterAll(async () => {
  await c.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('signer bans through the SDK and the CLI', () => {
  it('SDK: bans lists, clearBan lifts (resolves to undefined on 204), a second clearBan is NOT_FOUND', async () => {
    await registry.ban('k1', 's1', 'invalid share');
    expect(await client.bans('k1')).toEqual([{ signer: 's1', reason: 'invalid share', at: expect.any(Number) }]);
    await expect(client.clearBan('k1', 's1')).resolves.toBeUndefined();
    expect(await client.bans('k1')).toEqual([]);
    await expect(client.clearBan('k1', 's1')).rejects.toMatchObject({ code: 'NOT_FOUND', status: 404 });
    await expect(client.bans('nope')).rejects.toBeInstanceOf(ClientError);
  });

  it('CLI: bans ID --json, bans clear ID --signer S --json, and the readable forms', async () => {
    await registry.ban('k1', 's2', 'OT consistency check failed');
    const list = json<Array<Record<string, unknown>>>(await cli(['bans', 'k1', '--json', ...flags], { cwd: dir }));
    expect(list).toEqual([{ signer: 's2', reason: 'OT consistency check failed', at: expect.any(Number) }]);
    const human = await cli(['bans', 'k1', ...flags], { cwd: dir });
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^SIGNER\s+SINCE\s+REASON\ns2\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+OT consistency check failed\n$/);

    expect(json(await cli(['bans', 'clear', 'k1', '--signer', 's2', '--json', ...flags], { cwd: dir }))).toEqual({ keyId: 'k1', signer: 's2', cleared: true });
    expect(await registry.bannedSigners('k1')).toEqual([]);
    expect((await c.coordinator.audit('k1')).map((e) => e.event)).toContain('signer.unbanned');
    expect((await cli(['bans', 'k1', ...flags], { cwd: dir })).stdout).toBe('no bans for key k1\n');

    const again = await cli(['bans', 'clear', 'k1', '--signer', 's2', '--json', ...flags], { cwd: dir });
    expect([again.code, JSON.parse(again.stderr).error.code]).toEqual([1, 'NOT_FOUND']);
    expect((await cli(['bans', 'clear', 'k1', ...flags], { cwd: dir })).code).toBe(2);
  });

  it('the CLI strips terminal escapes from a signer-supplied ban reason', async () => {
    // A signer's ABORT reason becomes the ban reason; this one retitles the terminal, clears it and forges a line.
    const hostile = 'bad share\u001b]0;pwned\u0007\u001b[2J\r\ns1  2000-01-01 00:00:00Z  (cleared)\u009b31m';
    await registry.ban('k1', 's3', hostile);
    const human = await cli(['bans', 'k1', ...flags], { cwd: dir });
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect(human.stdout.trimEnd().split('\n')).toHaveLength(2);
    expect(human.stdout).toContain('bad share\ufffd]0;pwned\ufffd\ufffd[2J\ufffd\ufffds1');
    // --json keeps the reason exactly, escaped by JSON.
    expect(json<Array<{ reason: string }>>(await cli(['bans', 'k1', '--json', ...flags], { cwd: dir }))[0]!.reason).toBe(hostile);
    await client.clearBan('k1', 's3');
  });
});
