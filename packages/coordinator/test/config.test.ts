import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bytesToHex } from '@noble/hashes/utils.js';
import { generateIdentity } from '@keyquorum/protocol';
import { CoordinatorError, initIdentity, loadConfigFile, loadIdentity, parseListen, resolveOptions, seal, unseal, type CoordinatorOptions } from '../src/index.ts';
import { tempDir } from './helpers.ts';

const KEY = bytesToHex(generateIdentity().publicKey);
const base: CoordinatorOptions = { dataDir: '/tmp/kq', signers: { s1: KEY }, passphrase: 'pw' };

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CoordinatorError);
    expect((e as CoordinatorError).code).toBe('BAD_CONFIG');
    return (e as CoordinatorError).field;
  }
  throw new Error('expected a BAD_CONFIG error');
}

describe('coordinator options', () => {
  it('fills defaults', () => {
    const o = resolveOptions(base);
    expect(o).toMatchObject({ host: '127.0.0.1', port: 7400, roundTimeoutMs: 5000, maxFrameBytes: 1024 * 1024 });
    expect(o.signers.get('s1')).toHaveLength(32);
  });

  it.each([
    ['dataDir', { dataDir: '' }],
    ['port', { port: 70_000 }],
    ['signers.S1', { signers: { S1: KEY } }],
    ['signers.coordinator', { signers: { coordinator: KEY } }],
    ['signers.s1', { signers: { s1: 'abcd' } }],
    ['signers.s2', { signers: { s1: KEY, s2: KEY } }],
    ['clients[0].roles[0]', { clients: [{ publicKey: KEY, roles: ['root'] }] }],
    ['clients[0].publicKey', { clients: [{ publicKey: 'zz', roles: ['admin'] }] }],
    ['passphrase', { passphrase: undefined }],
    ['roundTimeoutMs', { roundTimeoutMs: -1 }],
    ['logLevel', { logLevel: 'loud' }],
  ] as const)('names %s when it is invalid', (field, patch) => {
    expect(fieldOf(() => resolveOptions({ ...base, ...(patch as object) } as CoordinatorOptions))).toBe(field);
  });

  it('several coordinators on PostgreSQL: database with advertiseUrl, leaseMs defaulting to 5 s; none of them without database', () => {
    const db = 'postgres://kq:s3cret-pw@db.internal:5432/keyquorum';
    expect(resolveOptions(base).ha).toBeUndefined();
    expect(resolveOptions({ ...base, database: db, advertiseUrl: 'http://10.0.0.5:7400/' }).ha).toMatchObject({ database: db, advertiseUrl: 'http://10.0.0.5:7400', leaseMs: 5000 });
    const cases: Array<[string, Partial<CoordinatorOptions>]> = [
      ['database', { database: 'mysql://kq:s3cret-pw@db/k', advertiseUrl: 'http://a:1' }],
      ['database', { database: 'not a url s3cret-pw', advertiseUrl: 'http://a:1' }],
      ['advertiseUrl', { database: db }],
      ['advertiseUrl', { database: db, advertiseUrl: 'ws://a:1' }],
      ['advertiseUrl', { database: db, advertiseUrl: 'http://a:1/?x=1' }],
      ['leaseMs', { database: db, advertiseUrl: 'http://a:1', leaseMs: 10 }],
      ['advertiseUrl', { advertiseUrl: 'http://a:1' }],
      ['leaseMs', { leaseMs: 5000 }],
    ];
    for (const [field, patch] of cases) {
      expect(fieldOf(() => resolveOptions({ ...base, ...patch }))).toBe(field);
      // The connection string's password never appears in an error.
      try {
        resolveOptions({ ...base, ...patch });
      } catch (e) {
        expect((e as Error).message).not.toContain('s3cret-pw');
      }
    }
  });

  it('parses listen addresses', () => {
    expect(parseListen('127.0.0.1:7400')).toEqual({ host: '127.0.0.1', port: 7400 });
    expect(parseListen('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(fieldOf(() => parseListen('7400'))).toBe('listen');
  });
});

describe('config file', () => {
  function write(dir: string, config: object): string {
    const file = path.join(dir, 'coordinator.json');
    fs.writeFileSync(file, JSON.stringify(config));
    return file;
  }

  it('reads the documented format, resolving paths against the file and the passphrase from the environment', () => {
    const dir = tempDir();
    const file = write(dir, { dataDir: 'data', listen: '127.0.0.1:0', signers: { s1: KEY }, clients: [{ publicKey: KEY, roles: ['admin'] }], roundTimeoutMs: 2000 });
    const o = loadConfigFile(file, { KEYQUORUM_COORDINATOR_PASSPHRASE: 'secret' });
    expect(o).toMatchObject({ dataDir: path.join(dir, 'data'), host: '127.0.0.1', port: 0, passphrase: 'secret', roundTimeoutMs: 2000 });
    fs.rmSync(dir, { recursive: true });
  });

  it('reads the passphrase from passphraseFile or a named variable', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'pass'), 'from-file\n');
    expect(loadConfigFile(write(dir, { dataDir: 'd', signers: {}, passphraseFile: 'pass' }), {}).passphrase).toBe('from-file');
    expect(loadConfigFile(write(dir, { dataDir: 'd', signers: {}, passphraseEnv: 'MY_PASS' }), { MY_PASS: 'env' }).passphrase).toBe('env');
    fs.rmSync(dir, { recursive: true });
  });

  it('reads the PostgreSQL connection string from databaseFile (a mounted Secret), and advertiseUrl from the override (the CLI flag)', () => {
    const dir = tempDir();
    const db = 'postgres://kq:s3cret-pw@db.internal:5432/keyquorum?sslmode=verify-full';
    const env = { KEYQUORUM_COORDINATOR_PASSPHRASE: 'p' };
    fs.writeFileSync(path.join(dir, 'database-url'), `${db}\n`);
    const config = { dataDir: 'd', signers: {}, databaseFile: 'database-url' };
    // One file for every replica: each process names its own URL.
    const o = loadConfigFile(write(dir, config), env, { advertiseUrl: 'http://coordinator-1.peers:7400' });
    expect([o.database, o.advertiseUrl]).toEqual([db, 'http://coordinator-1.peers:7400']);
    expect(loadConfigFile(write(dir, { ...config, advertiseUrl: 'http://file:7400' }), env, { advertiseUrl: 'http://flag:7400' }).advertiseUrl).toBe('http://flag:7400');
    expect(loadConfigFile(write(dir, { ...config, advertiseUrl: 'http://file:7400' }), env).advertiseUrl).toBe('http://file:7400');
    // The override is validated as the file's value would be, and needs database as it does.
    expect(fieldOf(() => loadConfigFile(write(dir, config), env))).toBe('advertiseUrl');
    expect(fieldOf(() => loadConfigFile(write(dir, config), env, { advertiseUrl: 'ws://a:1' }))).toBe('advertiseUrl');
    expect(fieldOf(() => loadConfigFile(write(dir, { dataDir: 'd', signers: {} }), env, { advertiseUrl: 'http://a:1' }))).toBe('advertiseUrl');
    const refusals: Array<[string, object]> = [
      ['databaseFile', { ...config, database: db }],
      ['databaseFile', { ...config, databaseFile: 'missing' }],
      ['databaseFile', { ...config, databaseFile: 7 }],
    ];
    fs.writeFileSync(path.join(dir, 'not-postgres'), 'mysql://kq:s3cret-pw@db/k\n');
    refusals.push(['database', { ...config, databaseFile: 'not-postgres' }]);
    for (const [field, c] of refusals) {
      const file = write(dir, c);
      expect(fieldOf(() => loadConfigFile(file, env, { advertiseUrl: 'http://a:1' }))).toBe(field);
      try {
        loadConfigFile(file, env, { advertiseUrl: 'http://a:1' });
      } catch (e) {
        expect((e as Error).message).not.toContain('s3cret-pw');
      }
    }
    fs.rmSync(dir, { recursive: true });
  });

  it('refuses unknown fields, a missing passphrase and malformed JSON, naming the field', () => {
    const dir = tempDir();
    expect(fieldOf(() => loadConfigFile(write(dir, { dataDir: 'd', signers: {}, listn: 'x' }), { KEYQUORUM_COORDINATOR_PASSPHRASE: 'p' }))).toBe('listn');
    expect(fieldOf(() => loadConfigFile(write(dir, { dataDir: 'd', signers: {} }), {}))).toBe('passphrase');
    expect(fieldOf(() => loadConfigFile(write(dir, { dataDir: 'd', signers: { s1: 'nothex' } }), { KEYQUORUM_COORDINATOR_PASSPHRASE: 'p' }))).toBe('signers.s1');
    fs.writeFileSync(path.join(dir, 'bad.json'), '{ nope');
    expect(fieldOf(() => loadConfigFile(path.join(dir, 'bad.json'), {}))).toBe('config');
    fs.rmSync(dir, { recursive: true });
  });
});

