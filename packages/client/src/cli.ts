/**
 * The `keyquorum` CLI, on the SDK:
 *   keyquorum dev [--signers 3] [--threshold 2] [--port 8080] [--data DIR] [--scrypt-n N]
 *     (--scrypt-n: for tests only, a cheaper scrypt cost for the nodes' sealed secrets at init)
 *   keyquorum keys create --suite S --threshold T [--signers id,...] [--label L]   (--scheme: older name of --suite)
 *   keyquorum keys list | keys show ID | keys derive ID --path m/44/0/7
 *   keyquorum sign ID --message HEX [--path m/44/0/7] [--taproot [--merkle-root HEX]]
 *   keyquorum sign-tx ID --chain ethereum|bitcoin|solana --tx|--psbt|--message ...   (cli-sign.ts)
 *   keyquorum keys refresh ID | keys reshare ID --signers id,... --threshold T | keys repair ID --signer S | keys retire ID
 *   keyquorum signers
 *   keyquorum bans ID | bans clear ID --signer S
 *   keyquorum audit [--key ID] | audit export --out FILE | audit verify FILE   (cli-audit.ts)
 *   keyquorum client-key --out FILE
 *   keyquorum policy show ID | policy set ID --file F | operations list [--pending]
 *   keyquorum approve OPERATION_ID --key-file APPROVER.json | approver keygen --id ID --out F   (cli-governance.ts)
 * Every command takes --json (machine output on stdout) and --url / --key-file;
 * otherwise KEYQUORUM_URL / KEYQUORUM_KEY_FILE, otherwise ./.keyquorum/cluster.json
 * (written by `keyquorum dev`). Exit codes: 0 ok, 1 request refused or failed (or an
 * audit export that does not verify), 2 usage error or a file that cannot be read or written, 3 the
 * operation waits for approvals (its id printed; docs/governance.md). Signal handling for `dev` lives here.
 *
 * Every string that came from elsewhere (the coordinator's answers, which carry
 * signer-supplied ban reasons, audit details and error messages) is printed through
 * `printable`: control characters, terminal escapes among them, are replaced, so a
 * hostile signer or coordinator cannot drive the operator's terminal. --json output
 * escapes them already (JSON.stringify).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { bytesToHex } from '@noble/hashes/utils.js';
import { KEY_SUITES, exportIdentitySecret, generateIdentity, type KeySuiteId } from '@keyquorum/protocol';
import { audit } from './cli-audit.ts';
import { governance, printPending } from './cli-governance.ts';
import { sign, signTx } from './cli-sign.ts';
import { IoError, Refusal, UsageError, connect, fields, keyId, need, parse, printable, table, time, type CliIo, type Values } from './cli-support.ts';
import { KeyquorumClient, type Ban, type CreateKeyOptions, type KeyJson, type SignerStatus } from './client.ts';
import { stateTransition } from './cli-states.ts';
import { DEV_DIR, DevCluster } from './dev.ts';
import { DevHaCluster, freeLoopbackPort } from './dev-ha.ts';
import { coordinatorStatus } from './dev-status.ts';
import { readClusterFile, writeClientKeyFile } from './discovery.ts';
import { isClientError } from './errors.ts';
import { isApprovalPending } from './pending.ts';

const USAGE = `usage: keyquorum <command> [options]

  dev [--signers 3] [--threshold 2] [--port 8080] [--data DIR] [--ha]   run a local cluster in the foreground
                                    (--ha: PostgreSQL and two coordinators, ports --port and --port+1, one leading)
  status                            each coordinator's URL, pid and role (leader/follower), and the signers
  keys create --suite frost-secp256k1-tr|frost-ed25519|ecdsa-secp256k1 --threshold T [--signers id,...] [--label L]
                                    (--scheme is accepted as the older name of --suite)
  keys list
  keys show ID
  keys derive ID --path m/44/0/7
  keys refresh ID
  keys reshare ID --signers id,... --threshold T
  keys repair ID --signer S         rebuild S's lost share from t helpers (S re-initialised, its new key pinned)
  keys retire ID
  keys suspend|resume|deactivate|compromise ID   change the key state (admin; every signer checks it)
  keys destroy ID [--after 7d] [--cancel]        schedule the wipe of every share (default 7 days), or cancel it
  sign ID --message HEX [--path m/44/0/7] [--taproot [--merkle-root HEX]]
                                    sign a message; --taproot: for the BIP341 output key (frost-secp256k1-tr)
  sign-tx ID --chain ethereum --tx HEX | --chain bitcoin --psbt BASE64 | --chain solana --message BASE64
             [--path m/44/0/7] [--network mainnet|testnet|regtest]
                                    sign an unsigned transaction: every signer parses it and checks the key's
                                    policy against what it pays; prints the broadcastable transaction and its id
  signers
  bans ID                           signers banned from the key's sessions (caught cheating)
  bans clear ID --signer S          lift the coordinator's ban (admin; each signer: keyquorum-signer unban)
  audit [--key ID]                  the log and the coordinator's check of its hash chain
  audit export --out FILE           the whole log into a file that verifies offline (progress on stderr)
  audit verify FILE [--signer-keys KEYS.json]
                                    check an export with no coordinator; names the first entry that fails
                                    (--signer-keys: { id: hex } pins signers to check their attestations)
  client-key --out FILE             create a client key file (0600); prints its public key for configs
  policy show ID                    the key's policy: version, digest, approvers, approvals, velocity, ...
  policy set ID --file policy.json  ask for the key's next policy (admin; its JSON form; no "version": current + 1)
  operations list [--pending]       operations that need approvals, with the approvals they have
  approve OPERATION_ID --key-file APPROVER.json [--client-key FILE]
                                    check what the operation's request authorises, print it, approve it
                                    (--key-file is the approver key here; the API client key: --client-key)
  approver keygen --id ID --out FILE
                                    create an Ed25519 approver key file (0600); prints its policy entry

common options:
  --json            machine-readable output
  --url URL         coordinator API (else $KEYQUORUM_URL, else ./${DEV_DIR}/cluster.json)
  --key-file FILE   client key (else $KEYQUORUM_KEY_FILE, else the dev admin key in ./${DEV_DIR}/)

exit codes: 0 ok, 1 request refused or failed (audit: does not verify), 2 usage error or unreadable/unwritable file,
            3 waiting for approvals (the pending operation is printed; --json: { pending: operation })`;

const KEY_FIELDS = ['id', 'scheme', 'threshold', 'signers', 'publicKey', 'epoch', 'state'] as const;


function integer(v: string, name: string, min: number, max: number): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) throw new UsageError(`--${name}: expected an integer in [${min}, ${max}]`);
  return n;
}

function signerList(v: string): string[] {
  const ids = v.split(',').map((s) => s.trim());
  if (ids.some((s) => s.length === 0)) throw new UsageError('--signers: expected a comma-separated list of signer ids');
  return ids;
}

/** `--suite`, or `--scheme`, its older name. */
function suiteOption(v: Values): KeySuiteId {
  if (v.suite !== undefined && v.scheme !== undefined) throw new UsageError('--suite and --scheme (its older name) both given');
  const name = v.scheme !== undefined ? 'scheme' : 'suite';
  const suite = need(v, name);
  if (!(KEY_SUITES as readonly string[]).includes(suite)) throw new UsageError(`--${name}: expected one of ${KEY_SUITES.join(', ')}`);
  return suite as KeySuiteId;
}


