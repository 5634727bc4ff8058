/**
 * The one definition of the coordinator's audit hash chain, shared by the coordinator
 * that writes and serves the log (packages/coordinator/src/registry/audit.ts) and by
 * whoever checks it without the coordinator (audit-export.ts, the client SDK and CLI).
 *
 * Row n stores
 *   hash_n = SHA-256(prev_hash || i64(seq) || i64(ts) || lp(event) || lp(keyId or '') || lp(data))
 * with prev_hash = hash_{n-1} (AUDIT_GENESIS, 32 zero bytes, for the first row), i64 a
 * signed 64-bit big-endian integer, lp a u32 big-endian length then the UTF-8 bytes
 * (canonical.ts), and `data` the payload's JSON exactly as the coordinator wrote it.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes } from '@noble/hashes/utils.js';
import { i64be, lpString } from './canonical.ts';

/** The prev_hash of the first row. */
export const AUDIT_GENESIS = '00'.repeat(32);

/** What one row's hash covers (besides its predecessor's hash): `data` is the payload's JSON as written. */
export interface AuditHashedRow {
  seq: number;
  ts: number;
  event: string;
  keyId: string | null;
  data: string;
}

/** A row as stored: the hashed fields and the two hashes. */
export interface AuditChainRow extends AuditHashedRow {
  prevHash: string;
  hash: string;
}

/** Why a row does not follow its predecessor. */
export type AuditChainFault = 'sequence' | 'broken-link' | 'hash-mismatch';

/** The hash of one audit row over its predecessor's hash (lowercase hex). */
export function auditHash(prevHash: string, row: AuditHashedRow): string {
  const body = concatBytes(i64be(row.seq), i64be(row.ts), lpString(row.event), lpString(row.keyId ?? ''), lpString(row.data));
  return bytesToHex(sha256(concatBytes(hexToBytes(prevHash), body)));
}

/**
 * Checks that `row` follows `state` (the last verified seq and hash: {0, AUDIT_GENESIS}
 * before the first row) and advances `state`; otherwise leaves it and says why.
 */
export function auditChainStep(state: { seq: number; hash: string }, row: AuditChainRow): { fault: AuditChainFault; reason: string } | undefined {
  if (row.seq !== state.seq + 1) return { fault: 'sequence', reason: `expected row ${state.seq + 1}` };
  if (row.prevHash !== state.hash) return { fault: 'broken-link', reason: 'prev_hash does not match the previous row' };
  if (auditHash(state.hash, row) !== row.hash) return { fault: 'hash-mismatch', reason: 'hash does not match the row' };
  state.seq = row.seq;
  state.hash = row.hash;
  return undefined;
}
