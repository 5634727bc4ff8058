/**
 * The keystore's schema as numbered migrations. `meta.schema_version` names the last
 * migration applied; opening a keystore applies the later ones, all in one
 * transaction with the new version, so a crash leaves the file at the old version or
 * the new one. A file whose version is above the last migration was written by newer
 * code and is refused with 'SCHEMA_VERSION'.
 *
 * Migration 1 is the layout the keystore had when migrations were introduced
 * (issue 9); its files open unchanged. A new table or column is a new migration
 * appended here, never an edit of an applied one.
 */
import type Database from 'better-sqlite3';
import { SignerError } from '../errors.ts';

export interface Migration {
  version: number;
  up(db: Database.Database): void;
}

const LAYOUT_V1 = `
CREATE TABLE meta (
  name TEXT PRIMARY KEY,
  value ANY NOT NULL
) STRICT;
CREATE TABLE shares (
  key_id TEXT NOT NULL,
  epoch INTEGER NOT NULL CHECK (epoch >= 0),
  signer_id TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'active', 'retired')),
  suite TEXT NOT NULL,
  sealed BLOB NOT NULL,
  public BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (key_id, epoch)
) STRICT;
CREATE UNIQUE INDEX shares_one_active ON shares (key_id) WHERE state = 'active';
CREATE UNIQUE INDEX shares_one_pending ON shares (key_id) WHERE state = 'pending';
CREATE TABLE retired_keys (
  key_id TEXT PRIMARY KEY,
  retired_at INTEGER NOT NULL,
  attestation_digest BLOB NOT NULL
) STRICT;
CREATE TABLE nonces (
  nonce_id TEXT PRIMARY KEY,
  key_id TEXT NOT NULL,
  epoch INTEGER NOT NULL CHECK (epoch >= 0),
  sealed BLOB NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('fresh', 'consumed', 'discarded')),
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX nonces_fresh ON nonces (key_id) WHERE state = 'fresh';
CREATE TABLE requests (
  client_key TEXT NOT NULL,
  nonce TEXT NOT NULL,
  timestamp INTEGER NOT NULL,
  PRIMARY KEY (client_key, nonce)
) STRICT;
CREATE INDEX requests_timestamp ON requests (timestamp);
CREATE TABLE attestations (
  key_id TEXT PRIMARY KEY,
  payload BLOB NOT NULL
) STRICT;
CREATE TABLE peer_bans (
  key_id TEXT NOT NULL,
  peer TEXT NOT NULL,
  reason TEXT NOT NULL,
  banned_at INTEGER NOT NULL,
  PRIMARY KEY (key_id, peer)
) STRICT;
`;

/**
 * Migration 2 (issue 10, finding 3): beside a share, the CONFIRM envelope this signer
 * signed for it (so it can answer a RESOLVE with the very bytes, kind included), and
 * the key sessions this signer vetoed (a signed promise never to store, confirm or
 * activate them; `sessions.ts`).
 */
const SESSION_RECORDS_V2 = `
CREATE TABLE share_confirms (
  key_id TEXT NOT NULL,
  epoch INTEGER NOT NULL CHECK (epoch >= 0),
  session_id BLOB NOT NULL,
  envelope BLOB NOT NULL,
  PRIMARY KEY (key_id, epoch)
) STRICT;
CREATE TABLE vetoed_sessions (
  session_id BLOB PRIMARY KEY,
  key_id TEXT NOT NULL,
  epoch INTEGER NOT NULL CHECK (epoch >= 0),
  envelope BLOB NOT NULL,
  vetoed_at INTEGER NOT NULL
) STRICT;
`;

/**
 * Migration 3 (issue 11, key states): this signer's own record of each key's state
 * (key-states.ts), and the history of every transition it applied.
 */
const KEY_STATES_V3 = `
CREATE TABLE key_states (
  key_id TEXT PRIMARY KEY,
  state TEXT NOT NULL CHECK (state IN ('active', 'suspended', 'deactivated', 'compromised', 'destroy-scheduled', 'destroyed')),
  previous TEXT,
  request_id BLOB NOT NULL,
  request_ts INTEGER NOT NULL,
  not_before INTEGER,
  updated_at INTEGER NOT NULL
) STRICT;
CREATE TABLE key_state_history (
  seq INTEGER PRIMARY KEY,
  key_id TEXT NOT NULL,
  transition TEXT NOT NULL,
  from_state TEXT NOT NULL,
  to_state TEXT NOT NULL,
  request_id BLOB NOT NULL,
  at INTEGER NOT NULL
) STRICT;
CREATE INDEX key_state_history_key ON key_state_history (key_id, request_id);
`;

/**
 * Migration 4, "key policies and velocity" (issue 11, signer policy; docs/governance.md
 * "Signer"): every policy version this signer enforced for a key (the highest is in
 * force; policies.ts), and the velocity ledger, one row per sign request this signer
 * admitted (velocity.ts), pruned past the policy's longest window.
 */
