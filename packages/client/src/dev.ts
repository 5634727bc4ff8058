/**
 * `keyquorum dev`: a local cluster for development, every part its own process
 * started through its own CLI exactly as an operator would (coordinator and signer
 * `init` once, then `start --config`). Everything lives under one data directory:
 *   cluster.json                 API URL, admin key file, signer ids, threshold (the CLI reads it)
 *   admin-key.json               the dev admin client key (0600)
 *   secrets/<node>.passphrase    random keystore passphrases (0600)
 *   coordinator/, signer-N/      sealed identities and SQLite databases
 *   coordinator.json, signer-N.json   generated configs (rewritten on every start)
 *   logs/<node>.log              each process's JSON log lines
 * A second start with the same directory reuses identities, keys and passphrases
 * (init only runs for a node whose data is absent).
 *
 * `DevCluster` is a `Service` (@keyquorum/protocol) whose parts are the child
 * processes: a failed start stops the ones already running, stop() stops the signers,
 * then the coordinator.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bytesToHex } from '@noble/hashes/utils.js';
import { Service, generateIdentity, exportIdentitySecret, type StartStack, type Startable } from '@keyquorum/protocol';
import { KeyquorumClient } from './client.ts';
import { ClientError } from './errors.ts';
import { readClientKeyFile, writeClientKeyFile, type ClientKey, type ClusterFile } from './discovery.ts';

export const DEV_DIR = '.keyquorum';
export const CLUSTER_FILE = 'cluster.json';
export const ADMIN_KEY_FILE = 'admin-key.json';

/** Defined (true) by scripts/build.ts in the bundles only. */
declare const KEYQUORUM_BUNDLE: boolean | undefined;
const BUNDLED = typeof KEYQUORUM_BUNDLE !== 'undefined';
/** The node CLIs: from the `keyquorum` bundle, the bundles beside it (dist/); from source, their sources. */
export const COORDINATOR_CLI = fileURLToPath(new URL(BUNDLED ? './keyquorum-coordinator.mjs' : '../../coordinator/src/cli.ts', import.meta.url));
export const SIGNER_CLI = fileURLToPath(new URL(BUNDLED ? './keyquorum-signer.mjs' : '../../signer/src/cli.ts', import.meta.url));
/** node's arguments to run a node CLI: a bundle with its source maps, a source through tsx. */
const nodeArgs = (script: string): string[] => (BUNDLED ? ['--enable-source-maps', script] : ['--import', createRequire(import.meta.url).resolve('tsx'), script]);
/** Files whose presence means a node was initialised (coordinator identity.ts, signer keystore). */
export const COORDINATOR_IDENTITY = 'identity.sealed';
export const SIGNER_KEYSTORE = 'keystore.db';
export const START_TIMEOUT_MS = 60_000;
/** The dev coordinator's round timeout (production default: 5 s). */
export const DEV_ROUND_TIMEOUT_MS = 15_000;
const STOP_DEADLINE_MS = 10_000;

export interface DevOptions {
  dataDir: string;
  signers: number;
  threshold: number;
  /** API port; 0 picks a free one. */
  port: number;
  /** scrypt cost N of the nodes' sealed secrets at init (`--scrypt-n`): for tests only; absent, each CLI's default (2^17). */
  scryptN?: number;
  /** One human-readable progress line. */
  progress?: (line: string) => void;
}

export type LogLine = Record<string, unknown> & { msg?: unknown };

export type Exit = { code: number | null; signal: NodeJS.Signals | null };

/** Reports a child that exits while not being stopped: a progress line naming its log, then `lost`. */
export function watchChild(child: Child, progress: (line: string) => void, lost: (e: { name: string } & Exit) => void): void {
  void child.exited.then(({ code, signal }) => {
    if (child.stopping) return;
    progress(`  ✗ ${child.name} exited (${code ?? signal}); see ${child.logFile}`);
    lost({ name: child.name, code, signal });
  });
}

