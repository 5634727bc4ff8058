/**
 * The governance commands of the `keyquorum` CLI (cli.ts; docs/governance.md):
 *   policy show ID                         the key's policy (version, digest, rules)
 *   policy set ID --file policy.json       ask for the key's next policy (admin); the file is the
 *                                          policy's JSON form; without "version", the current one + 1
 *   operations list [--pending]            operations waiting for (or done with) approvals
 *   approve OPERATION_ID --key-file approver.json [--client-key FILE]
 *                                          checks what the operation's signed request authorises
 *                                          (recomputed from its params), prints it, then approves
 *                                          it with the approver key; --client-key is the client key
 *                                          calling the API (else $KEYQUORUM_KEY_FILE, else the dev key)
 *   approver keygen --id ID --out approver.json
 *                                          an Ed25519 approver key file (0600); prints its policy entry
 * An operation call answered "pending" (202: the policy wants approvals) prints the
 * operation and how many approvals it needs, and exits 3.
 */
import fs from 'node:fs';
import path from 'node:path';
import { bytesToHex } from '@noble/hashes/utils.js';
import { APPROVER_ID_PATTERN, exportIdentitySecret, generateIdentity, signApproval, type IdentityKey } from '@keyquorum/protocol';
import type { PolicyView } from './client-governance.ts';
import { IoError, Refusal, UsageError, connect, fields, keyId, need, parse, printable, table, time, type CliIo } from './cli-support.ts';
import { readClientKeyFile } from './discovery.ts';
import type { PendingOperation } from './pending.ts';

/** The exit code of an operation left waiting for approvals. */
export const EXIT_PENDING = 3;

const errorMessage = (e: unknown) => (e instanceof Error ? e.message : String(e));

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new IoError(`cannot read ${file} as JSON: ${errorMessage(e)}`);
  }
}

/** An approver key file: `{ approverId, type: 'ed25519', publicKey, secretKey }` (hex; the secret is the 32-byte seed). */
export function readApproverKeyFile(file: string): { approverId: string; identity: IdentityKey } {
  const raw = readJson(file) as { approverId?: unknown; type?: unknown };
  if (typeof raw !== 'object' || raw === null || typeof raw.approverId !== 'string' || !APPROVER_ID_PATTERN.test(raw.approverId) || raw.type !== 'ed25519') {
    throw new UsageError(`${file}: not an approver key file (expected { approverId, type: "ed25519", publicKey, secretKey }: 'keyquorum approver keygen')`);
  }
  return { approverId: raw.approverId, identity: readClientKeyFile(file).identity };
}

function policyLines(view: PolicyView): Array<[string, string]> {
  const lines: Array<[string, string]> = [['key', view.keyId], ['version', String(view.version)], ['digest', view.digest]];
  const p = view.policy as null | {
    approvers?: Array<{ id: string; type: string; rpId?: string }>;
    approvals?: Record<string, number>;
    approvalTtlSeconds?: number;
    velocity?: Array<{ limit: number; windowSeconds: number; per: string }>;
    clients?: Record<string, string[]>;
    notBefore?: string;
    notAfter?: string;
    maxDerivationIndex?: number;
    refresh?: { periodSeconds: number; graceSeconds: number };
  };
  if (p === null) return [...lines, ['policy', 'default: no rule beyond client roles']];
  lines.push(['approvers', (p.approvers ?? []).map((a) => `${a.id} (${a.type === 'webauthn' ? `passkey, ${a.rpId ?? '?'}` : a.type})`).join(', ') || '-']);
  lines.push(['approvals', Object.entries(p.approvals ?? {}).map(([action, n]) => `${action} ${n}`).join(', ') || '-']);
  if (p.approvalTtlSeconds !== undefined) lines.push(['approval ttl', `${p.approvalTtlSeconds} s`]);
  lines.push(['velocity', (p.velocity ?? []).map((r) => `${r.limit} per ${r.windowSeconds} s per ${r.per}`).join(', ') || '-']);
  for (const [op, list] of Object.entries(p.clients ?? {})) lines.push([`clients ${op}`, list.join(', ')]);
  if (p.notBefore !== undefined || p.notAfter !== undefined) lines.push(['valid', `${p.notBefore ?? '-'} to ${p.notAfter ?? '-'}`]);
  if (p.maxDerivationIndex !== undefined) lines.push(['max index', String(p.maxDerivationIndex)]);
  if (p.refresh !== undefined) lines.push(['refresh', `every ${p.refresh.periodSeconds} s (grace ${p.refresh.graceSeconds} s)`]);
  return lines;
}

const approvalsOf = (op: PendingOperation) => `${op.approvals.length} of ${op.required}${op.approvals.length > 0 ? ` (${op.approvals.join(', ')})` : ''}`;

function operationLines(op: PendingOperation): Array<[string, string]> {
  return [['operation', op.id], ['key', op.keyId], ['op', op.op === op.action ? op.op : `${op.op} (${op.action})`], ['state', op.state], ['approvals', approvalsOf(op)], ['expires', time(op.expiresAt)]];
}

/** What an operation left waiting for approvals prints; exits 3. */
export function printPending(op: PendingOperation, json: boolean, io: CliIo): number {
  if (json) {
    io.out(`${JSON.stringify({ pending: op }, null, 2)}\n`);
  } else {
    io.out(`${fields(operationLines(op))}\nwaiting for ${op.required - op.approvals.length} more approval(s): keyquorum approve ${printable(op.id)} --key-file APPROVER.json\n`);
  }
  return EXIT_PENDING;
}

