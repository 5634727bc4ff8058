/**
 * secp256k1 point operations, noble (@noble/curves) against libsecp256k1 in
 * WebAssembly (tiny-secp256k1 2.x), each op as the FROST code would call it
 * (bytes in and out for the WebAssembly side, noble points where noble keeps them).
 * Prints the median microseconds per call over several timed batches.
 *
 *   npx tsx benchmarks/support/curve-ops.ts
 */
import { randomBytes } from 'node:crypto';
import { mulAddUnsafe } from '@noble/curves/abstract/curve.js';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import * as wasm from 'tiny-secp256k1';
import { timeOp } from './time-op.ts';

const { Point } = secp256k1;
const Fn = Point.Fn;
const rand = () => Fn.fromBytes(schnorr.utils.randomSecretKey());

const time = (name: string, fn: (i: number) => unknown, batch = 50, batches = 9) => timeOp(name, fn, batch, batches);

const N = 64;
const ks = Array.from({ length: N }, rand);
const kb = ks.map((k) => Fn.toBytes(k));
const Ps = ks.map((k) => Point.BASE.multiply(k));
const Pb = Ps.map((p) => p.toBytes(true));
const Qs = Array.from({ length: N }, () => Point.BASE.multiply(rand()));
const Qb = Qs.map((p) => p.toBytes(true));
const msgs = Array.from({ length: N }, () => new Uint8Array(randomBytes(32)));
const sks = Array.from({ length: N }, () => schnorr.utils.randomSecretKey());
const sigs = msgs.map((m, i) => schnorr.sign(m, sks[i]!));
const xpubs = sks.map((sk) => schnorr.getPublicKey(sk));
const at = <T>(a: T[], i: number) => a[i % N]!;

process.stdout.write(`node ${process.version}; median of 9 batches; us per call\n`);
process.stdout.write('-- base multiply k*G\n');
time('noble Point.BASE.multiply (constant time)', (i) => Point.BASE.multiply(at(ks, i)));
time('noble Point.BASE.multiplyUnsafe', (i) => Point.BASE.multiplyUnsafe(at(ks, i)));
time('noble Point.BASE.multiply + toBytes', (i) => Point.BASE.multiply(at(ks, i)).toBytes(true));
time('wasm pointFromScalar (bytes -> 33 bytes)', (i) => wasm.pointFromScalar(at(kb, i), true));
time('wasm pointFromScalar incl. Fn.toBytes/fromBytes', (i) => Point.fromBytes(wasm.pointFromScalar(Fn.toBytes(at(ks, i)), true)!));
process.stdout.write('-- variable point multiply k*P\n');
time('noble P.multiply (constant time)', (i) => at(Ps, i).multiply(at(ks, i + 1)), 10);
time('noble P.multiplyUnsafe', (i) => at(Ps, i).multiplyUnsafe(at(ks, i + 1)), 10);
time('wasm pointMultiply (33 bytes in/out)', (i) => wasm.pointMultiply(at(Pb, i), at(kb, i + 1), true));
time('wasm pointMultiply incl. noble toBytes/fromBytes', (i) => Point.fromBytes(wasm.pointMultiply(at(Ps, i).toBytes(true), Fn.toBytes(at(ks, i + 1)), true)!));
process.stdout.write('-- add P+Q\n');
time('noble P.add (projective)', (i) => at(Ps, i).add(at(Qs, i)), 500);
time('noble fromBytes x2 + add + toBytes', (i) => Point.fromBytes(at(Pb, i)).add(Point.fromBytes(at(Qb, i))).toBytes(true));
time('wasm pointAdd (33 bytes in/out)', (i) => wasm.pointAdd(at(Pb, i), at(Qb, i), true));
process.stdout.write('-- tweak-add P + t*G\n');
time('noble P.add(BASE.multiply(t))', (i) => at(Ps, i).add(Point.BASE.multiply(at(ks, i + 1))));
time('noble fromBytes + add(BASE.multiply(t)) + toBytes', (i) => Point.fromBytes(at(Pb, i)).add(Point.BASE.multiply(at(ks, i + 1))).toBytes(true));
time('wasm pointAddScalar (33 bytes in/out)', (i) => wasm.pointAddScalar(at(Pb, i), at(kb, i + 1), true));
process.stdout.write('-- encodings\n');
time('noble Point.fromBytes (33, decompress)', (i) => Point.fromBytes(at(Pb, i)));
time('noble P.toBytes(true) (to affine)', (i) => at(Ps, i).add(Point.BASE).toBytes(true));
time('wasm isPoint (33, decompress)', (i) => wasm.isPoint(at(Pb, i)));
process.stdout.write('-- multi-scalar a*P + b*Q (2 terms) / 3 terms\n');
time('noble mulAddUnsafe (FROST msm) 2 terms', (i) => mulAddUnsafe(Point, [at(Ps, i), at(Qs, i)], [at(ks, i), at(ks, i + 1)]), 10);
time('noble multiplyUnsafe x2 + add', (i) => at(Ps, i).multiplyUnsafe(at(ks, i)).add(at(Qs, i).multiplyUnsafe(at(ks, i + 1))), 10);
time('noble mulAddUnsafe (FROST msm) 3 terms (G, P, Q)', (i) => mulAddUnsafe(Point, [Point.BASE, at(Ps, i), at(Qs, i)], [at(ks, i), at(ks, i + 1), at(ks, i + 2)]), 10);
time('noble BASE.multiplyUnsafe + msm 2 terms', (i) => Point.BASE.multiplyUnsafe(at(ks, i)).add(mulAddUnsafe(Point, [at(Ps, i), at(Qs, i)], [at(ks, i + 1), at(ks, i + 2)])), 10);
time('wasm pointMultiply x2 + pointAdd', (i) => wasm.pointAdd(wasm.pointMultiply(at(Pb, i), at(kb, i), true)!, wasm.pointMultiply(at(Qb, i), at(kb, i + 1), true)!, true));
process.stdout.write('-- BIP340 verify (32-byte message)\n');
time('noble schnorr.verify', (i) => schnorr.verify(at(sigs, i), at(msgs, i), at(xpubs, i)), 10);
time('wasm verifySchnorr', (i) => wasm.verifySchnorr(at(msgs, i), at(xpubs, i), at(sigs, i)));
process.stdout.write('-- noble precomputed windows on a fixed point (a group key or verifying share kept across rounds)\n');
for (const w of [4, 8]) {
  const fixed = Point.BASE.multiply(rand());
  const t0 = process.hrtime.bigint();
  fixed.precompute(w, false);
  process.stdout.write(`${`noble precompute(${w}) table, once per point`.padEnd(58)} ${(Number(process.hrtime.bigint() - t0) / 1000).toFixed(1).padStart(9)} us\n`);
  time(`noble fixed.multiplyUnsafe with W=${w} table`, (i) => fixed.multiplyUnsafe(at(ks, i)), 10);
}
