/**
 * The signer's configuration: one `SignerOptions` type (the JSON config file's
 * shape, docs/cluster-protocol.md "Identities and trust"), resolved and validated
 * once by `resolveSignerOptions`, every error naming its field. The keystore
 * passphrase never comes from the options: it is read from the environment variable
 * `passphraseEnv` or from `passphraseFile`, or a `keyFile` is used, at start only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { hexToBytes } from '@noble/hashes/utils.js';
import { COORDINATOR_ID, DEFAULT_MAX_FRAME_BYTES, NODE_ID_PATTERN, ROLES, point, type Role, type TrustedClient } from '@keyquorum/protocol';
import { CRYPTO_WORKERS_RANGE, DEFAULT_PASSPHRASE_ENV, MAX_COORDINATOR_URLS, defaultCryptoWorkers, DEFAULT_ROUND_TIMEOUT_MS, MAX_FRAME_BYTES_RANGE, MAX_UNCHECKPOINTED, MAX_UNCHECKPOINTED_RANGE, NONCE_POOL_RANGE, NONCE_POOL_SIZE, ROUND_TIMEOUT_RANGE_MS } from './constants.ts';
import { SignerError } from './errors.ts';
import type { KekSource } from './keystore/index.ts';

/** What an operator writes in the config file (and what a program passes). */
export interface SignerOptions {
  signerId: string;
  dataDir: string;
  /** ws:// or wss:// URL of the coordinator's signer endpoint; or `coordinatorUrls`, not both. */
  coordinatorUrl?: string;
  /**
   * Several coordinators of one cluster (docs/ha.md §2; 1 to MAX_COORDINATOR_URLS): the
   * signer dials them in turn and stays with the leader. Or `coordinatorUrl`, not both.
   */
  coordinatorUrls?: string[];
  /** Hex of the coordinator's Ed25519 identity key (pinned). */
  coordinatorPublicKey: string;
  /** Every peer signer's pinned Ed25519 key, hex; this signer's own entry is optional. */
  peers: Record<string, string>;
  /** Client keys this operator trusts, hex, with roles. */
  clients: { publicKey: string; roles: string[] }[];
  /** Environment variable holding the passphrase (default KEYQUORUM_PASSPHRASE). */
  passphraseEnv?: string;
  /** File whose content (one trailing newline dropped) is the passphrase. */
  passphraseFile?: string;
  /** 32-byte key file unlocking the keystore instead of a passphrase. */
  keyFile?: string;
  /** host:port of the health/metrics HTTP server; none when absent. */
  listen?: string;
  roundTimeoutMs?: number;
  maxFrameBytes?: number;
  /**
   * Worker threads for key rounds (DKG, refresh, reshare), so that seconds of CPU in a
   * DKLs23 round never stall heartbeats (`workers/pool.ts`). Default: one per core
   * beyond the first, at least 1, at most 2. 0 runs them on the event loop.
   */
  cryptoWorkers?: number;
  /**
   * Nonce pool (docs/cluster-protocol.md "Nonce pool"): FROST nonce commitments this
   * signer keeps made ahead per key, offered to the coordinator when it asks (POOL), so
   * that a signature takes one round trip. Default NONCE_POOL_SIZE (16); 0 makes none.
   */
  noncePool?: number;
  /**
   * Operation STARTs this signer accepts since the last audit checkpoint it cosigned
   * before it refuses more (AUDIT_CHECKPOINT_REQUIRED: no audit, no operation).
   * Default MAX_UNCHECKPOINTED (512).
   */
  maxUncheckpointed?: number;
  /**
   * Label `/metrics` with key ids (`keyquorum_signer_key_epoch{key}`). Off by default:
   * key ids are an inventory of the wallets this signer guards, and the metrics endpoint
   * is often scraped more widely than the daemon is trusted. Without it, only the count.
   */
  metricsKeyLabels?: boolean;
}

export interface ListenAddress {
  host: string;
  port: number;
}

/** Validated options with defaults applied; keys as bytes. */
export interface ResolvedSignerOptions {
  signerId: string;
  dataDir: string;
  /** In dialling order; one entry when the config gave `coordinatorUrl`. */
  coordinatorUrls: string[];
  coordinatorPublicKey: Uint8Array;
  peers: ReadonlyMap<string, Uint8Array>;
  clients: TrustedClient[];
  passphraseEnv: string;
  passphraseFile: string | undefined;
  keyFile: string | undefined;
  listen: ListenAddress | undefined;
  roundTimeoutMs: number;
  maxFrameBytes: number;
  cryptoWorkers: number;
  noncePool: number;
  maxUncheckpointed: number;
  metricsKeyLabels: boolean;
}

const FIELDS = ['signerId', 'dataDir', 'coordinatorUrl', 'coordinatorUrls', 'coordinatorPublicKey', 'peers', 'clients', 'passphraseEnv', 'passphraseFile', 'keyFile', 'listen', 'roundTimeoutMs', 'maxFrameBytes', 'cryptoWorkers', 'noncePool', 'maxUncheckpointed', 'metricsKeyLabels'] as const;
const REQUIRED = ['signerId', 'dataDir', 'coordinatorPublicKey', 'peers', 'clients'] as const;
const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

