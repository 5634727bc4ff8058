/**
 * The coordinator's registry (SQLite through better-sqlite3, WAL, synchronous=FULL,
 * file 0600): keys and their lifecycle state, the COMMIT frames each signer still
 * has to acknowledge, the epoch of the share each signer holds per key (its last
 * acknowledged commit), retirement attestations, per-key bans of signers caught
 * cheating, the client replay window, and the audit log.
 *
 * The audit log is hash-chained: row n stores
 *   hash_n = SHA-256(prev_hash || i64(seq) || i64(ts) || lp(event) || lp(keyId or '') || lp(data))
 * with prev_hash = hash_{n-1} (32 zero bytes for the first row); `verifyAudit`
 * recomputes the chain, so an edited, inserted or deleted row is detected (a
 * truncated tail is detected by comparing the head hash with one kept elsewhere).
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes } from '@noble/hashes/utils.js';
import { decode, encodeBody, fromWirePublicKey, i64be, lpString, parseWirePublicKey, toWirePublicKey, type ParticipantRef, type ReplayGuard } from '@keyquorum/protocol';
import type { PublicKeyPackage } from '@keyquorum/crypto';
import type { KeySuiteId } from '@keyquorum/protocol';
import { REGISTRY_FILE, SECRET_FILE_MODE } from './constants.ts';
import { CoordinatorError } from './errors.ts';

export type KeyState = 'pending' | 'active' | 'retired';

export interface KeyRecord {
  id: string;
  suite: KeySuiteId;
  threshold: number;
  /** Signer ids and FROST indices, in DKG order. */
  participants: ParticipantRef[];
  /** Absent while the key is pending. */
  publicKey: PublicKeyPackage | undefined;
  epoch: number;
  state: KeyState;
  createdAt: number;
  updatedAt: number;
}

/** A COMMIT (key sessions) or retire COMMIT a signer has not acknowledged yet. */
export interface PendingCommit {
  seq: number;
  signer: string;
  keyId: string;
  kind: string;
  epoch: number;
  /** Hex of the session id the ACK / ATTEST will carry. */
  sessionId: string;
  /** The encoded COMMIT envelope, re-sent verbatim when the signer reconnects. */
  frame: Uint8Array;
}

export interface Attestation {
  keyId: string;
  signer: string;
  epoch: number;
  destroyedAt: number;
  verifyingShare: Uint8Array;
  /** The signer's signed ATTEST envelope, encoded: anyone can re-check it. */
  envelope: Uint8Array;
  receivedAt: number;
}

/** The epoch of the share `signer` holds of `keyId`: the last commit it acknowledged. */
export interface SignerEpoch {
  signer: string;
  keyId: string;
  epoch: number;
}

/** A signer banned from sessions of a key (caught cheating), until an admin clears it. */
export interface Ban {
  signer: string;
  reason: string;
  /** ms since the Unix epoch. */
  at: number;
}

export type AuditValue = string | number | boolean | null | AuditValue[] | { [key: string]: AuditValue };

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

const SCHEMA = `
CREATE TABLE IF NOT EXISTS keys (
  id TEXT PRIMARY KEY,
  suite TEXT NOT NULL,
  threshold INTEGER NOT NULL,
  participants TEXT NOT NULL,
  group_key BLOB,
  chain_code BLOB,
  public_key BLOB,
  epoch INTEGER NOT NULL CHECK (epoch >= 0),
  state TEXT NOT NULL CHECK (state IN ('pending', 'active', 'retired')),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS pending_commits (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  signer TEXT NOT NULL,
  key_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  epoch INTEGER NOT NULL,
  session_id TEXT NOT NULL,
  frame BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  UNIQUE (signer, session_id)
);
CREATE TABLE IF NOT EXISTS signer_epochs (
  key_id TEXT NOT NULL,
  signer TEXT NOT NULL,
  epoch INTEGER NOT NULL CHECK (epoch >= 0),
  acked_at INTEGER NOT NULL,
  PRIMARY KEY (key_id, signer)
);
CREATE TABLE IF NOT EXISTS attestations (
  key_id TEXT NOT NULL,
  signer TEXT NOT NULL,
  epoch INTEGER NOT NULL,
  destroyed_at INTEGER NOT NULL,
  verifying_share BLOB NOT NULL,
  envelope BLOB NOT NULL,
  received_at INTEGER NOT NULL,
  PRIMARY KEY (key_id, signer)
);
CREATE TABLE IF NOT EXISTS bans (
  key_id TEXT NOT NULL,
  signer TEXT NOT NULL,
  reason TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (key_id, signer)
);
CREATE TABLE IF NOT EXISTS replay (
  client_key TEXT NOT NULL,
  nonce TEXT NOT NULL,
  ts INTEGER NOT NULL,
  PRIMARY KEY (client_key, nonce)
);
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY,
  ts INTEGER NOT NULL,
  event TEXT NOT NULL,
  key_id TEXT,
  data TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
`;

