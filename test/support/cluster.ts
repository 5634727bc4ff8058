/**
 * A real cluster for end-to-end tests: one coordinator and N signer daemons, each a
 * child process started through its own CLI (init, then start --config), talking
 * over WebSockets on loopback, each with its own SQLite files in a temp dir. Tests
 * drive it through the client SDK over HTTP, exactly as a wallet service would.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KeyquorumClient } from '@keyquorum/client';
import { generateIdentity, identityFromSecret, type IdentityKey } from '@keyquorum/protocol';
import { initIdentity, loadIdentity } from '@keyquorum/coordinator';
import { Keystore, initSigner } from '@keyquorum/signer';
import { bytesToHex } from '@noble/hashes/utils.js';
import { NodeProcess, runCli } from './process.ts';

const COORDINATOR_CLI = 'packages/coordinator/src/cli.ts';
const SIGNER_CLI = 'packages/signer/src/cli.ts';
/** scrypt cost of every node's sealed secrets here (init --scrypt-n; tests only, the products default to 2^17). */
const TEST_SCRYPT_N = String(2 ** 12);
/** How long a node process may take to listen / connect: a tsx start took over 30 s at load ~35 on 2 cores (a wait for a line, not a timeout anything relies on). */
const NODE_START_MS = 90_000;

export interface ClusterOptions {
  signers?: number;
  /** Per-round timeout of coordinator and signers (default 10 s: rounds on a crypto worker pool of a loaded CI machine; fault tests set shorter ones). */
  roundTimeoutMs?: number;
  /** Start these signers from another script (a misbehaving fixture) instead of the CLI. */
  signerScripts?: Record<string, string>;
  /** Start the coordinator from another script (e.g. a tampering relay fixture). */
  coordinatorScript?: string;
  /** Coordinator heartbeat (ms): longer where CPU-heavy DKLs23 rounds run on a loaded machine. */
  heartbeatMs?: number;
  /** Extra allow-listed signer identities the test itself plays (no process is started). */
  extraSigners?: Record<string, IdentityKey>;
  /** More fields of the coordinator's config file (e.g. heartbeatMs). */
  coordinatorConfig?: Record<string, unknown>;
  /** More fields of every signer's config file (e.g. cryptoWorkers). */
  signerConfig?: Record<string, unknown>;
  /**
   * Initialise the nodes' data dirs in this process, with the functions their `init`
   * commands call (coordinator `initIdentity`, signer `initSigner`), instead of one CLI
   * process per node: spares a tsx start (about 1.5 s of CPU) per node, for every test
   * file but one. The nodes still run as their own processes; the `init` commands
   * themselves are exercised by the default (test/lifecycle.test.ts keeps it) and by the
   * CLI tests.
   */
  initInProcess?: boolean;
  /**
   * Where each signer runs and what it dials (test/support/wan-cluster.ts): called once
   * per signer when the coordinator listens, before the signer configs are written;
   * `url` replaces the coordinator's signer URL in that signer's config (e.g. a delay
   * relay's) and `prefix` is the command the signer is started under (e.g. `ip netns
   * exec NS`). The signer itself is still started through its CLI.
   */
  signerRoute?: (id: string, coordinatorSignerUrl: string) => Promise<{ url?: string; prefix?: string[] }>;
}

export class Cluster {
  readonly signers = new Map<string, NodeProcess>();
  readonly signerIds: string[];
  client!: KeyquorumClient;
  coordinator!: NodeProcess;
  url = '';
  /** ws:// endpoint signers dial. */
  signerUrl = '';
  coordinatorPublicKey = '';
  readonly admin: IdentityKey = generateIdentity();
  /** Per signer, the command it is started under (`signerRoute`). */
  private readonly prefixes = new Map<string, string[]>();

  private constructor(
    readonly root: string,
    private readonly opts: Required<Pick<ClusterOptions, 'signers' | 'roundTimeoutMs'>> & ClusterOptions,
  ) {
    this.signerIds = Array.from({ length: opts.signers }, (_, i) => `signer-${i + 1}`);
  }