function bad(field: string, message: string): SignerError {
  return new SignerError('BAD_CONFIG', { field, message });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function aString(v: unknown, field: string): string {
  if (typeof v !== 'string' || v.length === 0) throw bad(field, 'expected a non-empty string');
  return v;
}

export function aNodeId(v: unknown, field: string): string {
  const id = aString(v, field);
  if (!NODE_ID_PATTERN.test(id)) throw bad(field, `expected a node id matching ${NODE_ID_PATTERN}`);
  return id;
}

function aPublicKey(v: unknown, field: string): Uint8Array {
  const hex = aString(v, field);
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw bad(field, 'expected 64 hex characters (an Ed25519 public key)');
  const key = hexToBytes(hex.toLowerCase());
  try {
    return point('ed25519', key, field);
  } catch {
    throw bad(field, 'not a valid Ed25519 public key');
  }
}

function aInt(v: unknown, [min, max]: readonly [number, number], field: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw bad(field, `expected an integer in [${min}, ${max}]`);
  return v;
}

function aPath(v: unknown, field: string, base: string): string {
  return path.resolve(base, aString(v, field));
}

/** 'host:port' or '[v6]:port'; port 0 picks a free one. */
export function parseListen(v: unknown, field = 'listen'): ListenAddress {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(aString(v, field));
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65_535) throw bad(field, "expected 'host:port', e.g. '127.0.0.1:9464'");
  return { host: (m[1] ?? m[2])!, port };
}

function aUrl(v: unknown, field: string): string {
  const text = aString(v, field);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw bad(field, 'expected a ws:// or wss:// URL');
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw bad(field, 'expected a ws:// or wss:// URL');
  return url.toString();
}

/** `coordinatorUrl` or `coordinatorUrls` (exactly one of them), as a list of distinct URLs. */
function aCoordinatorUrls(one: unknown, list: unknown): string[] {
  if (one !== undefined && list !== undefined) throw bad('coordinatorUrls', 'give coordinatorUrl or coordinatorUrls, not both');
  if (one === undefined && list === undefined) throw bad('coordinatorUrl', 'missing: give coordinatorUrl or coordinatorUrls');
  if (one !== undefined) return [aUrl(one, 'coordinatorUrl')];
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_COORDINATOR_URLS) {
    throw bad('coordinatorUrls', `expected an array of 1 to ${MAX_COORDINATOR_URLS} ws:// or wss:// URLs`);
  }
  const urls = list.map((u, i) => aUrl(u, `coordinatorUrls[${i}]`));
  const twice = urls.findIndex((u, i) => urls.indexOf(u) !== i);
  if (twice >= 0) throw bad(`coordinatorUrls[${twice}]`, 'listed twice');
  return urls;
}

function aPeers(v: unknown, signerId: string): Map<string, Uint8Array> {
  if (!isObject(v)) throw bad('peers', 'expected an object { signerId: publicKeyHex }');
  const peers = new Map<string, Uint8Array>();
  for (const [id, key] of Object.entries(v)) {
    const field = `peers.${id}`;
    if (!NODE_ID_PATTERN.test(id) || id === COORDINATOR_ID) throw bad(field, 'expected a signer id');
    peers.set(id, aPublicKey(key, field));
  }
  if ([...peers.keys()].filter((id) => id !== signerId).length === 0) throw bad('peers', 'pin at least one peer signer');
  return peers;
}

function aClients(v: unknown): TrustedClient[] {
  if (!Array.isArray(v)) throw bad('clients', 'expected an array of { publicKey, roles }');
  return v.map((c, i) => {
    const field = `clients[${i}]`;
    if (!isObject(c)) throw bad(field, 'expected { publicKey, roles }');
    for (const key of Object.keys(c)) if (key !== 'publicKey' && key !== 'roles') throw bad(`${field}.${key}`, 'unknown field');
    const roles = c.roles;
    if (!Array.isArray(roles) || roles.length === 0) throw bad(`${field}.roles`, `expected a non-empty array of ${ROLES.join(', ')}`);
    roles.forEach((r, j) => {
      if (!(ROLES as readonly unknown[]).includes(r)) throw bad(`${field}.roles[${j}]`, `expected one of ${ROLES.join(', ')}`);
    });
    return { publicKey: aPublicKey(c.publicKey, `${field}.publicKey`), roles: [...new Set(roles as Role[])] };
  });
}

/**
 * Validates options once; relative paths resolve against `baseDir` (the config
 * file's directory). Throws SignerError('BAD_CONFIG', { field }).
 */
