/**
 * The registry's keys: id, suite, threshold, participants, lifecycle state
 * (pending -> active -> retired; an active key reads as its usage state, key-states.ts) and, once a key session committed, its public key
 * package (wire encoding) and epoch. Durable when the registry transaction commits.
 */
import Database from 'better-sqlite3';
import { decode, encodeBody, fromWirePublicKey, parseWirePublicKey, toWirePublicKey, type KeyState, type KeySuiteId, type KeyView, type ParticipantRef } from '@keyquorum/protocol';
import { targetExternalKey, type PublicKeyPackage } from '@keyquorum/crypto';
import { CoordinatorError } from '../errors.ts';

export type { KeyState } from '@keyquorum/protocol';

/** A key as the registry stores it: one row of `keys`, its public package decoded. */
export interface RegistryKey {
  id: string;
  suite: KeySuiteId;
  threshold: number;
  /** Signer ids and FROST indices, in DKG order. */
  participants: ParticipantRef[];
  /** Absent while the key is pending. */
  publicKey: PublicKeyPackage | undefined;
  epoch: number;
  state: KeyState;
  /** A pending key's DKG session id (hex), once derived; undefined before (and once active: stale). */
  sessionId: string | undefined;
  createdAt: number;
  updatedAt: number;
}

/** A `keys` row joined with its usage state (`SELECT_KEY`), as both backends read it. */
export interface KeyRow {
  id: string;
  suite: string;
  threshold: number;
  participants: string;
  public_key: Uint8Array | null;
  epoch: number;
  state: KeyState;
  session_id: string | null;
  created_at: number;
  updated_at: number;
  /** `key_states.state`, when the key left 'active' once (registry/key-states.ts). */
  usage: KeyState | null;
}

export const SELECT_KEY = 'SELECT k.*, s.state AS usage FROM keys k LEFT JOIN key_states s ON s.key_id = k.id';

export function toKey(row: KeyRow): RegistryKey {
  return {
    id: row.id,
    suite: row.suite as KeySuiteId,
    threshold: row.threshold,
    participants: JSON.parse(row.participants) as ParticipantRef[],
    publicKey: row.public_key === null ? undefined : fromWirePublicKey(parseWirePublicKey(decode(new Uint8Array(row.public_key)), 'public_key')),
    epoch: row.epoch,
    // An active key shows its usage state; a key destroyed after a schedule shows 'destroyed'.
    state: row.usage !== null && (row.state === 'active' || row.usage === 'destroyed') ? row.usage : row.state,
    sessionId: row.session_id ?? undefined,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** The key as the API answers it (`KeyView`): the external public key, group key and chain code of its package. */
export function toKeyView(k: RegistryKey): KeyView {
  return {
    id: k.id,
    suite: k.suite,
    threshold: k.threshold,
    participants: k.participants,
    publicKey: k.publicKey === undefined ? undefined : targetExternalKey(k.publicKey),
    groupKey: k.publicKey?.groupKey,
    chainCode: k.publicKey?.chainCode,
    epoch: k.epoch,
    state: k.state,
    createdAt: k.createdAt,
    updatedAt: k.updatedAt,
  };
}

export class KeyStore {
  constructor(
    private readonly db: Database.Database,
    private readonly now: () => number,
  ) {}

  /** KEY_EXISTS if a key with that id exists. */
  insertPending(k: { id: string; suite: KeySuiteId; threshold: number; participants: ParticipantRef[] }): void {
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

  /** Records a pending key's derived DKG session id (hex). */
  setSessionId(id: string, sessionId: string): void {
    this.db.prepare("UPDATE keys SET session_id = ?, updated_at = ? WHERE id = ? AND state = 'pending'").run(sessionId, this.now(), id);
  }

  delete(id: string): void {
    this.db.prepare('DELETE FROM keys WHERE id = ?').run(id);
  }

  get(id: string): RegistryKey | undefined {
    const row = this.db.prepare<[string], KeyRow>(`${SELECT_KEY} WHERE k.id = ?`).get(id);
    return row === undefined ? undefined : toKey(row);
  }

  list(): RegistryKey[] {
    return this.db.prepare<[], KeyRow>(`${SELECT_KEY} ORDER BY k.created_at, k.id`).all().map(toKey);
  }

  /** Records a key's (new) public package and epoch and makes it active; UNKNOWN_KEY if there is no such key. */
  setMaterial(id: string, pkg: PublicKeyPackage, epoch: number, participants?: ParticipantRef[]): void {
    const at = this.now();
    const info = this.db
      .prepare(
        "UPDATE keys SET group_key = ?, chain_code = ?, public_key = ?, epoch = ?, threshold = ?, participants = COALESCE(?, participants), state = 'active', updated_at = ? WHERE id = ?",
      )
      .run(pkg.groupKey, pkg.chainCode, encodeBody(toWirePublicKey(pkg)), epoch, pkg.threshold, participants === undefined ? null : JSON.stringify(participants), at, id);
    if (info.changes !== 1) throw new CoordinatorError('UNKNOWN_KEY', { field: 'keyId', message: `no key ${id}` });
  }

  setState(id: string, state: KeyState): void {
    this.db.prepare('UPDATE keys SET state = ?, updated_at = ? WHERE id = ?').run(state, this.now(), id);
  }
}
