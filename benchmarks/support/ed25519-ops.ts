/**
 * Ed25519 for frost-ed25519: the backend's point operations, noble against libsodium
 * in WebAssembly (median microseconds per call), and one 2-of-3 signature in process
 * as the cluster computes it (two commits, two signShares, the coordinator's two
 * verifyShares, aggregate, verify), in ms per signature.
 *
 *   npx tsx benchmarks/support/ed25519-ops.ts
 *   KQ_ROOT=/path/to/other/checkout npx tsx benchmarks/support/ed25519-ops.ts   # rounds only
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { timeOp } from './time-op.ts';

const root = process.env.KQ_ROOT ?? resolve(import.meta.dirname, '../..');
const load = (p: string) => import(pathToFileURL(resolve(root, p)).href);
const kq = await load('packages/crypto/src/index.ts');
const helpers = await load('packages/crypto/test/helpers.ts');
const own = root === resolve(import.meta.dirname, '../..');

const time = (name: string, fn: (i: number) => unknown, batch = 30, batches = 7) => timeOp(name, fn, batch, batches, Math.min(batch, 10));

if (own) {
  const be = await import('../../packages/crypto/src/backend/ed25519.ts');
  const sodium = await be.sodiumEd25519();
  const { ed25519 } = await import('@noble/curves/ed25519.js');
  const Fn = ed25519.Point.Fn;
  const ks = Array.from({ length: 30 }, () => Fn.fromBytes(kq.getSuite('frost-ed25519').frost.utils.randomScalar()));
  const enc = ks.map((k) => ed25519.Point.BASE.multiply(k).toBytes());
  time('noble: fromBytes (decompress, no torsion check)', (i) => ed25519.Point.fromBytes(enc[i % 30]!));
  time('noble: isTorsionFree', (i) => ed25519.Point.BASE.multiply(ks[i % 30]!).isTorsionFree(), 10, 5);
  for (const b of [be.nobleEd25519, sodium].filter((x) => x !== undefined)) {
    const pts = enc.map((e) => b.decode(e, 'p'));
    time(`${b.name}: k*G (constant time, + encode)`, (i) => b.mulBase(ks[i % 30]!));
    time(`${b.name}: k*P (variable base, + encode)`, (i) => b.mul(pts[i % 30]!, ks[(i + 1) % 30]!));
    time(`${b.name}: P+Q (+ encode)`, (i) => b.add(pts[i % 30]!, pts[(i + 1) % 30]!));
  }
  await be.ed25519Ready;
}

const { shares } = helpers.runDkg('frost-ed25519', 2, [1, 2, 3]);
const quorum = shares.slice(0, 2);
const pkg = quorum[0].publicKey;
const message = new Uint8Array(32).fill(1);
const t: Record<string, number> = {};
const step = <T>(k: string, f: () => T): T => {
  const s = performance.now();
  const r = f();
  t[k] = (t[k] ?? 0) + performance.now() - s;
  return r;
};
const N = 20;
for (let i = 0; i < N + 5; i++) {
  if (i === 5) for (const k of Object.keys(t)) delete t[k];
  const r1 = step('commit x2', () => quorum.map((q: unknown) => kq.commit(q)));
  const signing = { message, commitments: r1.map((r: { commitments: unknown }) => r.commitments) };
  const sh = step('signShare x2', () => quorum.map((q: unknown, k: number) => kq.signShare(q, r1[k].nonces, signing)));
  step('verifyShare x2', () => sh.map((s: unknown) => kq.verifyShare(pkg, signing, s)));
  const sig = step('aggregate', () => kq.aggregate(pkg, signing, sh));
  step('verifySignature', () => kq.verifySignature(pkg, message, sig));
}
process.stdout.write(`frost-ed25519 2-of-3 in process, tree ${root}, ms per signature:\n`);
let total = 0;
for (const [k, v] of Object.entries(t)) {
  total += v / N;
  process.stdout.write(`  ${k.padEnd(20)} ${(v / N).toFixed(2)}\n`);
}
process.stdout.write(`  ${'total'.padEnd(20)} ${total.toFixed(2)}\n`);