// ---- output ----



/**
 * A key as the CLI's documented JSON: exactly these seven fields. The CLI's output keeps
 * the older name `scheme` for the suite (its JSON, table and view are a published format).
 */
function keyContract(k: KeyJson): Record<(typeof KEY_FIELDS)[number], unknown> {
  return Object.fromEntries(KEY_FIELDS.map((f) => [f, f === 'scheme' ? k.suite : k[f]])) as Record<(typeof KEY_FIELDS)[number], unknown>;
}

function keyView(k: KeyJson): string {
  return fields([
    ['id', k.id],
    ['scheme', k.suite],
    ['quorum', `${k.threshold} of ${k.signers.length} (${k.signers.join(', ')})`],
    ['publicKey', k.publicKey ?? '(pending)'],
    ['epoch', String(k.epoch)],
    ['state', k.state],
  ]);
}


/** `key@epoch` for each key the signer holds a share of. */
const epochs = (s: SignerStatus) => Object.entries(s.epochs).map(([key, epoch]) => `${key}@${epoch}`).join(', ') || '-';

function signersView(list: SignerStatus[]): string {
  return table(['SIGNER', 'CONNECTED', 'LAST SEEN', 'KEYS (EPOCH)'], list.map((s) => [s.id, s.connected ? 'yes' : 'no', time(s.lastSeen), epochs(s)]));
}

function bansView(keyId: string, list: Ban[]): string {
  return list.length === 0 ? `no bans for key ${keyId}` : table(['SIGNER', 'SINCE', 'REASON'], list.map((b) => [b.signer, time(b.at), b.reason]));
}


