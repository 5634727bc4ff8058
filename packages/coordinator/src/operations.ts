/**
 * Long operations (DKG, refresh, reshare, retire) that a client chose not to await
 * (`?wait=false`): each gets an id the client polls at GET /v1/operations/:id.
 *
 * Kept in memory only, as a bounded history: every running operation is kept (there
 * is at most one per key, the per-key session lock sees to that), and of the finished
 * ones only the `limit` most recent (`OPERATION_HISTORY`); older ones, and all of them
 * after a restart, are forgotten (GET answers 404). The durable record of what
 * happened is the registry (the key's state and epoch) and the audit log, which a
 * client falls back to when an operation id is no longer known.
 */
import { randomUUID } from 'node:crypto';
import { apiErrorToJson, type ApiErrorJson } from '@keyquorum/protocol';
import { OPERATION_HISTORY } from './constants.ts';
import { publicError, type CoordinatorError } from './errors.ts';

export type OperationKind = 'createKey' | 'refresh' | 'reshare' | 'repair' | 'retire';
export type OperationState = 'running' | 'succeeded' | 'failed';

export interface OperationRecord<R = unknown> {
  id: string;
  kind: OperationKind;
  keyId: string;
  state: OperationState;
  /** ms since the Unix epoch. */
  startedAt: number;
  /** When it succeeded or failed. */
  finishedAt?: number;
  /** On success: what the awaited call answers (the key, or the retirement result). */
  result?: R;
  /** On failure: the error the awaited call would have answered. */
  error?: ApiErrorJson;
}

export interface OperationLogOptions {
  /** Finished operations remembered (oldest forgotten first); default OPERATION_HISTORY. */
  limit?: number;
  now?: () => number;
  /** Called with an operation's failure (metrics, logs). */
  onError?: (e: CoordinatorError, op: OperationRecord) => void;
}

/** One macrotask: every check a coordinator call makes before its session starts has run by then. */
const nextMacrotask = () => new Promise<'pending'>((resolve) => setImmediate(() => resolve('pending')));

export class OperationLog {
  private readonly ops = new Map<string, OperationRecord>();
  /** Ids of finished operations, oldest first. */
  private readonly finished: string[] = [];
  private readonly limit: number;
  private readonly now: () => number;
  private readonly onError: OperationLogOptions['onError'];

  constructor(o: OperationLogOptions = {}) {
    this.limit = o.limit ?? OPERATION_HISTORY;
    this.now = o.now ?? Date.now;
    this.onError = o.onError;
  }

  /**
   * Starts `run` (a coordinator call such as `createKey`) without awaiting its session.
   * A call refused by its checks (bad input, authorisation, key state, busy key,
   * offline signers) is refused here as when awaited, and no operation is recorded:
   * those checks wait for nothing but the store (whose SQLite calls settle within
   * microtasks), so its promise has settled by the next macrotask. Otherwise the operation is recorded as running and resolves to it;
   * `toResult` maps the call's value to the stored result.
   */
  async start<T, R>(kind: OperationKind, keyId: string, run: () => Promise<T>, toResult: (value: T) => R): Promise<OperationRecord<R>> {
    const promise = run();
    const settled = promise.then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    const first = await Promise.race([settled, nextMacrotask()]);
    if (first !== 'pending' && !first.ok) throw first.error;
    const op: OperationRecord<R> = { id: randomUUID(), kind, keyId, state: 'running', startedAt: this.now() };
    this.ops.set(op.id, op);
    const snapshot = { ...op };
    void settled.then((out) => {
      let failure = out.ok ? undefined : out.error;
      if (out.ok) {
        try {
          op.result = toResult(out.value);
        } catch (e) {
          failure = e;
        }
      }
      op.finishedAt = this.now();
      if (failure === undefined) op.state = 'succeeded';
      else {
        const e = publicError(failure);
        op.state = 'failed';
        op.error = apiErrorToJson(e);
        this.onError?.(e, op);
      }
      this.finished.push(op.id);
      while (this.finished.length > this.limit) this.ops.delete(this.finished.shift()!);
    });
    return snapshot;
  }

  /** The operation, or undefined when unknown (never started, forgotten, or from before a restart). */
  get(id: string): OperationRecord | undefined {
    const op = this.ops.get(id);
    return op === undefined ? undefined : { ...op };
  }

  /** Operations still running. */
  running(): OperationRecord[] {
    return [...this.ops.values()].filter((o) => o.state === 'running').map((o) => ({ ...o }));
  }
}