interface KeyRow {
  id: string;
  suite: string;
  threshold: number;
  participants: string;
  public_key: Uint8Array | null;
  epoch: number;
  state: KeyState;
  created_at: number;
  updated_at: number;
}

interface AuditRow {
  seq: number;
  ts: number;
  event: string;
  key_id: string | null;
  data: string;
  prev_hash: string;
  hash: string;
}

interface CommitRow {
  seq: number;
  signer: string;
  key_id: string;
  kind: string;
  epoch: number;
  session_id: string;
  frame: Uint8Array;
}

interface AttestationRow {
  key_id: string;
  signer: string;
  epoch: number;
  destroyed_at: number;
  verifying_share: Uint8Array;
  envelope: Uint8Array;
  received_at: number;
}

/** The hash of one audit row over its predecessor's hash. */
export function auditHash(prevHash: string, row: { seq: number; ts: number; event: string; keyId: string | null; data: string }): string {
  const body = concatBytes(i64be(row.seq), i64be(row.ts), lpString(row.event), lpString(row.keyId ?? ''), lpString(row.data));
  return bytesToHex(sha256(concatBytes(hexToBytes(prevHash), body)));
}

function encodePublicKey(pkg: PublicKeyPackage): Uint8Array {
  return encodeBody(toWirePublicKey(pkg));
}

function decodePublicKey(blob: Uint8Array): PublicKeyPackage {
  return fromWirePublicKey(parseWirePublicKey(decode(blob), 'public_key'));
}

