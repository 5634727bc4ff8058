/**
 * The fuzzer's oracles, each a pure check over what it observed, so each can be
 * shown to fail (test/fuzz-oracles.test.ts):
 * 1. no crash: every process alive, the coordinator answering /healthz, every signer
 *    connected, no uncaught exception or INTERNAL failure in any process's output;
 * 2. no state change: the coordinator's registry (keys with epochs and states,
 *    pending commits, signer epochs, attestations, bans, audit length and head) and
 *    every signer's keystore (shares, retirements, peer bans) equal before and after;
 * 3. typed errors: every refused frame answered with an ERROR or ABORT naming a known
 *    code other than INTERNAL; every HTTP answer to a mutated request a JSON error
 *    `{error: {code, message}}` with a known code whose status (API_ERRORS) is the one
 *    sent, and 4xx; nothing hangs past its timeout.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { bytesToHex } from '@noble/hashes/utils.js';
import { API_ERRORS, isApiErrorCode } from '@keyquorum/protocol';
import { REPO_ROOT } from '../support/process.ts';

/** Error-code unions declared in the packages' errors.ts (`| 'CODE'` lines of `export type XErrorCode =`). */
const ERROR_SOURCES = ['packages/protocol/src/errors.ts', 'packages/signer/src/errors.ts', 'packages/crypto/src/errors.ts', 'packages/coordinator/src/errors.ts'];

/** Every typed code a refusal may name: the packages' error unions and the HTTP contract's. */
export function knownCodes(): Set<string> {
  const codes = new Set<string>(Object.keys(API_ERRORS));
  for (const file of ERROR_SOURCES) {
    const src = fs.readFileSync(path.join(REPO_ROOT, file), 'utf8');
    const union = /export type \w+ErrorCode =([\s\S]*?);\s*\n/.exec(src)?.[1] ?? '';
    for (const m of union.matchAll(/\|\s*'([A-Z_]+)'/g)) codes.add(m[1]!);
  }
  return codes;
}

/** refused: a typed refusal; accepted: answered as valid (a replayed COMMIT re-ACKed, a read); ignored: an ABORT or ERROR, never answered by design. */
export type Outcome = 'refused' | 'accepted' | 'ignored' | 'silent' | 'untyped' | 'hang';

/** How one input ended, and the codes it was refused with. */
export interface Verdict {
  outcome: Outcome;
  codes: string[];
  detail?: string;
}

/** A frame input's verdict from the codes of the ERRORs/ABORTs it drew and whether anything else answered it. */
export function judgeFrame(known: ReadonlySet<string>, codes: readonly string[], otherReplies: number, answered: boolean, silentAllowed: boolean): Verdict {
  if (!answered) return { outcome: 'hang', codes: [...codes], detail: 'the barrier probe was not answered in time' };
  const bad = codes.filter((c) => c === 'INTERNAL' || !known.has(c));
  if (bad.length > 0) return { outcome: 'untyped', codes: [...codes], detail: `untyped codes: ${bad.join(', ')}` };
  if (codes.length > 0) return { outcome: 'refused', codes: [...codes] };
  if (otherReplies > 0) return { outcome: 'accepted', codes: [] };
  return { outcome: silentAllowed ? 'ignored' : 'silent', codes: [] };
}

/** The code at the start of an ABORT reason ("BAD_DIGEST: ..."), or 'UNTYPED'. */
export function abortCode(reason: string): string {
  return /^([A-Z][A-Z_]+)\b/.exec(reason)?.[1] ?? 'UNTYPED';
}

/** One HTTP answer to a fuzzed request. `mayAnswer2xx`: a read or public route, whose success changes nothing. */
export function judgeHttp(known: ReadonlySet<string>, status: number | undefined, body: string, mayAnswer2xx: boolean): Verdict {
  if (status === undefined) return { outcome: 'hang', codes: [], detail: body };
  if (status >= 200 && status < 300) {
    return mayAnswer2xx ? { outcome: 'accepted', codes: [] } : { outcome: 'untyped', codes: [], detail: `a mutated mutation was answered ${status}` };
  }
  let code: unknown;
  try {
    code = (JSON.parse(body) as { error?: { code?: unknown; message?: unknown } }).error?.code;
  } catch {
    return { outcome: 'untyped', codes: [], detail: `HTTP ${status} with a body that is not JSON` };
  }
  if (typeof code !== 'string' || !known.has(code) || !isApiErrorCode(code)) return { outcome: 'untyped', codes: [String(code)], detail: `HTTP ${status} without a known API error code` };
  if (API_ERRORS[code] !== status) return { outcome: 'untyped', codes: [code], detail: `${code} answered with ${status}, not ${API_ERRORS[code]}` };
  if (status >= 500) return { outcome: 'untyped', codes: [code], detail: `HTTP ${status} ${code}` };
  return { outcome: 'refused', codes: [code] };
}