// ---- commands ----


async function keys(sub: string | undefined, args: string[], io: CliIo): Promise<number> {
  const print = (json: boolean, data: unknown, human: string) => io.out(json ? `${JSON.stringify(data, null, 2)}\n` : `${human}\n`);
  switch (sub) {
    case 'create': {
      const { values: v } = parse(args, { suite: { type: 'string' }, scheme: { type: 'string' }, threshold: { type: 'string' }, signers: { type: 'string' }, label: { type: 'string' } }, 0);
      const suite = suiteOption(v);
      const id = v.label === undefined ? `key-${randomBytes(5).toString('hex')}` : keyId(v.label as string);
      const { client, threshold: devThreshold } = connect(v, io);
      const threshold = v.threshold === undefined ? devThreshold : integer(v.threshold as string, 'threshold', 2, 255);
      if (threshold === undefined) throw new UsageError('--threshold is required');
      const opts: CreateKeyOptions = { keyId: id, suite, threshold };
      if (v.signers !== undefined) opts.signers = signerList(v.signers as string);
      const key = await client.createKey(opts);
      print(v.json === true, keyContract(key), keyView(key));
      return 0;
    }
    case 'list': {
      const { values: v } = parse(args, {}, 0);
      const list = await connect(v, io).client.listKeys();
      print(
        v.json === true,
        list.map(keyContract),
        list.length === 0 ? 'no keys' : table(['ID', 'SCHEME', 'QUORUM', 'EPOCH', 'STATE', 'PUBLIC KEY'], list.map((k) => [k.id, k.suite, `${k.threshold}/${k.signers.length}`, String(k.epoch), k.state, k.publicKey ?? '-'])),
      );
      return 0;
    }
    case 'show':
    case 'refresh':
    case 'retire': {
      const { values: v, positionals } = parse(args, {}, 1);
      const id = keyId(positionals[0]!);
      const { client } = connect(v, io);
      if (sub === 'retire') {
        const out = await client.retire(id);
        const lines = out.attestations.map((a) => `  ${printable(a.signer)} destroyed its epoch-${a.epoch} share at ${time(a.destroyedAt)}`);
        print(v.json === true, { key: keyContract(out.key), attestations: out.attestations }, `${keyView(out.key)}\nattestations (${out.attestations.length}):\n${lines.join('\n')}`);
        return 0;
      }
      const key = sub === 'show' ? await client.getKey(id) : await client.refresh(id);
      print(v.json === true, keyContract(key), keyView(key));
      return 0;
    }
    case 'suspend': case 'resume': case 'deactivate': case 'compromise': case 'destroy': {
      const { values: v, positionals } = parse(args, { after: { type: 'string' }, cancel: { type: 'boolean' } }, 1);
      const change = stateTransition(sub, { after: v.after as string | undefined, cancel: v.cancel as boolean | undefined });
      if ('usage' in change) throw new UsageError(change.usage);
      const key = await connect(v, io).client.changeState(keyId(positionals[0]!), change);
      print(v.json === true, keyContract(key), keyView(key));
      return 0;
    }
    case 'derive': {
      const { values: v, positionals } = parse(args, { path: { type: 'string' } }, 1);
      const d = await connect(v, io).client.deriveKey(keyId(positionals[0]!), need(v, 'path'));
      print(v.json === true, d, fields([['path', d.path], ['publicKey', d.publicKey], ['chainCode', d.chainCode]]));
      return 0;
    }
    case 'reshare': {
      const { values: v, positionals } = parse(args, { signers: { type: 'string' }, threshold: { type: 'string' } }, 1);
      const signers = signerList(need(v, 'signers'));
      const threshold = integer(need(v, 'threshold'), 'threshold', 2, 255);
      const key = await connect(v, io).client.reshare(keyId(positionals[0]!), { signers, threshold });
      print(v.json === true, keyContract(key), keyView(key));
      return 0;
    }
    case 'repair': {
      const { values: v, positionals } = parse(args, { signer: { type: 'string' } }, 1);
      const id = keyId(positionals[0]!);
      const signer = need(v, 'signer');
      const { client } = connect(v, io);
      const progress = (line: string) => io.err(`${line}\n`);
      const started = await client.repair(id, signer, { wait: false });
      progress(`repairing ${printable(signer)}'s share of ${printable(id)} (operation ${printable(started.id)})...`);
      const done = await client.waitForOperation<KeyJson>(started.id, { timeoutMs: 10 * 60_000 });
      const key = done.result!;
      progress(`${printable(signer)} holds its share of ${printable(id)} again (epoch ${key.epoch}); checked against its verifying share`);
      print(v.json === true, keyContract(key), keyView(key));
      return 0;
    }
    default:
      throw new UsageError(sub === undefined ? "'keys' needs a subcommand" : `unknown subcommand 'keys ${sub}'`);
  }
}

