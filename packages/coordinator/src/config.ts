/**
 * Coordinator configuration: one `CoordinatorOptions` type, defaults from
 * constants.ts, resolved and validated once (`resolveOptions`); every error names
 * the field. `loadConfigFile` reads the operator's JSON file:
 *   { "dataDir": "...", "listen": "127.0.0.1:7400",
 *     "signers": { "s1": "<ed25519 public key hex>" },
 *     "clients": [{ "publicKey": "<hex>", "roles": ["admin"] }],
 *     "roundTimeoutMs"?: 5000, "heartbeatMs"?: 10000, "refreshCheckMs"?: 30000, "maxFrameBytes"?, "maxBodyBytes"?,
 *     "maxSkewMs"?, "maxConnections"?: 256, "headersTimeoutMs"?: 10000,
 *     "requestTimeoutMs"?: 30000, "checkpointIntervalMs"?: 10000, "metricsKeyLabels"?: false, "logLevel"?: "info",
 *     "passphraseEnv"?: "KEYQUORUM_COORDINATOR_PASSPHRASE", "passphraseFile"?: "...",
 *     "database"?: "postgres://user:password@host:5432/db", "databaseFile"?: "...",
 *     "advertiseUrl"?: "http://10.0.0.5:7400", "leaseMs"?: 5000 }
 * Without `database`, one coordinator on the SQLite file in `dataDir`. With it, several
 * coordinators share that PostgreSQL database and one of them leads (leadership.ts,
 * docs/ha.md); `advertiseUrl` (required then) is where the others send clients and
 * signers while this one leads. The connection string's password is never logged;
 * `databaseFile` reads it from a file (a mounted Secret) instead of the config, and the
 * CLI's `start --advertise-url` sets `advertiseUrl` per process (one config file for
 * every replica).
 */
import fs from 'node:fs';
import path from 'node:path';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { COORDINATOR_ID, IdentityKey, NODE_ID_PATTERN, ROLES, type Envelope, type Role, type TrustedClient } from '@keyquorum/protocol';
import { LOG_LEVELS, createLogger, silentLogger, type Logger, type LogLevel } from '@keyquorum/protocol/logger';
import {
  DEFAULT_CHECKPOINT_INTERVAL_MS,
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_REFRESH_CHECK_MS,
  DEFAULT_HOST,
  DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
  DEFAULT_LEASE_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_SKEW_MS,
  DEFAULT_PASSPHRASE_ENV,
  DEFAULT_PORT,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_ROUND_TIMEOUT_MS,
} from './constants.ts';
import { CoordinatorError } from './errors.ts';

/** Where a relayed peer envelope is going (for `CoordinatorOptions.relay`). */
export interface RelayContext {
  /** The signer the relayed envelope is delivered to. */
  to: string;
  kind: string;
  /** The round of the coordinator message that carries it (CONTRIBUTIONS, R1_DELIVER, SIGN, COMMIT...). */
  round: number;
}

/**
 * Applied to every peer envelope the coordinator relays, after the coordinator has
 * checked it and before it is delivered. The identity function is the honest
 * coordinator; fault-injection fixtures use it to play a tampering relay (flip a
 * byte, drop an encryption) and show that signers catch it. Production configs
 * leave it unset.
 */
export type RelayHook = (envelope: Envelope, context: RelayContext) => Envelope;

export interface ClientOptions {
  /** Ed25519 public key, hex or bytes. */
  publicKey: string | Uint8Array;
  roles: readonly Role[];
}

