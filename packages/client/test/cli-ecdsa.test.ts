/**
 * ecdsa-secp256k1 through the CLI on a 3-of-5 cluster: `keyquorum dev --signers 5
 * --threshold 3` in a fresh directory, then `keys create`, `sign` (keccak-256 digests,
 * also with `--path`), `keys refresh` and `keys retire` as a user runs them. Every
 * signature is checked by noble (prehash false, low s) and its recovery id by ethers
 * (the recovered address is the key's Ethereum address).
 *
 * In the slow set (test/support/slow.ts `SLOW_FILES`: `npm run test:slow`, not `npm test`):
 * `npm test` runs these commands on a 2-of-3 ecdsa-secp256k1 key (`keys refresh` on a FROST
 * key) in cli.test.ts, and an ecdsa-secp256k1 2-of-3 refresh and 3-of-5 DKG and signing
 * through the SDK in test/ecdsa.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hexToBytes } from '@noble/hashes/utils.js';
import { keccak256, toUtf8Bytes } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkEthereum, type SignOutput } from '../../../test/support/verify.ts';
import { alive, cli, Dev, json } from './support/cli.ts';

const SIGNERS = ['signer-1', 'signer-2', 'signer-3', 'signer-4', 'signer-5'];
const KEY_FIELDS = ['id', 'scheme', 'threshold', 'signers', 'publicKey', 'epoch', 'state'];
/** keccak-256 of an Ethereum-like payload, as hex without 0x (what `sign --message` takes). */
const digestOf = (text: string) => keccak256(toUtf8Bytes(text)).slice(2);

let dir: string;
let dev: Dev;
const run = (...args: string[]) => cli(args, { cwd: dir });

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyquorum-cli-ecdsa-'));
  dev = new Dev(dir, ['--signers', '5', '--threshold', '3']);
  await dev.waitFor(/ready at http/, 180_000);
}, 240_000);

afterAll(async () => {
  if (dev) {
    const pids = dev.pids();
    await dev.stop();
    expect(pids.filter(alive)).toEqual([]);
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('ecdsa-secp256k1 through the CLI, 3-of-5', () => {
  let key: { id: string; publicKey: string };

  it('keyquorum dev --signers 5 --threshold 3 brings up five signers', () => {
    const text = dev.lines.join('\n');
    expect(text).toMatch(/3-of-5 cluster, data in .*\.keyquorum \(new\)/);
    for (const id of SIGNERS) expect(text).toMatch(new RegExp(`${id} connected {2}\\(pid \\d+`));
    expect(dev.pids()).toHaveLength(6);
  });

  it('keys create --scheme ecdsa-secp256k1 --threshold 3 makes a 3-of-5 key over all five signers', async () => {
    const created = json<Record<string, unknown>>(await run('keys', 'create', '--scheme', 'ecdsa-secp256k1', '--threshold', '3', '--label', 'eth-3of5', '--json'));
    expect(Object.keys(created)).toEqual(KEY_FIELDS);
    expect(created).toMatchObject({ id: 'eth-3of5', scheme: 'ecdsa-secp256k1', threshold: 3, signers: SIGNERS, epoch: 0, state: 'active' });
    expect(created.publicKey).toMatch(/^0[23][0-9a-f]{64}$/);
    key = created as typeof key;
  });

  it('sign --message <keccak-256 digest>, also with --path: noble verifies and ethers recovers the (child) key address', async () => {
    const digest = digestOf('transfer 1 ETH to 0x00000000000000000000000000000000000000aa, nonce 7');
    const childPath = 'm/44/60/0/0/3';
    const [plain, derived, derive] = await Promise.all([
      run('sign', key.id, '--message', digest, '--json'),
      run('sign', key.id, '--message', digest, '--path', childPath, '--json'),
      run('keys', 'derive', key.id, '--path', childPath, '--json'),
    ]);
    const sig = json<SignOutput>(plain);
    expect(Object.keys(sig)).toEqual(['signature', 'publicKey', 'recoveryId']);
    expect(sig.publicKey).toBe(key.publicKey);
    checkEthereum(sig, hexToBytes(digest));
    const child = json<{ publicKey: string }>(derive);
    expect(child.publicKey).not.toBe(key.publicKey);
    const dsig = json<SignOutput>(derived);
    expect(dsig.publicKey).toBe(child.publicKey);
    checkEthereum(dsig, hexToBytes(digest));
  });

  it('keys refresh keeps the public key at epoch 1, and the refreshed shares sign', async () => {
    const refreshed = json<Record<string, unknown>>(await run('keys', 'refresh', key.id, '--json'));
    expect(refreshed).toMatchObject({ ...key, epoch: 1, threshold: 3, signers: SIGNERS, state: 'active' });
    const digest = digestOf('after refresh');
    const sig = json<SignOutput>(await run('sign', key.id, '--message', digest, '--path', 'm/0/1', '--json'));
    expect(sig.publicKey).toBe(json<{ publicKey: string }>(await run('keys', 'derive', key.id, '--path', 'm/0/1', '--json')).publicKey);
    checkEthereum(sig, hexToBytes(digest));
  });

  it('keys retire: attestations from all five signers; sign then fails with WRONG_STATE (exit 1)', async () => {
    const retired = json<{ key: { state: string }; attestations: Array<{ signer: string }> }>(await run('keys', 'retire', key.id, '--json'));
    expect(retired.key.state).toBe('retired');
    expect(retired.attestations.map((a) => a.signer).sort()).toEqual(SIGNERS);
    const refused = await run('sign', key.id, '--message', digestOf('too late'), '--json');
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stderr)).toMatchObject({ error: { code: 'WRONG_STATE' } });
  });
});
