/**
 * Keys and what signers hold of them, in PostgreSQL (the SQLite side and the meaning
 * of each table: registry/keys.ts, key-states.ts, commits.ts, attestations.ts,
 * bans.ts, checkpoints.ts): keys and their usage states, the COMMIT frames each signer
 * still has to acknowledge, the epoch each signer holds, destruction attestations,
 * bans, and the signers' cosignatures of the audit log. A method that reads then
 * writes is one statement, or runs in the caller's transaction with the row it reads
 * locked (`acknowledge`).
 */
import { encodeBody, toWirePublicKey, type AuditCheckpoint, type KeySuiteId, type ParticipantRef } from '@keyquorum/protocol';
import type { PublicKeyPackage } from '@keyquorum/crypto';
import { CoordinatorError } from '../errors.ts';
import type { Attestation, Ban, KeyState, KeyUsage, PendingCommit, RegistryKey, SignerEpoch, StoredCheckpoint } from './types.ts';
import { blob, bytes, UNIQUE_VIOLATION, type Queryable } from './pg-sql.ts';
import { SELECT_KEY, toKey, type KeyRow } from '../registry/keys.ts';
import { toUsage, type UsageRow } from '../registry/key-states.ts';

interface CommitRow { seq: number; signer: string; key_id: string; kind: string; epoch: number; session_id: string; frame: Uint8Array }
interface AttestationRow { key_id: string; signer: string; epoch: number; destroyed_at: number; verifying_share: Uint8Array; envelope: Uint8Array; received_at: number }
interface CheckpointRow { seq: number; hash: string; signer: string; sig: string; at: number }


const toCommit = (r: CommitRow): PendingCommit => ({ seq: r.seq, signer: r.signer, keyId: r.key_id, kind: r.kind, epoch: r.epoch, sessionId: r.session_id, frame: bytes(r.frame) });
const toCheckpoint = (r: CheckpointRow): StoredCheckpoint => ({ signer: r.signer, seq: r.seq, hash: r.hash, sig: r.sig, at: r.at });

export class PgKeys {
  constructor(
    private readonly db: Queryable,
    private readonly now: () => number,
  ) {}

  /** KEY_EXISTS if a key with that id exists. */
  async insertPending(k: { id: string; suite: KeySuiteId; threshold: number; participants: ParticipantRef[] }): Promise<void> {
    const at = this.now();
    try {
      await this.db.query("INSERT INTO keys (id, suite, threshold, participants, epoch, state, created_at, updated_at) VALUES ($1, $2, $3, $4, 0, 'pending', $5, $6)", [k.id, k.suite, k.threshold, JSON.stringify(k.participants), at, at]);
    } catch (e) {
      if ((e as { code?: string }).code === UNIQUE_VIOLATION) throw new CoordinatorError('KEY_EXISTS', { field: 'keyId', message: `key ${k.id} already exists` });
      throw e;
    }
  }

  async setSessionId(id: string, sessionId: string): Promise<void> {
    await this.db.query("UPDATE keys SET session_id = $1, updated_at = $2 WHERE id = $3 AND state = 'pending'", [sessionId, this.now(), id]);
  }

  async delete(id: string): Promise<void> {
    await this.db.query('DELETE FROM keys WHERE id = $1', [id]);
  }

  async get(id: string): Promise<RegistryKey | undefined> {
    const row = (await this.db.query<KeyRow>(`${SELECT_KEY} WHERE k.id = $1`, [id])).rows[0];
    return row === undefined ? undefined : toKey(row);
  }

  async list(): Promise<RegistryKey[]> {
    return (await this.db.query<KeyRow>(`${SELECT_KEY} ORDER BY k.created_at, k.id COLLATE "C"`)).rows.map(toKey);
  }

  /** Records a key's (new) public package and epoch and makes it active; UNKNOWN_KEY if there is no such key. */
  async setMaterial(id: string, pkg: PublicKeyPackage, epoch: number, participants?: ParticipantRef[]): Promise<void> {
    const res = await this.db.query(
      "UPDATE keys SET group_key = $1, chain_code = $2, public_key = $3, epoch = $4, threshold = $5, participants = COALESCE($6, participants), state = 'active', updated_at = $7 WHERE id = $8",
      [blob(pkg.groupKey), blob(pkg.chainCode), blob(encodeBody(toWirePublicKey(pkg))), epoch, pkg.threshold, participants === undefined ? null : JSON.stringify(participants), this.now(), id],
    );
    if (res.rowCount !== 1) throw new CoordinatorError('UNKNOWN_KEY', { field: 'keyId', message: `no key ${id}` });
  }