async function dev(args: string[], io: CliIo): Promise<number> {
  const { values: v } = parse(args, { signers: { type: 'string' }, threshold: { type: 'string' }, port: { type: 'string' }, data: { type: 'string' }, 'scrypt-n': { type: 'string' }, ha: { type: 'boolean' } }, 0);
  const signers = integer((v.signers as string | undefined) ?? '3', 'signers', 2, 64);
  const threshold = integer((v.threshold as string | undefined) ?? '2', 'threshold', 2, 255);
  if (threshold > signers) throw new UsageError(`--threshold ${threshold} is greater than --signers ${signers}`);
  const port = integer((v.port as string | undefined) ?? '8080', 'port', 0, 65_535);
  const dataDir = path.resolve(io.cwd, (v.data as string | undefined) ?? DEV_DIR);
  const progress = (line: string) => io.out(`${line}\n`);

  // --scrypt-n (tests only; undocumented in USAGE): a cheaper sealing cost for fresh nodes; the CLIs check its range.
  const scryptN = v['scrypt-n'] === undefined ? {} : { scryptN: integer(v['scrypt-n'] as string, 'scrypt-n', 16, 2 ** 20) };
  const cluster = v.ha === true ? new DevHaCluster({ dataDir, signers, threshold, port, progress, postgresPort: await freeLoopbackPort(), ...scryptN }) : new DevCluster({ dataDir, signers, threshold, port, progress, ...scryptN });
  let interrupted = false;
  const stopped = new Promise<string>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      if (interrupted) return;
      interrupted = true;
      resolve(signal);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  process.once('exit', () => cluster.killNow());

  const starting = cluster.start();
  const first = await Promise.race([starting.then(() => ({})), stopped.then((signal) => ({ signal }))]);
  if ('signal' in first) {
    progress(`keyquorum dev: ${first.signal} during start; stopping`);
    // A failed start has stopped what it started; a finished one is stopped here.
    await starting.catch(() => undefined);
    await cluster.stop();
    return 0;
  }
  const here = dataDir === path.resolve(io.cwd, DEV_DIR);
  const env = here ? '' : `export KEYQUORUM_URL=${cluster.url} KEYQUORUM_KEY_FILE=${path.join(dataDir, 'admin-key.json')}; `;
  progress(`keyquorum dev: ready at ${cluster.url} (${threshold}-of-${signers}).`);
  progress(`  Try: ${env}npx keyquorum keys create --suite frost-secp256k1-tr --threshold ${threshold}   or: npm run demo`);
  if (cluster instanceof DevHaCluster) progress(`  Coordinators: ${cluster.urls.join(' ')} (one leads; 'keyquorum status' in ${path.dirname(dataDir)} says which). KEYQUORUM_URL names one: no failover.`);
  progress(`  Logs in ${path.join(dataDir, 'logs')}. Ctrl-C stops everything.`);

  const outcome = await Promise.race([stopped.then((signal) => ({ signal })), cluster.unexpectedExit.then((exit) => ({ exit }))]);
  if ('exit' in outcome && (outcome.exit.name !== 'coordinator' || cluster instanceof DevHaCluster)) {
    // A signer died, or one of two coordinators (the other leads): keep serving until stopped.
    await stopped;
  }
  progress(cluster instanceof DevHaCluster ? 'keyquorum dev: stopping signers, coordinators and PostgreSQL…' : 'keyquorum dev: stopping signers and coordinator…');
  await cluster.stop();
  const failed = 'exit' in outcome && outcome.exit.name === 'coordinator';
  progress(failed ? 'keyquorum dev: the coordinator exited; everything stopped.' : 'keyquorum dev: stopped. Data kept; run it again to reuse the same keys.');
  return failed ? 1 : 0;
}

