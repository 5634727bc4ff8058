/**
 * Test fixtures: signers initialised in temporary data dirs with known identity seeds
 * (so a test can forge what a malicious peer would send), daemons started against a
 * FakeCoordinator, and a trusted admin client.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bytesToHex } from '@noble/hashes/utils.js';
import { generateIdentity, identityFromSecret, type IdentityKey } from '@keyquorum/protocol';
import { SCRYPT_N_MIN, SignerDaemon, createLogger, initSigner, type Logger, type SignerBehaviour, type SignerOptions } from '../../src/index.ts';
import type { FakeCoordinator } from './fake-coordinator.ts';

export const PASSPHRASE = 'test passphrase';
export const ENV = { KEYQUORUM_PASSPHRASE: PASSPHRASE };

const tempDirs: string[] = [];

export function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyquorum-signer-'));
  tempDirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

export interface TestSigner {
  id: string;
  dataDir: string;
  /** The identity, known to the test because the seed was chosen. */
  identity: IdentityKey;
  seed: Uint8Array;
}

/** `init` with a chosen seed: the test can sign as this signer. */
export function initTestSigner(id: string, root: string): TestSigner {
  const seed = new Uint8Array(32).fill(id.length).map((b, i) => (b + i * 7 + id.charCodeAt(id.length - 1)) & 0xff);
  const dataDir = path.join(root, id);
  initSigner({ dataDir, signerId: id, kek: { passphrase: PASSPHRASE }, scryptN: SCRYPT_N_MIN, rng: () => seed.slice() });
  return { id, dataDir, identity: identityFromSecret(seed), seed };
}

export const adminClient = generateIdentity();

/**
 * A daemon's options. Its crypto rounds run on its event loop (`cryptoWorkers: 0`, a
 * setting operators have too) unless the test asks for workers: every worker thread boots
 * tsx and the crypto modules again (about a second of CPU each, at every daemon start),
 * and the rounds' code is the same either way. The worker path is tested where it is the
 * subject (crypto-pool, ecdsa-sign-pool, queued-rounds, ecdsa-sign-close here, which ask
 * for `cryptoWorkers: 1`) and by every end-to-end test (signer processes with the default).
 */
export function optionsFor(s: TestSigner, all: TestSigner[], coordinator: FakeCoordinator, extra: Partial<SignerOptions> = {}): SignerOptions {
  return {
    cryptoWorkers: 0,
    signerId: s.id,
    dataDir: s.dataDir,
    coordinatorUrl: coordinator.url,
    coordinatorPublicKey: bytesToHex(coordinator.identity.publicKey),
    peers: Object.fromEntries(all.map((p) => [p.id, bytesToHex(p.identity.publicKey)])),
    clients: [{ publicKey: bytesToHex(adminClient.publicKey), roles: ['admin'] }],
    ...extra,
  };
}

/** Collects a daemon's log lines as parsed objects. */
export function captureLog(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { lines, log: createLogger({ level: 'debug', write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) }) };
}

export interface Cluster {
  signers: TestSigner[];
  daemons: Map<string, SignerDaemon>;
  logs: Map<string, Record<string, unknown>[]>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** A signer's behaviour (a test fixture), by signer id; honest otherwise. */
  behaviour?: Partial<Record<string, SignerBehaviour>>;
  /** Options every signer gets on top of `optionsFor`. */
  extra?: Partial<SignerOptions>;
  /** The signers' clock. */
  now?: () => number;
}

export async function startCluster(coordinator: FakeCoordinator, ids: string[], opts: ClusterOptions = {}): Promise<Cluster> {
  const root = tempDir();
  const signers = ids.map((id) => initTestSigner(id, root));
  const daemons = new Map<string, SignerDaemon>();
  const logs = new Map<string, Record<string, unknown>[]>();
  for (const s of signers) {
    const { log, lines } = captureLog();
    const behaviour = opts.behaviour?.[s.id];
    const daemon = new SignerDaemon(optionsFor(s, signers, coordinator, opts.extra), { env: ENV, log, ...(behaviour ? { behaviour } : {}), ...(opts.now ? { now: opts.now } : {}) });
    await daemon.start();
    daemons.set(s.id, daemon);
    logs.set(s.id, lines);
  }
  for (const s of signers) await coordinator.waitFor(s.id);
  return {
    signers,
    daemons,
    logs,
    stop: async () => {
      for (const d of daemons.values()) await d.stop();
    },
  };
}
