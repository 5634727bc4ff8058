/**
 * The signer daemon: opens the sealed keystore, discards every nonce left outstanding
 * by a crash, loads the identity key, dials the coordinator (`link.ts`) and runs the
 * session executors (`sessions/`) on its frames; optionally serves health and metrics.
 * Lifecycle as in STYLE.md: status stopped -> starting -> started -> stopping; a
 * failed start stops what already started and rethrows. Signals are the CLI's business.
 */
import { bytesToHex } from '@noble/hashes/utils.js';
import { equalBytes } from '@noble/curves/utils.js';
import { defaultRng, identityFromSecret, type Envelope, type IdentityKey, type Rng } from '@keyquorum/protocol';
import { createLogger, type Logger } from '@keyquorum/protocol/logger';
import { honestBehaviour, type SignerBehaviour } from './behaviour.ts';
import { resolveKekSource, resolveSignerOptions, type ListenAddress, type ResolvedSignerOptions, type SignerOptions } from './config.ts';
import { MAX_REQUEST_SKEW_MS, REPLAY_PRUNE_INTERVAL_MS } from './constants.ts';
import { errorEnvelope } from './control.ts';
import { SignerError } from './errors.ts';
import { HealthServer } from './health.ts';
import { Keystore } from './keystore/index.ts';
import { CoordinatorLink, DEFAULT_LINK_TIMING, type LinkTiming } from './link.ts';
import type { SessionContext } from './sessions/context.ts';
import { SessionRouter } from './sessions/router.ts';

export type SignerStatus = 'stopped' | 'starting' | 'started' | 'stopping';

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
  router?: SessionRouter;
  link?: CoordinatorLink;
  health?: HealthServer;
  pruneTimer?: NodeJS.Timeout;
}

export class SignerDaemon {
  readonly options: ResolvedSignerOptions;
  readonly #deps: SignerDeps;
  readonly #log: Logger;
  readonly #counters = Object.fromEntries(COUNTERS.map((c) => [c, 0])) as Record<Counter, number>;
  #status: SignerStatus = 'stopped';
  #running: Partial<Running> = {};
  #healthAddress: ListenAddress | undefined;
  #stopping: Promise<void> | undefined;
  #connectedWaiters: (() => void)[] = [];

  constructor(options: SignerOptions, deps: SignerDeps = {}) {
    this.options = resolveSignerOptions(options, deps.baseDir);
    this.#deps = deps;
    this.#log = (deps.log ?? createLogger()).child({ signer: this.options.signerId });
  }

  get status(): SignerStatus {
    return this.#status;
  }

  /** Authenticated to the coordinator. */
  get connected(): boolean {
    return this.#running.link?.connected ?? false;
  }

  /** This signer's identity public key, once started. */
  get publicKey(): Uint8Array | undefined {
    return this.#running.identity?.publicKey;
  }

  /** Where the health server listens (the real port when `listen` asked for 0). */
  get healthAddress(): ListenAddress | undefined {
    return this.#healthAddress;
  }

  metrics(): Record<string, number> {
    return { ...this.#counters, connected: this.connected ? 1 : 0, liveSessions: this.#running.router?.size ?? 0 };
  }

  async start(): Promise<void> {
    if (this.#status !== 'stopped') throw new SignerError('WRONG_STATUS', { message: `cannot start while ${this.#status}` });
    this.#status = 'starting';
    try {
      await this.#startAll();
      this.#status = 'started';
    } catch (e) {
      await this.#teardown();
      this.#status = 'stopped';
      throw e;
    }
  }

  async stop(): Promise<void> {
    if (this.#status === 'stopped') return;
    if (this.#status === 'stopping') return this.#stopping;
    if (this.#status === 'starting') throw new SignerError('WRONG_STATUS', { message: 'cannot stop while starting' });
    this.#status = 'stopping';
    this.#stopping = this.#teardown().finally(() => {
      this.#status = 'stopped';
      this.#log.info('stopped');
    });
    return this.#stopping;
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

  async #startAll(): Promise<void> {
    const o = this.options;
    const now = this.#deps.now ?? Date.now;
    const rng = this.#deps.rng ?? defaultRng;
    const keystore = this.#openKeystore(now);
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

    const ctx: SessionContext = {
      signerId: o.signerId,
      identity,
      keystore,
      peers: new Map([...o.peers, [o.signerId, identity.publicKey]]),
      clients: o.clients,
      behaviour: this.#deps.behaviour ?? honestBehaviour,
      log: this.#log,
      rng,
      now,
      send: (env: Envelope) => this.#running.link?.send(env),
    };
    const router = new SessionRouter(ctx, o, {
      sendError: (sessionId, code, message) => {
        this.#counters.errorsOut++;
        this.#running.link?.send(errorEnvelope(identity, o.signerId, sessionId, code, message));
      },
      count: (event) => {
        const key = ({ started: 'sessionsStarted', completed: 'sessionsCompleted', aborted: 'sessionsAborted', errors: 'framesRefused' } as const)[event];
        this.#counters[key]++;
      },
    });
    this.#running.router = router;
    this.#running.link = new CoordinatorLink({
      url: o.coordinatorUrl,
      signerId: o.signerId,
      identity,
      coordinatorKey: o.coordinatorPublicKey,
      maxFrameBytes: o.maxFrameBytes,
      log: this.#log,
      rng,
      timing: { ...DEFAULT_LINK_TIMING, ...this.#deps.timing },
      onFrame: (env) => router.dispatch(env),
      onUp: () => {
        this.#log.info('connected', { coordinator: o.coordinatorUrl, publicKey: bytesToHex(identity.publicKey) });
        for (const wake of this.#connectedWaiters.splice(0)) wake();
      },
      onDown: () => router.dropAll('disconnected'),
      count: (event) => this.#counters[event]++,
    });
    if (o.listen !== undefined) {
      const health = new HealthServer({
        ready: () => this.#status === 'started' && this.connected,
        metrics: () => this.metrics(),
        keys: () => keystore.listKeys().flatMap((k) => (k.state === 'active' ? [{ keyId: k.keyId, epoch: k.epoch, suite: k.suite }] : [])),
      });
      this.#running.health = health;
      this.#healthAddress = await health.listen(o.listen);
    }
    this.#running.pruneTimer = setInterval(() => keystore.pruneRequests(MAX_REQUEST_SKEW_MS), REPLAY_PRUNE_INTERVAL_MS);
    this.#running.pruneTimer.unref();
    this.#running.link.start();
    this.#log.info('started', {
      publicKey: bytesToHex(identity.publicKey),
      keys: keystore.listKeys().length,
      discardedNonces,
      health: this.#healthAddress ? `${this.#healthAddress.host}:${this.#healthAddress.port}` : undefined,
    });
  }

  #openKeystore(now: () => number): Keystore {
    const o = this.options;
    const kek = resolveKekSource(o, this.#deps.env ?? process.env);
    try {
      return Keystore.open({ dataDir: o.dataDir, kek, signerId: o.signerId, now });
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

  async #teardown(): Promise<void> {
    const r = this.#running;
    clearInterval(r.pruneTimer);
    await r.link?.stop();
    r.router?.dropAll('stopped');
    await r.health?.close();
    r.keystore?.close();
    this.#running = {};
    this.#healthAddress = undefined;
  }
}
