/**
 * What a started coordinator runs (`startParts`), and on a shared PostgreSQL database
 * its leadership (docs/ha.md §2).
 *
 * SQLite (no `database` in the config): one coordinator, as before: the store, the
 * session engine, the server; role 'single', token 0, no lease.
 *
 * PostgreSQL: every coordinator starts as a follower: its server serves reads (GET)
 * from the database, answers writes 307 to the leader (http.ts), and closes signer
 * WebSockets at once with CLOSE_NOT_LEADER and the leader's signer URL (server.ts).
 * `Leadership` takes or renews the lease (store/lease.ts) every leaseMs/3 under a
 * holder `<advertiseUrl> <pid>-<random>`: the followers read the leader's URL from the
 * lease's holder (no extra column). On taking the lease it fences the store with its
 * holder and token (PostgresStore.setFence: every call and transaction then checks the
 * lease first, expiry included), resolves what a restart resolves (interrupted
 * operations; unresolved key sessions as signers reconnect, engine.start) and starts
 * the session engine; only then does it accept signers (their WELCOME carries the
 * token, docs/cluster-protocol.md) and writes.
 *
 * Crash-only: a leader that sees another holder, or has not renewed by the time its
 * lease would run out (a watchdog timer from the start of the last successful renewal,
 * so a database that hangs counts), logs it and exits with status 75 (`onDeposed`
 * overrides, for tests of the library); its supervisor restarts it as a follower.
 * Nothing is unwound in place: the fence already refuses every write of a lease that
 * ran out, and the signers hold the pending epochs the next leader resolves.
 */
import { bytesToHex, randomBytes } from '@noble/hashes/utils.js';
import type { IdentityKey, StartStack, Startable } from '@keyquorum/protocol';
import type { Readiness } from './api.ts';
import type { ResolvedOptions } from './config.ts';
import { EXIT_DEPOSED, SIGNER_PATH } from './constants.ts';
import { SessionEngine } from './engine.ts';
import { CoordinatorError } from './errors.ts';
import { failInterrupted } from './governance.ts';
import { ensureDataDir, loadIdentity } from './identity.ts';
import type { KeyLocks } from './key-locks.ts';
import type { CoordinatorMetrics } from './metrics.ts';
import { readinessOf } from './readiness.ts';
import { CoordinatorServer, type ServerHandlers } from './server.ts';
import type { Fence } from './store/lease.ts';
import { PostgresStore } from './store/postgres.ts';
import { SqliteStore } from './store/sqlite.ts';
import type { CoordinatorStore } from './store/types.ts';

export type Role = 'single' | 'leader' | 'follower';

/** What runs while the coordinator is started. */
export interface Parts {
  identity: IdentityKey;
  registry: CoordinatorStore;
  server: CoordinatorServer;
  /** The session engine; NOT_LEADER on a follower (it has none). */
  readonly engine: SessionEngine;
  /** Stops the engine if there is one. */
  stopEngine(): void;
  /** Undefined on SQLite. */
  leadership: Leadership | undefined;
}

/** The lease as this coordinator last saw it. */
export interface LeadershipState {
  role: 'leader' | 'follower';
  /** The leader's advertised URL (this one's when leading); null when nobody holds the lease. */
  leaderUrl: string | null;
  /** The current holder's fencing token (0 before anyone took the lease). */
  token: number;
}

type Ha = NonNullable<ResolvedOptions['ha']>;

/** The advertised URL in a lease holder `<url> <id>`. */
const urlOf = (holder: string | null): string | null => (holder === null ? null : holder.split(' ')[0]!);

/** A close reason is at most 123 bytes (RFC 6455 §5.5); a longer URL is sent as '' (the signer then tries its other URLs). */
const closeReason = (url: string | null): string => {
  const ws = url === null ? '' : `${url.replace(/^http/, 'ws')}${SIGNER_PATH}`;
  return Buffer.byteLength(ws) <= 123 ? ws : '';
};

export class Leadership implements Startable {
  /** This coordinator's lease holder: its advertised URL, a space, a unique id. */
  readonly holder: string;
  #state: LeadershipState = { role: 'follower', leaderUrl: null, token: 0 };
  /** Set once the lease is taken, while the engine starts (writes and signers wait: NO_LEADER). */
  #starting = false;
  #timer: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #stopped = false;
  #deposed = false;

  constructor(
    private readonly store: PostgresStore,
    private readonly ha: Ha,
    private readonly o: ResolvedOptions,
    private readonly lead: (fence: Fence) => Promise<void>,
  ) {
    this.holder = `${ha.advertiseUrl} ${process.pid}-${bytesToHex(randomBytes(8))}`;
  }

