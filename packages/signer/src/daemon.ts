/**
 * The signer daemon: opens the sealed keystore, discards every nonce left outstanding
 * by a crash (pooled ones included, and its nonce pool's whenever the link drops), loads the identity key, dials the coordinator(s) (`link.ts`) and runs the
 * session executors (`sessions/`) on its frames; optionally serves health and metrics.
 * A `Service` (@keyquorum/protocol lifecycle): its parts (keystore, crypto worker pool,
 * health endpoint, session router, replay-window pruning, coordinator link) start in that order and
 * stop in reverse; a failed start stops what already started and rethrows. Signals
 * are the CLI's business.
 */
import { bytesToHex } from '@noble/hashes/utils.js';
import { equalBytes } from '@noble/curves/utils.js';
import { Service, defaultRng, identityFromSecret, type Envelope, type IdentityKey, type Rng, type ServiceStatus, type StartStack, type Startable } from '@keyquorum/protocol';
import { createLogger, type Logger } from '@keyquorum/protocol/logger';
import { honestBehaviour, type SignerBehaviour } from './behaviour.ts';
import { resolveKekSource, resolveSignerOptions, type ListenAddress, type ResolvedSignerOptions, type SignerOptions } from './config.ts';
import { MAX_REQUEST_SKEW_MS, REPLAY_PRUNE_INTERVAL_MS } from './constants.ts';
import { errorEnvelope } from './control.ts';
import { SignerError } from './errors.ts';
import { HealthServer } from './health.ts';
import { Keystore } from './keystore/index.ts';
import { CoordinatorLink, DEFAULT_LINK_TIMING, type LinkTiming } from './link.ts';
import { CryptoPool } from './workers/pool.ts';
import type { SessionContext } from './sessions/context.ts';
import { NoncePool } from './sessions/nonce-pool.ts';
import { PresignaturePool } from './sessions/presignatures.ts';
import { SessionRouter } from './sessions/router.ts';

export type SignerStatus = ServiceStatus;

/** What varies besides the options: injected for tests and fault-injection fixtures. */
export interface SignerDeps {
  /** Where `passphraseEnv` is read; defaults to process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Directory relative paths in the options resolve against; defaults to the cwd. */
  baseDir?: string;
  behaviour?: SignerBehaviour;
  log?: Logger;
  now?: () => number;
  rng?: Rng;
  timing?: Partial<LinkTiming>;
}

const COUNTERS = ['framesIn', 'framesOut', 'errorsOut', 'connects', 'sessionsStarted', 'sessionsCompleted', 'sessionsAborted', 'framesRefused'] as const;
type Counter = (typeof COUNTERS)[number];

interface Running {
  keystore: Keystore;
  identity: IdentityKey;
  router: SessionRouter;
  link: CoordinatorLink;
  health: HealthServer;
  crypto: CryptoPool;
}

/** A part that only has something to undo when the daemon stops. */
const undoOnStop = (undo: () => void): Startable => ({ start() {}, stop: undo });

export class SignerDaemon extends Service {
  readonly options: ResolvedSignerOptions;
  readonly #deps: SignerDeps;
  readonly #log: Logger;
  readonly #counters = Object.fromEntries(COUNTERS.map((c) => [c, 0])) as Record<Counter, number>;
  #running: Partial<Running> = {};
  #connectedWaiters: (() => void)[] = [];
  /** The leader token of the coordinator last accepted (0 before any). */
  #leaderToken = 0;

  constructor(options: SignerOptions, deps: SignerDeps = {}) {
    super();
    this.options = resolveSignerOptions(options, deps.baseDir);
    this.#deps = deps;
    this.#log = (deps.log ?? createLogger()).child({ signer: this.options.signerId });
  }

  /** Authenticated to the coordinator. */
  get connected(): boolean {
    return this.#running.link?.connected ?? false;
  }

  /** The coordinator URL the link is authenticated to; undefined while not connected. */
  get coordinatorUrl(): string | undefined {
    return this.#running.link?.url;
  }