describe('CLI start --advertise-url', () => {
  const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
  const tsx = createRequire(import.meta.url).resolve('tsx');
  const run = (args: string[]) => spawnSync(process.execPath, ['--import', tsx, cli, ...args], { encoding: 'utf8', env: { ...process.env, KEYQUORUM_COORDINATOR_PASSPHRASE: 'pw' }, timeout: 120_000 });
  const errorOf = (stderr: string) => JSON.parse(stderr.trim().split('\n').at(-1)!) as { code?: string; field?: string; msg: string };

  it('sets advertiseUrl for the one process, validated as the config field, so replicas share one config file', () => {
    const dir = tempDir();
    initIdentity(path.join(dir, 'd'), 'pw', { scryptN: 2 ** 10 });
    // Nothing listens on port 1: a process that gets past its config fails to connect, and prints no password.
    fs.writeFileSync(path.join(dir, 'database-url'), 'postgres://kq:s3cret-pw@127.0.0.1:1/keyquorum\n');
    const ha = path.join(dir, 'ha.json');
    fs.writeFileSync(ha, JSON.stringify({ dataDir: 'd', listen: '127.0.0.1:0', signers: { s1: KEY }, databaseFile: 'database-url' }));
    const single = path.join(dir, 'single.json');
    fs.writeFileSync(single, JSON.stringify({ dataDir: 'd', listen: '127.0.0.1:0', signers: { s1: KEY } }));
    const refused = (args: string[]) => {
      const r = run(args);
      expect([r.status, r.stderr]).toEqual([1, expect.any(String)]);
      return errorOf(r.stderr);
    };
    expect(refused(['start', '--config', ha])).toMatchObject({ code: 'BAD_CONFIG', field: 'advertiseUrl' });
    expect(refused(['start', '--config', ha, '--advertise-url', 'ws://a:7400'])).toMatchObject({ code: 'BAD_CONFIG', field: 'advertiseUrl' });
    expect(refused(['start', '--config', single, '--advertise-url', 'http://a:7400'])).toMatchObject({ code: 'BAD_CONFIG', field: 'advertiseUrl' });
    const passed = run(['start', '--config', ha, '--advertise-url', 'http://coordinator-0.peers:7400']);
    expect(passed.status).toBe(1);
    // Past the config: the store cannot connect (BAD_CONFIG naming database, not advertiseUrl).
    expect(errorOf(passed.stderr)).toMatchObject({ field: 'database', msg: expect.stringMatching(/cannot open PostgreSQL .*ECONNREFUSED/) });
    expect(passed.stderr).not.toContain('s3cret-pw');
    const usage = run(['pubkey', '--data', path.join(dir, 'd'), '--advertise-url', 'http://a:7400']);
    expect([usage.status, usage.stderr]).toEqual([2, expect.stringMatching(/--advertise-url applies to start only/)]);
    fs.rmSync(dir, { recursive: true });
  }, 300_000);
});

describe('sealed identity', () => {
  it('round-trips and refuses a wrong passphrase or an altered byte', () => {
    const secret = new Uint8Array(32).fill(5);
    const file = seal(secret, 'pw', { scryptN: 16 });
    expect(unseal(file, 'pw')).toEqual(secret);
    expect(() => unseal(file, 'wrong')).toThrow(/BAD_PASSPHRASE/);
    const altered = file.slice();
    altered[12]! ^= 1;
    expect(() => unseal(altered, 'pw')).toThrow(/BAD_PASSPHRASE/);
  });

  it('stores the identity 0600 in a 0700 directory and loads the same key', () => {
    const dir = path.join(tempDir(), 'data');
    const id = initIdentity(dir, 'pw', { scryptN: 16 });
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(dir, 'identity.sealed')).mode & 0o777).toBe(0o600);
    expect(loadIdentity(dir, 'pw').publicKey).toEqual(id.publicKey);
    expect(() => initIdentity(dir, 'pw', { scryptN: 16 })).toThrow(/already exists/);
    expect(() => loadIdentity(dir, 'nope')).toThrow(/BAD_PASSPHRASE/);
    fs.rmSync(path.dirname(dir), { recursive: true });
  });
});