function toKey(row: KeyRow): KeyRecord {
  return {
    id: row.id,
    suite: row.suite as KeySuiteId,
    threshold: row.threshold,
    participants: JSON.parse(row.participants) as ParticipantRef[],
    publicKey: row.public_key === null ? undefined : decodePublicKey(new Uint8Array(row.public_key)),
    epoch: row.epoch,
    state: row.state,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export interface RegistryOptions {
  now?: () => number;
  /** Replay window for client request nonces; default 60 s. */
  replayWindowMs?: number;
}

export class Registry implements ReplayGuard {
  readonly file: string;
  private readonly db: Database.Database;
  private readonly now: () => number;
  private readonly replayWindowMs: number;

  private constructor(file: string, db: Database.Database, opts: RegistryOptions) {
    this.file = file;
    this.db = db;
    this.now = opts.now ?? Date.now;
    this.replayWindowMs = opts.replayWindowMs ?? 60_000;
  }

  /** Opens (creating if needed) `<dataDir>/registry.db`, mode 0600. */
  static open(dataDir: string, opts: RegistryOptions = {}): Registry {
    const file = path.join(dataDir, REGISTRY_FILE);
    fs.closeSync(fs.openSync(file, 'a', SECRET_FILE_MODE));
    fs.chmodSync(file, SECRET_FILE_MODE);
    const db = new Database(file);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('busy_timeout = 5000');
      const hadEpochs = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'signer_epochs'").get() !== undefined;
      db.exec(SCHEMA);
      const registry = new Registry(file, db, opts);
      if (!hadEpochs) registry.transaction(() => registry.replaySignerEpochs());
      return registry;
    } catch (e) {
      db.close();
      throw e;
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Runs `fn` in one write transaction. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /** True when the database accepts a write (for readiness probes). */
  writable(): boolean {
    try {
      this.db.prepare('BEGIN IMMEDIATE').run();
      this.db.prepare('ROLLBACK').run();
      return true;
    } catch {
      return false;
    }
  }

  // ---- keys ----

  insertPendingKey(k: { id: string; suite: KeySuiteId; threshold: number; participants: ParticipantRef[] }): void {
    const at = this.now();
    try {
      this.db
        .prepare("INSERT INTO keys (id, suite, threshold, participants, epoch, state, created_at, updated_at) VALUES (?, ?, ?, ?, 0, 'pending', ?, ?)")
        .run(k.id, k.suite, k.threshold, JSON.stringify(k.participants), at, at);
    } catch (e) {
      if (e instanceof Database.SqliteError && e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new CoordinatorError('KEY_EXISTS', { field: 'keyId', message: `key ${k.id} already exists` });
      }
      throw e;
    }
  }

  deleteKey(id: string): void {
    this.db.prepare('DELETE FROM keys WHERE id = ?').run(id);
  }

  getKey(id: string): KeyRecord | undefined {
    const row = this.db.prepare<[string], KeyRow>('SELECT * FROM keys WHERE id = ?').get(id);
    return row === undefined ? undefined : toKey(row);
  }

  listKeys(): KeyRecord[] {
    return this.db.prepare<[], KeyRow>('SELECT * FROM keys ORDER BY created_at, id').all().map(toKey);
  }

  /** Records a key's (new) public package and epoch and makes it active. */
  setKeyMaterial(id: string, pkg: PublicKeyPackage, epoch: number, participants?: ParticipantRef[]): void {
    const at = this.now();
    const info = this.db
      .prepare(
        "UPDATE keys SET group_key = ?, chain_code = ?, public_key = ?, epoch = ?, threshold = ?, participants = COALESCE(?, participants), state = 'active', updated_at = ? WHERE id = ?",
      )
      .run(pkg.groupKey, pkg.chainCode, encodePublicKey(pkg), epoch, pkg.threshold, participants === undefined ? null : JSON.stringify(participants), at, id);
    if (info.changes !== 1) throw new CoordinatorError('UNKNOWN_KEY', { field: 'keyId', message: `no key ${id}` });
  }

  setState(id: string, state: KeyState): void {
    this.db.prepare('UPDATE keys SET state = ?, updated_at = ? WHERE id = ?').run(state, this.now(), id);
  }

  // ---- pending commits ----

  addPendingCommit(c: Omit<PendingCommit, 'seq'>): void {
    this.db
      .prepare('INSERT OR REPLACE INTO pending_commits (signer, key_id, kind, epoch, session_id, frame, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(c.signer, c.keyId, c.kind, c.epoch, c.sessionId, c.frame, this.now());
  }

  /** What `signer` still has to acknowledge, oldest first. */
  pendingCommits(signer?: string): PendingCommit[] {
    const rows =
      signer === undefined
        ? this.db.prepare<[], CommitRow>('SELECT * FROM pending_commits ORDER BY seq').all()
        : this.db.prepare<[string], CommitRow>('SELECT * FROM pending_commits WHERE signer = ? ORDER BY seq').all(signer);
    return rows.map((r) => ({ seq: r.seq, signer: r.signer, keyId: r.key_id, kind: r.kind, epoch: r.epoch, sessionId: r.session_id, frame: new Uint8Array(r.frame) }));
  }

  /** Signers that have not acknowledged some commit of `keyId`. */
  unacknowledged(keyId: string): string[] {
    return this.db.prepare<[string], string>('SELECT DISTINCT signer FROM pending_commits WHERE key_id = ? ORDER BY signer').pluck().all(keyId);
  }

  findPendingCommit(signer: string, sessionId: string): PendingCommit | undefined {
    return this.pendingCommits(signer).find((c) => c.sessionId === sessionId);
  }

  removePendingCommit(seq: number): void {
    this.db.prepare('DELETE FROM pending_commits WHERE seq = ?').run(seq);
  }

  // ---- the epoch each signer holds ----

  /**
   * `signer` acknowledged the commit of `epoch` of `keyId`: it now holds that epoch's
   * share if it is one of the key's participants, and no share if it is not (it
   * left the key by reshare and wiped its old share).
   */
  acknowledgeEpoch(keyId: string, signer: string, epoch: number): void {
    const holder = this.getKey(keyId)?.participants.some((p) => p.signer === signer) ?? false;
    if (holder) this.db.prepare('INSERT OR REPLACE INTO signer_epochs (key_id, signer, epoch, acked_at) VALUES (?, ?, ?, ?)').run(keyId, signer, epoch, this.now());
    else this.forgetEpoch(keyId, signer);
  }

  private forgetEpoch(keyId: string, signer: string): void {
    this.db.prepare('DELETE FROM signer_epochs WHERE key_id = ? AND signer = ?').run(keyId, signer);
  }

  signerEpochs(): SignerEpoch[] {
    return this.db.prepare<[], { signer: string; key_id: string; epoch: number }>('SELECT signer, key_id, epoch FROM signer_epochs ORDER BY signer, key_id').all().map((r) => ({ signer: r.signer, keyId: r.key_id, epoch: r.epoch }));
  }

  /** Fills `signer_epochs` of a registry created before it existed, from the audit log's acknowledgements and attestations. */
  private replaySignerEpochs(): void {
    const rows = this.db.prepare<[], AuditRow>("SELECT * FROM audit WHERE event IN ('commit.acked', 'key.attested') ORDER BY seq").all();
    for (const r of rows) {
      if (r.key_id === null) continue;
      const data = JSON.parse(r.data) as { signer: string; epoch: number };
      if (r.event === 'key.attested') this.forgetEpoch(r.key_id, data.signer);
      else this.acknowledgeEpoch(r.key_id, data.signer, data.epoch);
    }
  }

  // ---- attestations ----

  /** Records a destruction attestation; the signer no longer holds a share of the key. */
  addAttestation(a: Omit<Attestation, 'receivedAt'>): void {
    this.db
      .prepare('INSERT OR REPLACE INTO attestations (key_id, signer, epoch, destroyed_at, verifying_share, envelope, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(a.keyId, a.signer, a.epoch, a.destroyedAt, a.verifyingShare, a.envelope, this.now());
    this.forgetEpoch(a.keyId, a.signer);
  }

  attestations(keyId: string): Attestation[] {
    return this.db
      .prepare<[string], AttestationRow>('SELECT * FROM attestations WHERE key_id = ? ORDER BY signer')
      .all(keyId)
      .map((r) => ({
        keyId: r.key_id,
        signer: r.signer,
        epoch: r.epoch,
        destroyedAt: r.destroyed_at,
        verifyingShare: new Uint8Array(r.verifying_share),
        envelope: new Uint8Array(r.envelope),
        receivedAt: r.received_at,
      }));
  }

  // ---- bans ----

  ban(keyId: string, signer: string, reason: string): void {
    this.db.prepare('INSERT OR IGNORE INTO bans (key_id, signer, reason, created_at) VALUES (?, ?, ?, ?)').run(keyId, signer, reason, this.now());
  }

  bannedSigners(keyId: string): string[] {
    return this.db.prepare<[string], string>('SELECT signer FROM bans WHERE key_id = ? ORDER BY signer').pluck().all(keyId);
  }

  /** The bans of `keyId` with their reasons, by signer. */
  bans(keyId: string): Ban[] {
    return this.db
      .prepare<[string], { signer: string; reason: string; created_at: number }>('SELECT signer, reason, created_at FROM bans WHERE key_id = ? ORDER BY signer')
      .all(keyId)
      .map((r) => ({ signer: r.signer, reason: r.reason, at: r.created_at }));
  }

  /** Lifts the ban of `signer` for `keyId`; the lifted ban, or undefined if there was none. */
  unban(keyId: string, signer: string): Ban | undefined {
    return this.transaction(() => {
      const ban = this.bans(keyId).find((b) => b.signer === signer);
      if (ban !== undefined) this.db.prepare('DELETE FROM bans WHERE key_id = ? AND signer = ?').run(keyId, signer);
      return ban;
    });
  }

  // ---- client replay window (protocol ReplayGuard) ----

  /** Remembers (client key, nonce) until its timestamp falls out of the window; false if already seen. */
  checkAndRemember(clientKeyHex: string, nonceHex: string, timestamp: number): boolean {
    const horizon = this.now() - this.replayWindowMs;
    return this.transaction(() => {
      this.db.prepare('DELETE FROM replay WHERE ts < ?').run(horizon);
      if (timestamp < horizon) return false;
      return this.db.prepare('INSERT OR IGNORE INTO replay (client_key, nonce, ts) VALUES (?, ?, ?)').run(clientKeyHex, nonceHex, timestamp).changes === 1;
    });
  }

  // ---- audit ----

  /** Appends one hash-chained audit row; returns it. */
  append(event: string, keyId: string | null, data: Record<string, AuditValue> = {}): AuditEntry {
    return this.transaction(() => {
      const last = this.db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1').get();
      const seq = (last?.seq ?? 0) + 1;
      const prevHash = last?.hash ?? GENESIS;
      const row = { seq, ts: this.now(), event, keyId, data: JSON.stringify(data) };
      const hash = auditHash(prevHash, row);
      this.db.prepare('INSERT INTO audit (seq, ts, event, key_id, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)').run(seq, row.ts, event, keyId, row.data, prevHash, hash);
      return { seq, ts: row.ts, event, keyId, data, prevHash, hash };
    });
  }

  audit(keyId?: string): AuditEntry[] {
    const rows =
      keyId === undefined
        ? this.db.prepare<[], AuditRow>('SELECT * FROM audit ORDER BY seq').all()
        : this.db.prepare<[string], AuditRow>('SELECT * FROM audit WHERE key_id = ? ORDER BY seq').all(keyId);
    return rows.map((r) => ({ seq: r.seq, ts: r.ts, event: r.event, keyId: r.key_id, data: JSON.parse(r.data) as Record<string, AuditValue>, prevHash: r.prev_hash, hash: r.hash }));
  }

  /** Recomputes the whole chain from the first row. */
  verifyAudit(): AuditVerification {
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
