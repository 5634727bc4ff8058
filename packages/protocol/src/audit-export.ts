/**
 * The audit export: the whole hash-chained audit log in one self-describing file that
 * `verifyAuditExport` checks with no coordinator at all (`keyquorum audit export` /
 * `keyquorum audit verify`, `KeyquorumClient.exportAudit`).
 *
 * Format (version 2; version 1 files, without checkpoints, still verify): UTF-8 JSON
 * Lines, every line ending in LF, nothing else.
 *   line 1      the header: {"format":"keyquorum-audit-export","version":2,
 *               "coordinator":{"url":URL},"exportedAt":MS,"count":N,"head":HEX,
 *               "checkpoints":K,"checkpointsSha256":HEX,"headerSha256":HEX}
 *                                         (version 1: no "checkpoints", "checkpointsSha256")
 *   lines 2..   one entry per line, seq 1 to N in order:
 *               {"seq":S,"ts":MS,"event":E,"keyId":ID|null,"data":JSON,"prevHash":HEX,"hash":HEX}
 *   then        K signer cosignatures (audit-checkpoint.ts), by seq then signer:
 *               {"signer":ID,"seq":S,"hash":HEX,"sig":HEX}
 * `data` is a string: the payload's JSON exactly as the coordinator wrote and hashed it,
 * so every field an entry's hash covers is in the file as hashed (audit.ts defines the
 * hash; it is the coordinator's one definition). `count` and `head` are the chain's
 * length and last hash (AUDIT_GENESIS for an empty log); `headerSha256` is the SHA-256
 * of the header's JSON without that field. Every line must be exactly the JSON.stringify
 * of its fields in this order: any other spelling of the same values is refused, so no
 * changed byte anywhere in the file goes unnoticed (a change either breaks a line's
 * syntax or UTF-8, or its canonical form, or changes a value that a hash, the chain's
 * sequence or the header's count, head or headerSha256 covers).
 *
 * What it proves: that the entries form one unbroken chain from the first row, in
 * order, with nothing inserted, removed, reordered or edited after the hashes were
 * computed, up to `head`. Entries are not signed and the chain is not anchored
 * elsewhere: someone who rewrites the whole file consistently (every hash after the
 * change, and the header) is not detected by the file alone. Compare `head` (and
 * `count`) with a head kept elsewhere: an earlier export, or `keyquorum audit` output.
 * The exception is the signers' own word: each `key.attested` row carries the signer's
 * signed ATTEST, checked under that signer's pinned key (`signerKeys`), which a rewriter
 * without the signer's key cannot forge (audit-attestations.ts); and each checkpoint is
 * a signer's signature that the log had hash H at seq S. With `signerKeys`, every
 * checkpoint must verify under its signer's key and the file's chain must carry H at S:
 * a log rewritten at or before a cosigned seq fails ('rewritten'), even re-chained end
 * to end. The result says how far the log is cosigned and by whom (`cosigned`). Entries
 * after the last checkpoint, and checkpoints left out of the file, are not covered:
 * compare the cosigned range with what you expect (signers cosign at least every few
 * seconds while the log grows).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { checkAttestation, type AttestationTally } from './audit-attestations.ts';
import { AUDIT_GENESIS, auditChainStep, type AuditChainFault, type AuditChainRow } from './audit.ts';
import { verifyCheckpoint, type AuditCheckpoint } from './audit-checkpoint.ts';
import { NODE_ID_PATTERN } from './constants.ts';

export const AUDIT_EXPORT_FORMAT = 'keyquorum-audit-export';
export const AUDIT_EXPORT_VERSION = 2;
/** Versions `verifyAuditExport` reads: 1 (no checkpoints) and 2. */
const READABLE_VERSIONS: readonly number[] = [1, 2];

/** The export's first line. */
export interface AuditExportHeader {
  format: typeof AUDIT_EXPORT_FORMAT;
  version: 1 | typeof AUDIT_EXPORT_VERSION;
  /** Where the log was read from (the entries are not signed by it: see above). */
  coordinator: { url: string };
  /** ms since the Unix epoch. */
  exportedAt: number;
  count: number;
  head: string;
  /** Cosignatures after the entries, and the SHA-256 of their lines (absent in version 1). */
  checkpoints?: number;
  checkpointsSha256?: string;
  headerSha256: string;
}

