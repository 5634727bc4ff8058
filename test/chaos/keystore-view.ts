/**
 * What a signer's keystore holds, read through a read-only SQLite connection while
 * the daemon runs (WAL allows it; `Keystore.readPeerBans` reads the same way): key
 * id, epoch and state of each share row, and the keys it retired. No sealed column is
 * read and no KEK is needed, so the check cannot weaken sealing. This reads the
 * keystore's schema (packages/signer/src/keystore/schema.ts: `shares`,
 * `retired_keys`); a schema change there must be mirrored here.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { KEYSTORE_DB_FILE } from '@keyquorum/signer';
import type { HeldShareRow } from './invariants.ts';

export interface KeystoreView {
  shares: HeldShareRow[];
  /** Key ids this signer retired (left by reshare, or retired). */
  retired: string[];
}

export function readKeystoreView(dataDir: string): KeystoreView {
  const file = path.join(dataDir, KEYSTORE_DB_FILE);
  if (!fs.existsSync(file)) throw new Error(`no keystore at ${file}`);
  const db = new Database(file, { readonly: true, fileMustExist: true, timeout: 5000 });
  try {
    const shares = db.prepare<[], { key_id: string; epoch: number; state: HeldShareRow['state'] }>('SELECT key_id, epoch, state FROM shares ORDER BY key_id, epoch').all();
    const retired = db.prepare<[], { key_id: string }>('SELECT key_id FROM retired_keys ORDER BY key_id').all();
    return { shares: shares.map((r) => ({ keyId: r.key_id, epoch: r.epoch, state: r.state })), retired: retired.map((r) => r.key_id) };
  } finally {
    db.close();
  }
}
