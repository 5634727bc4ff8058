/**
 * A userland TCP delay relay: a WAN between two processes without `tc netem` (this
 * kernel has no netem qdisc). It listens on one address; every accepted socket is
 * joined to a new connection to the target, and every chunk read on either side is
 * held for the configured one-way delay before it is written to the other side, in
 * order (a round trip through the relay costs 2 × delay). Nothing is dropped or
 * reordered while the relay is up; `cut()` plays a signer cut off from the network:
 *
 * - `cut('destroy')`: both ends of every connection are destroyed (both peers see the
 *   connection close at once, as after a RST), and connections accepted until
 *   `restore()` are closed on arrival (a dialer keeps failing to connect);
 * - `cut('blackhole')`: a partition with no close: every byte held or arriving on the
 *   live connections is discarded in both directions, the sockets stay open, so the
 *   peers find out only by their own timeouts (round timeout, missed pongs). New
 *   connections are accepted and blackholed as well. A blackholed stream has lost
 *   bytes, so `restore()` destroys those connections (TCP would have reset them) and
 *   only new connections carry data again.
 *
 * Timing: a chunk is released no earlier than `delayMs` after it was read, measured
 * by the relay's own clock (`now`); a timer that fires early is re-armed for the rest.
 * The scheduler is injectable so the relay's unit test can release chunks by hand.
 * Every released chunk is accounted in `stats` (count, bytes, least time held), which
 * is what a test may assert on — never wall time.
 *
 * Shared by the WAN e2e test (test/wan.test.ts, inside network namespaces:
 * test/support/netns.ts) and the WAN benchmark entries (benchmarks/e2e.ts, loopback).
 */
import net from 'node:net';

export type Direction = 'up' | 'down';

