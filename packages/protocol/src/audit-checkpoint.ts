/**
 * Signer-cosigned audit checkpoints (docs/cluster-protocol.md "Audit checkpoints";
 * issue 11 item 4). The coordinator's audit log (audit.ts) is hash-chained but signed by
 * no one; a checkpoint is a signer's signed word that the log, as the coordinator showed
 * it, has hash `hash` at row `seq`. Each signer cosigns only a log that extends the last
 * one it cosigned, so a coordinator that rewrites an entry before a checkpoint can no
 * longer show a chain that both verifies and carries the cosigned hash at that seq.
 *
 * Statement signed (Ed25519, RFC 8032, with the signer's identity key):
 *   digest = SHA-256(lp(AUDIT_CHECKPOINT_TAG) || lp(signerId) || i64(seq) || hash)
 * with `hash` the 32 bytes of the row's hash (audit.ts), i64 signed 64-bit big-endian.
 *
 * Session (kind 'checkpoint', rounds CHECKPOINT_ROUND, header.suite CHECKPOINT_SUITE: the
 * log belongs to no key and no ciphersuite; session id: 32 random bytes):
 *   START C->S {from: {seq, hash}, rows: rows from.seq+1 .. to.seq as stored, to: {seq, hash}}
 *   ACK   S->C {seq, hash, sig}       the signer stored {seq, hash} durably first
 *   ABORT S->C {reason, last?}        `last`: the signer's own last cosigned {seq, hash},
 *                                     so the coordinator can resend from there
 */
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { auditChainStep, type AuditChainRow } from './audit.ts';
import { i64be, lpString, taggedHash } from './canonical.ts';
import { ED25519_SIGNATURE_LENGTH, NODE_ID_PATTERN } from './constants.ts';
import { WireError } from './errors.ts';
import { sign, verifySignature, type IdentityKey } from './identity.ts';
import { array, bytes, fieldPath, str, strictObject, uint } from './validate.ts';

export const AUDIT_CHECKPOINT_TAG = 'keyquorum/audit-checkpoint/v1';
/** `header.suite` of checkpoint frames (as of control frames): the log has no suite. */
export const CHECKPOINT_SUITE = 'none';
export const CHECKPOINT_ROUND = { START: 0, ACK: 1, ABORT: 15 } as const;
/** Rows one START may carry; a longer extension is sent as consecutive checkpoints. */
export const MAX_CHECKPOINT_ROWS = 256;
/** Bytes of row text (event, key id, data) one START may carry: far under the 1 MiB frame cap. */
export const MAX_CHECKPOINT_ROW_BYTES = 256 * 1024;
/** Largest `data` of one row accepted on the wire. */
const MAX_ROW_DATA = 64 * 1024;
const MAX_REASON_LENGTH = 1024;
const HEX32 = /^[0-9a-f]{64}$/;

/** A position in the log: row `seq` (0 before the first row) and its hash (AUDIT_GENESIS at 0). */
export interface AuditPosition {
  seq: number;
  hash: string;
}

export interface CheckpointStartBody {
  from: AuditPosition;
  rows: AuditChainRow[];
  to: AuditPosition;
}
export interface CheckpointAckBody {
  seq: number;
  hash: string;
  /** The signer's Ed25519 signature over `checkpointDigest(signer, seq, hash)`. */
  sig: Uint8Array;
}
export interface CheckpointAbortBody {
  reason: string;
  last?: AuditPosition;
}

/** A cosignature as stored and exported. */
export interface AuditCheckpoint {
  signer: string;
  seq: number;
  hash: string;
  /** Hex of the 64-byte signature. */
  sig: string;
}

/** The digest a signer signs to cosign the log at (`seq`, `hash`). */
export function checkpointDigest(signer: string, seq: number, hash: string): Uint8Array {
  str(signer, NODE_ID_PATTERN, 'signer');
  uint(seq, 0, Number.MAX_SAFE_INTEGER, 'seq');
  str(hash, HEX32, 'hash');
  return taggedHash(AUDIT_CHECKPOINT_TAG, lpString(signer), i64be(seq), hexToBytes(hash));
}

/** Signs the checkpoint statement with this signer's identity key. */
export function signCheckpoint(identity: IdentityKey, signer: string, seq: number, hash: string): Uint8Array {
  return sign(identity, checkpointDigest(signer, seq, hash));
}

