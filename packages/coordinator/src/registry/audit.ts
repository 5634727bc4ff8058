/**
 * The coordinator's audit log: every lifecycle transition, signature and operator
 * decision, one row each, durable once the enclosing registry transaction commits.
 *
 * Hash-chained (the one definition is `auditHash` in @keyquorum/protocol, audit.ts,
 * shared with the offline verifier of exports): row n stores
 *   hash_n = SHA-256(prev_hash || i64(seq) || i64(ts) || lp(event) || lp(keyId or '') || lp(data))
 * with prev_hash = hash_{n-1} (32 zero bytes for the first row) and data the payload's
 * JSON as written; `verify` recomputes the chain, so an edited, inserted or deleted
 * row is detected (a truncated tail is detected by comparing the head hash with one
 * kept elsewhere).
 *
 * Reading and verifying a long log never holds the event loop: `page` answers at most
 * a page of rows and checks each row it answers against its contents and its
 * predecessor's hash; `AuditChainVerifier` checks the
 * chain incrementally from its last checkpoint (seq, hash), a bounded chunk of rows at
 * a time, yielding to the event loop between chunks. Its first run (after a start)
 * verifies from the first row; later ones from the checkpoint, after checking that the
 * checkpoint row still carries the hash it had.
 *
 * `AuditEvents` names every event and types its payload.
 */
import type Database from 'better-sqlite3';
import { AUDIT_GENESIS as GENESIS, auditChainStep, auditHash, type AuditChainRow, type AuditCheckpoint, type KeySuiteId } from '@keyquorum/protocol';
import type { CoordinatorErrorCode } from '../errors.ts';

export type AuditValue = string | number | boolean | null | AuditValue[] | { [key: string]: AuditValue };

/** A key session that failed: the error the caller got. */
type SessionFailure = { code: CoordinatorErrorCode; reason: string; culprits: string[] };

/** A key state transition: from, to, and the admin client key (hex) that asked. */
type StateChange = { from: string; to: string; clientKey: string; approvers?: string[] };

