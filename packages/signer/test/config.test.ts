/**
 * Config validation: every bad field is refused once, at construction, by a
 * SignerError('BAD_CONFIG') naming the field; the passphrase comes only from the
 * environment, a passphrase file or a key file, and a daemon without one refuses to
 * start and stays stopped.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bytesToHex } from '@noble/hashes/utils.js';
import { generateIdentity } from '@keyquorum/protocol';
import { DEFAULT_ROUND_TIMEOUT_MS, SignerDaemon, SignerError, resolveKekSource, resolveSignerOptions, silentLogger, type SignerOptions } from '../src/index.ts';
import { ENV, PASSPHRASE, initTestSigner, removeTempDirs, tempDir } from './helpers/cluster.ts';

afterEach(removeTempDirs);

const key = () => bytesToHex(generateIdentity().publicKey);

function valid(): SignerOptions {
  return {
    signerId: 's1',
    dataDir: '/tmp/s1',
    coordinatorUrl: 'ws://127.0.0.1:7000/signers',
    coordinatorPublicKey: key(),
    peers: { s2: key(), s3: key() },
    clients: [{ publicKey: key(), roles: ['admin'] }],
  };
}

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SignerError);
    expect((e as SignerError).code).toBe('BAD_CONFIG');
    expect((e as SignerError).message).toContain((e as SignerError).field);
    return (e as SignerError).field;
  }
  throw new Error('expected a BAD_CONFIG error');
}

describe('resolveSignerOptions', () => {
  it('applies defaults and resolves relative paths against the config directory', () => {
    const o = resolveSignerOptions({ ...valid(), dataDir: 'data', listen: '127.0.0.1:0' }, '/etc/keyquorum');
    expect(o.dataDir).toBe(path.resolve('/etc/keyquorum/data'));
    expect(o.passphraseEnv).toBe('KEYQUORUM_PASSPHRASE');
    expect(o.roundTimeoutMs).toBe(DEFAULT_ROUND_TIMEOUT_MS);
    expect(o.maxFrameBytes).toBe(1024 * 1024);
    expect(o.listen).toEqual({ host: '127.0.0.1', port: 0 });
    expect(o.peers.get('s2')).toHaveLength(32);
  });

  it.each([
    ['signerId', { signerId: 'Bad Id' }],
    ['signerId', { signerId: 'coordinator' }],
    ['coordinatorUrl', { coordinatorUrl: 'http://example.com' }],
    ['coordinatorPublicKey', { coordinatorPublicKey: 'abcd' }],
    ['peers.s2', { peers: { s2: 'zz'.repeat(32) } }],
    ['peers.coordinator', { peers: { coordinator: key() } }],
    ['peers', { peers: {} }],
    ['clients[0].roles[0]', { clients: [{ publicKey: key(), roles: ['root'] }] }],
    ['clients[0].publicKey', { clients: [{ publicKey: '00'.repeat(32), roles: ['admin'] }] }],
    ['clients[0].extra', { clients: [{ publicKey: key(), roles: ['admin'], extra: 1 }] }],
    ['listen', { listen: 'localhost' }],
    ['roundTimeoutMs', { roundTimeoutMs: -1 }],
    ['maxFrameBytes', { maxFrameBytes: 1.5 }],
    ['passphraseEnv', { passphraseEnv: 'NOT VALID' }],
    ['keyFile', { passphraseFile: 'p', keyFile: 'k' }],
    ['passphrase', { passphrase: 'secret' }],
  ])('names %s when it is invalid', (field, patch) => {
    expect(fieldOf(() => resolveSignerOptions({ ...valid(), ...patch }))).toBe(field);
  });

  it('takes coordinatorUrl as a list of one, or coordinatorUrls (1 to 8 distinct ws/wss URLs), not both', () => {
    const { coordinatorUrl: _, ...noUrl } = valid();
    expect(resolveSignerOptions(valid()).coordinatorUrls).toEqual(['ws://127.0.0.1:7000/signers']);
    const two = ['ws://a.example:7000/signer', 'wss://b.example/signer'];
    expect(resolveSignerOptions({ ...noUrl, coordinatorUrls: two }).coordinatorUrls).toEqual(two);
    const eight = Array.from({ length: 8 }, (_, i) => `ws://c${i}.example/signer`);
    expect(resolveSignerOptions({ ...noUrl, coordinatorUrls: eight }).coordinatorUrls).toHaveLength(8);
    expect(fieldOf(() => resolveSignerOptions({ ...valid(), coordinatorUrls: two }))).toBe('coordinatorUrls');
    expect(fieldOf(() => resolveSignerOptions(noUrl))).toBe('coordinatorUrl');
    expect(fieldOf(() => resolveSignerOptions({ ...noUrl, coordinatorUrls: [] }))).toBe('coordinatorUrls');
    expect(fieldOf(() => resolveSignerOptions({ ...noUrl, coordinatorUrls: [...eight, 'ws://c8.example/signer'] }))).toBe('coordinatorUrls');
    expect(fieldOf(() => resolveSignerOptions({ ...noUrl, coordinatorUrls: 'ws://a.example/signer' as unknown as string[] }))).toBe('coordinatorUrls');
    expect(fieldOf(() => resolveSignerOptions({ ...noUrl, coordinatorUrls: ['ws://a.example/signer', 'http://b.example/signer'] }))).toBe('coordinatorUrls[1]');
    expect(fieldOf(() => resolveSignerOptions({ ...noUrl, coordinatorUrls: ['ws://a.example/signer', 'not a url'] }))).toBe('coordinatorUrls[1]');
    expect(fieldOf(() => resolveSignerOptions({ ...noUrl, coordinatorUrls: ['ws://a.example/signer', 'ws://A.example/signer'] }))).toBe('coordinatorUrls[1]');
  });

  it('names a missing required field', () => {
    const { clients: _, ...rest } = valid();
    expect(fieldOf(() => resolveSignerOptions(rest))).toBe('clients');
  });
});

describe('passphrase', () => {
  it('comes from the environment variable, a passphrase file, or a key file; never anything else', () => {
    const dir = tempDir();
    const file = path.join(dir, 'pass');
    fs.writeFileSync(file, 'from file\n');
    expect(resolveKekSource({ passphraseEnv: 'X_PASS', passphraseFile: undefined, keyFile: undefined }, { X_PASS: 'env' })).toEqual({ passphrase: 'env' });
    expect(resolveKekSource({ passphraseEnv: 'X_PASS', passphraseFile: file, keyFile: undefined }, {})).toEqual({ passphrase: 'from file' });
    expect(resolveKekSource({ passphraseEnv: 'X_PASS', passphraseFile: undefined, keyFile: '/k' }, {})).toEqual({ keyFile: '/k' });
  });

  it('a daemon without a passphrase refuses to start with NO_PASSPHRASE naming the variable, and stays stopped', async () => {
    const signer = initTestSigner('s1', tempDir());
    const daemon = new SignerDaemon({ ...valid(), dataDir: signer.dataDir }, { env: {}, log: silentLogger });
    const error = await daemon.start().then(
      () => undefined,
      (e: unknown) => e as SignerError,
    );
    expect(error?.code).toBe('NO_PASSPHRASE');
    expect(error?.message).toContain('KEYQUORUM_PASSPHRASE');
    expect(daemon.status).toBe('stopped');
  });

  it('a wrong passphrase is refused at start with BAD_PASSPHRASE, and a missing keystore names dataDir', async () => {
    const signer = initTestSigner('s1', tempDir());
    const wrong = new SignerDaemon({ ...valid(), dataDir: signer.dataDir }, { env: { KEYQUORUM_PASSPHRASE: `not ${PASSPHRASE}` }, log: silentLogger });
    await expect(wrong.start()).rejects.toMatchObject({ code: 'BAD_PASSPHRASE' });
    const empty = new SignerDaemon({ ...valid(), dataDir: path.join(tempDir(), 'none') }, { env: ENV, log: silentLogger });
    await expect(empty.start()).rejects.toMatchObject({ code: 'BAD_CONFIG', field: 'dataDir' });
  });

  it("refuses a config that pins this signer under another key than its identity's", async () => {
    const signer = initTestSigner('s1', tempDir());
    const daemon = new SignerDaemon({ ...valid(), dataDir: signer.dataDir, peers: { s1: key(), s2: key() } }, { env: ENV, log: silentLogger });
    await expect(daemon.start()).rejects.toMatchObject({ code: 'BAD_CONFIG', field: 'peers.s1' });
    expect(daemon.status).toBe('stopped');
  });
});