/** The result of a finished operation, one line per field when it is an object of short values. */
function resultLines(result: unknown): Array<[string, string]> {
  if (typeof result !== 'object' || result === null) return [];
  return Object.entries(result).filter(([, v]) => ['string', 'number'].includes(typeof v)).map(([k, v]) => [k, String(v)]);
}

/** `CODE (rule): message`, without the code and rule the coordinator's message may repeat. */
function failure(e: PendingOperation['error']): string {
  if (e === undefined) return '?';
  const message = (e.message ?? '').replace(new RegExp(`^${e.code}:? (\\(\\w+\\):? )?`), '');
  return printable(`${e.code}${e.rule === undefined ? '' : ` (${e.rule})`}: ${message}`);
}

export async function governance(command: string, args: string[], io: CliIo): Promise<number> {
  const json = args.includes('--json');
  const print = (data: unknown, human: string) => io.out(json ? `${JSON.stringify(data, null, 2)}\n` : `${human}\n`);
  const sub = `${command} ${args[0] ?? ''}`.trim();
  switch (sub) {
    case 'policy show': {
      const { values: v, positionals } = parse(args.slice(1), {}, 1);
      const view = await connect(v, io).client.getPolicy(keyId(positionals[0]!));
      print(view, fields(policyLines(view)));
      return 0;
    }
    case 'policy set': {
      const { values: v, positionals } = parse(args.slice(1), { file: { type: 'string' } }, 1);
      const id = keyId(positionals[0]!);
      const doc = readJson(path.resolve(io.cwd, need(v, 'file')));
      if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new UsageError('--file: expected a policy (a JSON object)');
      const { client } = connect(v, io);
      const policy = 'version' in doc ? doc : { ...doc, version: (await client.getPolicy(id)).version + 1 };
      const set = await client.setPolicy(id, policy);
      const pending = set.pending.length > 0 ? `\nnot reached yet (re-sent when they reconnect): ${set.pending.join(', ')}` : '';
      print(set, `${fields(policyLines(set))}\nenforced by: ${set.delivered.join(', ') || '-'}${pending}`);
      return 0;
    }
    case 'operations list': {
      const { values: v } = parse(args.slice(1), { pending: { type: 'boolean' } }, 0);
      const list = await connect(v, io).client.listOperations(v.pending === true ? { state: 'pending' } : {});
      print(
        list,
        list.length === 0
          ? `no ${v.pending === true ? 'pending ' : ''}operations`
          : table(['OPERATION', 'KEY', 'OP', 'STATE', 'APPROVALS', 'EXPIRES'], list.map((o) => [o.id, o.keyId, o.op === o.action ? o.op : `${o.op} (${o.action})`, o.state, approvalsOf(o), time(o.expiresAt)])),
      );
      return 0;
    }
    case 'approver keygen': {
      const { values: v } = parse(args.slice(1), { id: { type: 'string' }, out: { type: 'string' } }, 0);
      const approverId = need(v, 'id');
      if (!APPROVER_ID_PATTERN.test(approverId)) throw new UsageError(`--id: expected ${APPROVER_ID_PATTERN}`);
      const file = path.resolve(io.cwd, need(v, 'out'));
      if (fs.existsSync(file)) throw new Refusal('EXISTS', `${file} exists; not overwriting a key`);
      const identity = generateIdentity();
      const seed = exportIdentitySecret(identity);
      const entry = { id: approverId, type: 'ed25519', publicKey: bytesToHex(identity.publicKey) };
      try {
        fs.writeFileSync(file, `${JSON.stringify({ approverId, type: 'ed25519', publicKey: entry.publicKey, secretKey: bytesToHex(seed) }, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
        fs.chmodSync(file, 0o600);
      } catch (e) {
        throw new IoError(`cannot write ${file}: ${errorMessage(e)}`);
      } finally {
        seed.fill(0);
      }
      print({ keyFile: file, approver: entry }, `approver key written to ${printable(file)} (0600)\npolicy entry (add it to the key's "approvers"):\n${JSON.stringify(entry)}`);
      return 0;
    }
    default: {
      if (command !== 'approve') throw new UsageError(`unknown subcommand '${sub}'`);
      const { values: v, positionals } = parse(args, { 'client-key': { type: 'string' } }, 1, 'OPERATION_ID');
      const opId = positionals[0]!;
      if (!/^[0-9a-f]{64}$/.test(opId)) throw new UsageError(`OPERATION_ID '${opId}': expected 64 hex digits`);
      const approver = readApproverKeyFile(path.resolve(io.cwd, need(v, 'key-file')));
      const { client } = connect({ ...v, 'key-file': v['client-key'] }, io);
      const review = await client.reviewOperation(opId);
      const summary = [...operationLines(review.operation), ...review.summary, ['requested by', `client ${bytesToHex(review.request.clientKey)} at ${time(review.request.timestamp)}`] as [string, string]];
      if (!json) io.out(`approving as ${approver.approverId}:\n${fields(summary)}\n`);
      const after = await client.approve(opId, signApproval(approver.identity, approver.approverId, review.request));
      const done = after.state === 'succeeded' ? `\noperation succeeded:\n${fields(resultLines(after.result))}` : after.state === 'failed' ? `\noperation FAILED: ${failure(after.error)}` : '';
      print({ approved: { approver: approver.approverId, summary: Object.fromEntries(summary) }, operation: after }, `approved: ${approvalsOf(after)}; operation ${after.state}${done}`);
      return after.state === 'failed' || after.state === 'expired' ? 1 : 0;
    }
  }
}
