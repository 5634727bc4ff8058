/**
 * The coordinator's audit log: every lifecycle transition, signature and operator
 * decision, one row each, durable once the enclosing registry transaction commits.
 *
 * Hash-chained: row n stores
 *   hash_n = SHA-256(prev_hash || i64(seq) || i64(ts) || lp(event) || lp(keyId or '') || lp(data))
 * with prev_hash = hash_{n-1} (32 zero bytes for the first row) and data the payload's
 * JSON as written; `verify` recomputes the chain, so an edited, inserted or deleted
 * row is detected (a truncated tail is detected by comparing the head hash with one
 * kept elsewhere).
 *
 * `AuditEvents` names every event and types its payload.
 */
import type Database from 'better-sqlite3';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes } from '@noble/hashes/utils.js';
import { i64be, lpString, type KeySuiteId } from '@keyquorum/protocol';
import type { CoordinatorErrorCode } from '../errors.ts';

export type AuditValue = string | number | boolean | null | AuditValue[] | { [key: string]: AuditValue };

/** A key session that failed: the error the caller got. */
type SessionFailure = { code: CoordinatorErrorCode; reason: string; culprits: string[] };

/** Each audit event and its payload (hex for bytes, ms since the Unix epoch for times). */
export interface AuditEvents {
  /** A key's DKG starts; the key is pending. */
  'key.pending': { suite: KeySuiteId; threshold: number; signers: string[] };
  /** Its DKG committed: the key is active at epoch 0. */
  'key.created': { suite: KeySuiteId; threshold: number; signers: string[]; epoch: number; publicKey: string; transcriptHash: string };
  /** Its DKG failed; the pending key is forgotten. */
  'key.create_failed': SessionFailure;
  /** Every share refreshed: epoch fromEpoch -> epoch, same public key. */
  'key.refreshed': { fromEpoch: number; epoch: number; transcriptHash: string };
  'key.refresh_failed': SessionFailure & { epoch: number };
  /** The key's shares were redealt to `signers` (threshold and members may change). */
  'key.reshared': {
    fromEpoch: number;
    epoch: number;
    fromThreshold: number;
    threshold: number;
    fromSigners: string[];
    signers: string[];
    dealers: string[];
    leavers: string[];
    publicKey: string;
    transcriptHash: string;
    clientKey: string;
  };
  'key.reshare_failed': SessionFailure & { epoch: number };
  /** A quorum produced a signature, at the `attempts`-th quorum tried. */
  'key.signed': { epoch: number; quorum: string[]; attempts: number; messageSha256: string; path: string; taproot: string; publicKey: string; signature: string; clientKey: string };
  /** One sign attempt failed; `banned` when its culprits were banned for the key. */
  'key.sign_attempt_failed': { epoch: number; attempt: number; quorum: string[]; reason: string; excluded: string[]; culprits: string[]; banned: boolean; reportedBy?: string[] };
  /** A quorum approved retirement; the key is retired. */
  'key.retired': { epoch: number; approvers: string[] };
  /** A signer attested it destroyed its share of the retired key. */
  'key.attested': { signer: string; epoch: number; destroyedAt: number; verifyingShare: string };
  /** A signer acknowledged a COMMIT: it holds the share of `epoch`. */
  'commit.acked': { signer: string; kind: string; epoch: number };
  /** An operator lifted a ban (`by`: the client key, when known). */
  'signer.unbanned': { signer: string; reason: string; bannedAt: number; by?: string };
}

export type AuditEventType = keyof AuditEvents;

export interface AuditEntry {
  seq: number;
  ts: number;
  event: string;
  keyId: string | null;
  data: Record<string, AuditValue>;
  prevHash: string;
  hash: string;
}

export type AuditVerification = { ok: true; count: number; head: string } | { ok: false; seq: number; reason: string };

const GENESIS = '00'.repeat(32);

interface AuditRow {
  seq: number;
  ts: number;
  event: string;
  key_id: string | null;
  data: string;
  prev_hash: string;
  hash: string;
}

/** The hash of one audit row over its predecessor's hash. */
export function auditHash(prevHash: string, row: { seq: number; ts: number; event: string; keyId: string | null; data: string }): string {
  const body = concatBytes(i64be(row.seq), i64be(row.ts), lpString(row.event), lpString(row.keyId ?? ''), lpString(row.data));
  return bytesToHex(sha256(concatBytes(hexToBytes(prevHash), body)));
}

const toEntry = (r: AuditRow): AuditEntry => ({ seq: r.seq, ts: r.ts, event: r.event, keyId: r.key_id, data: JSON.parse(r.data) as Record<string, AuditValue>, prevHash: r.prev_hash, hash: r.hash });

export class AuditLog {
  constructor(
    private readonly db: Database.Database,
    private readonly now: () => number,
  ) {}

  /** Appends one row chained to the last; the caller runs it in a transaction. */
  append<E extends AuditEventType>(event: E, keyId: string | null, data: AuditEvents[E]): AuditEntry {
    const last = this.db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1').get();
    const seq = (last?.seq ?? 0) + 1;
    const prevHash = last?.hash ?? GENESIS;
    const row = { seq, ts: this.now(), event, keyId, data: JSON.stringify(data) };
    const hash = auditHash(prevHash, row);
    this.db.prepare('INSERT INTO audit (seq, ts, event, key_id, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)').run(seq, row.ts, event, keyId, row.data, prevHash, hash);
    return { seq, ts: row.ts, event, keyId, data, prevHash, hash };
  }

  /** Every row, or the rows of `keyId`, oldest first. */
  list(keyId?: string): AuditEntry[] {
    const rows =
      keyId === undefined
        ? this.db.prepare<[], AuditRow>('SELECT * FROM audit ORDER BY seq').all()
        : this.db.prepare<[string], AuditRow>('SELECT * FROM audit WHERE key_id = ? ORDER BY seq').all(keyId);
    return rows.map(toEntry);
  }

  /** The rows of `events`, oldest first. */
  ofEvents(events: readonly AuditEventType[]): AuditEntry[] {
    return this.db
      .prepare<string[], AuditRow>(`SELECT * FROM audit WHERE event IN (${events.map(() => '?').join(', ')}) ORDER BY seq`)
      .all(...events)
      .map(toEntry);
  }

  /** Recomputes the whole chain from the first row. */
  verify(): AuditVerification {
    let prev = GENESIS;
    let expected = 1;
    for (const r of this.db.prepare<[], AuditRow>('SELECT * FROM audit ORDER BY seq').iterate()) {
      if (r.seq !== expected) return { ok: false, seq: r.seq, reason: `expected row ${expected}` };
      if (r.prev_hash !== prev) return { ok: false, seq: r.seq, reason: 'prev_hash does not match the previous row' };
      if (auditHash(prev, { seq: r.seq, ts: r.ts, event: r.event, keyId: r.key_id, data: r.data }) !== r.hash) {
        return { ok: false, seq: r.seq, reason: 'hash does not match the row' };
      }
      prev = r.hash;
      expected++;
    }
    return { ok: true, count: expected - 1, head: prev };
  }
}
