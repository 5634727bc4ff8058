/**
 * `keyquorum-signer`: init a data dir, print its public key, or run the daemon.
 *   keyquorum-signer init --data DIR --id SIGNER_ID [--json] [KEK flags] [--scrypt-n N]
 *   keyquorum-signer start --config FILE [--data DIR] [--coordinator URL[,URL...]]...
 *                          [--coordinator-key HEX] [--listen HOST:PORT] [--log-level L] [KEK flags]
 *   keyquorum-signer pubkey --data DIR [--json]
 *   keyquorum-signer bans --data DIR [--json]          (no KEK needed)
 *   keyquorum-signer unban --data DIR --key ID --peer SIGNER [--json] [KEK flags]
 * `bans` and `unban` may run while the daemon holds the keystore (SQLite WAL): the
 * daemon reads bans from the database at every session, so a lifted ban applies at once.
 * KEK flags: --passphrase-env NAME (default KEYQUORUM_PASSPHRASE), --passphrase-file
 * PATH, --key-file PATH. The passphrase itself is never taken from a flag. Logs are
 * JSON lines on stderr; SIGINT/SIGTERM stop the daemon gracefully (handled here only).
 */
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createLogger, type LogLevel } from '@keyquorum/protocol/logger';
import { DEFAULT_PASSPHRASE_ENV } from './constants.ts';
import { loadConfigFile, resolveKekSource, type SignerOptions } from './config.ts';
import { SignerDaemon } from './daemon.ts';
import { SignerError } from './errors.ts';
import { initSigner, readPublicKey } from './init.ts';
import { Keystore, type KekSource } from './keystore/index.ts';

const USAGE = `usage:
  keyquorum-signer init --data DIR --id SIGNER_ID [--json] [--passphrase-env NAME | --passphrase-file PATH | --key-file PATH] [--scrypt-n N]
  keyquorum-signer start --config FILE [--data DIR] [--coordinator URL[,URL...]]... [--coordinator-key HEX] [--listen HOST:PORT]
                         [--log-level debug|info|warn|error] [--passphrase-env NAME | --passphrase-file PATH | --key-file PATH]
  keyquorum-signer pubkey --data DIR [--json]
  keyquorum-signer bans --data DIR [--json]
  keyquorum-signer unban --data DIR --key ID --peer SIGNER [--json] [--passphrase-env NAME | --passphrase-file PATH | --key-file PATH]
The keystore passphrase is read from $${DEFAULT_PASSPHRASE_ENV} (or --passphrase-env NAME) or --passphrase-file, never from a flag.`;

const KEK_FLAGS = {
  'passphrase-env': { type: 'string' },
  'passphrase-file': { type: 'string' },
  'key-file': { type: 'string' },
} as const;

class UsageError extends Error {}

function parse(args: string[], options: NonNullable<ParseArgsConfig['options']>): Record<string, string | boolean | string[] | undefined> {
  if (args.some((a) => a === '--passphrase' || a.startsWith('--passphrase='))) {
    throw new UsageError(`the passphrase is never taken from a flag: set ${DEFAULT_PASSPHRASE_ENV} or use --passphrase-file`);
  }
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values as Record<string, string | boolean | string[] | undefined>;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function required(values: Record<string, unknown>, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v.length === 0) throw new UsageError(`--${name} is required`);
  return v;
}

const abs = (p: unknown) => (typeof p === 'string' ? path.resolve(p) : undefined);

/** The KEK named by the KEK flags: --key-file, --passphrase-file, else the passphrase environment variable. */
function kekFrom(v: Record<string, unknown>): KekSource {
  return resolveKekSource(
    { passphraseEnv: (v['passphrase-env'] as string | undefined) ?? DEFAULT_PASSPHRASE_ENV, passphraseFile: abs(v['passphrase-file']), keyFile: abs(v['key-file']) },
    process.env,
  );
}

function init(args: string[]): number {
  const v = parse(args, { data: { type: 'string' }, id: { type: 'string' }, json: { type: 'boolean' }, 'scrypt-n': { type: 'string' }, ...KEK_FLAGS });
  const dataDir = path.resolve(required(v, 'data'));
  const kek = kekFrom(v);
  const scryptN = v['scrypt-n'] === undefined ? undefined : Number(v['scrypt-n']);
  const result = initSigner({ dataDir, signerId: required(v, 'id'), kek, createKeyFile: true, ...(scryptN === undefined ? {} : { scryptN }) });
  process.stdout.write(v.json ? `${JSON.stringify(result)}\n` : `signerId ${result.signerId}\npublicKey ${result.publicKey}\n`);
  return 0;
}