/** One child process, spawned by start(): its JSON lines go to its log file and are scanned for events. */
export class Child implements Startable {
  proc: ChildProcess | undefined;
  /** Resolves when the process exits (never if it was not started). */
  readonly exited: Promise<Exit>;
  private onExit!: (e: Exit) => void;
  private readonly waiters: Array<{ test: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  private readonly tail: string[] = [];
  stopping = false;

  constructor(
    readonly name: string,
    private readonly script: string,
    private readonly args: string[],
    readonly logFile: string,
  ) {
    this.exited = new Promise((resolve) => (this.onExit = resolve));
  }

  start(): void {
    const { script, args } = this;
    const log = fs.createWriteStream(this.logFile, { flags: 'a', mode: 0o600 });
    // Its own process group: a terminal's Ctrl-C reaches `keyquorum dev` only, which
    // then stops the children in order.
    const proc = spawn(process.execPath, [...nodeArgs(script), ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let partial = '';
    const onData = (chunk: Buffer) => {
      log.write(chunk);
      const text = partial + chunk.toString('utf8');
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      for (const raw of lines) {
        if (!raw.trim()) continue;
        this.tail.push(raw);
        if (this.tail.length > 20) this.tail.shift();
        let line: LogLine;
        try {
          line = JSON.parse(raw) as LogLine;
        } catch {
          continue;
        }
        for (const w of [...this.waiters]) {
          if (w.test(line)) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.on('exit', (code, signal) => {
      log.end();
      this.onExit({ code, signal });
    });
    this.proc = proc;
  }

  get pid(): number {
    return this.proc?.pid ?? 0;
  }

  get alive(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  lastLines(): string {
    return this.tail.slice(-8).join('\n');
  }

  waitFor(test: (l: LogLine) => boolean, what: string): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new ClientError('DEV_PROCESS', { message: `${this.name}: no ${what} within ${START_TIMEOUT_MS / 1000} s\n${this.lastLines()}` })), START_TIMEOUT_MS);
      const waiter = {
        test,
        resolve: (l: LogLine) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      this.waiters.push(waiter);
      void this.exited.then(({ code, signal }) => {
        if (!this.waiters.includes(waiter)) return;
        clearTimeout(timer);
        reject(new ClientError('DEV_PROCESS', { message: `${this.name} exited (${code ?? signal}) before ${what}:\n${this.lastLines()}` }));
      });
    });
  }

  /** SIGTERM, then SIGKILL after the deadline. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (!this.alive) return;
    this.proc!.kill('SIGTERM');
    const timer = setTimeout(() => this.alive && this.proc!.kill('SIGKILL'), STOP_DEADLINE_MS);
    await this.exited;
    clearTimeout(timer);
  }
}

/** The signer processes as one part: stopped together. */
export class Signers implements Startable {
  readonly children = new Map<string, Child>();

  start(): void {}

  async stop(): Promise<void> {
    await Promise.all([...this.children.values()].map((c) => c.stop()));
  }
}

/** Runs a CLI to completion; resolves to its stdout. */
export function runCli(script: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs(script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    const failed = (code: number | null) => new ClientError('DEV_PROCESS', { message: `${script === COORDINATOR_CLI ? 'coordinator' : 'signer'} ${args[0]} failed (exit ${code}): ${(err || out).trim()}` });
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(failed(code))));
  });
}

export function writePrivate(file: string, text: string): void {
  fs.writeFileSync(file, text, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
}

export const short = (hex: string) => `${hex.slice(0, 16)}…`;

/** What `keyquorum dev` and `dev --ha` share of a data directory: where it is, the seal cost, progress lines. */
export interface DevDir {
  readonly dataDir: string;
  readonly scryptN: number | undefined;
  progress(line: string): void;
}

/** `secrets/<node>.passphrase` under the data directory, created (random, 0600) when absent. */
function devPassphraseFile(d: DevDir, node: string): string {
  const file = path.join(d.dataDir, 'secrets', `${node}.passphrase`);
  if (!fs.existsSync(file)) writePrivate(file, `${randomBytes(32).toString('hex')}\n`);
  return file;
}

/** Inits (or reads) the identity of the node in directory `node` through its CLI; its public key. Coordinators seal with the `coordinator` passphrase. */
export async function devIdentity(d: DevDir, node: string, coordinator: boolean): Promise<string> {
  const dir = path.join(d.dataDir, node);
  const initialised = fs.existsSync(path.join(dir, coordinator ? COORDINATOR_IDENTITY : SIGNER_KEYSTORE));
  const pass = ['--passphrase-file', devPassphraseFile(d, coordinator ? 'coordinator' : node)];
  const cost = d.scryptN === undefined ? [] : ['--scrypt-n', String(d.scryptN)];
  const args = initialised ? ['pubkey', '--data', dir, '--json', ...(coordinator ? pass : [])] : ['init', '--data', dir, '--json', ...(coordinator ? [] : ['--id', node]), ...pass, ...cost];
  const publicKey = (JSON.parse(await runCli(coordinator ? COORDINATOR_CLI : SIGNER_CLI, args)) as { publicKey: string }).publicKey;
  d.progress(`  ✓ ${`${node} identity ${initialised ? 'loaded' : 'created'}`.padEnd(30)} ${short(publicKey)}`);
  return publicKey;
}

/** The dev admin client key (`admin-key.json`), created when absent. */
export function devAdminKey(d: DevDir): ClientKey {
  const file = path.join(d.dataDir, ADMIN_KEY_FILE);
  if (!fs.existsSync(file)) {
    const admin = generateIdentity();
    const seed = exportIdentitySecret(admin);
    writeClientKeyFile(file, seed, admin.publicKey);
    seed.fill(0);
    d.progress(`  ✓ ${'dev admin client key created'.padEnd(30)} ${file}`);
  }
  return readClientKeyFile(file);
}

export class DevCluster extends Service {
  readonly signerIds: string[];
  readonly dataDir: string;
  url = '';
  private coordinator: Child | undefined;
  private signers = new Signers();
  private readonly progress: (line: string) => void;
  /** Resolves when a child exits on its own (not through stop()). */
  readonly unexpectedExit: Promise<{ name: string } & Exit>;
  private onUnexpectedExit!: (e: { name: string } & Exit) => void;
  readonly #dir: DevDir;

  constructor(private readonly o: DevOptions) {
    super();
    this.dataDir = path.resolve(o.dataDir);
    this.signerIds = Array.from({ length: o.signers }, (_, i) => `signer-${i + 1}`);
    this.progress = o.progress ?? (() => undefined);
    this.unexpectedExit = new Promise((resolve) => (this.onUnexpectedExit = resolve));
    this.#dir = { dataDir: this.dataDir, scryptN: o.scryptN, progress: this.progress };
  }

  /** Process ids of the children, by node name. */
  get pids(): Record<string, number> {
    const out: Record<string, number> = {};
    if (this.coordinator) out.coordinator = this.coordinator.pid;
    for (const [id, c] of this.signers.children) out[id] = c.pid;
    return out;
  }

  protected wrongStatus(message: string): Error {
    return new ClientError('DEV_PROCESS', { message: `keyquorum dev: ${message}` });
  }

  private file(...parts: string[]): string {
    return path.join(this.dataDir, ...parts);
  }

  /** Inits what is absent, starts the coordinator then every signer, and waits until all are connected. */
  protected async startParts(stack: StartStack): Promise<void> {
    const fresh = !fs.existsSync(this.file(CLUSTER_FILE));
    for (const dir of [this.dataDir, this.file('secrets'), this.file('logs')]) fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.progress(`keyquorum dev: ${this.o.threshold}-of-${this.o.signers} cluster, data in ${this.dataDir} (${fresh ? 'new' : 'reusing existing data'})`);

    const admin = devAdminKey(this.#dir);
    const adminPublic = bytesToHex(admin.publicKey);
    const clients = [{ publicKey: adminPublic, roles: ['admin'] }];

    const [coordinatorKey, ...signerKeys] = await Promise.all([devIdentity(this.#dir, 'coordinator', true), ...this.signerIds.map((id) => devIdentity(this.#dir, id, false))]);
    const peers = Object.fromEntries(this.signerIds.map((id, i) => [id, signerKeys[i]!]));

    const coordinatorConfig = this.file('coordinator.json');
    // Every node of a dev cluster shares one machine, often a busy laptop: rounds get
    // three times the production default before a slow peer counts as absent.
    fs.writeFileSync(
      coordinatorConfig,
      `${JSON.stringify({ dataDir: 'coordinator', listen: `127.0.0.1:${this.o.port}`, signers: peers, clients, passphraseFile: 'secrets/coordinator.passphrase', roundTimeoutMs: DEV_ROUND_TIMEOUT_MS }, null, 2)}\n`,
    );
    const coordinator = new Child('coordinator', COORDINATOR_CLI, ['start', '--config', coordinatorConfig], this.file('logs', 'coordinator.log'));
    this.coordinator = coordinator;
    this.watch(coordinator);
    await stack.start(coordinator);
    const listening = await coordinator.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('coordinator listening on '), 'listening line');
    const m = /listening on (http:\/\/[^ ]+) \(signers: (ws:\/\/[^ )]+)\)/.exec(String(listening.msg));
    if (!m) throw new ClientError('DEV_PROCESS', { message: `coordinator: unexpected listening line ${String(listening.msg)}` });
    this.url = m[1]!;
    const signerUrl = m[2]!;
    this.progress(`  ✓ coordinator listening on ${this.url}  (pid ${coordinator.pid})`);

    const cluster: ClusterFile = { url: this.url, keyFile: ADMIN_KEY_FILE, signers: this.signerIds, threshold: this.o.threshold };
    fs.writeFileSync(this.file(CLUSTER_FILE), `${JSON.stringify(cluster, null, 2)}\n`);

    this.signers = stack.adopt(new Signers());
    await Promise.all(
      this.signerIds.map(async (id) => {
        const config = this.file(`${id}.json`);
        fs.writeFileSync(
          config,
          `${JSON.stringify(
            { signerId: id, dataDir: id, coordinatorUrl: signerUrl, coordinatorPublicKey: coordinatorKey, peers, clients, passphraseFile: `secrets/${id}.passphrase`, listen: '127.0.0.1:0' },
            null,
            2,
          )}\n`,
        );
        const child = new Child(id, SIGNER_CLI, ['start', '--config', config], this.file('logs', `${id}.log`));
        this.signers.children.set(id, child);
        this.watch(child);
        child.start();
        const started = await child.waitFor((l) => l.msg === 'started', 'started line');
        await child.waitFor((l) => l.msg === 'connected', 'connected line');
        const health = typeof started.health === 'string' ? `, health http://${started.health}` : '';
        this.progress(`  ✓ ${id} connected  (pid ${child.pid}${health})`);
      }),
    );

    const client = new KeyquorumClient({ url: this.url, clientKey: admin.identity });
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const connected = (await client.listSigners()).filter((s) => s.connected).length;
      if (connected >= this.signerIds.length) break;
      if (Date.now() > deadline) throw new ClientError('NOT_ENOUGH_SIGNERS', { message: `only ${connected} signers connected` });
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private watch(child: Child): void {
    watchChild(child, this.progress, this.onUnexpectedExit);
  }

  /** Synchronous last resort for process exit: SIGKILL whatever still runs. */
  killNow(): void {
    for (const c of [...this.signers.children.values(), this.coordinator]) if (c?.alive) c.proc!.kill('SIGKILL');
  }
}
