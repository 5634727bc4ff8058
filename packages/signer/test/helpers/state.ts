/**
 * What a refused request must leave untouched, made observable: a snapshot of a
 * signer's keystore rows (shares with their sealed bytes, the nonce journal, the
 * replay window, retirements, bans, policies, velocity and spend ledgers) read through a second, read-only SQLite
 * connection while the daemon runs; and signer daemons started on a test-controlled
 * clock, so a test can date requests, let the replay window be pruned and restart a
 * signer.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { bytesToHex } from '@noble/hashes/utils.js';
import { KEYSTORE_DB_FILE } from '../../src/keystore/index.ts';
import { SignerDaemon, type SignerBehaviour, type SignerOptions } from '../../src/index.ts';
import { ENV, captureLog, initTestSigner, optionsFor, tempDir, type TestSigner } from './cluster.ts';
import type { FakeCoordinator } from './fake-coordinator.ts';

export interface KeystoreSnapshot {
  shares: string[];
  nonces: string[];
  requests: string[];
  retired: string[];
  bans: string[];
  keyStates: string[];
  policies: string[];
  velocity: string[];
  spend: string[];
}

/** Every durable row a session could change, as comparable strings. */
export function snapshot(dataDir: string): KeystoreSnapshot {
  const db = new Database(path.join(dataDir, KEYSTORE_DB_FILE), { readonly: true, fileMustExist: true });
  try {
    const rows = (sql: string) => (db.prepare(sql).all() as Record<string, unknown>[]).map((r) => Object.values(r).map((v) => (v instanceof Uint8Array ? bytesToHex(v) : String(v))).join('|'));
    return {
      shares: rows('SELECT key_id, epoch, state, suite, sealed FROM shares ORDER BY key_id, epoch'),
      nonces: rows('SELECT nonce_id, key_id, epoch, state FROM nonces ORDER BY nonce_id'),
      requests: rows('SELECT client_key, nonce, timestamp FROM requests ORDER BY client_key, nonce'),
      retired: rows('SELECT key_id FROM retired_keys ORDER BY key_id'),
      bans: rows('SELECT key_id, peer FROM peer_bans ORDER BY key_id, peer'),
      policies: rows('SELECT key_id, version, digest FROM key_policies ORDER BY key_id, version'),
      velocity: rows('SELECT key_id, request_id, path, at FROM velocity_ledger ORDER BY key_id, request_id'),
      spend: rows('SELECT key_id, request_id, asset, amount, at FROM spend_ledger ORDER BY key_id, request_id, asset'),
      keyStates: [...rows('SELECT key_id, state, previous, request_ts, not_before FROM key_states ORDER BY key_id'), ...rows('SELECT seq, key_id, transition, to_state FROM key_state_history ORDER BY seq')],
    };
  } finally {
    db.close();
  }
}

/**
 * Gives every wait for a signer's frame `timeoutMs` (the fake coordinator's default is
 * 10 s): an ECDSA DKG on a loaded 2-core machine can take longer per round.
 */
export function patient(coordinator: FakeCoordinator, timeoutMs = 60_000): FakeCoordinator {
  const next = coordinator.next.bind(coordinator);
  coordinator.next = (signerId, filter, ms = timeoutMs) => next(signerId, filter, ms);
  return coordinator;
}

/** A clock the test moves: `now()` is the wall clock plus `offsetMs`. */
export class TestClock {
  offsetMs = 0;
  readonly now = (): number => Date.now() + this.offsetMs;
}

export interface ClockedCluster {
  signers: TestSigner[];
  daemons: Map<string, SignerDaemon>;
  /** Stops one signer and starts it again on the same data dir (its keystore prunes the replay window at start). */
  restart(id: string): Promise<void>;
  stop(): Promise<void>;
}

/** Signers like `startCluster`'s, every daemon reading `clock`; `extra` options for every daemon (trusted clients); `behaviour` a signer's fixture behaviour, by id. */
export async function startClockedCluster(coordinator: FakeCoordinator, ids: string[], clock: TestClock, extra: Partial<SignerOptions> = {}, behaviour: Partial<Record<string, SignerBehaviour>> = {}): Promise<ClockedCluster> {
  const root = tempDir();
  const signers = ids.map((id) => initTestSigner(id, root));
  const daemons = new Map<string, SignerDaemon>();
  const launch = async (s: TestSigner) => {
    const fixture = behaviour[s.id];
    const daemon = new SignerDaemon(optionsFor(s, signers, coordinator, extra), { env: ENV, log: captureLog().log, now: clock.now, ...(fixture ? { behaviour: fixture } : {}) });
    await daemon.start();
    daemons.set(s.id, daemon);
    await coordinator.waitFor(s.id);
  };
  for (const s of signers) await launch(s);
  return {
    signers,
    daemons,
    restart: async (id) => {
      await daemons.get(id)!.stop();
      while (coordinator.connected(id)) await new Promise((resolve) => setTimeout(resolve, 20));
      await launch(signers.find((s) => s.id === id)!);
    },
    stop: async () => {
      for (const d of daemons.values()) await d.stop();
    },
  };
}
