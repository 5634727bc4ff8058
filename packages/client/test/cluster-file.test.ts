/**
 * `cluster.json` (discovery.ts `readClusterFile`) tells the CLI where the API is, which
 * client key to sign with, and which processes `keyquorum status` reports. It is read
 * from the working directory, so whatever wrote it is not trusted to have written it in
 * shape: a file that is not what `keyquorum dev` writes is refused as BAD_ARGUMENT naming
 * the field, never half-used (a URL that is not http(s), a pid that is not one).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readClusterFile } from '../src/discovery.ts';
import { ClientError } from '../src/errors.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function withFile(text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kq-cluster-'));
  dirs.push(dir);
  fs.writeFileSync(path.join(dir, 'cluster.json'), text);
  return dir;
}

const GOOD = { url: 'http://127.0.0.1:7400', urls: ['http://127.0.0.1:7400', 'http://127.0.0.1:7401'], pids: { 'http://127.0.0.1:7400': 4242 }, keyFile: 'admin.key.json', signers: ['s1', 's2', 's3'], threshold: 2 };

function refusal(dir: string): ClientError {
  try {
    readClusterFile(dir);
  } catch (e) {
    if (e instanceof ClientError) return e;
    throw e;
  }
  throw new Error('accepted');
}

describe('cluster.json', () => {
  it('reads what keyquorum dev writes, and nothing when there is no file', () => {
    expect(readClusterFile(withFile(JSON.stringify(GOOD)))).toEqual(GOOD);
    const { urls: _u, pids: _p, ...single } = GOOD;
    expect(readClusterFile(withFile(JSON.stringify(single)))).toEqual(single);
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'kq-cluster-'));
    dirs.push(empty);
    expect(readClusterFile(empty)).toBeUndefined();
  });

  it.each([
    ['cluster', 'not JSON', '{'],
    ['cluster', 'not an object', '[1]'],
    ['cluster.url', 'a URL of another scheme', JSON.stringify({ ...GOOD, url: 'file:///etc/passwd' })],
    ['cluster.url', 'no URL', JSON.stringify({ ...GOOD, url: undefined })],
    ['cluster.urls', 'a list with a non-URL', JSON.stringify({ ...GOOD, urls: ['http://127.0.0.1:1', 'javascript:x'] })],
    ['cluster.urls', 'an empty list', JSON.stringify({ ...GOOD, urls: [] })],
    ['cluster.pids', 'a pid that is not a process id', JSON.stringify({ ...GOOD, pids: { 'http://127.0.0.1:7400': -1 } })],
    ['cluster.pids', 'a pid keyed by something other than a URL', JSON.stringify({ ...GOOD, pids: { x: 5 } })],
    ['cluster.keyFile', 'no key file', JSON.stringify({ ...GOOD, keyFile: '' })],
    ['cluster.signers', 'signers that are not ids', JSON.stringify({ ...GOOD, signers: [1] })],
    ['cluster.threshold', 'a threshold of 0', JSON.stringify({ ...GOOD, threshold: 0 })],
    ['cluster.threshold', 'a fractional threshold', JSON.stringify({ ...GOOD, threshold: 1.5 })],
  ])('refuses %s: %s', (field, _what, text) => {
    const e = refusal(withFile(text));
    expect(e.code).toBe('BAD_ARGUMENT');
    expect(e.field).toBe(field);
  });
});
