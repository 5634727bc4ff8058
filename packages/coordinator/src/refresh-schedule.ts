/**
 * Scheduled refreshes (docs/governance.md "Scheduled refresh"): the coordinator keeps
 * the shares of every key whose policy has a `refresh` rule fresh on its own. Every
 * `refreshCheckMs` (engine.ts) `check` looks at each key whose state allows 'refresh'
 * and whose policy here has the rule; once its current shares are due by the
 * registry's clock (the last `key.created`, `key.refreshed` or `key.reshared` row +
 * `periodSeconds`) it starts a refresh with START `scheduled: true` and the key's
 * current participants. Each signer decides again by its own policy and clock (it
 * refuses a key not due, POLICY_DENIED rule 'refresh'), so the coordinator cannot
 * refresh a key early; a refresh changes no public key and no holder.
 *
 * At most one scheduled refresh per key runs (and none while another lifecycle session
 * holds the key: the key lock, key-locks.ts; a busy key is tried at the next check).
 * A failed attempt (a participant offline or behind, a refusal, a timeout) is audited
 * (`key.refresh_failed` with `scheduled: true`) and retried after a backoff that doubles
 * from SCHEDULED_REFRESH_BACKOFF_MS.first to .max; success (`key.refreshed`,
 * `scheduled: true`) clears it. The backoff is in memory: a restart tries again at once.
 */
import type { PublicKeyPackage } from '@keyquorum/crypto';
import { USAGE_STATES, allowsUse, refreshDueAt, type UsageState } from '@keyquorum/protocol';
import type { Logger } from '@keyquorum/protocol/logger';
import { SCHEDULED_REFRESH_BACKOFF_MS } from './constants.ts';
import { CoordinatorError } from './errors.ts';
import type { KeyLocks } from './key-locks.ts';
import type { CoordinatorStore, RegistryKey } from './store/types.ts';

export interface RefreshScheduleDeps {
  registry: CoordinatorStore;
  locks: KeyLocks;
  now: () => number;
  log: Logger;
  /** Runs the refresh session (START `scheduled: true`); it audits its own outcome (sessions/key-configs.ts). */
  refresh(key: RegistryKey, publicKey: PublicKeyPackage): Promise<unknown>;
}

export class RefreshSchedule {
  readonly #d: RefreshScheduleDeps;
  /** Per key: no attempt before `at`; the backoff after the next failure is `next` ms. */
  readonly #backoff = new Map<string, { at: number; next: number }>();
  /** Keys whose scheduled refresh is in flight. */
  readonly #running = new Set<string>();

  constructor(deps: RefreshScheduleDeps) {
    this.#d = deps;
  }

  /** When `key`'s current shares are due for refresh; undefined if it has no publicKey, a state without 'refresh' or no refresh rule. */
  async dueAt(key: RegistryKey): Promise<number | undefined> {
    const usage = (USAGE_STATES as readonly string[]).includes(key.state) ? (key.state as UsageState) : undefined;
    if (usage === undefined || key.publicKey === undefined || !allowsUse(usage, 'refresh')) return undefined;
    const policy = (await this.#d.registry.policy(key.id))?.policy;
    return policy === undefined ? undefined : refreshDueAt(policy, await this.#d.registry.epochSince(key.id, key.createdAt));
  }

  /** Starts the scheduled refresh of every due key not running one nor backing off; returns their ids. */
  async check(): Promise<string[]> {
    const now = this.#d.now();
    const started: string[] = [];
    for (const key of await this.#d.registry.listKeys()) {
      if (this.#running.has(key.id) || (this.#backoff.get(key.id)?.at ?? 0) > now) continue;
      const due = await this.dueAt(key);
      // Checked again after the reads: a concurrent check may have started it meanwhile.
      if (due === undefined || now < due || this.#running.has(key.id)) continue;
      this.#start(key.id);
      started.push(key.id);
    }
    return started;
  }

  #start(keyId: string): void {
    this.#running.add(keyId);
    let entered = false;
    const log = this.#d.log.child({ keyId, scheduled: true });
    this.#d.locks
      .run(keyId, 'exclusive', async () => {
        entered = true;
        // Re-read under the lock: another session may have refreshed, reshared or suspended it.
        const key = await this.#d.registry.getKey(keyId);
        const due = key === undefined ? undefined : await this.dueAt(key);
        if (key === undefined || due === undefined || this.#d.now() < due) return false;
        const behind = (await this.#d.registry.unacknowledged(keyId)).filter((s) => key.participants.some((p) => p.signer === s));
        if (behind.length > 0) {
          const reason = `signers ${behind.join(',')} have not acknowledged epoch ${key.epoch}`;
          await this.#d.registry.append('key.refresh_failed', keyId, { epoch: key.epoch, code: 'NOT_ENOUGH_SIGNERS', reason, culprits: [], scheduled: true });
          throw new CoordinatorError('NOT_ENOUGH_SIGNERS', { message: reason });
        }
        log.info('scheduled refresh started', { epoch: key.epoch, dueAt: new Date(due).toISOString() });
        await this.#d.refresh(key, key.publicKey!);
        return true;
      })
      .then(
        (ran) => {
          this.#backoff.delete(keyId);
          if (ran) log.info('scheduled refresh committed');
        },
        (e: unknown) => {
          const reason = e instanceof Error ? e.message : String(e);
          // BUSY from the lock: another session holds the key; the next check tries again.
          if (!entered) return log.debug('scheduled refresh deferred: key busy', { reason });
          const next = this.#backoff.get(keyId)?.next ?? SCHEDULED_REFRESH_BACKOFF_MS.first;
          this.#backoff.set(keyId, { at: this.#d.now() + next, next: Math.min(next * 2, SCHEDULED_REFRESH_BACKOFF_MS.max) });
          log.warn('scheduled refresh failed; retrying later', { reason, retryInMs: next });
        },
      )
      .finally(() => this.#running.delete(keyId));
  }
}
