/**
 * Summarises V8 .cpuprofile files (from benchmarks/support/cpu-profile.mjs or
 * --cpu-prof): self time by function, and inclusive time of every function whose
 * name or file matches a pattern, so "where does one signing round go" is a number.
 *
 *   npx tsx benchmarks/support/profile-summary.ts <file.cpuprofile>... [--top 25] [--match regex]
 *     [--window startUs,endUs]   only samples inside a CLOCK_MONOTONIC window (µs), e.g. a
 *                                results file's notes.windows["e2e.sign.frost-ed25519.2of3"]
 *     [--per N]                  also print each category divided by N (ms per operation)
 *     [--sum]                    one summary over all the files (e.g. a worker's 1 s chunks, or every process)
 *
 * Categories: each sample is charged to the first frame, from the leaf up, that
 * matches one of CATEGORIES (so noble arithmetic under parsePoint is "point decoding",
 * under an envelope signature "envelope/request signatures").
 */
import fs from 'node:fs';
import path from 'node:path';

interface CallFrame { functionName: string; url: string; lineNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

export const CATEGORIES: Array<[string, RegExp]> = [
  ['SQLite (better-sqlite3, fsync on commit)', /better-sqlite3|sqliteTransaction|keystore\.ts|registry\.ts/],
  ['sealing at rest (XChaCha20-Poly1305)', /kek\.ts|chacha\.js/],
  ['envelope/request signatures (Ed25519 identity keys)', /protocol\/src\/(identity|auth|envelope|e2e)\.ts/],
  ['point decoding (torsion + canonical checks)', /isTorsionFree|validatePublicPoint|parsePoint|validate\.ts:9\d|\bpoint packages\/protocol/],
  ['DKLs23 key share decoding', /crypto\/src\/ecdsa\/keyshare\.ts/],
  ['DKLs23 OT extension and multiplication (ote.ts, multiply.ts)', /crypto\/src\/ecdsa\/(ote|multiply|baseot)\.ts/],
  ['DKLs23 rest (sign.ts: commitments, zero shares, step-8 checks, combine)', /crypto\/src\/ecdsa\//],
  ['FROST arithmetic (@keyquorum/crypto, noble frost)', /packages\/crypto\/src|abstract\/frost\.js/],
  ['crypto worker hand-off (signer workers/, structured clone)', /signer\/src\/workers\/|node:internal\/worker|worker_threads/],
  ['msgpack codec and body validation', /msgpackr|protocol\/src\/(codec|messages|validate|canonical)\.ts/],
  ['logging (JSON lines)', /logger\.ts/],
  ['WebSocket and TCP', /node_modules\/ws\/|node:net|writev|writeBuffer|writeUtf8String/],
  ['HTTP server', /node:_http|node:http|http\.ts|http-auth\.ts/],
  ['garbage collector', /^\(garbage collector\)/],
];

export interface Summary {
  totalMs: number;
  idleMs: number;
  categories: Array<{ name: string; ms: number }>;
  self: Array<{ name: string; ms: number }>;
  inclusive: Array<{ name: string; ms: number }>;
}

const label = (f: CallFrame) => `${f.functionName || '(anonymous)'} ${f.url ? `${path.relative(process.cwd(), f.url.replace('file://', ''))}:${f.lineNumber + 1}` : ''}`.trim();

export function summarise(profile: Profile, match?: RegExp, top = 25, window?: [number, number]): Summary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    if (window && (at < window[0] || at > window[1])) return;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const categories = new Map<string, number>();
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    total += us;
    if (node.callFrame.functionName === '(idle)') idle += us;
    const name = label(node.callFrame);
    self.set(name, (self.get(name) ?? 0) + us);
    if (node.callFrame.functionName !== '(idle)') {
      let category = 'other (JS, event loop, tsx loader)';
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const l = label(byId.get(cur)!.callFrame);
        const hit = CATEGORIES.find(([, re]) => re.test(l));
        if (hit) {
          category = hit[0];
          break;
        }
      }
      categories.set(category, (categories.get(category) ?? 0) + us);
    }
    if (match) {
      const seen = new Set<string>();
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const l = label(byId.get(cur)!.callFrame);
        if (!seen.has(l) && match.test(l)) {
          seen.add(l);
          inclusive.set(l, (inclusive.get(l) ?? 0) + us);
        }
      }
    }
  }
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, us]) => ({ name, ms: us / 1000 }));
  return { totalMs: total / 1000, idleMs: idle / 1000, categories: sorted(categories), self: sorted(self), inclusive: sorted(inclusive) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const top = args.includes('--top') ? Number(args[args.indexOf('--top') + 1]) : 25;
  const match = args.includes('--match') ? new RegExp(args[args.indexOf('--match') + 1]!) : undefined;
  const window = args.includes('--window') ? (args[args.indexOf('--window') + 1]!.split(',').map(Number) as [number, number]) : undefined;
  const per = args.includes('--per') ? Number(args[args.indexOf('--per') + 1]) : undefined;
  const files = args.filter((a, i) => a.endsWith('.cpuprofile') && args[i - 1] !== '--match');
  const summaries = files.map((f) => ({ f, s: summarise(JSON.parse(fs.readFileSync(f, 'utf8')) as Profile, match, top, window) }));
  if (args.includes('--sum')) {
    const add = (lists: Array<Array<{ name: string; ms: number }>>) => {
      const m = new Map<string, number>();
      for (const l of lists) for (const e of l) m.set(e.name, (m.get(e.name) ?? 0) + e.ms);
      return [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, ms]) => ({ name, ms }));
    };
    const all = summaries.map((x) => x.s);
    const sum: Summary = {
      totalMs: all.reduce((a, x) => a + x.totalMs, 0),
      idleMs: all.reduce((a, x) => a + x.idleMs, 0),
      categories: add(all.map((x) => x.categories)),
      self: add(all.map((x) => x.self)),
      inclusive: add(all.map((x) => x.inclusive)),
    };
    summaries.splice(0, summaries.length, { f: `sum of ${files.length} files`, s: sum });
  }
  for (const { f, s } of summaries) {
    console.log(`\n== ${path.basename(f)}: ${s.totalMs.toFixed(0)} ms sampled, ${s.idleMs.toFixed(0)} ms idle${per ? `; busy ${((s.totalMs - s.idleMs) / per).toFixed(2)} ms per operation` : ''}`);
    for (const e of s.categories) console.log(`  cat  ${e.ms.toFixed(1).padStart(9)} ms${per ? ` ${(e.ms / per).toFixed(2).padStart(7)} ms/op` : ''}  ${e.name}`);
    for (const e of s.self) console.log(`  self ${e.ms.toFixed(1).padStart(9)} ms  ${e.name}`);
    for (const e of s.inclusive) console.log(`  incl ${e.ms.toFixed(1).padStart(9)} ms  ${e.name}`);
  }
}
