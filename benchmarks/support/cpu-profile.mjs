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

const dir = process.env.KEYQUORUM_CPU_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 200 });
  session.post('Profiler.start');
  process.on('exit', () => {
    session.post('Profiler.stop', (err, res) => {
      if (err) return;
      // e.g. cli.ts-signer-1.json-1234.cpuprofile: the script, then its config file (or its first argument).
      const args = process.argv.slice(2);
      const config = args.find((a) => a.endsWith('.json'));
      const name = `${path.basename(process.argv[1] ?? 'node')}-${config ? path.basename(config) : args[0] ?? ''}-${process.pid}.cpuprofile`;
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, name), JSON.stringify(res.profile));
    });
  });
}