/** Clock and timers of the relay: the real ones by default, a hand-driven one in tests. */
export interface RelayScheduler {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

export const realScheduler: RelayScheduler = {
  now: () => performance.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface RelayOptions {
  /** Where the relay listens. */
  listen: { host: string; port?: number };
  /** Where every accepted connection is forwarded. */
  target: { host: string; port: number };
  /** One-way delay in ms, each direction (RTT through the relay = 2 × delayMs). */
  delayMs: number;
  scheduler?: RelayScheduler;
}

export interface DirectionStats {
  /** Chunks and bytes read from the sending side. */
  receivedChunks: number;
  receivedBytes: number;
  /** Chunks and bytes written to the other side. */
  releasedChunks: number;
  releasedBytes: number;
  /** Least time a released chunk was held, by the relay's clock (Infinity before the first). */
  minHeldMs: number;
  /** Sum of the times released chunks were held (mean = heldMsTotal / releasedChunks): above delayMs when timers fire late on a busy machine. */
  heldMsTotal: number;
  /** Bytes discarded by a blackhole cut. */
  droppedBytes: number;
}

/** 'up' is accepted socket -> target (signer -> coordinator), 'down' the reverse. */
export type RelayStats = Record<Direction, DirectionStats>;

interface Held {
  chunk: Buffer;
  readAt: number;
  releaseAt: number;
}

/** One direction of one connection: a FIFO of held chunks and one timer for its head. */
class Pipe {
  private readonly queue: Held[] = [];
  private timer: unknown;
  dead = false;

  constructor(
    private readonly relay: DelayRelay,
    private readonly dir: Direction,
    private readonly to: net.Socket,
  ) {}

  push(chunk: Buffer): void {
    const stats = this.relay.stats[this.dir];
    stats.receivedChunks++;
    stats.receivedBytes += chunk.length;
    if (this.dead) {
      stats.droppedBytes += chunk.length;
      return;
    }
    const now = this.relay.scheduler.now();
    // FIFO with head-of-line release: a delay lowered at run time cannot let a chunk overtake the one before it.
    this.queue.push({ chunk, readAt: now, releaseAt: now + this.relay.delayMs });
    if (this.queue.length === 1) this.arm();
  }

  private arm(): void {
    const head = this.queue[0];
    if (head === undefined || this.dead) return;
    const wait = Math.max(0, head.releaseAt - this.relay.scheduler.now());
    this.timer = this.relay.scheduler.setTimer(() => this.release(), Math.ceil(wait));
  }

  private release(): void {
    this.timer = undefined;
    if (this.dead) return;
    const now = this.relay.scheduler.now();
    const stats = this.relay.stats[this.dir];
    while (this.queue.length > 0 && this.queue[0]!.releaseAt <= now) {
      const { chunk, readAt } = this.queue.shift()!;
      stats.releasedChunks++;
      stats.releasedBytes += chunk.length;
      stats.minHeldMs = Math.min(stats.minHeldMs, now - readAt);
      stats.heldMsTotal += now - readAt;
      if (!this.to.destroyed) this.to.write(chunk);
    }
    // Timers may fire early (or the head is not due yet): re-arm for the rest.
    this.arm();
  }

  /** Discards everything held; later chunks are counted as dropped. */
  kill(): void {
    this.dead = true;
    if (this.timer !== undefined) this.relay.scheduler.clearTimer(this.timer);
    this.timer = undefined;
    for (const h of this.queue.splice(0)) this.relay.stats[this.dir].droppedBytes += h.chunk.length;
  }

  /** Ends the other side once everything held has been released (a FIN travels with the delay too). */
  endAfterDrain(): void {
    const tryEnd = () => {
      if (this.dead || this.to.destroyed) return;
      if (this.queue.length === 0) this.to.end();
      else this.relay.scheduler.setTimer(tryEnd, Math.max(1, Math.ceil(this.queue.at(-1)!.releaseAt - this.relay.scheduler.now())));
    };
    tryEnd();
  }
}

interface Link {
  client: net.Socket;
  server: net.Socket;
  up: Pipe;
  down: Pipe;
}

const emptyStats = (): DirectionStats => ({ receivedChunks: 0, receivedBytes: 0, releasedChunks: 0, releasedBytes: 0, minHeldMs: Infinity, heldMsTotal: 0, droppedBytes: 0 });

export class DelayRelay {
  readonly stats: RelayStats = { up: emptyStats(), down: emptyStats() };
  readonly scheduler: RelayScheduler;
  delayMs: number;
  /** Connections accepted so far (including ones closed by a cut). */
  accepted = 0;
  private mode: 'open' | 'destroy' | 'blackhole' = 'open';
  private readonly links = new Set<Link>();
  /** Connections accepted during a blackhole cut: open, never joined to the target. */
  private readonly stranded = new Set<net.Socket>();
  private readonly server: net.Server;
  private readonly chunkListeners = new Set<(dir: Direction, chunk: Buffer) => void>();

  private constructor(private readonly opts: RelayOptions) {
    if (!(opts.delayMs >= 0)) throw new Error(`relay: delayMs must be >= 0, got ${opts.delayMs}`);
    this.delayMs = opts.delayMs;
    this.scheduler = opts.scheduler ?? realScheduler;
    // Half-open allowed: a FIN is forwarded after the data held before it, not at once.
    this.server = net.createServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.accept(socket));
  }

  /** Starts a relay and resolves once it listens. */
  static async start(opts: RelayOptions): Promise<DelayRelay> {
    const relay = new DelayRelay(opts);
    await new Promise<void>((resolve, reject) => {
      relay.server.once('error', reject);
      relay.server.listen(opts.listen.port ?? 0, opts.listen.host, () => {
        relay.server.off('error', reject);
        resolve();
      });
    });
    return relay;
  }

  /** host:port the relay listens on. */
  get address(): { host: string; port: number } {
    const a = this.server.address() as net.AddressInfo;
    return { host: a.address, port: a.port };
  }

  /** Live connections (both ends open). */
  get connections(): number {
    return this.links.size;
  }

  /** Called with every chunk as it is read (before it is held), e.g. to cut at a chosen moment. */
  onChunk(listener: (dir: Direction, chunk: Buffer) => void): () => void {
    this.chunkListeners.add(listener);
    return () => this.chunkListeners.delete(listener);
  }

  /** Changes the one-way delay of chunks read from now on (order is kept). */
  setDelay(ms: number): void {
    if (!(ms >= 0)) throw new Error(`relay: delayMs must be >= 0, got ${ms}`);
    this.delayMs = ms;
  }

  private accept(client: net.Socket): void {
    this.accepted++;
    if (this.mode === 'destroy') {
      client.destroy();
      return;
    }
    if (this.mode === 'blackhole') {
      // Partitioned: the target is never reached; the dialer's bytes go nowhere.
      this.stranded.add(client);
      client.on('data', (chunk: Buffer) => {
        this.stats.up.receivedChunks++;
        this.stats.up.receivedBytes += chunk.length;
        this.stats.up.droppedBytes += chunk.length;
      });
      client.on('close', () => this.stranded.delete(client));
      client.on('error', () => client.destroy());
      return;
    }
    const server = net.connect({ host: this.opts.target.host, port: this.opts.target.port, noDelay: true, allowHalfOpen: true });
    const link: Link = { client, server, up: new Pipe(this, 'up', server), down: new Pipe(this, 'down', client) };
    this.links.add(link);
    const onData = (dir: Direction) => (chunk: Buffer) => {
      for (const l of this.chunkListeners) l(dir, chunk);
      (dir === 'up' ? link.up : link.down).push(chunk);
    };
    client.on('data', onData('up'));
    server.on('data', onData('down'));
    client.on('end', () => link.up.endAfterDrain());
    server.on('end', () => link.down.endAfterDrain());
    // One side gone: the other is closed too, unless the link is blackholed (a partition
    // hides the close as well: the other side stays open until restore() or close()).
    const gone = (side: net.Socket) => () => {
      if (!link.up.dead) return this.drop(link);
      if (!this.links.delete(link)) return;
      const other = side === client ? server : client;
      side.destroy();
      if (!other.destroyed) {
        this.stranded.add(other);
        other.on('close', () => this.stranded.delete(other));
      }
    };
    for (const side of [client, server]) {
      side.on('close', gone(side));
      side.on('error', gone(side));
    }
  }

  private drop(link: Link): void {
    if (!this.links.delete(link)) return;
    link.up.kill();
    link.down.kill();
    link.client.destroy();
    link.server.destroy();
  }

  /** Cuts every connection (see the file comment); new connections get the same treatment until `restore()`. */
  cut(mode: 'destroy' | 'blackhole' = 'destroy'): void {
    this.mode = mode;
    if (mode === 'destroy') for (const socket of [...this.stranded]) socket.destroy();
    for (const link of [...this.links]) {
      if (mode === 'destroy') this.drop(link);
      else {
        link.up.kill();
        link.down.kill();
      }
    }
  }

  /** Accepts and forwards new connections again; blackholed ones are destroyed (their streams lost bytes). */
  restore(): void {
    this.mode = 'open';
    for (const link of [...this.links]) if (link.up.dead || link.down.dead) this.drop(link);
    for (const socket of [...this.stranded]) socket.destroy();
  }

  async close(): Promise<void> {
    for (const link of [...this.links]) this.drop(link);
    for (const socket of [...this.stranded]) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