export interface CoordinatorOptions {
  /** Directory of the sealed identity and the registry database. */
  dataDir: string;
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** Port for the HTTP API and the /signer WebSocket; 0 picks a free one. Default 7400. */
  port?: number;
  /** Allow-listed signers: signer id -> Ed25519 public key (hex or bytes). */
  signers: Readonly<Record<string, string | Uint8Array>>;
  /** Client keys allowed to request operations, with their roles. */
  clients?: readonly ClientOptions[];
  /** The identity itself; when absent it is unsealed from `dataDir` with `passphrase`. */
  identity?: IdentityKey;
  passphrase?: string;
  roundTimeoutMs?: number;
  heartbeatMs?: number;
  /** How often the keys whose policy has a refresh rule are checked for a due scheduled refresh; default 30 s. */
  refreshCheckMs?: number;
  maxFrameBytes?: number;
  maxBodyBytes?: number;
  maxSkewMs?: number;
  /** Open connections on the port, HTTP and signers together; default 256. */
  maxConnections?: number;
  /** Time to send a request's headers; default 10 s. */
  headersTimeoutMs?: number;
  /** Time to send a whole request; default 30 s (at least `headersTimeoutMs`). */
  requestTimeoutMs?: number;
  /** Idle keep-alive connections are closed after this long; default 5 s. */
  keepAliveTimeoutMs?: number;
  /** Audit checkpoints: a signer behind the log's head is asked to cosign at least this often; default 10 s. */
  checkpointIntervalMs?: number;
  /** Label `keyquorum_key_epoch` with each key id at GET /metrics (public); default false: counts by suite and state only. */
  metricsKeyLabels?: boolean;
  relay?: RelayHook;
  logger?: Logger;
  logLevel?: LogLevel;
  /** Clock, ms since the epoch; default Date.now. */
  now?: () => number;
  /** A PostgreSQL connection string (postgres:// or postgresql://): several coordinators share it, one leads (docs/ha.md). Absent: SQLite in dataDir, one coordinator. */
  database?: string;
  /** With `database`: this coordinator's API URL as the others should redirect clients to it (http(s)://host:port, no query or fragment). */
  advertiseUrl?: string;
  /** With `database`: the leader lease, renewed every third of it; default 5000 ms. */
  leaseMs?: number;
  /** With `database`: called when this coordinator loses the lease it held; default: log and exit the process with status 75 (crash-only, leadership.ts). */
  onDeposed?: (reason: string) => void;
}

export interface ResolvedOptions {
  dataDir: string;
  host: string;
  port: number;
  signers: ReadonlyMap<string, Uint8Array>;
  clients: TrustedClient[];
  identity: IdentityKey | undefined;
  passphrase: string | undefined;
  roundTimeoutMs: number;
  heartbeatMs: number;
  refreshCheckMs: number;
  maxFrameBytes: number;
  maxBodyBytes: number;
  maxSkewMs: number;
  maxConnections: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  checkpointIntervalMs: number;
  metricsKeyLabels: boolean;
  relay: RelayHook | undefined;
  logger: Logger;
  now: () => number;
  /** Several coordinators on one PostgreSQL database; undefined for SQLite. */
  ha: { database: string; advertiseUrl: string; leaseMs: number; onDeposed: ((reason: string) => void) | undefined } | undefined;
}

const bad = (field: string, message: string) => new CoordinatorError('BAD_CONFIG', { field, message: `${field}: ${message}` });

function int(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw bad(field, `expected an integer in [${min}, ${max}]`);
  return v;
}

function key32(v: unknown, field: string): Uint8Array {
  if (v instanceof Uint8Array) {
    if (v.length !== 32) throw bad(field, 'expected 32 bytes');
    return v;
  }
  if (typeof v !== 'string' || !/^[0-9a-fA-F]{64}$/.test(v)) throw bad(field, 'expected 32 bytes of hex');
  return hexToBytes(v.toLowerCase());
}

function optional<T>(v: T | undefined, fallback: T): T {
  return v === undefined ? fallback : v;
}

