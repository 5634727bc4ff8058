/**
 * CPU cost of starting keyquorum's node processes, from source through tsx and from the
 * bundles (scripts/build.ts, built here into dist/.bench-<pid>): user+sys CPU seconds
 * (not wall time: the machine may be shared), the median of --runs runs each.
 *   keyquorum CLI     `keyquorum client-key --out FILE` to exit (/usr/bin/time)
 *   coordinator       `start` until its 'coordinator listening on' line (/proc/<pid>/stat)
 *   signer            `start` (cryptoWorkers 0) until its 'started' line, its coordinator running
 *   crypto worker     one worker thread until its ready message (process.cpuUsage in a bare node)
 *   npx tsx benchmarks/process-start.ts [--runs 5]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bytesToHex } from '@noble/hashes/utils.js';
import { initIdentity } from '../packages/coordinator/src/identity.ts';
import { initSigner } from '../packages/signer/src/init.ts';
import { buildBundles } from '../scripts/build.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TSX = createRequire(import.meta.url).resolve('tsx');
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const RUNS = Number(values.runs);

type Mode = 'source' | 'bundle';
const dist = path.join(ROOT, 'dist', `.bench-${process.pid}`);
const SOURCES = { coordinator: 'packages/coordinator/src/cli.ts', signer: 'packages/signer/src/cli.ts', keyquorum: 'packages/client/src/cli.ts' };
const BUNDLES = { coordinator: 'keyquorum-coordinator.mjs', signer: 'keyquorum-signer.mjs', keyquorum: 'keyquorum.mjs' };
const nodeArgs = (mode: Mode, cli: keyof typeof SOURCES): string[] =>
  mode === 'bundle' ? ['--enable-source-maps', path.join(dist, BUNDLES[cli])] : ['--import', TSX, path.join(ROOT, SOURCES[cli])];

/** user+sys CPU seconds of a live process (all its threads). */
function cpuOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** Spawns, waits for a stderr/stdout JSON line whose msg passes `test`, returns its CPU so far and the process. */
function startUntil(args: string[], env: Record<string, string>, test: (msg: string) => boolean): Promise<{ cpu: number; child: ChildProcess; msg: string }> {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  return new Promise((resolve, reject) => {
    let partial = '';
    const onData = (d: Buffer) => {
      output.push(d.toString());
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const raw of lines) {
        let msg = '';
        try {
          msg = String((JSON.parse(raw) as { msg?: unknown }).msg);
        } catch {
          continue;
        }
        if (test(msg)) resolve({ cpu: cpuOf(child.pid!), child, msg });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code} before its line: ${output.join('')}`)));
  });
}

const stop = (child: ChildProcess) => new Promise((resolve) => (child.exitCode === null ? (child.on('exit', resolve), child.kill('SIGKILL')) : resolve(null)));

async function cliCost(mode: Mode, dir: string): Promise<number> {
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S', process.execPath, ...nodeArgs(mode, 'keyquorum'), 'client-key', '--out', path.join(dir, `key-${Math.random()}.json`)], { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`keyquorum client-key failed: ${r.stderr}`);
  const [user, sys] = r.stderr.trim().split('\n').at(-1)!.split(' ').map(Number);
  return user! + sys!;
}

async function nodeCosts(mode: Mode, dir: string): Promise<{ coordinator: number; signer: number }> {
  const coordinatorKey = bytesToHex(initIdentity(path.join(dir, 'coordinator'), 'pc', { scryptN: 2 ** 12 }).publicKey);
  const signerKey = initSigner({ dataDir: path.join(dir, 'signer-1'), signerId: 'signer-1', kek: { passphrase: 'ps' }, scryptN: 2 ** 12 }).publicKey;
  // A peer to pin (a signer needs one): never started.
  const peerKey = initSigner({ dataDir: path.join(dir, 'signer-2'), signerId: 'signer-2', kek: { passphrase: 'ps' }, scryptN: 2 ** 12 }).publicKey;
  const config = path.join(dir, 'coordinator.json');
  fs.writeFileSync(config, JSON.stringify({ dataDir: path.join(dir, 'coordinator'), listen: '127.0.0.1:0', signers: { 'signer-1': signerKey, 'signer-2': peerKey }, clients: [] }));
  const c = await startUntil([...nodeArgs(mode, 'coordinator'), 'start', '--config', config], { KEYQUORUM_COORDINATOR_PASSPHRASE: 'pc' }, (m) => m.startsWith('coordinator listening on '));
  try {
    const signerUrl = /\(signers: (ws:\/\/[^ )]+)\)/.exec(c.msg)![1]!;
    const signerConfig = path.join(dir, 'signer-1.json');
    fs.writeFileSync(signerConfig, JSON.stringify({ signerId: 'signer-1', dataDir: path.join(dir, 'signer-1'), coordinatorUrl: signerUrl, coordinatorPublicKey: coordinatorKey, peers: { 'signer-1': signerKey, 'signer-2': peerKey }, clients: [], cryptoWorkers: 0 }));
    const s = await startUntil([...nodeArgs(mode, 'signer'), 'start', '--config', signerConfig], { KEYQUORUM_PASSPHRASE: 'ps' }, (m) => m === 'started');
    await stop(s.child);
    return { coordinator: c.cpu, signer: s.cpu };
  } finally {
    await stop(c.child);
  }
}

/** One crypto worker in a bare node process (the signer's node options): CPU from before `new Worker` to its ready message. */
function workerCost(mode: Mode): number {
  const entry = mode === 'bundle' ? path.join(dist, 'crypto-worker.mjs') : path.join(ROOT, 'packages/signer/src/workers/entry.mjs');
  const module = new URL('../packages/signer/src/workers/worker.ts', import.meta.url).href;
  // What the worker inherits from a signer started by NodeProcess / dev.ts in that mode.
  const execArgv = mode === 'bundle' ? ['--enable-source-maps'] : ['--import', TSX];
  const code = `import { Worker } from 'node:worker_threads';
const before = process.cpuUsage();
const w = new Worker(${JSON.stringify(entry)}, { workerData: { module: ${JSON.stringify(module)} }, execArgv: ${JSON.stringify(execArgv)} });
w.on('message', (m) => { if (m.ready) { const u = process.cpuUsage(before); console.log((u.user + u.system) / 1e6); void w.terminate(); } });`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`worker failed: ${r.stderr}`);
  return Number(r.stdout.trim());
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

await buildBundles(dist);
try {
  const rows: Record<string, Record<Mode, number>> = {};
  for (const mode of ['source', 'bundle'] as const) {
    const samples: Record<string, number[]> = { 'keyquorum CLI': [], coordinator: [], signer: [], 'crypto worker': [] };
    for (let i = 0; i < RUNS; i++) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyquorum-start-'));
      try {
        samples['keyquorum CLI']!.push(await cliCost(mode, dir));
        const { coordinator, signer } = await nodeCosts(mode, dir);
        samples.coordinator!.push(coordinator);
        samples.signer!.push(signer);
        samples['crypto worker']!.push(workerCost(mode));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
    for (const [what, xs] of Object.entries(samples)) (rows[what] ??= { source: 0, bundle: 0 })[mode] = median(xs);
  }
  console.log(`CPU seconds (user+sys) to start, median of ${RUNS}:`);
  console.log(`${'process'.padEnd(16)}${'tsx source'.padStart(12)}${'bundle'.padStart(10)}`);
  for (const [what, r] of Object.entries(rows)) console.log(`${what.padEnd(16)}${r.source.toFixed(2).padStart(12)}${r.bundle.toFixed(2).padStart(10)}`);
} finally {
  fs.rmSync(dist, { recursive: true, force: true });
}