export type StateSnapshot = Record<string, string[]>;

function readRows(file: string, queries: Record<string, string>): StateSnapshot {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const out: StateSnapshot = {};
    for (const [name, sql] of Object.entries(queries)) {
      out[name] = (db.prepare(sql).all() as Record<string, unknown>[]).map((r) => Object.values(r).map((v) => (v instanceof Uint8Array ? bytesToHex(v) : String(v))).join('|'));
    }
    return out;
  } finally {
    db.close();
  }
}

const REGISTRY_QUERIES = {
  keys: 'SELECT id, suite, threshold, participants, group_key, public_key, epoch, state, updated_at FROM keys ORDER BY id',
  pendingCommits: 'SELECT signer, key_id FROM pending_commits ORDER BY seq',
  signerEpochs: 'SELECT key_id, signer, epoch FROM signer_epochs ORDER BY key_id, signer',
  attestations: 'SELECT key_id, signer, epoch FROM attestations ORDER BY key_id, signer',
  bans: 'SELECT key_id, signer, reason FROM bans ORDER BY key_id, signer',
  audit: 'SELECT COUNT(*) AS n, MAX(seq) AS head FROM audit',
};

const KEYSTORE_QUERIES = {
  shares: 'SELECT key_id, epoch, state, suite, sealed FROM shares ORDER BY key_id, epoch',
  retired: 'SELECT key_id FROM retired_keys ORDER BY key_id',
  bans: 'SELECT key_id, peer FROM peer_bans ORDER BY key_id, peer',
};

/** Every durable row the fuzz must not change: the registry's and each signer's keystore's (read-only connections beside the running processes). */
export function snapshotState(dataDirs: { coordinator: string; signers: Record<string, string> }): StateSnapshot {
  const out: StateSnapshot = {};
  for (const [name, rows] of Object.entries(readRows(path.join(dataDirs.coordinator, 'registry.db'), REGISTRY_QUERIES))) out[`coordinator.${name}`] = rows;
  for (const [id, dir] of Object.entries(dataDirs.signers)) {
    for (const [name, rows] of Object.entries(readRows(path.join(dir, 'keystore.db'), KEYSTORE_QUERIES))) out[`${id}.${name}`] = rows;
  }
  return out;
}

/** The tables whose rows differ between two snapshots, with what was added and removed. */
export function diffState(before: StateSnapshot, after: StateSnapshot): string[] {
  const diffs: string[] = [];
  for (const table of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const a = before[table] ?? [];
    const b = after[table] ?? [];
    const added = b.filter((r) => !a.includes(r));
    const removed = a.filter((r) => !b.includes(r));
    if (added.length > 0 || removed.length > 0 || a.length !== b.length) diffs.push(`${table}: +[${added.join('; ').slice(0, 300)}] -[${removed.join('; ').slice(0, 300)}]`);
  }
  return diffs;
}

/** Output lines that show an uncaught exception or an untyped (INTERNAL) failure. */
export function crashLines(output: readonly string[]): string[] {
  return output.filter((l) => /Uncaught|UnhandledPromiseRejection|unhandledRejection|FATAL ERROR|"code":"INTERNAL"|frame handler failed|^\s+at .+\(.+:\d+:\d+\)$/.test(l));
}

/** A histogram, as a sorted plain object. */
export class Histogram {
  private readonly counts = new Map<string, number>();
  add(key: string, n = 1): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + n);
  }
  get(key: string): number {
    return this.counts.get(key) ?? 0;
  }
  toJSON(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort(([a], [b]) => a.localeCompare(b)));
  }
}
