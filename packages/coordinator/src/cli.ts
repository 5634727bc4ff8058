/**
 * The coordinator CLI (run with tsx):
 *   init   --data DIR [--json] [--passphrase-env NAME | --passphrase-file FILE] [--scrypt-n N]
 *          creates DIR (0700) and a sealed identity; prints its public key hex.
 *          --scrypt-n lowers the sealing cost below the default 2^17 (sealed.ts): for
 *          tests only (as the signer's init --scrypt-n); the file records its N.
 *   pubkey --data DIR [--json] [--passphrase-env NAME | --passphrase-file FILE]
 *   start  --config FILE [--advertise-url URL]
 *          --advertise-url sets the config's advertiseUrl (with `database`: the URL the
 *          other coordinators redirect to), so replicas can share one config file.
 * The passphrase comes from KEYQUORUM_COORDINATOR_PASSPHRASE unless told otherwise.
 * Logs are JSON lines on stderr. Signal handling lives here, not in the library:
 * SIGINT/SIGTERM stop the coordinator cleanly (a leader on PostgreSQL releases its lease).
 * A leader that loses its lease exits with status 75 (crash-only, leadership.ts): run it
 * under a supervisor that restarts it, and it comes back as a follower.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { bytesToHex } from '@noble/hashes/utils.js';
import { loadConfigFile } from './config.ts';
import { DEFAULT_PASSPHRASE_ENV } from './constants.ts';
import { Coordinator } from './coordinator.ts';
import { isCoordinatorError } from './errors.ts';
import { initIdentity, loadIdentity } from './identity.ts';

const USAGE = `usage:
  keyquorum-coordinator init   --data DIR [--json] [--passphrase-env NAME | --passphrase-file FILE] [--scrypt-n N (tests only)]
  keyquorum-coordinator pubkey --data DIR [--json] [--passphrase-env NAME | --passphrase-file FILE]
  keyquorum-coordinator start  --config FILE [--advertise-url URL]`;

class UsageError extends Error {}

function passphrase(values: { 'passphrase-env'?: string; 'passphrase-file'?: string }): string {
  const pass =
    values['passphrase-file'] !== undefined
      ? fs.readFileSync(values['passphrase-file'], 'utf8').replace(/\r?\n$/, '')
      : process.env[values['passphrase-env'] ?? DEFAULT_PASSPHRASE_ENV];
  if (pass === undefined || pass.length === 0) throw new UsageError(`no passphrase: set ${values['passphrase-env'] ?? DEFAULT_PASSPHRASE_ENV} or pass --passphrase-file`);
  return pass;
}

function printKey(publicKey: Uint8Array, json: boolean | undefined, dataDir: string): void {
  const hex = bytesToHex(publicKey);
  process.stdout.write(json ? `${JSON.stringify({ publicKey: hex, dataDir })}\n` : `${hex}\n`);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      data: { type: 'string' },
      config: { type: 'string' },
      'advertise-url': { type: 'string' },
      json: { type: 'boolean' },
      'passphrase-env': { type: 'string' },
      'passphrase-file': { type: 'string' },
      'scrypt-n': { type: 'string' },
    },
    strict: true,
  });
  switch (command) {
    case 'init':
    case 'pubkey': {
      if (values.data === undefined) throw new UsageError('--data DIR is required');
      if (values['scrypt-n'] !== undefined && command !== 'init') throw new UsageError('--scrypt-n applies to init only');
      if (values['advertise-url'] !== undefined) throw new UsageError('--advertise-url applies to start only');
      const scryptN = values['scrypt-n'] === undefined ? {} : { scryptN: Number(values['scrypt-n']) };
      const identity = command === 'init' ? initIdentity(values.data, passphrase(values), scryptN) : loadIdentity(values.data, passphrase(values));
      printKey(identity.publicKey, values.json, values.data);
      return 0;
    }
    case 'start': {
      if (values.config === undefined) throw new UsageError('--config FILE is required');
      const advertiseUrl = values['advertise-url'];
      const coordinator = new Coordinator(loadConfigFile(values.config, process.env, advertiseUrl === undefined ? {} : { advertiseUrl }));
      await coordinator.start();
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          coordinator.options.logger.info('signal received; stopping', { signal });
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await coordinator.stop();
      return 0;
    }
    default:
      throw new UsageError(command === undefined ? 'no command' : `unknown command ${command}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof UsageError || (e instanceof TypeError && 'code' in e && String(e.code).startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`${e.message}\n${USAGE}\n`);
      process.exit(2);
    }
    const line = isCoordinatorError(e) ? { level: 'error', msg: e.message, code: e.code, field: e.field } : { level: 'error', msg: e instanceof Error ? e.message : String(e) };
    process.stderr.write(`${JSON.stringify({ ts: new Date().toISOString(), ...line })}\n`);
    process.exit(1);
  },
);