/**
 * How far the log is cosigned: `seq`, the highest entry whose hash at least one pinned
 * signer's checkpoint verified (0: none), `signers`, who cosigned exactly that seq or
 * later, and `bySigner`, each signer's highest verified seq. `checkpoints`: in the file;
 * `verified`: of them, signature-checked under a pinned key. null for a version 1 file
 * (not cosigned).
 */
export interface CosignedRange {
  checkpoints: number;
  verified: number;
  seq: number;
  signers: string[];
  bySigner: Record<string, number>;
}

/**
 * Why an export does not verify: its header is unreadable or inconsistent ('header'),
 * an entry line is not a well-formed entry ('malformed'), is not the next seq
 * ('sequence': a removed, reordered or duplicated entry), does not link to the previous
 * entry's hash ('broken-link') or does not hash to its `hash` ('hash-mismatch'), the file
 * ends before the header's count ('truncated') or goes on after it ('extra'), or a
 * `key.attested` row's signed ATTEST is not the signer's word for it ('bad-attestation':
 * audit-attestations.ts), a checkpoint line is malformed, names a seq past the chain, or
 * its signature does not verify under its signer's pinned key ('bad-checkpoint'), or the
 * chain's hash at a cosigned seq is not the cosigned one ('rewritten': an entry up to
 * that seq changed after the signer checked it; `seq` is that entry, the reason names
 * the range since the last checkpoint that matched).
 */
export type AuditExportFault = 'header' | 'malformed' | AuditChainFault | 'truncated' | 'extra' | 'bad-attestation' | 'bad-checkpoint' | 'rewritten';

export type AuditExportVerification =
  /** `attestations`: `key.attested` rows, those carrying the signer's signed ATTEST, and those whose signature was checked against a pinned key. */
  | { ok: true; version: number; coordinator: { url: string }; exportedAt: number; count: number; head: string; attestations: AttestationTally; cosigned: CosignedRange | null }
  /**
   * `seq`: the first entry that does not verify, as its position in the chain (every
   * entry before it verified); null when the header is at fault. `line`: its 1-based
   * line in the file.
   */
  | { ok: false; seq: number | null; line: number; fault: AuditExportFault; reason: string };

const HEX32 = /^[0-9a-f]{64}$/;
const LF = 0x0a;

type HeaderFields = Omit<AuditExportHeader, 'headerSha256'>;

/** The header's JSON, fields in the format's order (without `headerSha256` when not given). */
function headerJson(h: HeaderFields & { headerSha256?: string }): string {
  const fields: Record<string, unknown> = { format: h.format, version: h.version, coordinator: { url: h.coordinator.url }, exportedAt: h.exportedAt, count: h.count, head: h.head };
  if (h.version !== 1) Object.assign(fields, { checkpoints: h.checkpoints, checkpointsSha256: h.checkpointsSha256 });
  if (h.headerSha256 !== undefined) fields.headerSha256 = h.headerSha256;
  return JSON.stringify(fields);
}

/** SHA-256 of the header's JSON without `headerSha256`. */
function headerDigest(h: HeaderFields & { headerSha256?: string }): string {
  const { headerSha256: _, ...fields } = h;
  return bytesToHex(sha256(utf8ToBytes(headerJson(fields))));
}

const entryJson = (e: AuditChainRow) => JSON.stringify({ seq: e.seq, ts: e.ts, event: e.event, keyId: e.keyId, data: e.data, prevHash: e.prevHash, hash: e.hash });
const checkpointJson = (c: AuditCheckpoint) => JSON.stringify({ signer: c.signer, seq: c.seq, hash: c.hash, sig: c.sig });

/**
 * The export file's text for `entries` (the whole log, seq 1 to N in order, each with
 * `data` as hashed). It does not check them: verify the result with `verifyAuditExport`.
 */