/** Validates options once; the result is what every component reads. */
export function resolveOptions(o: CoordinatorOptions): ResolvedOptions {
  if (typeof o !== 'object' || o === null) throw bad('options', 'expected an object');
  if (typeof o.dataDir !== 'string' || o.dataDir.length === 0) throw bad('dataDir', 'expected a directory path');
  const host = optional(o.host, DEFAULT_HOST);
  if (typeof host !== 'string' || host.length === 0) throw bad('host', 'expected a host name or address');
  const port = int(optional(o.port, DEFAULT_PORT), 'port', 0, 65_535);

  if (typeof o.signers !== 'object' || o.signers === null || Array.isArray(o.signers)) throw bad('signers', 'expected an object of signerId: publicKeyHex');
  const signers = new Map<string, Uint8Array>();
  const seenKeys = new Set<string>();
  for (const [id, pub] of Object.entries(o.signers)) {
    const field = `signers.${id}`;
    if (!NODE_ID_PATTERN.test(id) || id === COORDINATOR_ID) throw bad(field, `signer ids match ${NODE_ID_PATTERN} and are not '${COORDINATOR_ID}'`);
    const key = key32(pub, field);
    const hex = bytesToHex(key);
    if (seenKeys.has(hex)) throw bad(field, 'two signers share one public key');
    seenKeys.add(hex);
    signers.set(id, key);
  }

  const clientList = optional(o.clients, []);
  if (!Array.isArray(clientList)) throw bad('clients', 'expected an array');
  const clients: TrustedClient[] = clientList.map((c: unknown, i) => {
    const field = `clients[${i}]`;
    if (typeof c !== 'object' || c === null) throw bad(field, 'expected { publicKey, roles }');
    const entry = c as Record<string, unknown>;
    for (const k of Object.keys(entry)) if (k !== 'publicKey' && k !== 'roles') throw bad(`${field}.${k}`, 'unknown field');
    const roles = entry.roles;
    if (!Array.isArray(roles) || roles.length === 0) throw bad(`${field}.roles`, `expected a non-empty array of ${ROLES.join(', ')}`);
    roles.forEach((r, j) => {
      if (!(ROLES as readonly unknown[]).includes(r)) throw bad(`${field}.roles[${j}]`, `expected one of ${ROLES.join(', ')}`);
    });
    return { publicKey: key32(entry.publicKey, `${field}.publicKey`), roles: roles as Role[] };
  });

  if (o.identity !== undefined && !(o.identity instanceof IdentityKey)) throw bad('identity', 'expected an IdentityKey');
  if (o.identity === undefined && (typeof o.passphrase !== 'string' || o.passphrase.length === 0)) {
    throw bad('passphrase', 'a passphrase is needed to unseal the identity (passphraseEnv or passphraseFile)');
  }
  if (o.relay !== undefined && typeof o.relay !== 'function') throw bad('relay', 'expected a function');
  if (o.now !== undefined && typeof o.now !== 'function') throw bad('now', 'expected a function');
  if (o.metricsKeyLabels !== undefined && typeof o.metricsKeyLabels !== 'boolean') throw bad('metricsKeyLabels', 'expected true or false');
  const headersTimeoutMs = int(optional(o.headersTimeoutMs, DEFAULT_HEADERS_TIMEOUT_MS), 'headersTimeoutMs', 100, 600_000);
  const requestTimeoutMs = int(optional(o.requestTimeoutMs, Math.max(DEFAULT_REQUEST_TIMEOUT_MS, headersTimeoutMs)), 'requestTimeoutMs', 100, 3_600_000);
  if (requestTimeoutMs < headersTimeoutMs) throw bad('requestTimeoutMs', 'expected at least headersTimeoutMs');
  const ha = resolveHa(o);
  const logLevel = optional(o.logLevel, 'info');
  if (!LOG_LEVELS.includes(logLevel)) throw bad('logLevel', `expected one of ${LOG_LEVELS.join(', ')}`);

  return {
    dataDir: path.resolve(o.dataDir),
    host,
    port,
    signers,
    clients,
    identity: o.identity,
    passphrase: o.passphrase,
    roundTimeoutMs: int(optional(o.roundTimeoutMs, DEFAULT_ROUND_TIMEOUT_MS), 'roundTimeoutMs', 10, 600_000),
    heartbeatMs: int(optional(o.heartbeatMs, DEFAULT_HEARTBEAT_MS), 'heartbeatMs', 10, 600_000),
    refreshCheckMs: int(optional(o.refreshCheckMs, DEFAULT_REFRESH_CHECK_MS), 'refreshCheckMs', 10, 3600_000),
    maxFrameBytes: int(optional(o.maxFrameBytes, DEFAULT_MAX_FRAME_BYTES), 'maxFrameBytes', 1024, 64 * 1024 * 1024),
    maxBodyBytes: int(optional(o.maxBodyBytes, DEFAULT_MAX_BODY_BYTES), 'maxBodyBytes', 1024, 64 * 1024 * 1024),
    maxSkewMs: int(optional(o.maxSkewMs, DEFAULT_MAX_SKEW_MS), 'maxSkewMs', 0, 24 * 3600_000),
    maxConnections: int(optional(o.maxConnections, DEFAULT_MAX_CONNECTIONS), 'maxConnections', 1, 1_000_000),
    headersTimeoutMs,
    requestTimeoutMs,
    keepAliveTimeoutMs: int(optional(o.keepAliveTimeoutMs, DEFAULT_KEEP_ALIVE_TIMEOUT_MS), 'keepAliveTimeoutMs', 100, 600_000),
    checkpointIntervalMs: int(optional(o.checkpointIntervalMs, DEFAULT_CHECKPOINT_INTERVAL_MS), 'checkpointIntervalMs', 10, 3_600_000),
    metricsKeyLabels: o.metricsKeyLabels ?? false,
    relay: o.relay,
    logger: o.logger ?? createLogger({ level: logLevel }),
    now: o.now ?? Date.now,
    ha,
  };
}