/** Whether `c.sig` is `c.signer`'s signature (under `publicKey`) of the statement (seq, hash). */
export function verifyCheckpoint(publicKey: Uint8Array, c: AuditCheckpoint): boolean {
  if (!/^[0-9a-f]{128}$/.test(c.sig)) return false;
  try {
    return verifySignature(publicKey, checkpointDigest(c.signer, c.seq, c.hash), hexToBytes(c.sig));
  } catch {
    return false;
  }
}

/**
 * Checks that `rows` chain from `from` to `to` (each row follows its predecessor with
 * `auditChainStep`; the last is `to`; no rows when from = to). The reason otherwise.
 */
export function checkExtension(body: CheckpointStartBody): string | undefined {
  const state = { ...body.from };
  for (const row of body.rows) {
    const broken = auditChainStep(state, row);
    if (broken !== undefined) return `row ${row.seq}: ${broken.reason}`;
  }
  if (state.seq !== body.to.seq || state.hash !== body.to.hash) return `the rows end at ${state.seq}, not at the announced head ${body.to.seq}`;
  return undefined;
}

/** The size a row takes in a START, for chunking (`MAX_CHECKPOINT_ROW_BYTES`). */
export const checkpointRowBytes = (r: AuditChainRow): number => r.event.length + (r.keyId?.length ?? 0) + r.data.length + 200;

const body = <K extends string>(v: unknown, keys: readonly K[], optional: readonly K[] = []) => strictObject(v, [...keys, ...optional], keys, '');
const seqOf = (v: unknown, f: string) => uint(v, 0, Number.MAX_SAFE_INTEGER, f);
const hashOf = (v: unknown, f: string) => str(v, HEX32, f);

function position(v: unknown, field: string): AuditPosition {
  const o = strictObject(v, ['seq', 'hash'], ['seq', 'hash'], field);
  return { seq: seqOf(o.seq, fieldPath(field, 'seq')), hash: hashOf(o.hash, fieldPath(field, 'hash')) };
}

function row(v: unknown, field: string): AuditChainRow {
  const keys = ['seq', 'ts', 'event', 'keyId', 'data', 'prevHash', 'hash'] as const;
  const o = strictObject(v, keys, keys, field);
  const f = (k: string) => fieldPath(field, k);
  if (!Number.isSafeInteger(o.ts)) throw new WireError('BAD_FIELD', { field: f('ts') });
  return {
    seq: uint(o.seq, 1, Number.MAX_SAFE_INTEGER, f('seq')),
    ts: o.ts as number,
    event: str(o.event, 128, f('event')),
    keyId: o.keyId === null ? null : str(o.keyId, 128, f('keyId')),
    data: str(o.data, MAX_ROW_DATA, f('data')),
    prevHash: hashOf(o.prevHash, f('prevHash')),
    hash: hashOf(o.hash, f('hash')),
  };
}

/** The parsers of the 'checkpoint' kind, by round (messages.ts `decodeBody`). */
export const CHECKPOINT_PARSERS: Record<number, (v: unknown) => unknown> = {
  [CHECKPOINT_ROUND.START]: (v): CheckpointStartBody => {
    const o = body(v, ['from', 'rows', 'to']);
    const from = position(o.from, 'from');
    const to = position(o.to, 'to');
    const rows = array(o.rows, MAX_CHECKPOINT_ROWS, 'rows').map((r, i) => row(r, fieldPath('rows', i)));
    if (to.seq !== from.seq + rows.length) throw new WireError('BAD_FIELD', { field: 'to.seq', message: 'BAD_FIELD: to.seq: expected from.seq plus the rows carried' });
    return { from, rows, to };
  },
  [CHECKPOINT_ROUND.ACK]: (v): CheckpointAckBody => {
    const o = body(v, ['seq', 'hash', 'sig']);
    return { seq: seqOf(o.seq, 'seq'), hash: hashOf(o.hash, 'hash'), sig: bytes(o.sig, ED25519_SIGNATURE_LENGTH, 'sig') };
  },
  [CHECKPOINT_ROUND.ABORT]: (v): CheckpointAbortBody => {
    const o = body(v, ['reason'], ['last']);
    const out: CheckpointAbortBody = { reason: str(o.reason, MAX_REASON_LENGTH, 'reason') };
    if (o.last !== undefined) out.last = position(o.last, 'last');
    return out;
  },
};

/** Hex of a signature, as stored and exported. */
export const sigHex = (sig: Uint8Array): string => bytesToHex(bytes(sig, ED25519_SIGNATURE_LENGTH, 'sig'));
