/**
 * The layout rules of docs/architecture.md, checked: no import cycle inside or across
 * packages (type-only imports included: a cycle of types is still two modules that
 * cannot be read apart), no source file past the size a reader can hold, and every
 * path the architecture page names exists.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PACKAGES = path.join(ROOT, 'packages');
const MAX_SOURCE_LINES = 450;

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(full));
    else if (entry.name.endsWith('.ts')) out.push(full);
  }
  return out;
}

const packageNames = fs.readdirSync(PACKAGES).filter((p) => fs.existsSync(path.join(PACKAGES, p, 'src')));
const files = packageNames.flatMap((p) => sourceFiles(path.join(PACKAGES, p, 'src')));

/** `@keyquorum/<pkg>[/sub]` to the file its package.json `exports` names. */
function resolvePackage(spec: string): string | undefined {
  const m = /^@keyquorum\/([^/]+)(\/.+)?$/.exec(spec);
  if (!m) return undefined;
  const dir = path.join(PACKAGES, m[1]!);
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { exports: Record<string, string> };
  const target = manifest.exports[m[2] === undefined ? '.' : `.${m[2]}`];
  return target === undefined ? undefined : path.join(dir, target);
}

const IMPORT = /^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm;

function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1]!;
    const target = spec.startsWith('.') ? path.resolve(path.dirname(file), spec) : resolvePackage(spec);
    if (target !== undefined && fs.existsSync(target)) out.push(target);
  }
  return out;
}

function findCycles(): string[][] {
  const graph = new Map(files.map((f) => [f, importsOf(f)]));
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (f: string): void => {
    state.set(f, 'open');
    stack.push(f);
    for (const g of graph.get(f) ?? []) {
      if (state.get(g) === 'open') cycles.push([...stack.slice(stack.indexOf(g)), g].map((x) => path.relative(ROOT, x)));
      else if (!state.has(g)) visit(g);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of files) if (!state.has(f)) visit(f);
  return cycles;
}

describe('architecture', () => {
  it('has no import cycle within or across packages', () => {
    expect(findCycles()).toEqual([]);
  });

  it(`keeps every source file under ${MAX_SOURCE_LINES} lines`, () => {
    const long = files
      .map((f) => ({ file: path.relative(ROOT, f), lines: fs.readFileSync(f, 'utf8').split('\n').length - 1 }))
      .filter((f) => f.lines > MAX_SOURCE_LINES);
    expect(long).toEqual([]);
  });

  it('chooses a scheme by suite only where schemes are registered (and in the ECDSA driver itself)', () => {
    const registrations = new Set([
      'packages/signer/src/schemes/index.ts',
      'packages/coordinator/src/sessions/schemes.ts',
      'packages/coordinator/src/sessions/ecdsa-attempt.ts',
    ]);
    const branching = files
      .map((f) => path.relative(ROOT, f))
      .filter((f) => /^packages\/(signer|coordinator|client)\//.test(f) && !registrations.has(f))
      .filter((f) => /\b(ECDSA_SUITE|isEcdsaSuite)\b|'ecdsa-secp256k1'/.test(fs.readFileSync(path.join(ROOT, f), 'utf8')));
    expect(branching).toEqual([]);
  });

  it('names only files that exist in docs/architecture.md', () => {
    const doc = fs.readFileSync(path.join(ROOT, 'docs/architecture.md'), 'utf8');
    const named = [...doc.matchAll(/`((?:packages|test|benchmarks|docs)\/[^`\s]+)`/g)].map((m) => m[1]!).filter((p) => !p.includes('<'));
    expect(named.length).toBeGreaterThan(10);
    expect(named.filter((p) => !fs.existsSync(path.join(ROOT, p.replace(/\/$/, ''))))).toEqual([]);
  });
});
