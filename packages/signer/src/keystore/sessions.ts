/**
 * Records of key sessions beside the shares (issue 10, finding 3): the CONFIRM
 * envelope this signer signed for a share (deleted with the share), and the sessions
 * it vetoed. A veto is this signer's signed promise never to store, confirm or
 * activate a session; it is recorded before the VETO is signed and kept for good.
 * Opaque bytes: the keystore knows no envelope format. Methods run inside the caller's
 * transaction.
 */
import type { StoreContext } from './database.ts';
import { blob, now } from './database.ts';

function prepare(ctx: StoreContext) {
  const { db } = ctx;
  return {
    putConfirm: db.prepare<[string, number, Buffer, Buffer]>(
      'INSERT INTO share_confirms (key_id, epoch, session_id, envelope) VALUES (?, ?, ?, ?) ON CONFLICT (key_id, epoch) DO UPDATE SET session_id = excluded.session_id, envelope = excluded.envelope',
    ),
    confirm: db.prepare<[string, number], { session_id: Uint8Array; envelope: Uint8Array }>('SELECT session_id, envelope FROM share_confirms WHERE key_id = ? AND epoch = ?'),
    dropConfirm: db.prepare<[string, number]>('DELETE FROM share_confirms WHERE key_id = ? AND epoch = ?'),
    dropOtherConfirms: db.prepare<[string, number]>('DELETE FROM share_confirms WHERE key_id = ? AND epoch <> ?'),
    dropKeyConfirms: db.prepare<[string]>('DELETE FROM share_confirms WHERE key_id = ?'),
    putVeto: db.prepare<[Buffer, string, number, Buffer, number]>('INSERT OR IGNORE INTO vetoed_sessions (session_id, key_id, epoch, envelope, vetoed_at) VALUES (?, ?, ?, ?, ?)'),
    veto: db.prepare<[Buffer], { key_id: string; epoch: number; envelope: Uint8Array }>('SELECT key_id, epoch, envelope FROM vetoed_sessions WHERE session_id = ?'),
  };
}

export interface StoredVeto {
  keyId: string;
  epoch: number;
  envelope: Uint8Array;
}

export class SessionRecords {
  readonly #ctx: StoreContext;
  readonly #sql: ReturnType<typeof prepare>;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
    this.#sql = prepare(ctx);
  }

  putConfirm(keyId: string, epoch: number, sessionId: Uint8Array, envelope: Uint8Array): void {
    this.#sql.putConfirm.run(keyId, epoch, blob(sessionId), blob(envelope));
  }

  /** The CONFIRM envelope kept with the share at `epoch`, if any (a share stored before migration 2 has none). */
  confirm(keyId: string, epoch: number): { sessionId: Uint8Array; envelope: Uint8Array } | undefined {
    const row = this.#sql.confirm.get(keyId, epoch);
    return row === undefined ? undefined : { sessionId: new Uint8Array(row.session_id), envelope: new Uint8Array(row.envelope) };
  }

  dropConfirm(keyId: string, epoch: number): void {
    this.#sql.dropConfirm.run(keyId, epoch);
  }

  dropOtherConfirms(keyId: string, epoch: number): void {
    this.#sql.dropOtherConfirms.run(keyId, epoch);
  }

  dropKeyConfirms(keyId: string): void {
    this.#sql.dropKeyConfirms.run(keyId);
  }

  /** Records a veto; a session vetoed before keeps its first record. */
  putVeto(sessionId: Uint8Array, keyId: string, epoch: number, envelope: Uint8Array): void {
    this.#sql.putVeto.run(blob(sessionId), keyId, epoch, blob(envelope), now(this.#ctx));
  }

  veto(sessionId: Uint8Array): StoredVeto | undefined {
    const row = this.#sql.veto.get(blob(sessionId));
    return row === undefined ? undefined : { keyId: row.key_id, epoch: row.epoch, envelope: new Uint8Array(row.envelope) };
  }
}
