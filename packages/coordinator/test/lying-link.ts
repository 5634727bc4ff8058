/**
 * A lying signer for tests: a real signer daemon whose link to the coordinator passes
 * through this relay, which holds that signer's identity key. Every frame goes through
 * byte for byte, except the ones `rewrite` changes: their payload is replaced and the
 * envelope sealed again with the signer's own key, so the coordinator receives a
 * properly signed frame in which the signer lies (e.g. a wrong final share w_i, or an
 * ABORT in place of a round message). The
 * daemon and the coordinator are the products, unchanged; only what the signer says
 * on the wire is false.
 */
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer, type RawData } from 'ws';
import { decodeEnvelope, encodeEnvelope, sealEnvelope, type Envelope, type IdentityKey } from '@keyquorum/protocol';

export interface LyingLinkOptions {
  /** The coordinator's signer endpoint (ws://...). */
  coordinatorUrl: string;
  /** The identity key of the signer that lies (the one whose daemon connects here). */
  identity: IdentityKey;
  /** A new payload (or header and payload) for a frame the signer sends, or undefined to pass it on as sent. */
  rewrite: (e: Envelope) => Uint8Array | { header: Envelope['header']; payload: Uint8Array; enc?: Envelope['enc'] } | undefined;
}

const bytes = (d: RawData): Uint8Array => (Array.isArray(d) ? Buffer.concat(d) : Buffer.from(d as ArrayBuffer));

export class LyingLink {
  /** Frames rewritten so far. */
  rewritten = 0;
  private readonly server: WebSocketServer;
  private readonly sockets = new Set<WebSocket>();

  private constructor(
    private readonly o: LyingLinkOptions,
    server: WebSocketServer,
  ) {
    this.server = server;
    server.on('connection', (down) => this.relay(down));
  }

  static async start(o: LyingLinkOptions): Promise<LyingLink> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    return new LyingLink(o, server);
  }

  /** The URL the lying signer's daemon dials instead of the coordinator's. */
  get url(): string {
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private relay(down: WebSocket): void {
    const up = new WebSocket(this.o.coordinatorUrl);
    this.sockets.add(down).add(up);
    const queued: Uint8Array[] = [];
    const toCoordinator = (frame: Uint8Array) => (up.readyState === up.OPEN ? up.send(frame, { binary: true }) : queued.push(frame));
    up.on('open', () => queued.splice(0).forEach((f) => up.send(f, { binary: true })));
    up.on('message', (d) => down.readyState === down.OPEN && down.send(bytes(d), { binary: true }));
    down.on('message', (d) => toCoordinator(this.tamper(bytes(d))));
    const closeBoth = () => {
      for (const s of [up, down]) if (s.readyState === s.OPEN || s.readyState === s.CONNECTING) s.terminate();
    };
    up.on('close', closeBoth).on('error', closeBoth);
    down.on('close', closeBoth).on('error', closeBoth);
  }

  private tamper(frame: Uint8Array): Uint8Array {
    let e: Envelope;
    try {
      e = decodeEnvelope(frame, { maxBytes: 2 ** 31 });
    } catch {
      return frame; // not ours to judge: the coordinator refuses it as it would from the signer
    }
    const out = this.o.rewrite(e);
    if (out === undefined) return frame;
    this.rewritten++;
    // A new payload keeps the frame's encryption info; a new header and payload carry the `enc` given (none: a plaintext frame, e.g. an ABORT).
    if (!(out instanceof Uint8Array)) return encodeEnvelope(sealEnvelope(this.o.identity, out.header, out.payload, out.enc === undefined ? {} : { enc: out.enc }));
    return encodeEnvelope(sealEnvelope(this.o.identity, e.header, out, e.enc === undefined ? {} : { enc: e.enc }));
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.terminate();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
