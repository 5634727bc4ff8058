/**
 * Where the CLI finds the API and its client key: `--url` / `--key-file`, then
 * `KEYQUORUM_URL` / `KEYQUORUM_KEY_FILE`, then the `cluster.json` that
 * `keyquorum dev` writes under `./.keyquorum/`. A client key file is JSON
 * `{ "publicKey": hex, "secretKey": hex }` (the 32-byte Ed25519 seed), mode 0600.
 */
import fs from 'node:fs';
import path from 'node:path';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { identityFromSecret, type IdentityKey } from '@keyquorum/protocol';
import { ClientError } from './errors.ts';

/** `cluster.json` under a dev data directory. */
export interface ClusterFile {
  url: string;
  /** `keyquorum dev --ha`: every coordinator's URL (`url` is the first), for the SDK's failover. */
  urls?: string[];
  /** `keyquorum dev --ha`: the running coordinators' process ids, by URL (for `keyquorum status`). */
  pids?: Record<string, number>;
  /** Admin client key file, relative to the data directory. */
  keyFile: string;
  signers: string[];
  threshold: number;
}

export interface ClientKey {
  identity: IdentityKey;
  publicKey: Uint8Array;
}

const badFile = (file: string, why: string) => new ClientError('BAD_ARGUMENT', { field: 'keyFile', message: `${file}: ${why}` });

export function writeClientKeyFile(file: string, seed: Uint8Array, publicKey: Uint8Array): void {
  fs.writeFileSync(file, `${JSON.stringify({ publicKey: bytesToHex(publicKey), secretKey: bytesToHex(seed) }, null, 2)}\n`, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
}

/** Reads a client key file; the public key in it must match the seed. */
export function readClientKeyFile(file: string): ClientKey {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw badFile(file, `cannot read a client key: ${(e as Error).message}`);
  }
  const o = raw as { publicKey?: unknown; secretKey?: unknown };
  if (typeof o?.secretKey !== 'string' || !/^[0-9a-f]{64}$/.test(o.secretKey)) throw badFile(file, 'secretKey: expected 32 bytes of lowercase hex');
  const seed = hexToBytes(o.secretKey);
  const identity = identityFromSecret(seed);
  seed.fill(0);
  if (o.publicKey !== undefined && o.publicKey !== bytesToHex(identity.publicKey)) throw badFile(file, 'publicKey does not match secretKey');
  return { identity, publicKey: identity.publicKey };
}

/** The dev cluster file under `dir`, or undefined when there is none; BAD_ARGUMENT naming the field when it is not one `keyquorum dev` writes. */
export function readClusterFile(dir: string): ClusterFile | undefined {
  const file = path.join(dir, 'cluster.json');
  if (!fs.existsSync(file)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ClientError('BAD_ARGUMENT', { field: 'cluster', message: `${file}: ${(e as Error).message}` });
  }
  const bad = (field: string, why: string) => new ClientError('BAD_ARGUMENT', { field: `cluster.${field}`, message: `${file}: ${field}: ${why}` });
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ClientError('BAD_ARGUMENT', { field: 'cluster', message: `${file}: expected an object` });
  const o = raw as Record<string, unknown>;
  const isUrl = (v: unknown) => typeof v === 'string' && /^https?:\/\/[^\s]+$/.test(v) && URL.canParse(v);
  if (!isUrl(o.url)) throw bad('url', 'expected an http(s) URL');
  if (o.urls !== undefined && (!Array.isArray(o.urls) || o.urls.length === 0 || o.urls.length > 8 || !o.urls.every(isUrl))) throw bad('urls', 'expected 1 to 8 http(s) URLs');
  if (o.pids !== undefined) {
    const pids = o.pids;
    if (typeof pids !== 'object' || pids === null || Array.isArray(pids)) throw bad('pids', 'expected an object of process ids by URL');
    for (const [url, pid] of Object.entries(pids)) if (!isUrl(url) || !Number.isSafeInteger(pid) || (pid as number) < 1) throw bad('pids', `${url}: expected a process id`);
  }
  if (typeof o.keyFile !== 'string' || o.keyFile.length === 0) throw bad('keyFile', 'expected a file name');
  if (!Array.isArray(o.signers) || !o.signers.every((v) => typeof v === 'string')) throw bad('signers', 'expected signer ids');
  if (!Number.isSafeInteger(o.threshold) || (o.threshold as number) < 1) throw bad('threshold', 'expected a positive integer');
  return o as unknown as ClusterFile;
}

export interface Endpoint {
  url: string;
  /** Every coordinator's URL when the dev cluster has several and no flag or variable named one. */
  urls: string[] | undefined;
  keyFile: string;
  /** The dev cluster's file, when one was found (its threshold is the CLI's default). */
  cluster: ClusterFile | undefined;
}

/** Resolves URL and key file by precedence; undefined fields when nothing names them. */
export function discoverEndpoint(flags: { url?: string; keyFile?: string }, env: NodeJS.ProcessEnv, devDir: string): Partial<Endpoint> {
  const cluster = readClusterFile(devDir);
  const named = flags.url ?? nonEmpty(env.KEYQUORUM_URL);
  const url = named ?? cluster?.url;
  const urls = named === undefined && cluster?.urls !== undefined && cluster.urls.length > 1 ? cluster.urls : undefined;
  const keyFile = flags.keyFile ?? nonEmpty(env.KEYQUORUM_KEY_FILE) ?? (cluster ? path.resolve(devDir, cluster.keyFile) : undefined);
  return { url, urls, keyFile, cluster };
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.length === 0 ? undefined : v;
}