  async setState(id: string, state: KeyState): Promise<void> {
    await this.db.query('UPDATE keys SET state = $1, updated_at = $2 WHERE id = $3', [state, this.now(), id]);
  }

  // ---- usage states ----

  async usage(keyId: string): Promise<KeyUsage | undefined> {
    const r = (await this.db.query<UsageRow>('SELECT * FROM key_states WHERE key_id = $1', [keyId])).rows[0];
    return r === undefined ? undefined : toUsage(r);
  }

  async putUsage(u: Omit<KeyUsage, 'updatedAt'>): Promise<void> {
    const s = u.schedule;
    await this.db.query(
      `INSERT INTO key_states (key_id, state, previous, after_ms, destroy_at, schedule, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (key_id) DO UPDATE SET state = excluded.state, previous = excluded.previous, after_ms = excluded.after_ms,
         destroy_at = excluded.destroy_at, schedule = excluded.schedule, updated_at = excluded.updated_at`,
      [u.keyId, u.state, u.previous ?? null, s?.afterMs ?? null, s?.destroyAt ?? null, s === undefined ? null : blob(encodeBody(s.request)), this.now()],
    );
  }

  async scheduled(): Promise<KeyUsage[]> {
    return (await this.db.query<UsageRow>("SELECT * FROM key_states WHERE state = 'destroy-scheduled' ORDER BY destroy_at")).rows.map(toUsage);
  }
}

export class PgSignerRecords {
  constructor(
    private readonly db: Queryable,
    private readonly now: () => number,
  ) {}

  // ---- pending commits ----

  /** As SQLite's INSERT OR REPLACE: a commit re-added for the same (signer, session) replaces the old row and queues last. Run in a transaction. */
  async addCommit(c: Omit<PendingCommit, 'seq'>): Promise<void> {
    await this.db.query('DELETE FROM pending_commits WHERE signer = $1 AND session_id = $2', [c.signer, c.sessionId]);
    await this.db.query('INSERT INTO pending_commits (signer, key_id, kind, epoch, session_id, frame, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)', [c.signer, c.keyId, c.kind, c.epoch, c.sessionId, blob(c.frame), this.now()]);
  }

  async commits(signer?: string): Promise<PendingCommit[]> {
    const res = signer === undefined
      ? await this.db.query<CommitRow>('SELECT * FROM pending_commits ORDER BY seq')
      : await this.db.query<CommitRow>('SELECT * FROM pending_commits WHERE signer = $1 ORDER BY seq', [signer]);
    return res.rows.map(toCommit);
  }

  /** Signers that have not acknowledged some commit of `keyId` (a queued key state or policy transition is no commit of an epoch). */
  async unacknowledged(keyId: string): Promise<string[]> {
    const res = await this.db.query<{ signer: string }>(`SELECT DISTINCT signer COLLATE "C" AS signer FROM pending_commits WHERE key_id = $1 AND kind NOT IN ('state', 'policy') ORDER BY signer`, [keyId]);
    return res.rows.map((r) => r.signer);
  }

  async findCommit(signer: string, sessionId: string): Promise<PendingCommit | undefined> {
    const r = (await this.db.query<CommitRow>('SELECT * FROM pending_commits WHERE signer = $1 AND session_id = $2', [signer, sessionId])).rows[0];
    return r === undefined ? undefined : toCommit(r);
  }

  async removeCommit(seq: number): Promise<void> {
    await this.db.query('DELETE FROM pending_commits WHERE seq = $1', [seq]);
  }

  // ---- signer epochs ----

  /** As registry/commits.ts `acknowledge`, with the key row share-locked while deciding. Run in a transaction. */
  async acknowledge(keyId: string, signer: string, epoch: number): Promise<void> {
    const key = (await this.db.query<{ participants: string }>('SELECT participants FROM keys WHERE id = $1 FOR SHARE', [keyId])).rows[0];
    const holder = key !== undefined && (JSON.parse(key.participants) as ParticipantRef[]).some((p) => p.signer === signer);
    if (!holder) return this.forget(keyId, signer);
    await this.db.query(
      'INSERT INTO signer_epochs (key_id, signer, epoch, acked_at) VALUES ($1, $2, $3, $4) ON CONFLICT (key_id, signer) DO UPDATE SET epoch = excluded.epoch, acked_at = excluded.acked_at',
      [keyId, signer, epoch, this.now()],
    );
  }

  async forget(keyId: string, signer: string): Promise<void> {
    await this.db.query('DELETE FROM signer_epochs WHERE key_id = $1 AND signer = $2', [keyId, signer]);
  }

