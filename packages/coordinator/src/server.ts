/**
 * The coordinator's one listening port: a node:http server for the JSON API and,
 * on `/signer`, a WebSocket endpoint (ws, `noServer`) that signers dial out to.
 *
 * Connection handshake (docs/cluster-protocol.md, "Connection"):
 *   C -> S control/CHALLENGE {nonce Cn}                       sessionId = Cn, to = '*'
 *   S -> C control/AUTH {nonce Sn, coordinatorNonce Cn, publicKey} sessionId = Cn
 *   C -> S control/WELCOME {signerNonce Sn, leaderToken}       sessionId = Sn
 * The AUTH sender must be allow-listed with exactly that key and its signature must
 * verify. A newer connection of a signer replaces the older one. Cap then parse:
 * ws refuses frames above twice the cap, the decoder refuses anything above the cap.
 * A frame that fails any check is answered with control/ERROR and changes nothing;
 * before authentication the socket is then closed. Ping/pong every `heartbeatMs`: a
 * signer is dropped after `MISSED_PONGS_TO_DROP` consecutive unanswered pings (a pong
 * or any frame from it resets the count), so a briefly busy signer is not cut off mid-session.
 *
 * The port is bounded (config.ts): `maxConnections` open connections at most, and a
 * client has `headersTimeoutMs` to send its headers and `requestTimeoutMs` its request.
 *
 * Every signer event (a frame, an authentication, a lost connection) is handled in
 * arrival order, one at a time (`inbound`): a handler may await the registry, and the
 * next event waits for it, as when the handlers were synchronous.
 *
 * A follower (leadership.ts) closes every signer WebSocket at once with
 * CLOSE_NOT_LEADER (4010), the reason being the leader's signer URL or ''.
 *
 * A `Startable` part of the coordinator: `start()` listens, `stop()` (idempotent)
 * drops every signer, stops listening and waits for the event in hand.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { equalBytes } from '@noble/curves/utils.js';
import { bytesToHex, randomBytes } from '@noble/hashes/utils.js';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import {
  BROADCAST,
  CLOSE_NOT_LEADER,
  CONTROL_ROUND,
  COORDINATOR_ID,
  PROTOCOL_VERSION,
  WireError,
  decodeBody,
  decodeEnvelope,
  encodeBody,
  encodeEnvelope,
  openEnvelope,
  sealEnvelope,
  type AuthBody,
  type Envelope,
  type ErrorBody,
  type IdentityKey,
  type Startable,
} from '@keyquorum/protocol';
import type { Logger } from '@keyquorum/protocol/logger';
import type { ResolvedOptions } from './config.ts';
import { CONTROL_SUITE, MISSED_PONGS_TO_DROP, SIGNER_PATH } from './constants.ts';
import { isCoordinatorError } from './errors.ts';

/** What the session engine gets from the server. */
export interface SignerLink {
  /** Sends one encoded frame; false if the signer is not connected. */
  sendFrame(signer: string, frame: Uint8Array): boolean;
  isConnected(signer: string): boolean;
  connectedSigners(): string[];
}

export interface SignerStatus {
  id: string;
  connected: boolean;
  /** ms since the epoch of the last frame or pong; null if never seen since start. */
  lastSeen: number | null;
}

export interface ServerHandlers {
  http: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  /** An authenticated signer's non-control frame; throwing answers it with control/ERROR. */
  frame: (signer: string, envelope: Envelope) => void | Promise<void>;
  authenticated: (signer: string) => void | Promise<void>;
  lost: (signer: string) => void | Promise<void>;
  /** Undefined to accept a signer's WebSocket; else the reason it is closed with at once, with CLOSE_NOT_LEADER (a follower, leadership.ts). */
  refuseSigner?: () => string | undefined;
}

interface Connection {
  ws: WebSocket;
  signer: string | undefined;
  challenge: Uint8Array;
  /** Pings sent since the last pong or frame. */
  missed: number;
}