/** Each audit event and its payload (hex for bytes, ms since the Unix epoch for times). */
export interface AuditEvents {
  /** A key's DKG starts; the key is pending. */
  'key.pending': { suite: KeySuiteId; threshold: number; signers: string[] };
  /** Its DKG committed: the key is active at epoch 0. */
  'key.created': { suite: KeySuiteId; threshold: number; signers: string[]; epoch: number; publicKey: string; transcriptHash: string };
  /** Its DKG failed; the pending key is forgotten. */
  'key.create_failed': SessionFailure;
  /** Every share refreshed: epoch fromEpoch -> epoch, same public key. */
  /** `scheduled`: started by the coordinator under the key's policy refresh rule (refresh-schedule.ts), not by a request. */
  'key.refreshed': { fromEpoch: number; epoch: number; transcriptHash: string; scheduled?: true };
  'key.refresh_failed': SessionFailure & { epoch: number; scheduled?: true };
  /**
   * The key's shares were redealt to `signers` (threshold and members may change).
   * Committed by resolution of a session another coordinator ran (`resolved`): its
   * dealers and client key are unknown, and `leavers` lists every old holder leaving.
   */
  'key.reshared': {
    fromEpoch: number;
    epoch: number;
    fromThreshold: number;
    threshold: number;
    fromSigners: string[];
    signers: string[];
    dealers?: string[];
    leavers: string[];
    publicKey: string;
    transcriptHash: string;
    clientKey?: string;
    resolved?: true;
  };
  'key.reshare_failed': SessionFailure & { epoch: number };
  /** `signer`'s lost share (participant `index`) was rebuilt by `helpers`; epoch and public key unchanged. */
  'key.repaired': { epoch: number; signer: string; index: number; helpers: string[]; transcriptHash: string; clientKey: string };
  'key.repair_failed': SessionFailure & { epoch: number; signer: string };
  /** A quorum produced a signature, at the `attempts`-th quorum tried. */
  'key.signed': { epoch: number; quorum: string[]; attempts: number; messageSha256: string; path: string; taproot: string; publicKey: string; signature: string; clientKey: string; approvers?: string[] };
  /** One sign attempt failed; `banned` when its culprits were banned for the key. */
  'key.sign_attempt_failed': { epoch: number; attempt: number; quorum: string[]; reason: string; excluded: string[]; culprits: string[]; banned: boolean; reportedBy?: string[] };
  /** A quorum approved retirement; the key is retired. */
  'key.retired': { epoch: number; approvers: string[] };
  /**
   * A signer attested it destroyed its share of the retired key; `envelope`: its signed
   * ATTEST, encoded (absent from rows written before it was added).
   */
  'key.attested': { signer: string; epoch: number; destroyedAt: number; verifyingShare: string; envelope?: string };
  /**
   * A signer refused a retirement COMMIT (its client request expired while the signer
   * was away, or the session was aborted): it keeps its share, no attestation will come,
   * and the COMMIT is no longer re-sent.
   */
  'key.attestation_refused': { signer: string; epoch: number; reason: string };
  /**
   * Key state transitions (key-states.ts), recorded when the coordinator queues them to
   * every holder; `clientKey` is the admin that asked. 'key.destroyed': the deadline
   * passed and the wipe was queued (each signer then attests, 'key.attested').
   */
  'key.suspended': StateChange;
  'key.resumed': StateChange;
  'key.deactivated': StateChange;
  'key.compromised': StateChange;
  'key.destroy_scheduled': StateChange & { afterMs: number; destroyAt: number };
  'key.destroy_cancelled': StateChange;
  'key.destroyed': StateChange;
  /** A holder recorded a transition (ACK), or refused it (its own record does not allow it, or the request expired while it was away). */
  'key.state_applied': { signer: string; transition: string; state: string };
  'key.state_refused': { signer: string; transition: string; reason: string };
  /**
   * Governance (docs/governance.md): a key's next policy recorded (and queued to every
   * holder), a holder's ACK of it or its refusal; a refusal by a policy rule anywhere
   * ('policy.denied', `where`: 'coordinator' or the signer id); operations waiting for
   * approvals, each approval, expiry, and how the approved operation ended.
   */
  'key.policy_set': { version: number; digest: string; clientKey: string; approvers: string[] };
  'key.policy_applied': { signer: string; version: number; digest: string };
  'key.policy_refused': { signer: string; version: number; reason: string; rule?: string };
  'policy.denied': { rule: string; where: string; op: string; reason: string; clientKey?: string; operation?: string };
  'operation.pending': { id: string; op: string; action: string; required: number; approvals: string[]; expiresAt: number; clientKey: string };
  'operation.approved': { id: string; approver: string; approvals: number; required: number };
  'operation.expired': { id: string; op: string; approvals: string[] };
  'operation.finished': { id: string; op: string; state: string; approvers: string[]; error?: string };
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

/** One page of the log: at most `limit` rows after `after`; `next` is the `after` of the next page, null on the last. */
export interface AuditPage {
  entries: AuditEntry[];
  next: number | null;
  /** The first row of the page whose stored hash does not match its contents. */
  broken?: { seq: number; reason: string };
  /** The signers' cosignatures of the seqs this page covers (pages of the whole log only; registry/checkpoints.ts). */
  checkpoints?: AuditCheckpoint[];
}

/** An `audit` row as both backends read it. */
export interface AuditRow {
  seq: number;
  ts: number;
  event: string;
  key_id: string | null;
  data: string;
  prev_hash: string;
  hash: string;
}

export { auditHash };

/** A row in the chain's form (`data` as hashed). */
export const toChainRow = (r: AuditRow): AuditChainRow => ({ seq: r.seq, ts: r.ts, event: r.event, keyId: r.key_id, data: r.data, prevHash: r.prev_hash, hash: r.hash });
export const toEntry = (r: AuditRow): AuditEntry => ({ seq: r.seq, ts: r.ts, event: r.event, keyId: r.key_id, data: JSON.parse(r.data) as Record<string, AuditValue>, prevHash: r.prev_hash, hash: r.hash });

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

  /** Rows with seq above `after` (of `keyId` when given), oldest first, at most `limit`, each re-hashed. */
  page(q: { keyId?: string | undefined; after: number; limit: number }): AuditPage {
    const rows =
      q.keyId === undefined
        ? this.db.prepare<[number, number], AuditRow>('SELECT * FROM audit WHERE seq > ? ORDER BY seq LIMIT ?').all(q.after, q.limit + 1)
        : this.db.prepare<[string, number, number], AuditRow>('SELECT * FROM audit WHERE key_id = ? AND seq > ? ORDER BY seq LIMIT ?').all(q.keyId, q.after, q.limit + 1);
    const more = rows.length > q.limit;
    const shown = rows.slice(0, q.limit);
    const page: AuditPage = { entries: shown.map(toEntry), next: more ? shown.at(-1)!.seq : null };
    // Every row answered is checked against its contents and its predecessor's stored hash.
    for (const r of shown) {
      const before = r.seq === 1 ? GENESIS : this.hashAt(r.seq - 1);
      if (r.prev_hash !== before) page.broken = { seq: r.seq, reason: 'prev_hash does not match the previous row' };
      else if (auditHash(r.prev_hash, { seq: r.seq, ts: r.ts, event: r.event, keyId: r.key_id, data: r.data }) !== r.hash) page.broken = { seq: r.seq, reason: 'hash does not match the row' };
      if (page.broken !== undefined) break;
    }
    return page;
  }