function pubkey(args: string[]): number {
  const v = parse(args, { data: { type: 'string' }, json: { type: 'boolean' } });
  const publicKey = readPublicKey(path.resolve(required(v, 'data')));
  process.stdout.write(v.json ? `${JSON.stringify({ publicKey })}\n` : `${publicKey}\n`);
  return 0;
}

function bans(args: string[]): number {
  const v = parse(args, { data: { type: 'string' }, json: { type: 'boolean' } });
  const list = Keystore.readPeerBans(path.resolve(required(v, 'data')));
  const human = list.length === 0 ? 'no peer bans' : list.map((b) => `${b.keyId}  ${b.peer}  ${new Date(b.bannedAt).toISOString()}  ${b.reason}`).join('\n');
  process.stdout.write(v.json ? `${JSON.stringify({ bans: list })}\n` : `${human}\n`);
  return 0;
}

function unban(args: string[]): number {
  const v = parse(args, { data: { type: 'string' }, key: { type: 'string' }, peer: { type: 'string' }, json: { type: 'boolean' }, ...KEK_FLAGS });
  const dataDir = path.resolve(required(v, 'data'));
  const keyId = required(v, 'key');
  const peer = required(v, 'peer');
  const keystore = Keystore.open({ dataDir, kek: kekFrom(v) });
  try {
    if (!keystore.clearPeerBan(keyId, peer)) throw new SignerError('NOT_FOUND', { field: 'peer', message: `${peer} is not banned for key ${keyId} here` });
  } finally {
    keystore.close();
  }
  process.stdout.write(v.json ? `${JSON.stringify({ keyId, peer, cleared: true })}\n` : `ban of ${peer} on key ${keyId} lifted\n`);
  return 0;
}

async function start(args: string[]): Promise<number> {
  const v = parse(args, {
    config: { type: 'string' },
    data: { type: 'string' },
    coordinator: { type: 'string', multiple: true },
    'coordinator-key': { type: 'string' },
    listen: { type: 'string' },
    'log-level': { type: 'string' },
    ...KEK_FLAGS,
  });
  const level = (v['log-level'] as string | undefined) ?? 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(level)) throw new UsageError('--log-level must be debug, info, warn or error');
  const log = createLogger({ level: level as LogLevel });
  const { options, baseDir } = loadConfigFile(required(v, 'config'));
  const overrides: Partial<SignerOptions> = {
    dataDir: abs(v.data),
    coordinatorPublicKey: v['coordinator-key'] as string | undefined,
    listen: v.listen as string | undefined,
    passphraseEnv: v['passphrase-env'] as string | undefined,
    passphraseFile: abs(v['passphrase-file']),
    keyFile: abs(v['key-file']),
  };
  const merged: SignerOptions = { ...options };
  for (const [name, value] of Object.entries(overrides)) if (value !== undefined) Object.assign(merged, { [name]: value });
  // A KEK flag replaces whichever KEK source the file names.
  if (overrides.keyFile !== undefined) delete merged.passphraseFile;
  if (overrides.passphraseFile !== undefined) delete merged.keyFile;
  // --coordinator (repeatable, or comma-separated) replaces the file's coordinator URL(s).
  const urls = (v.coordinator as string[] | undefined)?.flatMap((u) => u.split(',')).map((u) => u.trim());
  if (urls !== undefined) {
    delete merged.coordinatorUrl;
    merged.coordinatorUrls = urls;
  }
  const daemon = new SignerDaemon(merged, { baseDir, log });
  await daemon.start();
  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) process.exit(1);
      stopping = true;
      log.info('signal received; stopping', { signal });
      void daemon.stop().then(resolve, (e: unknown) => {
        log.error('stop failed', { reason: e instanceof Error ? e.message : String(e) });
        resolve();
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'init') return init(rest);
    if (command === 'pubkey') return pubkey(rest);
    if (command === 'bans') return bans(rest);
    if (command === 'unban') return unban(rest);
    if (command === 'start') return await start(rest);
    if (command === 'help' || command === '--help' || command === '-h') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    throw new UsageError(command === undefined ? 'no command given' : `unknown command '${command}'`);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`keyquorum-signer: ${e.message}\n${USAGE}\n`);
      return 2;
    }
    if (e instanceof SignerError) {
      process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: `${command} failed`, code: e.code, field: e.field, reason: e.message })}\n`);
      return 1;
    }
    throw e;
  }
}

process.exitCode = await main(process.argv.slice(2));