export function buildAuditExport(o: { coordinatorUrl: string; exportedAt: number; entries: readonly AuditChainRow[]; checkpoints?: readonly AuditCheckpoint[] }): string {
  const checkpoints = [...(o.checkpoints ?? [])].sort((a, b) => a.seq - b.seq || (a.signer < b.signer ? -1 : a.signer > b.signer ? 1 : 0));
  const fields: HeaderFields = {
    format: AUDIT_EXPORT_FORMAT,
    version: AUDIT_EXPORT_VERSION,
    coordinator: { url: o.coordinatorUrl },
    exportedAt: o.exportedAt,
    count: o.entries.length,
    head: o.entries.at(-1)?.hash ?? AUDIT_GENESIS,
    checkpoints: checkpoints.length,
    checkpointsSha256: bytesToHex(sha256(utf8ToBytes(checkpoints.map((c) => `${checkpointJson(c)}\n`).join('')))),
  };
  const lines = [headerJson({ ...fields, headerSha256: headerDigest(fields) }), ...o.entries.map(entryJson), ...checkpoints.map(checkpointJson)];
  return `${lines.join('\n')}\n`;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A line's JSON object, or undefined if it is not UTF-8 JSON of an object. */
function readLine(bytes: Uint8Array): { text: string; value: Record<string, unknown> } | undefined {
  try {
    const text = decoder.decode(bytes);
    const value: unknown = JSON.parse(text);
    return isRecord(value) ? { text, value } : undefined;
  } catch {
    return undefined;
  }
}

function readHeader(bytes: Uint8Array): AuditExportHeader | string {
  const line = readLine(bytes);
  if (line === undefined) return 'the header is not a UTF-8 JSON object';
  const h = line.value;
  if (h.format !== AUDIT_EXPORT_FORMAT) return `not a ${AUDIT_EXPORT_FORMAT} file`;
  if (!READABLE_VERSIONS.includes(h.version as number)) return `unsupported version (this verifier reads versions ${READABLE_VERSIONS.join(' and ')})`;
  if (h.version !== 1 && (!Number.isSafeInteger(h.checkpoints) || (h.checkpoints as number) < 0)) return 'checkpoints: expected a non-negative integer';
  if (h.version !== 1 && (typeof h.checkpointsSha256 !== 'string' || !HEX32.test(h.checkpointsSha256))) return 'checkpointsSha256: expected 32 bytes of lowercase hex';
  const c = h.coordinator;
  if (!isRecord(c) || typeof c.url !== 'string') return 'coordinator.url: expected a string';
  if (!Number.isSafeInteger(h.exportedAt) || (h.exportedAt as number) < 0) return 'exportedAt: expected a time in ms';
  if (!Number.isSafeInteger(h.count) || (h.count as number) < 0) return 'count: expected a non-negative integer';
  if (typeof h.head !== 'string' || !HEX32.test(h.head)) return 'head: expected 32 bytes of lowercase hex';
  if (typeof h.headerSha256 !== 'string' || !HEX32.test(h.headerSha256)) return 'headerSha256: expected 32 bytes of lowercase hex';
  const header = h as unknown as AuditExportHeader;
  if (headerJson(header) !== line.text) return 'the header is not in the canonical form (fields, order, spelling)';
  if (headerDigest(header) !== header.headerSha256) return 'headerSha256 does not match the header';
  return header;
}

function readEntry(bytes: Uint8Array): AuditChainRow | string {
  const line = readLine(bytes);
  if (line === undefined) return 'not a UTF-8 JSON object';
  const e = line.value;
  if (!Number.isSafeInteger(e.seq) || (e.seq as number) < 1) return 'seq: expected a positive integer';
  if (!Number.isSafeInteger(e.ts)) return 'ts: expected an integer';
  if (typeof e.event !== 'string') return 'event: expected a string';
  if (typeof e.keyId !== 'string' && e.keyId !== null) return 'keyId: expected a string or null';
  if (typeof e.data !== 'string') return 'data: expected the payload JSON as a string';
  if (typeof e.prevHash !== 'string' || !HEX32.test(e.prevHash)) return 'prevHash: expected 32 bytes of lowercase hex';
  if (typeof e.hash !== 'string' || !HEX32.test(e.hash)) return 'hash: expected 32 bytes of lowercase hex';
  const entry = e as unknown as AuditChainRow;
  if (entryJson(entry) !== line.text) return 'not in the canonical form (fields, order, spelling)';
  return entry;
}

function readCheckpoint(bytes: Uint8Array): AuditCheckpoint | string {
  const line = readLine(bytes);
  if (line === undefined) return 'not a UTF-8 JSON object';
  const c = line.value;
  if (typeof c.signer !== 'string' || !NODE_ID_PATTERN.test(c.signer)) return 'signer: expected a signer id';
  if (!Number.isSafeInteger(c.seq) || (c.seq as number) < 1) return 'seq: expected a positive integer';
  if (typeof c.hash !== 'string' || !HEX32.test(c.hash)) return 'hash: expected 32 bytes of lowercase hex';
  if (typeof c.sig !== 'string' || !/^[0-9a-f]{128}$/.test(c.sig)) return 'sig: expected 64 bytes of lowercase hex';
  const checkpoint = c as unknown as AuditCheckpoint;
  if (checkpointJson(checkpoint) !== line.text) return 'not in the canonical form (fields, order, spelling)';
  return checkpoint;
}

/** The object `data` is the JSON of; undefined if it is not. */
function objectJson(data: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(data);
    return isRecord(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Signer id -> 32-byte Ed25519 identity key (hex or bytes). */
function pinnedKeys(keys: Readonly<Record<string, string | Uint8Array>> | undefined): Map<string, Uint8Array> | undefined {
  if (keys === undefined) return undefined;
  return new Map(
    Object.entries(keys).map(([id, k]) => {
      const key = typeof k === 'string' && /^[0-9a-fA-F]{64}$/.test(k) ? hexToBytes(k.toLowerCase()) : k;
      if (!(key instanceof Uint8Array) || key.length !== 32) throw new TypeError(`signerKeys.${id}: expected a 32-byte Ed25519 public key`);
      return [id, key];
    }),
  );
}

/**
 * Verifies an export with no coordinator: the header, then every entry in order
 * (well-formed, next seq, linked to its predecessor, hashing to its `hash`, `data` an
 * object's JSON; a `key.attested` row's signed ATTEST, checked under the signer's key
 * when `signerKeys` pins it), then the count and head against the header. Answers the
 * first fault. Pure: no I/O; `file` is the file's bytes (or its text).
 */
export function verifyAuditExport(file: Uint8Array | string, opts: { signerKeys?: Readonly<Record<string, string | Uint8Array>> } = {}): AuditExportVerification {
  const signerKeys = pinnedKeys(opts.signerKeys);
  const tally: AttestationTally = { attested: 0, signed: 0, verified: 0 };
  const bytes = typeof file === 'string' ? utf8ToBytes(file) : file;
  const lines: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === LF) {
      lines.push(bytes.subarray(start, i));
      start = i + 1;
    }
  }
  const tail = bytes.subarray(start);
  if (lines.length === 0) return { ok: false, seq: null, line: 1, fault: 'header', reason: bytes.length === 0 ? 'the file is empty' : 'the header line does not end with a newline' };
  const header = readHeader(lines[0]!);
  if (typeof header === 'string') return { ok: false, seq: null, line: 1, fault: 'header', reason: header };

  const state = { seq: 0, hash: AUDIT_GENESIS };
  /** The chain's hash at each seq (index 0: the genesis), for the checkpoints. */
  const hashes = [AUDIT_GENESIS];
  const cosigned = header.checkpoints ?? 0;
  let i = 1;
  for (; i <= lines.length; i++) {
    const lineNo = i + 1;
    const seq = state.seq + 1;
    const fail = (fault: AuditExportFault, reason: string): AuditExportVerification => ({ ok: false, seq, line: lineNo, fault, reason });
    if (i === lines.length) {
      // Bytes after the last LF: a line cut short (or a stray byte); else the file ended.
      if (tail.length > 0) return fail('malformed', 'the last line does not end with a newline (cut short?)');
      break;
    }
    if (seq > header.count) {
      if (cosigned > 0) break;
      return fail('extra', `the header counts ${header.count} entries; the file goes on`);
    }
    const entry = readEntry(lines[i]!);
    if (typeof entry === 'string') return fail('malformed', entry);
    const broken = auditChainStep(state, entry);
    if (broken !== undefined) return fail(broken.fault, broken.fault === 'sequence' ? `expected entry ${seq}, found seq ${entry.seq} (removed, reordered or duplicated entries)` : broken.reason);
    hashes.push(entry.hash);
    const data = objectJson(entry.data);
    if (data === undefined) return fail('malformed', 'data: not the JSON of an object');
    const attestation = checkAttestation(entry, data, signerKeys, tally);
    if (attestation !== undefined) return fail('bad-attestation', attestation);
  }
  if (state.seq < header.count) {
    return { ok: false, seq: state.seq + 1, line: state.seq + 2, fault: 'truncated', reason: `the header counts ${header.count} entries; the file ends after ${state.seq}` };
  }
  if (state.hash !== header.head) return { ok: false, seq: null, line: 1, fault: 'header', reason: "the header's head is not the chain's last hash" };
  const range = header.version === 1 ? null : checkCheckpoints(lines, tail, i, header, hashes, signerKeys);
  if (range !== null && 'fault' in range) return range;
  return { ok: true, version: header.version, coordinator: { url: header.coordinator.url }, exportedAt: header.exportedAt, count: header.count, head: header.head, attestations: tally, cosigned: range };
}

/**
 * Checks the `count` checkpoint lines from `lines[first]` on: each well-formed, of a seq
 * the chain has, carrying the chain's hash at that seq, and, when `signerKeys` pins its
 * signer, signed by it; then that the file ends. Answers the cosigned range or the fault.
 */
function checkCheckpoints(
  lines: readonly Uint8Array[],
  tail: Uint8Array,
  first: number,
  header: AuditExportHeader,
  hashes: readonly string[],
  signerKeys: ReadonlyMap<string, Uint8Array> | undefined,
): CosignedRange | Extract<AuditExportVerification, { ok: false }> {
  const count = header.checkpoints ?? 0;
  const range: CosignedRange = { checkpoints: count, verified: 0, seq: 0, signers: [], bySigner: {} };
  // First the lines as bytes (each well-formed; the section whole and as the header hashed
  // it), so that a changed byte there is named there; then what they say.
  const checkpoints: AuditCheckpoint[] = [];
  for (let k = 0; k < count; k++) {
    const i = first + k;
    if (i >= lines.length) {
      const reason = tail.length > 0 ? 'the last line does not end with a newline (cut short?)' : `the header counts ${count} checkpoints; the file ends after ${k}`;
      return { ok: false, seq: null, line: i + 1, fault: tail.length > 0 ? 'malformed' : 'truncated', reason };
    }
    const c = readCheckpoint(lines[i]!);
    if (typeof c === 'string') return { ok: false, seq: null, line: i + 1, fault: 'bad-checkpoint', reason: c };
    checkpoints.push(c);
  }
  const end = first + count;
  if (tail.length > 0) return { ok: false, seq: null, line: end + 1, fault: 'malformed', reason: 'the last line does not end with a newline (cut short?)' };
  if (end < lines.length) return { ok: false, seq: null, line: end + 1, fault: 'extra', reason: `the header counts ${count} checkpoints; the file goes on` };
  const digest = bytesToHex(sha256(concatBytes(...lines.slice(first, end).flatMap((l) => [l, Uint8Array.of(LF)]))));
  if (digest !== header.checkpointsSha256) return { ok: false, seq: null, line: first + 1, fault: 'bad-checkpoint', reason: "the checkpoint lines do not hash to the header's checkpointsSha256" };
  /** The highest seq whose cosigned hash matched the chain (under any signer's checkpoint). */
  let matched = 0;
  for (const [k, c] of checkpoints.entries()) {
    const line = first + k + 1;
    if (c.seq >= hashes.length) return { ok: false, seq: null, line, fault: 'bad-checkpoint', reason: `${c.signer} cosigned entry ${c.seq}; the chain has ${hashes.length - 1}` };
    const key = signerKeys?.get(c.signer);
    if (signerKeys !== undefined && key === undefined) return { ok: false, seq: c.seq, line, fault: 'bad-checkpoint', reason: `no pinned key for ${c.signer}` };
    if (key !== undefined && !verifyCheckpoint(key, c)) return { ok: false, seq: c.seq, line, fault: 'bad-checkpoint', reason: `the checkpoint's signature does not verify under ${c.signer}'s pinned key` };
    if (hashes[c.seq] !== c.hash) {
      const since = matched < c.seq ? matched + 1 : 1;
      return { ok: false, seq: c.seq, line: c.seq + 1, fault: 'rewritten', reason: `entry ${c.seq}'s hash is not the one ${c.signer} cosigned: an entry in ${since}..${c.seq} was changed after it was cosigned` };
    }
    matched = Math.max(matched, c.seq);
    if (key === undefined) continue;
    range.verified++;
    range.bySigner[c.signer] = Math.max(range.bySigner[c.signer] ?? 0, c.seq);
  }
  range.seq = Math.max(0, ...Object.values(range.bySigner));
  range.signers = Object.keys(range.bySigner).filter((s) => range.bySigner[s]! >= range.seq).sort();
  return range;
}
