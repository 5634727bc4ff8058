/**
 * Group commit of the keystore's hot durable steps (issue 13, lever 3): the nonce
 * journal's store, consume and discard and the admission of a client request. With
 * synchronous=FULL every commit is an fsync; concurrent sessions would queue on them.
 * Instead, the steps issued until the batch closes (the next `setImmediate`, or
 * `windowMs` later) run in ONE immediate transaction, committed then with one fsync.
 *
 * - Each step runs at once, in its own SAVEPOINT inside the batch: its checks see every
 *   earlier step of the batch (one connection), so they stay synchronous and atomic (a
 *   second consume of a nonce is NONCE_CONSUMED at once, a replayed request is refused).
 *   A step that throws is rolled back alone and only its caller gets the error; the
 *   others stay in the batch. A step that leaves no transaction (SQLite rolled it all
 *   back) fails the whole batch.
 * - Nothing derived from a step may be released before its batch commits: the caller
 *   waits with `afterCommit` / `whenDurable` (the daemon holds every outbound frame so).
 * - A COMMIT that fails is rolled back and fails every waiter of the batch (nothing
 *   released); `flush` commits early (every other keystore write flushes first, so a
 *   write that returns is committed as before).
 * The counters (`stats`) are for tests and metrics: transactions committed, steps in them.
 */
import type Database from 'better-sqlite3';
import { GROUP_COMMIT_MS_RANGE } from '../constants.ts';
import { SignerError } from '../errors.ts';

export interface GroupCommitStats {
  /** Batch transactions committed. */
  commits: number;
  /** Steps committed in them. */
  steps: number;
  /** Batches whose COMMIT (or a step) failed: nothing of them was released. */
  failures: number;
}

type Waiter = (error: unknown) => void;

/** What a caller of the keystore waits on before it releases anything derived from its writes. */
export interface CommitGate {
  afterCommit(then: Waiter): void;
  /** Resolves once every step run so far is committed; rejects with the error if its batch failed. */
  whenDurable(): Promise<void>;
  /** The counters; undefined without group commit. */
  readonly stats: GroupCommitStats | undefined;
}

/** The gate of a keystore without group commit: every write is committed when it returns. */
export const COMMITTED: CommitGate = { afterCommit: (then) => then(undefined), whenDurable: () => Promise.resolve(), stats: undefined };

export class GroupCommit implements CommitGate {
  readonly #db: Database.Database;
  readonly #windowMs: number;
  readonly #sql: { begin: Database.Statement; commit: Database.Statement; rollback: Database.Statement };
  /** Runs a step in a SAVEPOINT (better-sqlite3 runs a transaction function called inside a transaction as one). */
  readonly #savepoint: (step: () => unknown) => unknown;
  #waiters: Waiter[] = [];
  #steps = 0;
  #timer: { cancel(): void } | undefined;
  readonly #stats: GroupCommitStats = { commits: 0, steps: 0, failures: 0 };

  constructor(db: Database.Database, windowMs: number) {
    const [min, max] = GROUP_COMMIT_MS_RANGE;
    if (!Number.isSafeInteger(windowMs) || windowMs < min || windowMs > max) {
      throw new SignerError('BAD_FIELD', { field: 'groupCommitMs', message: `expected an integer in [${min}, ${max}]` });
    }
    this.#db = db;
    this.#windowMs = windowMs;
    this.#sql = { begin: db.prepare('BEGIN IMMEDIATE'), commit: db.prepare('COMMIT'), rollback: db.prepare('ROLLBACK') };
    this.#savepoint = db.transaction((step: () => unknown) => step());
  }

  /** A batch is open: some step is not yet committed. */
  get open(): boolean {
    return this.#timer !== undefined;
  }

  get stats(): GroupCommitStats {
    return { ...this.#stats };
  }

  /** Runs `step` in its own savepoint of the open batch (opening one); its result is durable only once the batch commits. */
  run<T>(step: () => T): T {
    if (!this.open) {
      this.#sql.begin.run();
      this.#schedule();
    }
    try {
      const result = this.#savepoint(step) as T;
      this.#steps++;
      return result;
    } catch (e) {
      // SQLite may roll back the whole transaction on some errors (SQLITE_FULL, IOERR): the batch is lost.
      if (!this.#db.inTransaction) this.#settle(e);
      throw e;
    }
  }

  afterCommit(then: Waiter): void {
    if (this.open) this.#waiters.push(then);
    else then(undefined);
  }

  whenDurable(): Promise<void> {
    return new Promise((resolve, reject) => this.afterCommit((e) => (e === undefined ? resolve() : reject(e))));
  }

  /** Commits the open batch now (if any), then runs its waiters. */
  flush(): void {
    if (!this.open) return;
    try {
      this.#sql.commit.run();
    } catch (e) {
      if (this.#db.inTransaction) this.#sql.rollback.run();
      return this.#settle(e);
    }
    this.#stats.commits++;
    this.#stats.steps += this.#steps;
    this.#settle(undefined);
  }

  #settle(error: unknown): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    if (error !== undefined) this.#stats.failures++;
    this.#steps = 0;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w(error);
  }

  #schedule(): void {
    if (this.#windowMs === 0) {
      const t = setImmediate(() => this.flush());
      this.#timer = { cancel: () => clearImmediate(t) };
    } else {
      const t = setTimeout(() => this.flush(), this.#windowMs);
      this.#timer = { cancel: () => clearTimeout(t) };
    }
  }
}
