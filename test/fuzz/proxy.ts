/**
 * A WebSocket relay between one real signer daemon and the real coordinator, for the
 * fuzzer: the signer's config points at this relay instead of the coordinator, and
 * every frame passes through unchanged. It records every binary frame in both
 * directions (the live frames of each round, from a live signer identity), and lets
 * the fuzzer inject frames on either leg of the authenticated link: upstream, the
 * coordinator takes them as that signer's; downstream, the signer takes them as the
 * coordinator's. While `muted`, answers to injected frames are captured for the
 * fuzzer and not forwarded, so neither real process sees the other's refusals.
 */
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { CONTROL_ROUND, decodeEnvelope } from '@keyquorum/protocol';

export type Direction = 'up' | 'down';

export interface RecordedFrame {
  dir: Direction;
  bytes: Uint8Array;
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data));
  return data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function isWelcome(bytes: Uint8Array): boolean {
  try {
    const { kind, round } = decodeEnvelope(bytes, { maxBytes: 64 * 1024 * 1024 }).header;
    return kind === 'control' && round === CONTROL_ROUND.WELCOME;
  } catch {
    return false;
  }
}

interface Leg {
  down: WebSocket;
  up: WebSocket;
  /** The coordinator's WELCOME passed: the signer is authenticated on this leg. */
  welcomed: boolean;
}

export class RecordingProxy {
  readonly recorded: RecordedFrame[] = [];
  recording = true;
  /** While set, frames are captured here instead of being forwarded. */
  muted: { up: boolean; down: boolean } = { up: false, down: false };
  readonly captured: RecordedFrame[] = [];
  private leg: Leg | undefined;
  private readonly listeners = new Set<() => void>();
  connections = 0;
  /** When set, replaces each frame about to be forwarded (after recording the original); the workload uses it to make a session fail. */
  rewrite: ((dir: Direction, bytes: Uint8Array) => Uint8Array) | undefined;

  private constructor(
    private readonly server: WebSocketServer,
    readonly url: string,
    private readonly target: string,
  ) {
    server.on('connection', (ws) => this.accept(ws));
  }

  /** Listens on a free loopback port and relays to `target` (the coordinator's ws:// URL). */
  static async start(target: string): Promise<RecordingProxy> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 64 * 1024 * 1024 });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    const { port } = server.address() as { port: number };
    return new RecordingProxy(server, `ws://127.0.0.1:${port}`, target);
  }

  private accept(down: WebSocket): void {
    this.leg?.down.terminate();
    this.leg?.up.terminate();
    this.connections++;
    const up = new WebSocket(this.target, { maxPayload: 64 * 1024 * 1024 });
    const leg: Leg = { down, up, welcomed: false };
    this.leg = leg;
    const pendingDown: Uint8Array[] = [];
    down.on('message', (data) => {
      const bytes = toBytes(data);
      this.observe('up', bytes);
      if (this.muted.up) return;
      const out = this.rewrite?.('up', bytes) ?? bytes;
      if (up.readyState === WebSocket.OPEN) up.send(out);
      else pendingDown.push(out);
    });
    up.on('open', () => {
      for (const b of pendingDown.splice(0)) up.send(b);
    });
    up.on('message', (data) => {
      const bytes = toBytes(data);
      if (!leg.welcomed) leg.welcomed = isWelcome(bytes);
      this.observe('down', bytes);
      if (this.muted.down) return;
      const out = this.rewrite?.('down', bytes) ?? bytes;
      if (down.readyState === WebSocket.OPEN) down.send(out);
    });
    const close = () => {
      if (this.leg === leg) this.leg = undefined;
      up.terminate();
      down.terminate();
    };
    up.on('close', close);
    down.on('close', close);
    up.on('error', close);
    down.on('error', close);
  }

  private observe(dir: Direction, bytes: Uint8Array): void {
    if (this.recording) this.recorded.push({ dir, bytes });
    if (this.muted[dir]) {
      this.captured.push({ dir, bytes });
      for (const wake of [...this.listeners]) wake();
    }
  }

  /** True while a signer is connected and authenticated through the relay. */
  get linked(): boolean {
    return this.leg !== undefined && this.leg.welcomed && this.leg.up.readyState === WebSocket.OPEN && this.leg.down.readyState === WebSocket.OPEN;
  }

  /** Sends raw bytes (or a text frame) on one leg: 'up' to the coordinator, 'down' to the signer. */
  inject(dir: Direction, frame: Uint8Array | string): boolean {
    const leg = this.leg;
    if (leg === undefined) return false;
    const ws = dir === 'up' ? leg.up : leg.down;
    if (ws.readyState !== WebSocket.OPEN) return false;
    ws.send(frame, { binary: typeof frame !== 'string' });
    return true;
  }

  /** Resolves with the first captured frame (from index `from`) that passes `test`, or undefined after `timeoutMs`. */
  async waitCaptured(from: number, test: (f: RecordedFrame) => boolean, timeoutMs: number): Promise<number | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (let i = from; i < this.captured.length; i++) if (test(this.captured[i]!)) return i;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.listeners.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, Math.min(left, 200));
        this.listeners.add(wake);
      });
    }
  }

  async close(): Promise<void> {
    this.leg?.up.terminate();
    this.leg?.down.terminate();
    for (const ws of this.server.clients) ws.terminate();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