const CLOSE_POLICY = 1008;
const CLOSE_REPLACED = 4000;
const MAX_ERROR_MESSAGE = 1024;

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data));
  return data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** The code an ERROR frame reports for a thrown error. */
function errorCode(e: unknown): string {
  if (e instanceof WireError || isCoordinatorError(e)) return e.code;
  return 'INTERNAL';
}

/**
 * A request Node's parser refused before any handler ran (a head above its size cap,
 * bytes that are not HTTP) gets the API's JSON error, 400 BAD_REQUEST, not Node's bare
 * 431/400 status line; a timed-out request keeps Node's 408.
 */
function clientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  // `_httpMessage` is node:http's answer under way on the socket (its own default handler
  // checks it the same way): once its head is sent, as while a refused request's body is
  // drained (http.ts `endAfterDrain`), another answer would corrupt the stream.
  const answering = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
  if (!socket.writable || err.code === 'ECONNRESET' || answering) {
    socket.destroy();
    return;
  }
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    socket.end('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
    return;
  }
  const message = err.code === 'HPE_HEADER_OVERFLOW' ? 'request head above the size cap' : 'malformed HTTP request';
  const body = JSON.stringify({ error: { code: 'BAD_REQUEST', message } });
  socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`);
}

export class CoordinatorServer implements SignerLink, Startable {
  private readonly opts: ResolvedOptions;
  private readonly identity: IdentityKey;
  private readonly handlers: ServerHandlers;
  private readonly log: Logger;
  private readonly http: http.Server;
  private readonly wss: WebSocketServer;
  private readonly sockets = new Set<Connection>();
  private readonly bySigner = new Map<string, Connection>();
  private readonly lastSeen = new Map<string, number>();
  private heartbeat: NodeJS.Timeout | undefined;
  /** The fencing token WELCOME carries (docs/ha.md §2): the leader sets its lease's token; 0 without a lease. */
  leaderToken = 0;
  /** The signer events in hand and queued, handled one at a time in arrival order. */
  private inbound: Promise<void> = Promise.resolve();

  constructor(opts: ResolvedOptions, identity: IdentityKey, handlers: ServerHandlers) {
    this.opts = opts;
    this.identity = identity;
    this.handlers = handlers;
    this.log = opts.logger;
    // Node's defaults leave a stalled client 60 s for its headers and 300 s for its
    // request, with no cap on connections: bound all three.
    this.http = http.createServer(
      { headersTimeout: opts.headersTimeoutMs, requestTimeout: opts.requestTimeoutMs, keepAliveTimeout: opts.keepAliveTimeoutMs, connectionsCheckingInterval: Math.min(1000, Math.ceil(opts.headersTimeoutMs / 4)) },
      (req, res) => handlers.http(req, res),
    );
    this.http.maxConnections = opts.maxConnections;
    this.wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxFrameBytes * 2 });
    this.http.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
    this.http.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => clientError(err, socket));
    this.wss.on('connection', (ws) => this.accept(ws));
  }

  /** Listens on the configured host and port (`address()` tells the bound one). */
  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.opts.port, this.opts.host, () => {
        this.http.off('error', reject);
        resolve();
      });
    });
    this.heartbeat = setInterval(() => this.beat(), this.opts.heartbeatMs);
    this.heartbeat.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    for (const c of this.sockets) c.ws.terminate();
    this.wss.close();
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
    await this.inbound;
  }

  /** Queues a signer event behind those before it; a failure is logged (a frame's own failure is answered in `onMessage`). */
  private enqueue(what: string, work: () => void | Promise<void>): void {
    this.inbound = this.inbound.then(work).catch((e: unknown) => this.log.error(`${what} handler failed`, { error: e instanceof Error ? (e.stack ?? e.message) : String(e) }));
  }

  /** The bound address while started. */
  address(): AddressInfo | undefined {
    const a = this.http.address();
    return a !== null && typeof a === 'object' ? a : undefined;
  }

  sendFrame(signer: string, frame: Uint8Array): boolean {
    const c = this.bySigner.get(signer);
    if (c === undefined || c.ws.readyState !== c.ws.OPEN) return false;
    c.ws.send(frame, { binary: true });
    return true;
  }

  isConnected(signer: string): boolean {
    return this.bySigner.has(signer);
  }

  connectedSigners(): string[] {
    return [...this.bySigner.keys()].sort();
  }

  status(): SignerStatus[] {
    return [...this.opts.signers.keys()].sort().map((id) => ({ id, connected: this.bySigner.has(id), lastSeen: this.lastSeen.get(id) ?? null }));
  }

  private upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (pathname !== SIGNER_PATH) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
  }

  private accept(ws: WebSocket): void {
    const refusal = this.handlers.refuseSigner?.();
    if (refusal !== undefined) {
      ws.close(CLOSE_NOT_LEADER, refusal);
      return;
    }
    const conn: Connection = { ws, signer: undefined, challenge: randomBytes(32), missed: 0 };
    this.sockets.add(conn);
    const timer = setTimeout(() => {
      if (conn.signer === undefined) {
        this.log.warn('handshake timed out');
        ws.close(CLOSE_POLICY, 'handshake timeout');
      }
    }, this.opts.roundTimeoutMs);
    timer.unref();
    ws.on('pong', () => {
      conn.missed = 0;
      if (conn.signer !== undefined) this.lastSeen.set(conn.signer, this.opts.now());
    });
    ws.on('message', (data, isBinary) => {
      conn.missed = 0;
      this.enqueue('frame', () => this.onMessage(conn, data, isBinary));
    });
    ws.on('error', (e) => this.log.warn('socket error', { signer: conn.signer, error: e.message }));
    ws.on('close', () => {
      clearTimeout(timer);
      this.sockets.delete(conn);
      if (conn.signer !== undefined && this.bySigner.get(conn.signer) === conn) {
        this.bySigner.delete(conn.signer);
        this.log.info('signer disconnected', { signer: conn.signer });
        const signer = conn.signer;
        this.enqueue('signer lost', () => this.handlers.lost(signer));
      }
    });
    this.send(conn, this.control(CONTROL_ROUND.CHALLENGE, conn.challenge, BROADCAST, { nonce: conn.challenge }));
  }

  private control(round: number, sessionId: Uint8Array, to: string, body: unknown): Envelope {
    const header = { v: PROTOCOL_VERSION, kind: 'control', suite: CONTROL_SUITE, sessionId, round, from: COORDINATOR_ID, to } as const;
    return sealEnvelope(this.identity, header, encodeBody(body));
  }

  private send(conn: Connection, envelope: Envelope): void {
    if (conn.ws.readyState === conn.ws.OPEN) conn.ws.send(encodeEnvelope(envelope), { binary: true });
  }

  private reject(conn: Connection, sessionId: Uint8Array, e: unknown): void {
    const code = errorCode(e);
    const message = (e instanceof Error ? e.message : String(e)).slice(0, MAX_ERROR_MESSAGE);
    this.log.warn('frame refused', { signer: conn.signer, session: bytesToHex(sessionId), code, error: message });
    if (code === 'INTERNAL') this.log.error('frame handler failed', { signer: conn.signer, error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    const body: ErrorBody = { code, message: code === 'INTERNAL' ? 'internal error' : message };
    this.send(conn, this.control(CONTROL_ROUND.ERROR, sessionId, conn.signer ?? BROADCAST, body));
  }

  private async onMessage(conn: Connection, data: RawData, isBinary: boolean): Promise<void> {
    let envelope: Envelope | undefined;
    try {
      if (!isBinary) throw new WireError('MALFORMED', { message: 'MALFORMED: frames are binary' });
      envelope = decodeEnvelope(toBytes(data), { maxBytes: this.opts.maxFrameBytes });
      if (conn.signer === undefined) await this.authenticate(conn, envelope);
      else await this.dispatch(conn.signer, envelope);
    } catch (e) {
      this.reject(conn, envelope?.header.sessionId ?? conn.challenge, e);
      if (conn.signer === undefined) conn.ws.close(CLOSE_POLICY, 'handshake failed');
    }
  }

  private async authenticate(conn: Connection, envelope: Envelope): Promise<void> {
    const { header } = envelope;
    if (header.kind !== 'control' || header.round !== CONTROL_ROUND.AUTH) throw new WireError('WRONG_KIND', { field: 'header.kind', message: 'WRONG_KIND: expected control/AUTH' });
    const pinned = this.opts.signers.get(header.from);
    if (pinned === undefined) throw new WireError('UNAUTHORISED', { field: 'header.from', message: `UNAUTHORISED: ${header.from} is not an allow-listed signer` });
    openEnvelope(envelope, pinned, { expect: { sessionId: conn.challenge, to: COORDINATOR_ID, kind: 'control' } });
    const body = decodeBody<AuthBody>('control', CONTROL_ROUND.AUTH, header.suite, envelope.payload);
    if (!equalBytes(body.coordinatorNonce, conn.challenge)) throw new WireError('WRONG_SESSION', { field: 'coordinatorNonce' });
    if (!equalBytes(body.publicKey, pinned)) throw new WireError('UNAUTHORISED', { field: 'publicKey', message: 'UNAUTHORISED: publicKey differs from the allow-listed key' });

    const signer = header.from;
    conn.signer = signer;
    const previous = this.bySigner.get(signer);
    this.bySigner.set(signer, conn);
    this.lastSeen.set(signer, this.opts.now());
    if (previous !== undefined) {
      this.log.info('signer connection replaced', { signer });
      previous.ws.close(CLOSE_REPLACED, 'replaced by a newer connection');
      await this.handlers.lost(signer);
    }
    this.send(conn, this.control(CONTROL_ROUND.WELCOME, body.nonce, signer, { signerNonce: body.nonce, leaderToken: this.leaderToken }));
    this.log.info('signer authenticated', { signer });
    await this.handlers.authenticated(signer);
  }

  private async dispatch(signer: string, envelope: Envelope): Promise<void> {
    this.lastSeen.set(signer, this.opts.now());
    const { header } = envelope;
    if (header.from !== signer) throw new WireError('BAD_FIELD', { field: 'header.from', message: `BAD_FIELD: header.from is ${header.from} on ${signer}'s connection` });
    if (header.kind === 'control') {
      if (header.round !== CONTROL_ROUND.ERROR) throw new WireError('WRONG_KIND', { field: 'header.round', message: 'WRONG_KIND: unexpected control frame after the handshake' });
      // An ERROR is never answered with an ERROR, so two peers cannot loop.
      try {
        openEnvelope(envelope, this.opts.signers.get(signer)!, { expect: { to: COORDINATOR_ID } });
        const body = decodeBody<ErrorBody>('control', CONTROL_ROUND.ERROR, header.suite, envelope.payload);
        this.log.warn('signer reported an error', { signer, session: bytesToHex(header.sessionId), code: body.code, error: body.message });
      } catch (e) {
        this.log.warn('dropped an invalid ERROR frame', { signer, error: (e as Error).message });
      }
      return;
    }
    await this.handlers.frame(signer, envelope);
  }

  private beat(): void {
    for (const c of this.sockets) {
      if (c.missed >= MISSED_PONGS_TO_DROP) {
        this.log.warn('signer missed pongs; dropping', { signer: c.signer, missed: c.missed });
        c.ws.terminate();
        continue;
      }
      if (c.missed > 0) this.log.info('signer slow to answer a ping', { signer: c.signer, missed: c.missed });
      c.missed++;
      c.ws.ping();
    }
  }
}
