/**
 * The signer keystore's durable steps per signature under concurrency, with and without
 * group commit (issue 13 lever 3; packages/signer/src/keystore/group-commit.ts), in one
 * process on real SQLite files (synchronous=FULL): `concurrency` requests in flight, each
 * "signature" is what a pooled FROST signer journals for it (the request admitted, its
 * pooled nonce consumed, a fresh one journalled for the pool), then waits until those
 * writes are committed before it counts (as the daemon waits before the SHARE leaves).
 * Each request yields to the event loop between signatures, as a frame from the network
 * would arrive. Prints one JSON line per mode: signatures/s, commits per signature.
 *
 *   npx tsx benchmarks/keystore-commit.ts [--seconds 5] [--concurrency 16]
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bytesToHex } from '@noble/hashes/utils.js';
import { Keystore, SCRYPT_N_MIN } from '../packages/signer/src/keystore/index.ts';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
};
const SECONDS = arg('seconds', 5);
const CONCURRENCY = arg('concurrency', 16);
const PASSPHRASE = 'bench';
const CLIENT = bytesToHex(randomBytes(32));

async function run(groupCommitMs: number | undefined): Promise<Record<string, unknown>> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyquorum-commit-bench-'));
  try {
    const made = Keystore.create({ dataDir, kek: { passphrase: PASSPHRASE }, signerId: 'bench', scryptN: SCRYPT_N_MIN });
    made.putPending('k1', 0, 'frost-secp256k1-tr', new Uint8Array(randomBytes(32)), new Uint8Array(randomBytes(33)));
    made.activate('k1', 0);
    made.close();
    const ks = Keystore.open({ dataDir, kek: { passphrase: PASSPHRASE }, ...(groupCommitMs === undefined ? {} : { groupCommitMs }) });
    const fresh = (): string => {
      const id = bytesToHex(randomBytes(32));
      ks.storeNonce(id, 'k1', 0, new Uint8Array(randomBytes(64)));
      return id;
    };
    const pool = Array.from({ length: CONCURRENCY }, fresh);
    await ks.commits.whenDurable();
    let signatures = 0;
    const start = performance.now();
    const deadline = start + SECONDS * 1000;
    await Promise.all(pool.map(async (first) => {
      let nonce = first;
      while (performance.now() < deadline) {
        await new Promise((resolve) => setImmediate(resolve));
        ks.admitRequest({ clientKeyHex: CLIENT, nonces: [bytesToHex(randomBytes(16))], stamp: Date.now() });
        ks.consumeNonce(nonce).fill(0);
        nonce = fresh();
        await ks.commits.whenDurable();
        signatures++;
      }
    }));
    const elapsed = (performance.now() - start) / 1000;
    const stats = ks.commits.stats;
    ks.close();
    return {
      mode: groupCommitMs === undefined ? 'one commit per step' : `group commit (groupCommitMs ${groupCommitMs})`,
      concurrency: CONCURRENCY,
      signatures,
      signatures_per_s: Number((signatures / elapsed).toFixed(1)),
      // Without group commit each of the 3 steps is its own transaction.
      commits_per_signature: Number(((stats === undefined ? 3 * signatures : stats.commits) / signatures).toFixed(3)),
    };
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

for (const mode of [undefined, 0, undefined, 0]) process.stdout.write(`${JSON.stringify(await run(mode))}\n`);
