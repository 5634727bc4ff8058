/**
 * The client replay window (protocol `ReplayGuard`): each (client key, nonce) of a
 * signed client request is remembered until its timestamp falls out of the window,
 * so a replayed request is refused even across a coordinator restart.
 */
import type Database from 'better-sqlite3';

export class ReplayWindow {
  constructor(
    private readonly db: Database.Database,
    private readonly now: () => number,
    private readonly windowMs: number,
  ) {}

  /** Forgets entries older than the window, then remembers (client key, nonce); false if already seen or too old. Run in a transaction. */
  checkAndRemember(clientKeyHex: string, nonceHex: string, timestamp: number): boolean {
    const horizon = this.now() - this.windowMs;
    this.db.prepare('DELETE FROM replay WHERE ts < ?').run(horizon);
    if (timestamp < horizon) return false;
    return this.db.prepare('INSERT OR IGNORE INTO replay (client_key, nonce, ts) VALUES (?, ?, ?)').run(clientKeyHex, nonceHex, timestamp).changes === 1;
  }
}