  state(): LeadershipState {
    return { ...this.#state };
  }

  /** Whether this coordinator serves writes and signers now (it leads and its engine runs). */
  get leading(): boolean {
    return this.#state.role === 'leader' && !this.#starting && !this.#deposed;
  }

  /** Where a write goes instead: the leader's URL, or null while none leads (or this one is still starting); undefined when this one serves it. */
  writeTarget(): string | null | undefined {
    if (this.leading) return undefined;
    return this.#state.role === 'follower' ? this.#state.leaderUrl : null;
  }

  /** Undefined when signers are accepted; else the close reason (the leader's signer URL, or ''). */
  signerRefusal(): string | undefined {
    if (this.leading) return undefined;
    return closeReason(this.#state.role === 'follower' ? this.#state.leaderUrl : null);
  }

  async start(): Promise<void> {
    await this.tick();
  }

  /** Stops renewing; a leader releases the lease, so a follower takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#watchdog);
    if (this.#state.role === 'leader' && !this.#deposed) await this.store.lease.release(this.holder).catch(() => undefined);
  }

  private schedule(): void {
    if (this.#stopped || this.#deposed) return;
    this.#timer = setTimeout(() => void this.tick(), Math.max(1, Math.floor(this.ha.leaseMs / 3)));
  }

  private async tick(): Promise<void> {
    const t0 = performance.now();
    try {
      const s = await this.store.lease.acquireOrRenew(this.holder, this.ha.leaseMs);
      if (this.#stopped || this.#deposed) return;
      if (s.leader) {
        // The database's lease runs out no sooner than leaseMs after this call began.
        clearTimeout(this.#watchdog);
        this.#watchdog = setTimeout(() => this.depose(`the lease was not renewed within ${this.ha.leaseMs} ms`), Math.max(0, t0 + this.ha.leaseMs - performance.now()));
        if (this.#state.role === 'follower') this.take(s.token);
      } else if (this.#state.role === 'leader') {
        this.depose(`the lease is held by ${urlOf(s.holder) ?? 'nobody'} with token ${s.token}`);
        return;
      } else {
        this.#state = { role: 'follower', leaderUrl: urlOf(s.holder), token: s.token };
      }
    } catch (e) {
      // A leader's watchdog decides; a follower keeps trying.
      this.o.logger.warn('leader lease: cannot reach the database', { error: e instanceof Error ? e.message : String(e) });
    }
    this.schedule();
  }

  private take(token: number): void {
    this.#state = { role: 'leader', leaderUrl: this.ha.advertiseUrl, token };
    this.#starting = true;
    this.o.logger.info('took the leader lease; starting the session engine', { token, url: this.ha.advertiseUrl });
    this.lead({ holder: this.holder, token }).then(
      () => {
        this.#starting = false;
        this.o.logger.info('leading', { token, url: this.ha.advertiseUrl });
      },
      (e: unknown) => this.depose(`could not start leading: ${e instanceof Error ? e.message : String(e)}`),
    );
  }

  /** Crash-only: log, then exit (or the configured `onDeposed`). */
  private depose(reason: string): void {
    if (this.#deposed || this.#stopped) return;
    this.#deposed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#watchdog);
    this.o.logger.error('lost the leader lease; stopping (crash-only: a supervisor restarts this coordinator as a follower)', { reason, token: this.#state.token });
    if (this.ha.onDeposed !== undefined) this.ha.onDeposed(reason);
    else process.exit(EXIT_DEPOSED);
  }
}

/** Opens the store, builds the engine and server, and on PostgreSQL starts the leadership loop. */
export async function startParts(o: ResolvedOptions, stack: StartStack, deps: { http: ServerHandlers['http']; metrics: CoordinatorMetrics; locks: KeyLocks }): Promise<Parts> {
  ensureDataDir(o.dataDir);
  const identity = o.identity ?? loadIdentity(o.dataDir, o.passphrase!);
  const ha = o.ha;
  const pg = ha === undefined ? undefined : await PostgresStore.open(ha.database, { now: o.now, replayWindowMs: o.maxSkewMs });
  const registry: CoordinatorStore = stack.adopt(pg ?? (await SqliteStore.open(o.dataDir, { now: o.now, replayWindowMs: o.maxSkewMs })));
  let engine: SessionEngine | undefined;
  let leadership: Leadership | undefined;
  const server = new CoordinatorServer(o, identity, {
    http: deps.http,
    frame: (signer, envelope) => engine!.onFrame(signer, envelope),
    authenticated: (signer) => engine!.onSignerAuthenticated(signer),
    lost: (signer) => engine?.onSignerLost(signer),
    refuseSigner: () => (leadership === undefined ? undefined : leadership.signerRefusal()),
  });
  const lead = async (fence?: Fence) => {
    if (fence !== undefined) {
      pg!.setFence(fence);
      server.leaderToken = fence.token;
    }
    await failInterrupted(registry);
    const e = new SessionEngine(o, identity, registry, server, deps.metrics, deps.locks);
    await e.start();
    engine = e;
  };
  if (pg === undefined) await lead();
  await stack.start(server);
  if (pg !== undefined) leadership = await stack.start(new Leadership(pg, ha!, o, lead));
  return {
    identity,
    registry,
    server,
    get engine() {
      if (engine === undefined) throw new CoordinatorError('NOT_LEADER', { message: 'this coordinator follows; the leader runs sessions' });
      return engine;
    },
    stopEngine: () => engine?.stop(),
    leadership,
  };
}

/** GET /readyz with the role. A follower serves reads and redirects writes: ready while some coordinator leads. */
export async function readinessWithRole(status: string, parts: Parts | undefined): Promise<Readiness> {
  if (status !== 'started' || parts === undefined) return readinessOf(status);
  const base = await readinessOf(status, parts.registry, parts.server);
  const l = parts.leadership;
  if (l === undefined) return { ...base, role: 'single' };
  const s = l.state();
  const ha = { role: s.role, leaderUrl: s.leaderUrl, leaderToken: s.token } as const;
  if (l.leading) return { ...base, ...ha };
  const reason = l.writeTarget() === null ? 'no coordinator leads yet (the leader lease is free, or this one is starting)' : undefined;
  return { ready: reason === undefined, registryWritable: base.registryWritable, signersConnected: 0, signersNeeded: base.signersNeeded, ...(reason === undefined ? {} : { reason }), ...ha };
}