const KEY_POLICIES_AND_VELOCITY_V4 = `
CREATE TABLE key_policies (
  key_id TEXT NOT NULL,
  version INTEGER NOT NULL CHECK (version >= 1),
  text TEXT NOT NULL,
  digest BLOB NOT NULL,
  request_id BLOB NOT NULL,
  set_at INTEGER NOT NULL,
  PRIMARY KEY (key_id, version)
) STRICT;
CREATE TABLE velocity_ledger (
  key_id TEXT NOT NULL,
  request_id BLOB NOT NULL,
  path TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (key_id, request_id)
) STRICT;
CREATE INDEX velocity_ledger_at ON velocity_ledger (key_id, at);
`;

/**
 * Migration 5 (issue 11, audit checkpoints): this signer's record of the coordinator's
 * audit log, one row (audit-checkpoint.ts): the last checkpoint it cosigned, an
 * inconsistency found, and the operation STARTs reserved since.
 */
const AUDIT_CHECKPOINT_V5 = `
CREATE TABLE audit_checkpoint (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  seq INTEGER CHECK (seq >= 0),
  hash TEXT,
  cosigned_at INTEGER,
  inconsistent_at INTEGER,
  inconsistent_reason TEXT,
  ops_reserved INTEGER NOT NULL CHECK (ops_reserved >= 0)
) STRICT;
`;

/**
 * Migration 6, "spend ledger" (docs/transactions.md section 3): per transaction request
 * this signer admitted for a key, what it moves away per asset (decimal base units), for
 * the policy's per-window limits; a request counts once (spend.ts).
 */
const SPEND_LEDGER_V6 = `
CREATE TABLE spend_ledger (
  key_id TEXT NOT NULL,
  request_id BLOB NOT NULL,
  asset TEXT NOT NULL,
  amount TEXT NOT NULL,
  at INTEGER NOT NULL,
  retain_until INTEGER NOT NULL,
  PRIMARY KEY (key_id, request_id, asset)
) STRICT;
CREATE INDEX spend_ledger_at ON spend_ledger (key_id, asset, at);
`;

/** Every migration, in order; versions are 1, 2, 3, ... without gaps. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, up: (db) => db.exec(LAYOUT_V1) },
  { version: 2, up: (db) => db.exec(SESSION_RECORDS_V2) },
  { version: 3, up: (db) => db.exec(KEY_STATES_V3) },
  { version: 4, up: (db) => db.exec(KEY_POLICIES_AND_VELOCITY_V4) },
  { version: 5, up: (db) => db.exec(AUDIT_CHECKPOINT_V5) },
  { version: 6, up: (db) => db.exec(SPEND_LEDGER_V6) },
];

/** The version a keystore written by this code has. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** The tables a keystore at `SCHEMA_VERSION` has; one missing means the file is 'CORRUPT'. */
const TABLES = ['meta', 'shares', 'retired_keys', 'nonces', 'requests', 'attestations', 'peer_bans', 'share_confirms', 'vetoed_sessions', 'key_states', 'key_state_history', 'key_policies', 'velocity_ledger', 'audit_checkpoint', 'spend_ledger'] as const;

function tableNames(db: Database.Database): Set<string> {
  return new Set(db.prepare<[], string>("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all());
}

/**
 * The version recorded in `meta`: 'CORRUPT' without one, 'SCHEMA_VERSION' if it is not
 * one this code can migrate from (0 or below, or above `SCHEMA_VERSION`).
 */
export function readSchemaVersion(db: Database.Database): number {
  if (!tableNames(db).has('meta')) throw new SignerError('CORRUPT', { field: 'meta', message: 'table missing' });
  const version = db.prepare<[], unknown>("SELECT value FROM meta WHERE name = 'schema_version'").pluck().get();
  if (typeof version !== 'number' || !Number.isSafeInteger(version)) throw new SignerError('CORRUPT', { field: 'meta.schema_version' });
  if (version < 1 || version > SCHEMA_VERSION) {
    throw new SignerError('SCHEMA_VERSION', { field: 'meta.schema_version', message: `found ${version}, read ${SCHEMA_VERSION}` });
  }
  return version;
}

/**
 * Applies every migration after `from` (0 for a new file) and records `SCHEMA_VERSION`
 * in `meta`. The caller runs it inside one transaction.
 */
export function migrate(db: Database.Database, from: number): void {
  for (const migration of MIGRATIONS.slice(from)) migration.up(db);
  db.prepare<[number]>(
    "INSERT INTO meta (name, value) VALUES ('schema_version', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
  ).run(SCHEMA_VERSION);
}

/** 'CORRUPT' unless every table of the current schema is there. */
export function requireTables(db: Database.Database): void {
  const present = tableNames(db);
  for (const table of TABLES) {
    if (!present.has(table)) throw new SignerError('CORRUPT', { field: table, message: 'table missing' });
  }
}
