/**
 * The audit export: the whole hash-chained audit log in one self-describing file that
 * `verifyAuditExport` checks with no coordinator at all (`keyquorum audit export` /
 * `keyquorum audit verify`, `KeyquorumClient.exportAudit`).
 *
 * Format (version 1): UTF-8 JSON Lines, every line ending in LF, nothing else.
 *   line 1      the header: {"format":"keyquorum-audit-export","version":1,
 *               "coordinator":{"url":URL},"exportedAt":MS,"count":N,"head":HEX,"headerSha256":HEX}
 *   lines 2..   one entry per line, seq 1 to N in order:
 *               {"seq":S,"ts":MS,"event":E,"keyId":ID|null,"data":JSON,"prevHash":HEX,"hash":HEX}
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
 * without the signer's key cannot forge (audit-attestations.ts).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { checkAttestation, type AttestationTally } from './audit-attestations.ts';
import { AUDIT_GENESIS, auditChainStep, type AuditChainFault, type AuditChainRow } from './audit.ts';

export const AUDIT_EXPORT_FORMAT = 'keyquorum-audit-export';
export const AUDIT_EXPORT_VERSION = 1;

/** The export's first line. */
export interface AuditExportHeader {
  format: typeof AUDIT_EXPORT_FORMAT;
  version: typeof AUDIT_EXPORT_VERSION;
  /** Where the log was read from (the entries are not signed by it: see above). */
  coordinator: { url: string };
  /** ms since the Unix epoch. */
  exportedAt: number;
  count: number;
  head: string;
  headerSha256: string;
}

/**
 * Why an export does not verify: its header is unreadable or inconsistent ('header'),
 * an entry line is not a well-formed entry ('malformed'), is not the next seq
 * ('sequence': a removed, reordered or duplicated entry), does not link to the previous
 * entry's hash ('broken-link') or does not hash to its `hash` ('hash-mismatch'), the file
 * ends before the header's count ('truncated') or goes on after it ('extra'), or a
 * `key.attested` row's signed ATTEST is not the signer's word for it ('bad-attestation':
 * audit-attestations.ts).
 */
export type AuditExportFault = 'header' | 'malformed' | AuditChainFault | 'truncated' | 'extra' | 'bad-attestation';

export type AuditExportVerification =
  /** `attestations`: `key.attested` rows, those carrying the signer's signed ATTEST, and those whose signature was checked against a pinned key. */
  | { ok: true; version: number; coordinator: { url: string }; exportedAt: number; count: number; head: string; attestations: AttestationTally }
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
  if (h.headerSha256 !== undefined) fields.headerSha256 = h.headerSha256;
  return JSON.stringify(fields);
}

/** SHA-256 of the header's JSON without `headerSha256`. */
function headerDigest(h: HeaderFields & { headerSha256?: string }): string {
  const { headerSha256: _, ...fields } = h;
  return bytesToHex(sha256(utf8ToBytes(headerJson(fields))));
}

const entryJson = (e: AuditChainRow) => JSON.stringify({ seq: e.seq, ts: e.ts, event: e.event, keyId: e.keyId, data: e.data, prevHash: e.prevHash, hash: e.hash });

/**
 * The export file's text for `entries` (the whole log, seq 1 to N in order, each with
 * `data` as hashed). It does not check them: verify the result with `verifyAuditExport`.
 */
export function buildAuditExport(o: { coordinatorUrl: string; exportedAt: number; entries: readonly AuditChainRow[] }): string {
  const fields: HeaderFields = {
    format: AUDIT_EXPORT_FORMAT,
    version: AUDIT_EXPORT_VERSION,
    coordinator: { url: o.coordinatorUrl },
    exportedAt: o.exportedAt,
    count: o.entries.length,
    head: o.entries.at(-1)?.hash ?? AUDIT_GENESIS,
  };
  const lines = [headerJson({ ...fields, headerSha256: headerDigest(fields) }), ...o.entries.map(entryJson)];
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
  if (h.version !== AUDIT_EXPORT_VERSION) return `unsupported version (this verifier reads version ${AUDIT_EXPORT_VERSION})`;
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
  for (let i = 1; i <= lines.length; i++) {
    const lineNo = i + 1;
    const seq = state.seq + 1;
    const fail = (fault: AuditExportFault, reason: string): AuditExportVerification => ({ ok: false, seq, line: lineNo, fault, reason });
    if (i === lines.length) {
      // Bytes after the last LF: a line cut short (or a stray byte); else the file ended.
      if (tail.length > 0) return fail('malformed', 'the last line does not end with a newline (cut short?)');
      break;
    }
    if (seq > header.count) return fail('extra', `the header counts ${header.count} entries; the file goes on`);
    const entry = readEntry(lines[i]!);
    if (typeof entry === 'string') return fail('malformed', entry);
    const broken = auditChainStep(state, entry);
    if (broken !== undefined) return fail(broken.fault, broken.fault === 'sequence' ? `expected entry ${seq}, found seq ${entry.seq} (removed, reordered or duplicated entries)` : broken.reason);
    const data = objectJson(entry.data);
    if (data === undefined) return fail('malformed', 'data: not the JSON of an object');
    const attestation = checkAttestation(entry, data, signerKeys, tally);
    if (attestation !== undefined) return fail('bad-attestation', attestation);
  }
  if (state.seq < header.count) {
    return { ok: false, seq: state.seq + 1, line: state.seq + 2, fault: 'truncated', reason: `the header counts ${header.count} entries; the file ends after ${state.seq}` };
  }
  if (state.hash !== header.head) return { ok: false, seq: null, line: 1, fault: 'header', reason: "the header's head is not the chain's last hash" };
  return { ok: true, version: header.version, coordinator: { url: header.coordinator.url }, exportedAt: header.exportedAt, count: header.count, head: header.head, attestations: tally };
}
