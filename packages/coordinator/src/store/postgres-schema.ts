/**
 * The PostgreSQL store's schema (store/postgres.ts): the numbered migrations of the
 * SQLite registry (registry/schema.ts), version for version, in PostgreSQL's dialect
 * (BIGINT for ms timestamps and sequence numbers, BYTEA for blobs), plus two one-row
 * tables only a shared database needs: `audit_head`, the audit chain's head, locked by
 * every append so two coordinators cannot fork the chain, and `leader`, the leader
 * lease with its fencing token (store/lease.ts).
 *
 * The version lives in the one-row table `schema_version`. `migratePostgres` runs every
 * migration above it, and records the new version, in one transaction under a
 * transaction-scoped advisory lock, so coordinators starting together migrate once; a
 * database newer than this code is refused with BAD_CONFIG, as SQLite's file is. A
 * migration, once released, never changes.
 */
import type pg from 'pg';
import { AUDIT_GENESIS } from '@keyquorum/protocol';
import { CoordinatorError } from '../errors.ts';

interface PgMigration {
  version: number;
  sql: string;
}

/** Version 1: registry/schema.ts LAYOUT_1, the audit head and the leader lease. */
const LAYOUT_1 = `
CREATE TABLE keys (
  id TEXT PRIMARY KEY,
  suite TEXT NOT NULL,
  threshold INTEGER NOT NULL,
  participants TEXT NOT NULL,
  group_key BYTEA,
  chain_code BYTEA,
  public_key BYTEA,
  epoch INTEGER NOT NULL CHECK (epoch >= 0),
  state TEXT NOT NULL CHECK (state IN ('pending', 'active', 'retired')),
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE pending_commits (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  signer TEXT NOT NULL,
  key_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  epoch INTEGER NOT NULL,
  session_id TEXT NOT NULL,
  frame BYTEA NOT NULL,
  created_at BIGINT NOT NULL,
  UNIQUE (signer, session_id)
);
CREATE TABLE signer_epochs (
  key_id TEXT NOT NULL,
  signer TEXT NOT NULL,
  epoch INTEGER NOT NULL CHECK (epoch >= 0),
  acked_at BIGINT NOT NULL,
  PRIMARY KEY (key_id, signer)
);
CREATE TABLE attestations (
  key_id TEXT NOT NULL,
  signer TEXT NOT NULL,
  epoch INTEGER NOT NULL,
  destroyed_at BIGINT NOT NULL,
  verifying_share BYTEA NOT NULL,
  envelope BYTEA NOT NULL,
  received_at BIGINT NOT NULL,
  PRIMARY KEY (key_id, signer)
);
CREATE TABLE bans (
  key_id TEXT NOT NULL,
  signer TEXT NOT NULL,
  reason TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (key_id, signer)
);
CREATE TABLE replay (
  client_key TEXT NOT NULL,
  nonce TEXT NOT NULL,
  ts BIGINT NOT NULL,
  PRIMARY KEY (client_key, nonce)
);
CREATE INDEX replay_ts ON replay (ts);
CREATE TABLE audit (
  seq BIGINT PRIMARY KEY CHECK (seq >= 1),
  ts BIGINT NOT NULL,
  event TEXT NOT NULL,
  key_id TEXT,
  data TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX audit_key ON audit (key_id, seq);
CREATE TABLE audit_head (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  seq BIGINT NOT NULL,
  hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '${AUDIT_GENESIS}');
CREATE TABLE leader (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  holder TEXT,
  token BIGINT NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL
);
INSERT INTO leader (id, holder, token, expires_at) VALUES (1, NULL, 0, '-infinity');
`;

const MIGRATIONS: readonly PgMigration[] = [
  { version: 1, sql: LAYOUT_1 },
  // Version 2: a pending key's DKG session id (registry/schema.ts version 2).
  { version: 2, sql: 'ALTER TABLE keys ADD COLUMN session_id TEXT' },
  // Version 3: each key's usage state (registry/key-states.ts).
  {
    version: 3,
    sql: `CREATE TABLE key_states (
      key_id TEXT PRIMARY KEY,
      state TEXT NOT NULL CHECK (state IN ('active', 'suspended', 'deactivated', 'compromised', 'destroy-scheduled', 'destroyed')),
      previous TEXT,
      after_ms BIGINT,
      destroy_at BIGINT,
      schedule BYTEA,
      updated_at BIGINT NOT NULL
    )`,
  },
  // Version 4: governance (registry/governance.ts GOVERNANCE_LAYOUT).
  {
    version: 4,
    sql: `
CREATE TABLE policies (
  key_id TEXT NOT NULL,
  version INTEGER NOT NULL CHECK (version >= 1),
  text TEXT NOT NULL,
  digest TEXT NOT NULL,
  set_at BIGINT NOT NULL,
  client_key TEXT NOT NULL,
  approvers TEXT NOT NULL,
  PRIMARY KEY (key_id, version)
);
CREATE TABLE pending_operations (
  id TEXT PRIMARY KEY,
  key_id TEXT NOT NULL,
  op TEXT NOT NULL,
  action TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'expired')),
  required INTEGER NOT NULL,
  request BYTEA NOT NULL,
  params BYTEA NOT NULL,
  approvals BYTEA NOT NULL,
  expires_at BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  result TEXT,
  error TEXT
);
CREATE TABLE approved_requests (
  client_key TEXT NOT NULL,
  nonce TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (client_key, nonce)
);
CREATE TABLE sign_uses (
  key_id TEXT NOT NULL,
  request_id TEXT NOT NULL,
  path TEXT NOT NULL,
  at BIGINT NOT NULL,
  PRIMARY KEY (key_id, request_id)
);`,
  },
  // Version 5: the signers' cosignatures of the audit log (registry/checkpoints.ts).
  {
    version: 5,
    sql: `CREATE TABLE audit_checkpoints (
      seq BIGINT NOT NULL CHECK (seq >= 1),
      hash TEXT NOT NULL,
      signer TEXT NOT NULL,
      sig TEXT NOT NULL,
      at BIGINT NOT NULL,
      PRIMARY KEY (signer, seq)
    )`,
  },
];

/** The version this code writes (the same number as the SQLite registry's SCHEMA_VERSION). */
export const PG_SCHEMA_VERSION = MIGRATIONS.at(-1)!.version;

/** Any constant the coordinators agree on: the advisory lock held while migrating. */
const MIGRATION_LOCK = 0x6b71_0001;

/** Brings the database to PG_SCHEMA_VERSION; BAD_CONFIG if it is newer. `where` names it in the error. */
export async function migratePostgres(pool: pg.Pool, where: string): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query('CREATE TABLE IF NOT EXISTS schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)');
    const row = await client.query<{ version: number }>('SELECT version FROM schema_version WHERE id = 1');
    const from = row.rows[0]?.version ?? 0;
    if (from > PG_SCHEMA_VERSION) {
      throw new CoordinatorError('BAD_CONFIG', { field: 'database', message: `${where} has store schema version ${from}; this coordinator knows versions up to ${PG_SCHEMA_VERSION}` });
    }
    for (const m of MIGRATIONS) if (m.version > from) await client.query(m.sql);
    if (from < PG_SCHEMA_VERSION) {
      await client.query('INSERT INTO schema_version (id, version) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET version = excluded.version', [PG_SCHEMA_VERSION]);
    }
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    client.release();
  }
}