  /** This signer's identity public key, once started. */
  get publicKey(): Uint8Array | undefined {
    return this.#running.identity?.publicKey;
  }

  /** Where the health server listens (the real port when `listen` asked for 0). */
  get healthAddress(): ListenAddress | undefined {
    return this.#running.health?.address;
  }

  metrics(): Record<string, number> {
    const commits = this.#running.keystore?.commits.stats;
    return { ...this.#counters, keystoreCommits: commits?.commits ?? 0, keystoreCommitSteps: commits?.steps ?? 0, keystoreCommitFailures: commits?.failures ?? 0, connected: this.connected ? 1 : 0, leaderToken: this.#leaderToken, liveSessions: this.#running.router?.size ?? 0, cryptoCallsRunning: this.#running.crypto?.callsRunning ?? 0, cryptoJobsOpen: this.#running.crypto?.openJobs ?? 0 };
  }

  /** Resolves once the link is authenticated (now, if it is). */
  waitUntilConnected(timeoutMs = 10_000): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new SignerError('WRONG_STATUS', { message: `not connected within ${timeoutMs} ms` })), timeoutMs);
      this.#connectedWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  protected wrongStatus(message: string): Error {
    return new SignerError('WRONG_STATUS', { message });
  }

  protected async startParts(stack: StartStack): Promise<void> {
    const o = this.options;
    const now = this.#deps.now ?? Date.now;
    const rng = this.#deps.rng ?? defaultRng;
    const keystore = stack.adopt(this.#openKeystore(now));
    this.#running.keystore = keystore;
    const identity = this.#loadIdentity(keystore);
    this.#running.identity = identity;
    const pinnedSelf = o.peers.get(o.signerId);
    if (pinnedSelf !== undefined && !equalBytes(pinnedSelf, identity.publicKey)) {
      throw new SignerError('BAD_CONFIG', { field: `peers.${o.signerId}`, message: "differs from this signer's identity key" });
    }
    // Crash recovery: a nonce outstanding before a restart is never used.
    const discardedNonces = keystore.discardOutstandingNonces();
    keystore.pruneRequests(MAX_REQUEST_SKEW_MS);
    keystore.pruneNonces(MAX_REQUEST_SKEW_MS);
    // Group commit (keystore/group-commit.ts): a frame leaves only once every keystore write made before it
    // is committed; if that batch's commit failed, it never leaves.
    const release = (env: Envelope): void => keystore.commits.afterCommit((error) => {
      const frame = { kind: env.header.kind, round: env.header.round, sessionId: bytesToHex(env.header.sessionId) };
      if (error !== undefined) return this.#log.error('frame dropped: keystore commit failed', { ...frame, error: error instanceof Error ? error.message : String(error) });
      try {
        this.#running.link?.send(env);
      } catch (e) {
        // A waiter must not throw (the other frames of the batch wait behind it).
        this.#log.error('frame dropped: send failed', { ...frame, error: e instanceof Error ? e.message : String(e) });
      }
    });
    const crypto = new CryptoPool({ size: o.cryptoWorkers, log: this.#log });
    this.#running.crypto = crypto;
    await stack.start(crypto);

    const ctx: SessionContext = {
      signerId: o.signerId,
      identity,
      keystore,
      peers: new Map([...o.peers, [o.signerId, identity.publicKey]]),
      clients: o.clients,
      behaviour: this.#deps.behaviour ?? honestBehaviour,
      log: this.#log,
      rng,
      crypto,
      now,
      send: release,
    };
    const pool = new NoncePool(ctx, o.noncePool);
    ctx.pool = pool;
    const presignatures = o.noncePool > 0 ? new PresignaturePool(ctx, o.noncePool) : undefined;
    ctx.presignatures = presignatures;
    const router = new SessionRouter(ctx, o, {
      sendError: (sessionId, code, message) => {
        this.#counters.errorsOut++;
        release(errorEnvelope(identity, o.signerId, sessionId, code, message));
      },
      count: (event) => {
        const key = ({ started: 'sessionsStarted', completed: 'sessionsCompleted', aborted: 'sessionsAborted', errors: 'framesRefused' } as const)[event];
        this.#counters[key]++;
      },
    });
    this.#running.router = router;
    const link = new CoordinatorLink({
      urls: o.coordinatorUrls,
      signerId: o.signerId,
      identity,
      coordinatorKey: o.coordinatorPublicKey,
      maxFrameBytes: o.maxFrameBytes,
      log: this.#log,
      rng,
      timing: { ...DEFAULT_LINK_TIMING, ...this.#deps.timing },
      onFrame: (env) => router.dispatch(env),
      afterWrites: (send) => keystore.commits.afterCommit(() => send()),
      acceptLeaderToken: (token) => {
        const accepted = keystore.acceptLeaderToken(token, o.coordinatorPublicKey);
        if (accepted) this.#leaderToken = token;
        return accepted;
      },
      onUp: () => {
        this.#log.info('connected', { coordinator: link.url, leaderToken: this.#leaderToken, publicKey: bytesToHex(identity.publicKey) });
        for (const wake of this.#connectedWaiters.splice(0)) wake();
      },
      onDown: () => {
        router.dropAll('disconnected');
        // The coordinator forgets this signer's pool with the connection: never offered again.
        pool.discardAll('disconnected');
        presignatures?.discardAll('disconnected');
      },
      count: (event) => this.#counters[event]++,
    });
    if (o.listen !== undefined) {
      const health = new HealthServer(
        {
          ready: () => this.status === 'started' && this.connected,
          coordinator: () => this.coordinatorUrl,
          metrics: () => this.metrics(),
          keys: () => keystore.listKeys().flatMap((k) => (k.state === 'active' ? [{ keyId: k.keyId, epoch: k.epoch, suite: k.suite }] : [])),
        },
        o.listen,
        { keyLabels: o.metricsKeyLabels },
      );
      this.#running.health = health;
      await stack.start(health);
    }
    stack.adopt(undoOnStop(() => {
      router.dropAll('stopped');
      pool.discardAll('stopped');
      presignatures?.discardAll('stopped');
    }));
    const pruneTimer = setInterval(() => {
      keystore.pruneRequests(MAX_REQUEST_SKEW_MS);
      keystore.pruneNonces(MAX_REQUEST_SKEW_MS);
    }, REPLAY_PRUNE_INTERVAL_MS);
    pruneTimer.unref();
    stack.adopt(undoOnStop(() => clearInterval(pruneTimer)));
    this.#running.link = link;
    await stack.start(link);
    const bound = this.healthAddress;
    this.#log.info('started', {
      publicKey: bytesToHex(identity.publicKey),
      keys: keystore.listKeys().length,
      discardedNonces,
      health: bound ? `${bound.host}:${bound.port}` : undefined,
    });
  }

  protected override afterStop(): void {
    if (this.status === 'stopping') this.#log.info('stopped');
    this.#running = {};
  }

  #openKeystore(now: () => number): Keystore {
    const o = this.options;
    const kek = resolveKekSource(o, this.#deps.env ?? process.env);
    try {
      return Keystore.open({ dataDir: o.dataDir, kek, signerId: o.signerId, now, groupCommitMs: o.groupCommitMs });
    } catch (e) {
      if (e instanceof SignerError && e.code === 'NOT_FOUND') {
        throw new SignerError('BAD_CONFIG', { field: 'dataDir', message: `no keystore in ${o.dataDir}; run 'keyquorum-signer init' first`, cause: e });
      }
      throw e;
    }
  }

  #loadIdentity(keystore: Keystore): IdentityKey {
    const { seed } = keystore.getIdentity();
    try {
      return identityFromSecret(seed);
    } finally {
      seed.fill(0);
    }
  }
}
