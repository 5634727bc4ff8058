/**
 * DKLs23 in process, this tree against the reference at REFERENCE_COMMIT (benchmarks/ecdsa.ts),
 * calls INTERLEAVED (reference, current, reference, ...) so that a shared machine's drifting
 * load weighs on both alike; medians of each step for signer 1 of a 2-of-3 key, fullSign, and
 * the DKG. Run after `npm run bench` has extracted .bench-reference/ once:
 *
 *   npx tsx benchmarks/support/dkls-interleaved.ts [--samples 30] [--dkg 2]
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ecdsa } from '@keyquorum/crypto';
import { ecdsaFullSign, REFERENCE_COMMIT, runEcdsaDkg } from '../ecdsa.ts';

type Api = typeof ecdsa;
const arg = (name: string, dflt: number) => (process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : dflt);
const SAMPLES = arg('--samples', 30);
const DKGS = arg('--dkg', 2);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const entry = path.join(ROOT, '.bench-reference', REFERENCE_COMMIT.slice(0, 12), 'packages', 'crypto', 'src', 'index.ts');
const ref = ((await import(pathToFileURL(entry).href)) as { ecdsa: Api }).ecdsa;
const bytes = (n: number) => new Uint8Array(randomBytes(n));

/** The steps of signer 1 on one session's messages, as benchmarks/ecdsa.ts times them. */
function steps(api: Api, quorum: ecdsa.EcdsaKeyShare[], digest: Uint8Array): Record<string, () => unknown> {
  const ids = quorum.map((s) => s.frost.id);
  const sessionId = bytes(32);
  const r1 = quorum.map((s) => api.signRound1(s, { sessionId, quorum: ids }));
  const r2 = r1.map((r, k) => api.signRound2(r.secret, r1.filter((_, o) => o !== k).map((o) => o.broadcast), r1.flatMap((o) => o.direct.filter((d) => d.to === ids[k]))));
  const inbox2 = (k: number) => r2.flatMap((o) => o.direct.filter((d) => d.to === ids[k]));
  const pre = r2.map((r, k) => api.signPresign(r.secret, inbox2(k)));
  const shares3 = pre.map((p) => api.signRound3({ ...p.presignature }, digest));
  return {
    round1: () => api.signRound1(quorum[0]!, { sessionId: bytes(32), quorum: ids }),
    round2: () => api.signRound2(r1[0]!.secret, r1.slice(1).map((o) => o.broadcast), r1.slice(1).flatMap((o) => o.direct.filter((d) => d.to === ids[0]))),
    presign: () => api.signPresign(r2[0]!.secret, inbox2(0)),
    round3: () => api.signRound3({ ...pre[0]!.presignature, consumed: false }, digest),
    combine: () => api.combineSignature(pre[0]!.session, digest, shares3),
    fullSign: () => ecdsaFullSign(api, quorum, digest),
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
function time(f: () => unknown, reps: number): number {
  const t = performance.now();
  for (let i = 0; i < reps; i++) f();
  return (performance.now() - t) / reps;
}

const digest = bytes(32);
const sets = { ref: steps(ref, runEcdsaDkg(ref, 2, 3).slice(0, 2), digest), current: steps(ecdsa, runEcdsaDkg(ecdsa, 2, 3).slice(0, 2), digest) };
console.log(`DKLs23 interleaved: this tree vs ${REFERENCE_COMMIT.slice(0, 7)}, ${SAMPLES} samples per step (ms, medians)`);
console.log('| step | 07401fc | this tree | ratio |\n|---|---:|---:|---:|');
for (const name of Object.keys(sets.ref)) {
  const reps = name === 'round3' ? 200 : name === 'combine' ? 5 : 1;
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < 3; i++) (sets.ref[name]!(), sets.current[name]!()); // warm-up
  for (let i = 0; i < SAMPLES; i++) {
    a.push(time(sets.ref[name]!, reps));
    b.push(time(sets.current[name]!, reps));
  }
  console.log(`| ${name} | ${median(a).toPrecision(3)} | ${median(b).toPrecision(3)} | ${(median(b) / median(a)).toFixed(3)} |`);
}
if (DKGS > 0) {
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < DKGS; i++) {
    a.push(time(() => runEcdsaDkg(ref, 2, 3), 1));
    b.push(time(() => runEcdsaDkg(ecdsa, 2, 3), 1));
  }
  console.log(`| dkg (${DKGS} each) | ${median(a).toFixed(0)} | ${median(b).toFixed(0)} | ${(median(b) / median(a)).toFixed(3)} |`);
}