  /** Up to `limit` rows with seq above `after`, oldest first, as stored (for the chunked verifier). */
  rowsAfter(after: number, limit: number): AuditRow[] {
    return this.db.prepare<[number, number], AuditRow>('SELECT * FROM audit WHERE seq > ? ORDER BY seq LIMIT ?').all(after, limit);
  }

  /** The stored hash of row `seq` (GENESIS at 0), undefined if there is none. */
  hashAt(seq: number): string | undefined {
    if (seq === 0) return GENESIS;
    return this.db.prepare<[number], { hash: string }>('SELECT hash FROM audit WHERE seq = ?').get(seq)?.hash;
  }

  /** The last row's (seq, hash); (0, GENESIS) for an empty log. */
  head(): { seq: number; hash: string } {
    return this.db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1').get() ?? { seq: 0, hash: GENESIS };
  }

  /** Up to `limit` rows after `after`, oldest first, in the chain's form (`data` as hashed). */
  chainRows(after: number, limit: number): AuditChainRow[] {
    return this.rowsAfter(after, limit).map(toChainRow);
  }

  /** The rows of `events`, oldest first. */
  ofEvents(events: readonly AuditEventType[]): AuditEntry[] {
    return this.db
      .prepare<string[], AuditRow>(`SELECT * FROM audit WHERE event IN (${events.map(() => '?').join(', ')}) ORDER BY seq`)
      .all(...events)
      .map(toEntry);
  }

  /** Recomputes the whole chain from the first row, in one go (tests, tools; the API uses `AuditChainVerifier`). */
  verify(): AuditVerification {
    const state = { seq: 0, hash: GENESIS };
    for (const r of this.db.prepare<[], AuditRow>('SELECT * FROM audit ORDER BY seq').iterate()) {
      const broken = chainStep(state, r);
      if (broken !== undefined) return broken;
    }
    return { ok: true, count: state.seq, head: state.hash };
  }
}

/** Checks row `r` follows `state` (the last verified seq and hash) and advances it; the failure otherwise. */
function chainStep(state: { seq: number; hash: string }, r: AuditRow): AuditVerification | undefined {
  return rowStep(state, toChainRow(r));
}

function rowStep(state: { seq: number; hash: string }, r: AuditChainRow): AuditVerification | undefined {
  const broken = auditChainStep(state, r);
  return broken === undefined ? undefined : { ok: false, seq: r.seq, reason: broken.reason };
}

export interface AuditChainVerifierOptions {
  /** Rows checked between two yields to the event loop. */
  chunkRows: number;
  /** Gives the event loop a turn (default: setImmediate). */
  yieldToLoop?: () => Promise<void>;
}

/** Where the verifier reads the chain (a `CoordinatorStore`: each read is one store call). */
export interface AuditChainSource {
  auditHashAt(seq: number): Promise<string | undefined>;
  auditRows(after: number, limit: number): Promise<AuditChainRow[]>;
}

/**
 * Incremental, non-blocking verification of the chain: from the last checkpoint to the
 * head, `chunkRows` rows at a time with a yield to the event loop between chunks; the
 * checkpoint advances after every chunk that verified. Concurrent callers share one run.
 */
export class AuditChainVerifier {
  #checkpoint = { seq: 0, hash: GENESIS };
  #running: Promise<AuditVerification> | undefined;
  readonly #yield: () => Promise<void>;

  constructor(
    private readonly source: AuditChainSource,
    private readonly opts: AuditChainVerifierOptions,
  ) {
    this.#yield = opts.yieldToLoop ?? (() => new Promise<void>((resolve) => setImmediate(resolve)));
  }

  /** The last verified (seq, hash). */
  get checkpoint(): { seq: number; hash: string } {
    return { ...this.#checkpoint };
  }

  verify(): Promise<AuditVerification> {
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #run(): Promise<AuditVerification> {
    const state = { ...this.#checkpoint };
    if (state.seq > 0 && (await this.source.auditHashAt(state.seq)) !== state.hash) return { ok: false, seq: state.seq, reason: 'the row at the last verified checkpoint changed' };
    for (;;) {
      const rows = await this.source.auditRows(state.seq, this.opts.chunkRows);
      for (const r of rows) {
        const broken = rowStep(state, r);
        if (broken !== undefined) return broken;
      }
      this.#checkpoint = { ...state };
      if (rows.length < this.opts.chunkRows) return { ok: true, count: state.seq, head: state.hash };
      await this.#yield();
    }
  }
}
