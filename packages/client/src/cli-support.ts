/**
 * What the `keyquorum` CLI's commands share (cli.ts, cli-audit.ts): argument parsing,
 * the errors that set the exit code, terminal-safe output and the connection to the
 * coordinator found by discovery.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { KEY_ID_PATTERN, type IdentityKey } from '@keyquorum/protocol';
import { KeyquorumClient } from './client.ts';
import { DEV_DIR } from './dev.ts';
import { discoverEndpoint, readClientKeyFile } from './discovery.ts';

/** Bad arguments (exit 2). */
export class UsageError extends Error {}

/** A file that cannot be read or written (exit 2, like a usage error). */
export class IoError extends Error {}

/** A refusal decided before any request is sent (exit 1). */
export class Refusal extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export type Values = Record<string, string | boolean | undefined>;

export const COMMON = { json: { type: 'boolean' }, url: { type: 'string' }, 'key-file': { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const;

/** `args` parsed with the common options and `options`; exactly `positionals` positionals (`what` names a missing one). */
export function parse(args: string[], options: Record<string, { type: 'string' | 'boolean' }>, positionals: number, what = 'key ID'): { values: Values; positionals: string[] } {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...COMMON, ...options }, strict: true, allowPositionals: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (parsed.positionals.length !== positionals) {
    throw new UsageError(positionals === 0 ? `unexpected argument '${parsed.positionals[0]}'` : parsed.positionals.length < positionals ? `missing ${what}` : `unexpected argument '${parsed.positionals[positionals]}'`);
  }
  return { values: parsed.values as Values, positionals: parsed.positionals };
}

export function need(v: Values, name: string): string {
  const s = v[name];
  if (typeof s !== 'string' || s.length === 0) throw new UsageError(`--${name} is required`);
  return s;
}

export function keyId(id: string): string {
  if (!KEY_ID_PATTERN.test(id)) throw new UsageError(`key ID '${id}': expected ${KEY_ID_PATTERN}`);
  return id;
}

/** C0 and C1 control characters and DEL (ESC starts terminal escapes; CR and LF forge lines). */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** `s` with every control character shown as U+FFFD: safe to print to a terminal. */
export function printable(s: string): string {
  return s.replace(CONTROL, '\ufffd');
}

export function connect(v: Values, io: CliIo): { client: KeyquorumClient; threshold: number | undefined; clientKey: IdentityKey } {
  const devDir = path.resolve(io.cwd, DEV_DIR);
  const found = discoverEndpoint({ url: v.url as string | undefined, keyFile: v['key-file'] as string | undefined }, io.env, devDir);
  if (found.url === undefined) throw new UsageError(`no coordinator URL: pass --url, set KEYQUORUM_URL, or run 'keyquorum dev' in this directory`);
  if (found.keyFile === undefined) throw new UsageError(`no client key: pass --key-file, set KEYQUORUM_KEY_FILE, or run 'keyquorum dev' in this directory`);
  const key = readClientKeyFile(path.resolve(io.cwd, found.keyFile));
  return { client: new KeyquorumClient({ ...(found.urls === undefined ? { url: found.url } : { urls: found.urls }), clientKey: key.identity }), threshold: found.cluster?.threshold, clientKey: key.identity };
}

/** Columns padded to their widest cell. */
export function table(header: string[], raw: string[][]): string {
  const rows = raw.map((r) => r.map(printable));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function fields(pairs: Array<[string, string]>): string {
  const w = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(w)}  ${printable(v)}`).join('\n');
}


export const time = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z'));
