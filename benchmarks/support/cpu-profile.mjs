/**
 * Preload (`NODE_OPTIONS=--import=<this file>`) that records a V8 CPU profile of the
 * whole process and writes it to $KEYQUORUM_CPU_PROFILE_DIR/<pid>.cpuprofile on
 * exit. Node 20 refuses `--cpu-prof` in NODE_OPTIONS; this is the same profile
 * through node:inspector, so child processes started by the cluster harness can be
 * profiled without changing how they are started.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Session } from 'node:inspector';
import { isMainThread, threadId } from 'node:worker_threads';

const dir = process.env.KEYQUORUM_CPU_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 200 });
  session.post('Profiler.start');
  // e.g. cli.ts-signer-1.json-1234.cpuprofile: the script, then its config file (or its first argument),
  // the pid and, for a worker thread (the signers' crypto pool), its thread id and a chunk number.
  const args = process.argv.slice(2);
  const config = args.find((a) => a.endsWith('.json'));
  const base = `${path.basename(process.argv[1] ?? 'node')}-${config ? path.basename(config) : args[0] ?? ''}-${process.pid}`;
  const write = (suffix) =>
    session.post('Profiler.stop', (err, res) => {
      if (err) return;
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, `${base}${suffix}.cpuprofile`), JSON.stringify(res.profile));
    });
  if (isMainThread) {
    process.on('exit', () => write(''));
  } else {
    // A terminated worker emits no 'exit': write its profile in 1 s chunks (each a whole
    // .cpuprofile with its own CLOCK_MONOTONIC start, so --window still applies).
    let chunk = 0;
    const flush = () => {
      write(`-worker${threadId}-${String(++chunk).padStart(5, '0')}`);
      session.post('Profiler.start');
    };
    setInterval(flush, 1000).unref();
    process.on('exit', () => write(`-worker${threadId}-${String(++chunk).padStart(5, '0')}`));
  }
}