/** `database`, `advertiseUrl`, `leaseMs`: all or (but for leaseMs) none. Error messages never repeat the connection string (it may hold a password). */
function resolveHa(o: CoordinatorOptions): ResolvedOptions['ha'] {
  if (o.database === undefined) {
    for (const k of ['advertiseUrl', 'leaseMs', 'onDeposed'] as const) if (o[k] !== undefined) throw bad(k, 'applies only with database (PostgreSQL)');
    return undefined;
  }
  let db: URL | undefined;
  try {
    db = typeof o.database === 'string' ? new URL(o.database) : undefined;
  } catch {
    db = undefined;
  }
  if (db === undefined || !['postgres:', 'postgresql:'].includes(db.protocol)) throw bad('database', 'expected a postgres:// or postgresql:// connection string');
  let adv: URL | undefined;
  try {
    adv = typeof o.advertiseUrl === 'string' ? new URL(o.advertiseUrl) : undefined;
  } catch {
    adv = undefined;
  }
  // The URL is stored in the lease's holder (leadership.ts), which is at most 256 characters and splits at the first space.
  if (adv === undefined || !['http:', 'https:'].includes(adv.protocol) || adv.search !== '' || adv.hash !== '' || adv.username !== '' || o.advertiseUrl!.length > 200 || /\s/.test(o.advertiseUrl!)) {
    throw bad('advertiseUrl', 'expected the http(s)://host:port other coordinators redirect to (no query, fragment or credentials; at most 200 characters)');
  }
  if (o.onDeposed !== undefined && typeof o.onDeposed !== 'function') throw bad('onDeposed', 'expected a function');
  return { database: o.database, advertiseUrl: o.advertiseUrl!.replace(/\/+$/, ''), leaseMs: int(optional(o.leaseMs, DEFAULT_LEASE_MS), 'leaseMs', 300, 600_000), onDeposed: o.onDeposed };
}

const FILE_KEYS = [
  'dataDir',
  'listen',
  'signers',
  'clients',
  'roundTimeoutMs',
  'heartbeatMs',
  'refreshCheckMs',
  'maxFrameBytes',
  'maxBodyBytes',
  'maxSkewMs',
  'maxConnections',
  'headersTimeoutMs',
  'requestTimeoutMs',
  'keepAliveTimeoutMs',
  'checkpointIntervalMs',
  'metricsKeyLabels',
  'logLevel',
  'passphraseEnv',
  'passphraseFile',
  'database',
  'databaseFile',
  'advertiseUrl',
  'leaseMs',
] as const;

