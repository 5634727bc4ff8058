/**
 * The registry's schema as numbered migrations. The file's version is SQLite's
 * `PRAGMA user_version` (0: a new file, or one written before versions were
 * numbered); `migrate` applies every migration above it in order, and records the
 * new version, in one IMMEDIATE transaction: a file is at one version or the next,
 * never in between. A file newer than this code is refused. A migration, once
 * released, never changes: a schema change is a new migration at the end.
 */
import type Database from 'better-sqlite3';
import { CoordinatorError } from '../errors.ts';
import { AuditLog } from './audit.ts';
import { SignerEpochs } from './commits.ts';
import { GOVERNANCE_LAYOUT } from './governance.ts';
import { KeyStore } from './keys.ts';

interface Migration {
  /** The version a file is at once this migration has run: the previous one's + 1. */
  version: number;
  up(db: Database.Database, now: () => number): void;
}

/**
 * Version 1: the layout registries had before versions were numbered. It adopts such
 * a file, so it creates only what is absent; a file from before signer epochs were
 * tracked gets them from its audit log's acknowledgements and attestations.
 */
const LAYOUT_1 = `
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

function fillSignerEpochs(db: Database.Database, now: () => number): void {
  const epochs = new SignerEpochs(db, now, new KeyStore(db, now));
  for (const e of new AuditLog(db, now).ofEvents(['commit.acked', 'key.attested'])) {
    if (e.keyId === null) continue;
    const data = e.data as { signer: string; epoch: number };
    if (e.event === 'key.attested') epochs.forget(e.keyId, data.signer);
    else epochs.acknowledge(e.keyId, data.signer, data.epoch);
  }
}

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    up(db, now) {
      const hadEpochs = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'signer_epochs'").get() !== undefined;
      db.exec(LAYOUT_1);
      if (!hadEpochs) fillSignerEpochs(db, now);
    },
  },
  {
    // Version 2: a pending key's DKG session id (hex), recorded once derived, so a
    // coordinator restarted mid-DKG can resolve the session (sessions/resolve.ts).
    version: 2,
    up(db) {
      db.exec('ALTER TABLE keys ADD COLUMN session_id TEXT');
    },
  },
  {
    // Version 3 (issue 11): each key's usage state (registry/key-states.ts), beside its lifecycle state.
    version: 3,
    up(db) {
      db.exec(`CREATE TABLE IF NOT EXISTS key_states (
        key_id TEXT PRIMARY KEY,
        state TEXT NOT NULL CHECK (state IN ('active', 'suspended', 'deactivated', 'compromised', 'destroy-scheduled', 'destroyed')),
        previous TEXT,
        after_ms INTEGER,
        destroy_at INTEGER,
        schedule BLOB,
        updated_at INTEGER NOT NULL
      )`);
    },
  },
  {
    // Version 4, "governance" (issue 11 parts 2, 3, 5):
    // key policies and their history, operations waiting for approvals, approved
    // requests honoured once, the coordinator's velocity count (registry/governance.ts).
    version: 4,
    up(db) {
      db.exec(GOVERNANCE_LAYOUT);
    },
  },
  {
    // Version 5 (issue 11, audit checkpoints):
    // the signers' cosignatures of the audit log (registry/checkpoints.ts).
    version: 5,
    up(db) {
      db.exec(`CREATE TABLE IF NOT EXISTS audit_checkpoints (
        seq INTEGER NOT NULL CHECK (seq >= 1),
        hash TEXT NOT NULL,
        signer TEXT NOT NULL,
        sig TEXT NOT NULL,
        at INTEGER NOT NULL,
        PRIMARY KEY (signer, seq)
      )`);
    },
  },
];

/** The version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.at(-1)!.version;

/** Brings `db` (the registry `file`) to SCHEMA_VERSION; BAD_CONFIG if it is newer. */
export function migrate(db: Database.Database, file: string, now: () => number): void {
  db.transaction(() => {
    const from = db.prepare<[], number>('PRAGMA user_version').pluck().get()!;
    if (from > SCHEMA_VERSION) {
      throw new CoordinatorError('BAD_CONFIG', { field: 'dataDir', message: `${file} has registry schema version ${from}; this coordinator knows versions up to ${SCHEMA_VERSION}` });
    }
    for (const m of MIGRATIONS) if (m.version > from) m.up(db, now);
    if (from < SCHEMA_VERSION) db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}