export function resolveSignerOptions(options: unknown, baseDir = process.cwd()): ResolvedSignerOptions {
  if (!isObject(options)) throw bad('options', 'expected an object');
  for (const key of Object.keys(options)) {
    if (!(FIELDS as readonly string[]).includes(key)) throw bad(key, 'unknown field');
  }
  for (const key of REQUIRED) if (options[key] === undefined) throw bad(key, 'missing');
  const o = options as Partial<Record<(typeof FIELDS)[number], unknown>>;
  const signerId = aNodeId(o.signerId, 'signerId');
  if (signerId === COORDINATOR_ID) throw bad('signerId', `'${COORDINATOR_ID}' is the coordinator's id`);
  const passphraseEnv = o.passphraseEnv === undefined ? DEFAULT_PASSPHRASE_ENV : aString(o.passphraseEnv, 'passphraseEnv');
  if (!ENV_NAME_PATTERN.test(passphraseEnv)) throw bad('passphraseEnv', 'expected an environment variable name');
  if (o.passphraseFile !== undefined && o.keyFile !== undefined) throw bad('keyFile', 'give passphraseFile or keyFile, not both');
  if (o.metricsKeyLabels !== undefined && typeof o.metricsKeyLabels !== 'boolean') throw bad('metricsKeyLabels', 'expected true or false');
  return {
    signerId,
    dataDir: aPath(o.dataDir, 'dataDir', baseDir),
    coordinatorUrls: aCoordinatorUrls(o.coordinatorUrl, o.coordinatorUrls),
    coordinatorPublicKey: aPublicKey(o.coordinatorPublicKey, 'coordinatorPublicKey'),
    peers: aPeers(o.peers, signerId),
    clients: aClients(o.clients),
    passphraseEnv,
    passphraseFile: o.passphraseFile === undefined ? undefined : aPath(o.passphraseFile, 'passphraseFile', baseDir),
    keyFile: o.keyFile === undefined ? undefined : aPath(o.keyFile, 'keyFile', baseDir),
    listen: o.listen === undefined ? undefined : parseListen(o.listen),
    roundTimeoutMs: o.roundTimeoutMs === undefined ? DEFAULT_ROUND_TIMEOUT_MS : aInt(o.roundTimeoutMs, ROUND_TIMEOUT_RANGE_MS, 'roundTimeoutMs'),
    maxFrameBytes: o.maxFrameBytes === undefined ? DEFAULT_MAX_FRAME_BYTES : aInt(o.maxFrameBytes, MAX_FRAME_BYTES_RANGE, 'maxFrameBytes'),
    cryptoWorkers: o.cryptoWorkers === undefined ? defaultCryptoWorkers() : aInt(o.cryptoWorkers, CRYPTO_WORKERS_RANGE, 'cryptoWorkers'),
    noncePool: o.noncePool === undefined ? NONCE_POOL_SIZE : aInt(o.noncePool, NONCE_POOL_RANGE, 'noncePool'),
    maxUncheckpointed: o.maxUncheckpointed === undefined ? MAX_UNCHECKPOINTED : aInt(o.maxUncheckpointed, MAX_UNCHECKPOINTED_RANGE, 'maxUncheckpointed'),
    metricsKeyLabels: o.metricsKeyLabels === true,
  };
}

/**
 * Reads a JSON config file; relative paths in it resolve against `baseDir`, its
 * directory. The options are only parsed here: `resolveSignerOptions` (run by the
 * SignerDaemon constructor) validates them.
 */
export function loadConfigFile(file: string): { options: SignerOptions; baseDir: string } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (cause) {
    throw new SignerError('BAD_CONFIG', { field: 'config', message: `cannot read ${file}`, cause });
  }
  try {
    return { options: JSON.parse(text) as SignerOptions, baseDir: path.dirname(path.resolve(file)) };
  } catch (cause) {
    throw new SignerError('BAD_CONFIG', { field: 'config', message: `${file} is not valid JSON`, cause });
  }
}

/**
 * Where the keystore's key-encryption key comes from: `keyFile`, else `passphraseFile`,
 * else the environment variable. Refuses with NO_PASSPHRASE when none is set.
 */
export function resolveKekSource(
  o: Pick<ResolvedSignerOptions, 'passphraseEnv' | 'passphraseFile' | 'keyFile'>,
  env: Readonly<Record<string, string | undefined>>,
): KekSource {
  if (o.keyFile !== undefined) return { keyFile: o.keyFile };
  if (o.passphraseFile !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(o.passphraseFile, 'utf8');
    } catch (cause) {
      throw new SignerError('NO_PASSPHRASE', { field: 'passphraseFile', message: `cannot read ${o.passphraseFile}`, cause });
    }
    const passphrase = text.replace(/\r?\n$/, '');
    if (passphrase.length === 0) throw new SignerError('NO_PASSPHRASE', { field: 'passphraseFile', message: `${o.passphraseFile} is empty` });
    return { passphrase };
  }
  const passphrase = env[o.passphraseEnv];
  if (passphrase === undefined || passphrase.length === 0) {
    throw new SignerError('NO_PASSPHRASE', {
      field: 'passphraseEnv',
      message: `no keystore passphrase: set the ${o.passphraseEnv} environment variable, or passphraseFile or keyFile in the config`,
    });
  }
  return { passphrase };
}
