/**
 * A minimal coordinator for tests, built from @keyquorum/protocol functions only:
 * it runs the CHALLENGE/AUTH/WELCOME handshake (docs/cluster-protocol.md
 * "Connection"), then lets a test send signed frames to a signer and await the
 * signer's frames. It checks nothing a real coordinator would, on purpose: tests use
 * it to play an honest or a malicious relay.
 */
import { randomBytes } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  CLOSE_NOT_LEADER,
  CONTROL_ROUND,
  COORDINATOR_ID,
  PROTOCOL_VERSION,
  decodeBody,
  decodeEnvelope,
  encodeBody,
  encodeEnvelope,
  generateIdentity,
  openEnvelope,
  sealEnvelope,
  type AuthBody,
  type Envelope,
  type IdentityKey,
} from '@keyquorum/protocol';

export interface FrameHeader {
  kind: string;
  suite: string;
  sessionId: Uint8Array;
  round: number;
  to?: string;
}

interface Peer {
  ws: WebSocket;
  inbox: Envelope[];
  waiters: (() => void)[];
}

export class FakeCoordinator {
  readonly identity: IdentityKey;
  readonly url: string;
  readonly #signer: IdentityKey;
  /** Every AUTH seen, by signer id: the key it presented. */
  readonly authenticated = new Map<string, Uint8Array>();
  readonly #server: WebSocketServer;
  readonly #peers = new Map<string, Peer>();
  readonly #connectWaiters: (() => void)[] = [];
  /** The fencing token its WELCOME carries (docs/ha.md §2). */
  leaderToken = 0;
  /** Set: it plays a follower, closing every new socket with CLOSE_NOT_LEADER and this reason (the leader's URL, or ''). */
  follower: string | undefined;
  /** Set: a relay rewrites WELCOME's leaderToken to this after the coordinator signed it. */
  tamperedToken: number | undefined;
  /** Sockets that connected, including ones never authenticated. */
  readonly sockets: WebSocket[] = [];

  private constructor(server: WebSocketServer, identity: IdentityKey, signer: IdentityKey, url: string) {
    this.#server = server;
    this.identity = identity;
    this.#signer = signer;
    this.url = url;
    server.on('connection', (ws) => this.#accept(ws));
  }

  /** `signAs` makes the coordinator sign with another key than the one it advertises; `port` takes a given port (e.g. a stopped coordinator's). */
  static async start(opts: { identity?: IdentityKey; signAs?: IdentityKey; port?: number } = {}): Promise<FakeCoordinator> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: opts.port ?? 0 });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    const { port } = server.address() as { port: number };
    const identity = opts.identity ?? generateIdentity();
    return new FakeCoordinator(server, identity, opts.signAs ?? identity, `ws://127.0.0.1:${port}`);
  }

  #accept(ws: WebSocket): void {
    this.sockets.push(ws);
    if (this.follower !== undefined) return ws.close(CLOSE_NOT_LEADER, this.follower);
    const challenge = randomBytes(32);
    let signerId: string | undefined;
    let authed = false;
    ws.on('message', (data) => {
      const env = decodeEnvelope(new Uint8Array(data as Buffer));
      if (!authed) {
        if (env.header.kind !== 'control' || env.header.round !== CONTROL_ROUND.AUTH) return;
        const auth = decodeBody<AuthBody>('control', CONTROL_ROUND.AUTH, 'none', env.payload);
        openEnvelope(env, auth.publicKey);
        signerId = env.header.from;
        authed = true;
        this.authenticated.set(signerId, auth.publicKey);
        this.#peers.set(signerId, { ws, inbox: [], waiters: [] });
        const welcome = this.seal({ kind: 'control', suite: 'none', sessionId: auth.nonce, round: CONTROL_ROUND.WELCOME, to: signerId }, { signerNonce: auth.nonce, leaderToken: this.leaderToken });
        if (this.tamperedToken !== undefined) welcome.payload = encodeBody({ signerNonce: auth.nonce, leaderToken: this.tamperedToken });
        ws.send(encodeEnvelope(welcome));
        for (const wake of this.#connectWaiters.splice(0)) wake();
        return;
      }
      const peer = this.#peers.get(signerId!)!;
      peer.inbox.push(env);
      for (const wake of peer.waiters.splice(0)) wake();
    });
    ws.on('close', () => {
      if (signerId !== undefined && this.#peers.get(signerId)?.ws === ws) this.#peers.delete(signerId);
    });
    this.#sendOn(ws, { kind: 'control', suite: 'none', sessionId: challenge, round: CONTROL_ROUND.CHALLENGE, to: '*' }, { nonce: challenge });
  }

  seal(h: FrameHeader, body: unknown): Envelope {
    return sealEnvelope(this.#signer, { v: PROTOCOL_VERSION, kind: h.kind, suite: h.suite, sessionId: h.sessionId, round: h.round, from: COORDINATOR_ID, to: h.to ?? '*' }, encodeBody(body));
  }

  #sendOn(ws: WebSocket, h: FrameHeader, body: unknown): void {
    ws.send(encodeEnvelope(this.seal(h, body)));
  }

  async waitFor(signerId: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#peers.has(signerId)) {
      if (Date.now() > deadline) throw new Error(`${signerId} did not connect`);
      await new Promise<void>((resolve) => {
        this.#connectWaiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  send(signerId: string, h: FrameHeader, body: unknown): void {
    this.sendRaw(signerId, encodeEnvelope(this.seal({ to: signerId, ...h }, body)));
  }

  sendRaw(signerId: string, frame: Uint8Array | string): void {
    this.#peer(signerId).ws.send(frame);
  }

  /** The signer's next frame matching `filter` (frames before it that do not match stay queued). */
  async next(signerId: string, filter: (e: Envelope) => boolean = () => true, timeoutMs = 10_000): Promise<Envelope> {
    const peer = this.#peer(signerId);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = peer.inbox.findIndex(filter);
      if (i >= 0) return peer.inbox.splice(i, 1)[0]!;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching frame from ${signerId} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        peer.waiters.push(resolve);
        setTimeout(resolve, Math.min(left, 100));
      });
    }
  }

  /** Frames received and not yet taken. */
  pending(signerId: string): Envelope[] {
    return [...this.#peer(signerId).inbox];
  }

  /** Closes a signer's socket; it is expected to reconnect. */
  drop(signerId: string): void {
    this.#peer(signerId).ws.terminate();
    this.#peers.delete(signerId);
  }

  connected(signerId: string): boolean {
    return this.#peers.has(signerId);
  }

  #peer(signerId: string): Peer {
    const p = this.#peers.get(signerId);
    if (!p) throw new Error(`${signerId} is not connected`);
    return p;
  }

  async close(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