  async epochs(): Promise<SignerEpoch[]> {
    const res = await this.db.query<{ signer: string; key_id: string; epoch: number }>('SELECT signer, key_id, epoch FROM signer_epochs ORDER BY signer COLLATE "C", key_id COLLATE "C"');
    return res.rows.map((r) => ({ signer: r.signer, keyId: r.key_id, epoch: r.epoch }));
  }

  // ---- attestations ----

  async addAttestation(a: Omit<Attestation, 'receivedAt'>): Promise<void> {
    await this.db.query(
      `INSERT INTO attestations (key_id, signer, epoch, destroyed_at, verifying_share, envelope, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (key_id, signer) DO UPDATE SET epoch = excluded.epoch, destroyed_at = excluded.destroyed_at, verifying_share = excluded.verifying_share,
         envelope = excluded.envelope, received_at = excluded.received_at`,
      [a.keyId, a.signer, a.epoch, a.destroyedAt, blob(a.verifyingShare), blob(a.envelope), this.now()],
    );
  }

  async attestations(keyId: string): Promise<Attestation[]> {
    const res = await this.db.query<AttestationRow>('SELECT * FROM attestations WHERE key_id = $1 ORDER BY signer COLLATE "C"', [keyId]);
    return res.rows.map((r) => ({ keyId: r.key_id, signer: r.signer, epoch: r.epoch, destroyedAt: r.destroyed_at, verifyingShare: bytes(r.verifying_share), envelope: bytes(r.envelope), receivedAt: r.received_at }));
  }

  // ---- bans ----

  /** A signer already banned keeps its first ban. */
  async ban(keyId: string, signer: string, reason: string): Promise<void> {
    await this.db.query('INSERT INTO bans (key_id, signer, reason, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [keyId, signer, reason, this.now()]);
  }

  async bans(keyId: string): Promise<Ban[]> {
    const res = await this.db.query<{ signer: string; reason: string; created_at: number }>('SELECT signer, reason, created_at FROM bans WHERE key_id = $1 ORDER BY signer COLLATE "C"', [keyId]);
    return res.rows.map((r) => ({ signer: r.signer, reason: r.reason, at: r.created_at }));
  }

  /** Lifts the ban in one statement; the lifted ban, or undefined if there was none. */
  async unban(keyId: string, signer: string): Promise<Ban | undefined> {
    const r = (await this.db.query<{ signer: string; reason: string; created_at: number }>('DELETE FROM bans WHERE key_id = $1 AND signer = $2 RETURNING signer, reason, created_at', [keyId, signer])).rows[0];
    return r === undefined ? undefined : { signer: r.signer, reason: r.reason, at: r.created_at };
  }

  // ---- audit checkpoints (the signers' cosignatures) ----

  /** A signer cosigning the same seq again replaces its row. */
  async addCheckpoint(c: AuditCheckpoint): Promise<void> {
    await this.db.query(
      'INSERT INTO audit_checkpoints (seq, hash, signer, sig, at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (signer, seq) DO UPDATE SET hash = excluded.hash, sig = excluded.sig, at = excluded.at',
      [c.seq, c.hash, c.signer, c.sig, this.now()],
    );
  }

  async checkpoints(): Promise<StoredCheckpoint[]> {
    return (await this.db.query<CheckpointRow>('SELECT * FROM audit_checkpoints ORDER BY seq, signer COLLATE "C"')).rows.map(toCheckpoint);
  }

  /** The cosignatures of seqs in (after, upTo], by seq then signer. */
  async checkpointsBetween(after: number, upTo: number): Promise<AuditCheckpoint[]> {
    const res = await this.db.query<CheckpointRow>('SELECT * FROM audit_checkpoints WHERE seq > $1 AND seq <= $2 ORDER BY seq, signer COLLATE "C"', [after, upTo]);
    return res.rows.map((r) => ({ signer: r.signer, seq: r.seq, hash: r.hash, sig: r.sig }));
  }

  async lastCheckpoint(signer?: string): Promise<StoredCheckpoint | undefined> {
    const res = signer === undefined
      ? await this.db.query<CheckpointRow>('SELECT * FROM audit_checkpoints ORDER BY seq DESC, at DESC LIMIT 1')
      : await this.db.query<CheckpointRow>('SELECT * FROM audit_checkpoints WHERE signer = $1 ORDER BY seq DESC, at DESC LIMIT 1', [signer]);
    const r = res.rows[0];
    return r === undefined ? undefined : toCheckpoint(r);
  }
}