async function run(argv: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    io.out(`${USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(`${USAGE}\n`);
    return 0;
  }
  const json = rest.includes('--json');
  const print = (data: unknown, human: string) => io.out(json ? `${JSON.stringify(data, null, 2)}\n` : `${human}\n`);
  switch (command) {
    case 'dev':
      return dev(rest, io);
    case 'keys':
      return keys(rest[0], rest.slice(1), io);
    case 'sign':
      return sign(rest, io);
    case 'sign-tx':
      return signTx(rest, io);
    case 'client-key': {
      const { values: v } = parse(rest, { out: { type: 'string' } }, 0);
      const file = path.resolve(io.cwd, need(v, 'out'));
      if (fs.existsSync(file)) throw new Refusal('EXISTS', `${file} exists; not overwriting a key`);
      const identity = generateIdentity();
      const seed = exportIdentitySecret(identity);
      writeClientKeyFile(file, seed, identity.publicKey);
      seed.fill(0);
      const publicKey = bytesToHex(identity.publicKey);
      print({ publicKey, keyFile: file }, `publicKey ${publicKey}\nkeyFile   ${file}`);
      return 0;
    }
    case 'status': {
      const { values: v } = parse(rest, {}, 0);
      const { clientKey } = connect(v, io);
      const cluster = readClusterFile(path.resolve(io.cwd, DEV_DIR));
      const urls = typeof v.url === 'string' ? [v.url] : (cluster?.urls ?? (cluster ? [cluster.url] : [io.env.KEYQUORUM_URL ?? '']));
      const coordinators = await coordinatorStatus(urls, cluster?.pids ?? {});
      const leader = coordinators.find((c) => c.role === 'leader' || c.role === 'single');
      const signers = leader === undefined ? [] : await new KeyquorumClient({ url: leader.url, clientKey }).listSigners();
      // Through table() (printable): what a coordinator answers never reaches the terminal raw.
      const human = [table(['coordinator', 'role', 'pid'], coordinators.map((c) => [c.url, c.role, String(c.pid ?? '-')])), signersView(signers)].join('\n');
      print({ coordinators, signers }, human);
      return 0;
    }
    case 'signers': {
      const { values: v } = parse(rest, {}, 0);
      const list = await connect(v, io).client.listSigners();
      print(list, signersView(list));
      return 0;
    }
    case 'bans': {
      if (rest[0] === 'clear' && rest.slice(1).some((a) => a !== '--json')) {
        const { values: v, positionals } = parse(rest.slice(1), { signer: { type: 'string' } }, 1);
        const id = keyId(positionals[0]!);
        const signer = need(v, 'signer');
        await connect(v, io).client.clearBan(id, signer);
        print({ keyId: id, signer, cleared: true }, `ban of ${signer} on key ${id} lifted at the coordinator (signers keep their own: run 'keyquorum-signer unban' where ${signer} is banned)`);
        return 0;
      }
      const { values: v, positionals } = parse(rest, {}, 1);
      const id = keyId(positionals[0]!);
      const list = await connect(v, io).client.bans(id);
      print(list, bansView(id, list));
      return 0;
    }
    case 'audit':
      return audit(rest, io);
    case 'policy':
    case 'operations':
    case 'approve':
    case 'approver':
      return governance(command, rest, io);
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

/** Runs one CLI invocation; resolves to its exit code. */
async function main(argv: string[], io: CliIo): Promise<number> {
  const json = argv.includes('--json');
  const fail = (code: string, message: string, rule?: string) => {
    io.err(json ? `${JSON.stringify({ error: { code, message, ...(rule === undefined ? {} : { rule }) } })}\n` : `keyquorum: ${printable(code)}: ${printable(message)}\n`);
    return 1;
  };
  try {
    return await run(argv, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`keyquorum: ${e.message}\n(run 'keyquorum --help' for usage)\n`);
      return 2;
    }
    if (e instanceof IoError) {
      fail('IO', e.message);
      return 2;
    }
    if (e instanceof Refusal) return fail(e.code, e.message);
    if (isApprovalPending(e)) return printPending(e.operation, json, io);
    if (isClientError(e)) {
      const hint = e.code === 'NETWORK' ? " (is 'keyquorum dev' or the coordinator running?)" : '';
      const culprits = e.culprits.length > 0 ? ` [culprits: ${e.culprits.join(', ')}]` : '';
      const message = e.message.startsWith(`${e.code}: `) ? e.message.slice(e.code.length + 2) : e.message;
      const rule = e.rule === undefined ? '' : ` [rule: ${e.rule}]`;
      return fail(e.code, `${message}${culprits}${rule}${hint}`, e.rule);
    }
    return fail('INTERNAL', e instanceof Error ? e.message : String(e));
  }
}

process.exitCode = await main(process.argv.slice(2), {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  env: process.env,
  cwd: process.cwd(),
});
