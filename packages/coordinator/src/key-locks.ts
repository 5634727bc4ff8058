/**
 * The per-key session lock of the coordinator: a lifecycle session (DKG, refresh,
 * reshare, retire) holds its key exclusively; signings share it. A call that cannot
 * take the lock is refused with BUSY, never queued. In memory: after a restart no
 * session runs.
 */
import { CoordinatorError } from './errors.ts';

export class KeyLocks {
  /** Per key: 'exclusive' while a lifecycle session runs, else the number of signings in flight. */
  private readonly held = new Map<string, 'exclusive' | number>();

  /** Runs `fn` holding `keyId` in `mode`; BUSY if another session holds it incompatibly. */
  async run<T>(keyId: string, mode: 'shared' | 'exclusive', fn: () => Promise<T>): Promise<T> {
    const held = this.held.get(keyId);
    if (held === 'exclusive' || (held !== undefined && mode === 'exclusive')) {
      throw new CoordinatorError('BUSY', { field: 'keyId', message: `another session of key ${keyId} is running` });
    }
    this.held.set(keyId, mode === 'exclusive' ? 'exclusive' : ((held as number | undefined) ?? 0) + 1);
    try {
      return await fn();
    } finally {
      const now = this.held.get(keyId);
      if (now === 'exclusive' || now === 1) this.held.delete(keyId);
      else if (typeof now === 'number') this.held.set(keyId, now - 1);
    }
  }
}