/** Parses 'host:port' ('[::1]:7400' for IPv6). */
export function parseListen(v: unknown, field = 'listen'): { host: string; port: number } {
  const m = typeof v === 'string' ? /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(v) : null;
  if (!m) throw bad(field, "expected 'host:port', e.g. '127.0.0.1:7400'");
  return { host: (m[1] ?? m[2])!, port: int(Number(m[3]), field, 0, 65_535) };
}

/** A secret the config names by path (`passphraseFile`, `databaseFile`), less one trailing newline; errors name the field and the path, never the content. */
function readSecretFile(base: string, v: unknown, field: string): string {
  if (typeof v !== 'string' || v.length === 0) throw bad(field, 'expected a file path');
  try {
    return fs.readFileSync(path.resolve(base, v), 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw new CoordinatorError('BAD_CONFIG', { field, message: `${field}: cannot read: ${(e as Error).message}`, cause: e });
  }
}

/**
 * Reads the JSON config file into options. Relative paths are relative to the file;
 * the passphrase comes from `passphraseFile` if set, else from the `passphraseEnv`
 * environment variable; the connection string from `database` or `databaseFile`.
 * `overrides.advertiseUrl` (the CLI's `--advertise-url`) replaces the file's.
 */
export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env, overrides: { advertiseUrl?: string } = {}): CoordinatorOptions {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CoordinatorError('BAD_CONFIG', { field: 'config', message: `cannot read ${file}: ${(e as Error).message}`, cause: e });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('config', 'expected a JSON object');
  const c = raw as Record<string, unknown>;
  for (const k of Object.keys(c)) if (!(FILE_KEYS as readonly string[]).includes(k)) throw bad(k, 'unknown field');
  const base = path.dirname(path.resolve(file));
  if (typeof c.dataDir !== 'string' || c.dataDir.length === 0) throw bad('dataDir', 'expected a directory path');
  const { host, port } = c.listen === undefined ? { host: DEFAULT_HOST, port: DEFAULT_PORT } : parseListen(c.listen);

  let passphrase: string | undefined;
  if (c.passphraseFile !== undefined) {
    passphrase = readSecretFile(base, c.passphraseFile, 'passphraseFile');
  } else {
    const name = c.passphraseEnv ?? DEFAULT_PASSPHRASE_ENV;
    if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw bad('passphraseEnv', 'expected an environment variable name');
    passphrase = env[name];
  }
  if (passphrase === undefined || passphrase.length === 0) throw bad('passphrase', 'empty or not set (passphraseEnv / passphraseFile)');

  const opts: CoordinatorOptions = {
    dataDir: path.resolve(base, c.dataDir),
    host,
    port,
    signers: c.signers as CoordinatorOptions['signers'],
    clients: c.clients as CoordinatorOptions['clients'],
    passphrase,
  };
  for (const k of ['roundTimeoutMs', 'heartbeatMs', 'maxFrameBytes', 'maxBodyBytes', 'maxSkewMs', 'maxConnections', 'headersTimeoutMs', 'requestTimeoutMs', 'keepAliveTimeoutMs', 'checkpointIntervalMs'] as const) {
    if (c[k] !== undefined) opts[k] = c[k] as number;
  }
  if (c.database !== undefined && c.databaseFile !== undefined) throw bad('databaseFile', 'give database or databaseFile, not both');
  if (c.database !== undefined) opts.database = c.database as string;
  if (c.databaseFile !== undefined) opts.database = readSecretFile(base, c.databaseFile, 'databaseFile');
  if (c.advertiseUrl !== undefined) opts.advertiseUrl = c.advertiseUrl as string;
  if (overrides.advertiseUrl !== undefined) opts.advertiseUrl = overrides.advertiseUrl;
  if (c.leaseMs !== undefined) opts.leaseMs = c.leaseMs as number;
  if (c.metricsKeyLabels !== undefined) opts.metricsKeyLabels = c.metricsKeyLabels as boolean;
  if (c.logLevel !== undefined) opts.logLevel = c.logLevel as LogLevel;
  resolveOptions({ ...opts, logger: silentLogger });
  return opts;
}