  static async start(opts: ClusterOptions = {}): Promise<Cluster> {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'keyquorum-e2e-'));
    const cluster = new Cluster(root, { signers: 3, roundTimeoutMs: 10_000, ...opts });
    try {
      await cluster.boot();
    } catch (e) {
      await cluster.stop();
      throw e;
    }
    return cluster;
  }

  dataDir(node: string): string {
    return path.join(this.root, node);
  }

  private signerEnv(id: string) {
    return { KEYQUORUM_PASSPHRASE: `passphrase of ${id}` };
  }

  private readonly coordinatorEnv = { KEYQUORUM_COORDINATOR_PASSPHRASE: 'passphrase of the coordinator' };

  private async boot(): Promise<void> {
    const [coordinatorPublicKey, ...signerKeys] = this.opts.initInProcess
      ? [
          bytesToHex(initIdentity(this.dataDir('coordinator'), this.coordinatorEnv.KEYQUORUM_COORDINATOR_PASSPHRASE, { scryptN: Number(TEST_SCRYPT_N) }).publicKey),
          ...this.signerIds.map((id) => initSigner({ dataDir: this.dataDir(id), signerId: id, kek: { passphrase: this.signerEnv(id).KEYQUORUM_PASSPHRASE }, scryptN: Number(TEST_SCRYPT_N) }).publicKey),
        ]
      : (
          await Promise.all([
            runCli(COORDINATOR_CLI, ['init', '--data', this.dataDir('coordinator'), '--json', '--scrypt-n', TEST_SCRYPT_N], this.coordinatorEnv),
            ...this.signerIds.map((id) => runCli(SIGNER_CLI, ['init', '--data', this.dataDir(id), '--id', id, '--json', '--scrypt-n', TEST_SCRYPT_N], this.signerEnv(id))),
          ])
        ).map((out) => (JSON.parse(out) as { publicKey: string }).publicKey);
    const peers = Object.fromEntries(this.signerIds.map((id, i) => [id, signerKeys[i]!]));
    const clients = [{ publicKey: bytesToHex(this.admin.publicKey), roles: ['admin'] }];
    const allowList = { ...peers, ...Object.fromEntries(Object.entries(this.opts.extraSigners ?? {}).map(([id, key]) => [id, bytesToHex(key.publicKey)])) };

    const coordinatorConfig = path.join(this.root, 'coordinator.json');
    fs.writeFileSync(
      coordinatorConfig,
      JSON.stringify({ dataDir: this.dataDir('coordinator'), listen: '127.0.0.1:0', signers: allowList, clients, roundTimeoutMs: this.opts.roundTimeoutMs, ...(this.opts.heartbeatMs === undefined ? {} : { heartbeatMs: this.opts.heartbeatMs }), ...this.opts.coordinatorConfig }, null, 2),
    );
    const { url, signerUrl } = await this.spawnCoordinator(coordinatorConfig);
    this.url = url;
    this.signerUrl = signerUrl;
    this.coordinatorPublicKey = coordinatorPublicKey!;
    this.client = new KeyquorumClient({ url: this.url, clientKey: this.admin });

    for (const id of this.signerIds) {
      const route = (await this.opts.signerRoute?.(id, signerUrl)) ?? {};
      if (route.prefix !== undefined) this.prefixes.set(id, route.prefix);
      fs.writeFileSync(
        this.signerConfig(id),
        JSON.stringify(
          { signerId: id, dataDir: this.dataDir(id), coordinatorUrl: route.url ?? signerUrl, coordinatorPublicKey: this.coordinatorPublicKey, peers, clients, roundTimeoutMs: this.opts.roundTimeoutMs, ...this.opts.signerConfig },
          null,
          2,
        ),
      );
    }
    await Promise.all(this.signerIds.map((id) => this.startSigner(id)));
  }

  private async spawnCoordinator(configFile: string): Promise<{ url: string; signerUrl: string }> {
    this.coordinator = new NodeProcess('coordinator', this.opts.coordinatorScript ?? COORDINATOR_CLI, ['start', '--config', configFile], this.coordinatorEnv);
    const ready = await this.coordinator.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('coordinator listening on '), NODE_START_MS, 'listening line');
    const match = /listening on (http:\/\/[^ ]+) \(signers: (ws:\/\/[^ )]+)\)/.exec(String(ready.msg));
    if (!match) throw new Error(`unexpected listening line: ${String(ready.msg)}`);
    return { url: match[1]!, signerUrl: match[2]! };
  }

  /**
   * Starts the coordinator again (after a kill) on the same data dir and the same port,
   * so the signers' configured URL still reaches it; waits for its listening line only
   * (signers reconnect on their own backoff: see `waitSignerState`).
   */
  async restartCoordinator(): Promise<void> {
    if (this.coordinator.alive) throw new Error('restartCoordinator: the coordinator is still running');
    const configFile = path.join(this.root, 'coordinator.json');
    const config = JSON.parse(fs.readFileSync(configFile, 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(configFile, JSON.stringify({ ...config, listen: new URL(this.url).host }, null, 2));
    const { url } = await this.spawnCoordinator(configFile);
    if (url !== this.url) throw new Error(`the restarted coordinator listens on ${url}, not ${this.url}`);
  }

  signerConfig(id: string): string {
    return path.join(this.root, `${id}.json`);
  }

  /** Starts (or restarts) a signer daemon and waits until it is connected. */
  async startSigner(id: string): Promise<NodeProcess> {
    const script = this.opts.signerScripts?.[id] ?? SIGNER_CLI;
    const proc = new NodeProcess(id, script, ['start', '--config', this.signerConfig(id)], this.signerEnv(id), this.prefixes.get(id));
    this.signers.set(id, proc);
    await proc.waitFor((l) => l.msg === 'connected', NODE_START_MS, 'connected line');
    await this.waitSignerState(id, true);
    return proc;
  }

  /** A signer's identity key, unsealed from its keystore: lets a test speak as that signer (stop the daemon first). */
  identityOf(id: string): IdentityKey {
    const keystore = Keystore.open({ dataDir: this.dataDir(id), kek: { passphrase: this.signerEnv(id).KEYQUORUM_PASSPHRASE } });
    try {
      const { seed } = keystore.getIdentity();
      try {
        return identityFromSecret(seed);
      } finally {
        seed.fill(0);
      }
    } finally {
      keystore.close();
    }
  }

  /** kill -9 (or another signal) one signer and wait for its exit. */
  async killSigner(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.signers.get(id)?.kill(signal);
  }

  /** Polls the coordinator until it sees the signer connected (or not). */
  async waitSignerState(id: string, connected: boolean, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const signers = await this.client.listSigners();
      if (signers.some((s) => s.id === id && s.connected === connected)) return;
      if (Date.now() > deadline) throw new Error(`${id} never became ${connected ? 'connected' : 'disconnected'}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Wipes a (stopped) signer's data directory and initialises it again, as an operator
   * would after losing the disk: a new identity key. Returns its public key (hex).
   */
  async reinitSigner(id: string): Promise<string> {
    fs.rmSync(this.dataDir(id), { recursive: true, force: true });
    const out = await runCli(SIGNER_CLI, ['init', '--data', this.dataDir(id), '--id', id, '--json', '--scrypt-n', String(2 ** 12)], this.signerEnv(id));
    return (JSON.parse(out) as { publicKey: string }).publicKey;
  }

  /**
   * Pins `id` under `publicKey` in the coordinator's allow-list and every signer's peers,
   * as each operator would edit its config, and restarts every node with it (the
   * coordinator on the same address). Registry and keystores stay.
   */
  async repin(id: string, publicKey: string): Promise<void> {
    await Promise.all([...this.signers.values()].map((p) => p.kill('SIGTERM')));
    await this.coordinator.kill('SIGTERM');
    const coordinatorConfig = path.join(this.root, 'coordinator.json');
    const c = JSON.parse(fs.readFileSync(coordinatorConfig, 'utf8')) as { signers: Record<string, string>; listen: string };
    c.signers[id] = publicKey;
    c.listen = new URL(this.url).host;
    fs.writeFileSync(coordinatorConfig, JSON.stringify(c, null, 2));
    for (const signer of this.signerIds) {
      const file = this.signerConfig(signer);
      const config = JSON.parse(fs.readFileSync(file, 'utf8')) as { peers: Record<string, string> };
      config.peers[id] = publicKey;
      fs.writeFileSync(file, JSON.stringify(config, null, 2));
    }
    this.coordinator = new NodeProcess('coordinator', this.opts.coordinatorScript ?? COORDINATOR_CLI, ['start', '--config', coordinatorConfig], this.coordinatorEnv);
    await this.coordinator.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('coordinator listening on '), NODE_START_MS, 'listening line');
    await Promise.all(this.signerIds.map((signer) => this.startSigner(signer)));
  }

  /** Every file under a node's data dir (SQLite database, WAL, identity), raw bytes. */
  filesOf(node: string): Array<{ file: string; bytes: Buffer }> {
    const out: Array<{ file: string; bytes: Buffer }> = [];
    const walk = (dir: string) => {
      if (!fs.existsSync(dir)) return;
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(p);
        else out.push({ file: p, bytes: fs.readFileSync(p) });
      }
    };
    walk(this.dataDir(node));
    return out;
  }

  /** Stops the coordinator process (SIGTERM); its data dir and port stay for `restartCoordinator`. */
  async stopCoordinator(): Promise<void> {
    await this.coordinator.kill('SIGTERM');
  }

  /** The coordinator's identity, unsealed from its data dir (a test may play a coordinator with it; stop the process first). */
  coordinatorIdentity(): IdentityKey {
    return loadIdentity(this.dataDir('coordinator'), this.coordinatorEnv.KEYQUORUM_COORDINATOR_PASSPHRASE);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.signers.values()].map((p) => p.kill('SIGTERM')));
    await this.coordinator?.kill('SIGTERM');
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}
