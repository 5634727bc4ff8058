/**
 * The signer's one connection: it dials out to the coordinator (the operator opens
 * no inbound port) and runs the handshake of docs/cluster-protocol.md "Connection":
 * CHALLENGE {Cn} (signed by the pinned coordinator key) -> AUTH {Sn, Cn, publicKey}
 * -> WELCOME {Sn}. Every frame is capped then decoded (`decodeEnvelope`), must come
 * from the coordinator, be addressed to this signer or '*', and carry the pinned
 * coordinator key's signature; anything else is answered with a control ERROR. A
 * coordinator that signs with another key is refused and the socket closed. The
 * link pings the coordinator and drops the socket after `MISSED_PONGS_TO_DROP`
 * consecutive unanswered pings (a pong or any frame resets the count: a busy
 * coordinator is slow, not gone), and reconnects with jittered exponential backoff.
 *
 * Several coordinators (docs/ha.md §2): the link dials `urls` in turn, one per attempt,
 * and stays with the one whose handshake completes. A follower closes with
 * CLOSE_NOT_LEADER and the leader's URL as reason: the next attempt dials that URL
 * when it is one of `urls`, never another. WELCOME's `leaderToken` must not be below
 * the highest this signer accepted (`acceptLeaderToken`, durable, recorded before the
 * link is used), else the socket is closed and the link dials on.
 */
import WebSocket from 'ws';
import {
  CLOSE_NOT_LEADER,
  CONTROL_ROUND,
  COORDINATOR_ID,
  WireError,
  decodeBody,
  decodeEnvelope,
  encodeEnvelope,
  openEnvelope,
  type AuthBody,
  type ChallengeBody,
  type Envelope,
  type ErrorBody,
  type IdentityKey,
  type Rng,
  type Startable,
  type WelcomeBody,
} from '@keyquorum/protocol';
import type { Logger } from '@keyquorum/protocol/logger';
import { equalBytes } from '@noble/curves/utils.js';
import { HANDSHAKE_TIMEOUT_MS, MISSED_PONGS_TO_DROP, PING_INTERVAL_MS, RECONNECT_MAX_MS, RECONNECT_MIN_MS, WS_PAYLOAD_FACTOR } from './constants.ts';
import { controlEnvelope, errorEnvelope } from './control.ts';

export interface LinkTiming {
  reconnectMinMs: number;
  reconnectMaxMs: number;
  pingIntervalMs: number;
  handshakeTimeoutMs: number;
}

export const DEFAULT_LINK_TIMING: LinkTiming = {
  reconnectMinMs: RECONNECT_MIN_MS,
  reconnectMaxMs: RECONNECT_MAX_MS,
  pingIntervalMs: PING_INTERVAL_MS,
  handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
};

export interface LinkOptions {
  /** The coordinators, in dialling order (at least one). */
  urls: readonly string[];
  signerId: string;
  identity: IdentityKey;
  coordinatorKey: Uint8Array;
  maxFrameBytes: number;
  log: Logger;
  rng: Rng;
  timing: LinkTiming;
  /** An authenticated session frame (any kind but control). */
  onFrame(envelope: Envelope): void;
  /** False refuses the coordinator (below the highest accepted leader token); true records it (keystore). */
  acceptLeaderToken(token: number): boolean;
  onUp(): void;
  onDown(): void;
  /** Counts frames for /metrics. */
  count(event: 'framesIn' | 'framesOut' | 'errorsOut' | 'connects'): void;
  /**
   * Runs `send` once the keystore writes made so far are committed (the daemon's group commit), so that a
   * refusal of the link's own leaves after the session frames produced before it: frames leave in order.
   */
  afterWrites?(send: () => void): void;
}

type Phase = 'challenge' | 'welcome' | 'ready';

/** The coordinator link as a lifecycle part: dials from `start()`, closes and stops redialling on `stop()`. */
export class CoordinatorLink implements Startable {
  readonly #o: LinkOptions;
  #ws: WebSocket | undefined;
  #phase: Phase = 'challenge';
  #signerNonce: Uint8Array | undefined;
  #attempt = 0;
  /** Index in `urls` of the socket's (or the next dial's) coordinator. */
  #at = 0;
  #stopping = false;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #pingTimer: NodeJS.Timeout | undefined;
  #handshakeTimer: NodeJS.Timeout | undefined;

  constructor(opts: LinkOptions) {
    this.#o = opts;
  }

  /** Authenticated and ready for session traffic. */
  get connected(): boolean {
    return this.#phase === 'ready' && this.#ws?.readyState === WebSocket.OPEN;
  }

  /** The coordinator URL of the authenticated link; undefined while not connected. */
  get url(): string | undefined {
    return this.connected ? this.#o.urls[this.#at] : undefined;
  }

  start(): void {
    this.#stopping = false;
    this.#dial();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#reconnectTimer);
    const ws = this.#ws;
    if (ws === undefined || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      const force = setTimeout(() => ws.terminate(), 1000);
      force.unref();
      ws.close(1001, 'signer stopping');
    });
  }

  /** Sends one envelope; dropped (and logged) when the link is down. */
  send(envelope: Envelope): void {
    const ws = this.#ws;
    if (ws === undefined || ws.readyState !== WebSocket.OPEN) {
      this.#o.log.warn('frame dropped: not connected', { kind: envelope.header.kind, round: envelope.header.round });
      return;
    }
    ws.send(encodeEnvelope(envelope));
    this.#o.count('framesOut');
  }

  #dial(): void {
    const { maxFrameBytes, timing, log } = this.#o;
    const url = this.#o.urls[this.#at]!;
    const ws = new WebSocket(url, { maxPayload: maxFrameBytes * WS_PAYLOAD_FACTOR, perMessageDeflate: false, handshakeTimeout: timing.handshakeTimeoutMs });
    this.#ws = ws;
    this.#phase = 'challenge';
    this.#signerNonce = undefined;
    /** Pings sent since the last pong or frame. */
    let missed = 0;
    ws.on('open', () => {
      log.debug('socket open', { url });
      this.#handshakeTimer = setTimeout(() => {
        log.warn('handshake timed out', { url });
        ws.terminate();
      }, timing.handshakeTimeoutMs);
      this.#pingTimer = setInterval(() => {
        if (missed >= MISSED_PONGS_TO_DROP) {
          log.warn('coordinator missed pongs; reconnecting', { url, missed });
          ws.terminate();
          return;
        }
        missed++;
        ws.ping();
      }, timing.pingIntervalMs);
    });
    ws.on('pong', () => (missed = 0));
    ws.on('message', (data, isBinary) => {
      missed = 0;
      this.#onMessage(ws, data, isBinary);
    });
    ws.on('error', (err) => log.warn('coordinator connection error', { url, error: err.message, attempt: this.#attempt }));
    ws.on('close', (code, reason) => {
      clearInterval(this.#pingTimer);
      clearTimeout(this.#handshakeTimer);
      const wasReady = this.#phase === 'ready';
      this.#phase = 'challenge';
      if (this.#ws === ws) this.#ws = undefined;
      if (wasReady) {
        log.warn('disconnected', { url, code });
        this.#o.onDown();
      }
      this.#at = this.#nextIndex(url, code, reason.toString('utf8'));
      if (!this.#stopping) this.#scheduleReconnect();
    });
  }

  /**
   * Where to dial after `url` closed: the leader a follower named (CLOSE_NOT_LEADER) if it
   * is one of `urls`, else the next of `urls` in turn. A URL outside `urls` is never dialled.
   */
  #nextIndex(url: string, code: number, reason: string): number {
    const { urls, log } = this.#o;
    const next = (this.#at + 1) % urls.length;
    if (code !== CLOSE_NOT_LEADER) return next;
    if (reason === '') {
      log.info('coordinator is not the leader and knows none', { url });
      return next;
    }
    let leader = -1;
    try {
      leader = urls.indexOf(new URL(reason).toString());
    } catch {
      // not a URL: not followed
    }
    if (leader < 0) {
      log.warn('coordinator named a leader outside coordinatorUrls; not followed', { url, leader: reason.slice(0, 200) });
      return next;
    }
    log.info('coordinator is not the leader; dialling the leader it named', { url, leader: urls[leader] });
    return leader;
  }

  #scheduleReconnect(): void {
    const { reconnectMinMs, reconnectMaxMs } = this.#o.timing;
    const ceiling = Math.min(reconnectMaxMs, reconnectMinMs * 2 ** Math.min(this.#attempt, 30));
    const delay = Math.floor(Math.random() * ceiling);
    this.#attempt++;
    this.#reconnectTimer = setTimeout(() => this.#dial(), delay);
  }

  #sendRaw(ws: WebSocket, envelope: Envelope): void {
    if (ws.readyState !== WebSocket.OPEN) return;
    ws.send(encodeEnvelope(envelope));
    this.#o.count('framesOut');
  }

  #refuse(ws: WebSocket, sessionId: Uint8Array | undefined, code: string, message: string): void {
    this.#o.log.warn('frame refused', { code, reason: message });
    this.#o.count('errorsOut');
    const error = errorEnvelope(this.#o.identity, this.#o.signerId, sessionId, code, message);
    if (this.#phase === 'ready' && this.#o.afterWrites !== undefined) this.#o.afterWrites(() => this.#sendRaw(ws, error));
    else this.#sendRaw(ws, error);
  }

  #onMessage(ws: WebSocket, data: WebSocket.RawData, isBinary: boolean): void {
    this.#o.count('framesIn');
    if (!isBinary) return this.#refuse(ws, undefined, 'MALFORMED', 'text frames are not accepted');
    const frame = Array.isArray(data) ? Buffer.concat(data) : new Uint8Array(data as ArrayBuffer | Buffer);
    let env: Envelope;
    try {
      env = decodeEnvelope(frame, { maxBytes: this.#o.maxFrameBytes });
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      return this.#refuse(ws, undefined, e.code, e.message);
    }
    const sid = env.header.sessionId;
    if (env.header.from !== COORDINATOR_ID) return this.#refuse(ws, sid, 'BAD_ENVELOPE', 'frames must come from the coordinator');
    try {
      openEnvelope(env, this.#o.coordinatorKey, { expect: { to: this.#o.signerId } });
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      if (e.code === 'BAD_SIGNATURE' && this.#phase !== 'ready') {
        this.#o.log.error('coordinator refused: its signature does not match the pinned coordinatorPublicKey', { url: this.#o.urls[this.#at] });
        ws.terminate();
        return;
      }
      return this.#refuse(ws, sid, e.code, e.message);
    }
    if (env.header.kind === 'control') return this.#onControl(ws, env);
    if (this.#phase !== 'ready') return this.#refuse(ws, sid, 'HANDSHAKE_FAILED', 'not authenticated yet');
    try {
      this.#o.onFrame(env);
    } catch (e) {
      this.#o.log.error('frame handler failed', { kind: env.header.kind, error: e instanceof Error ? e.message : String(e) });
      this.#refuse(ws, sid, 'INTERNAL', 'internal error');
    }
  }

  #onControl(ws: WebSocket, env: Envelope): void {
    const { round, sessionId } = env.header;
    let body: unknown;
    try {
      body = decodeBody('control', round, env.header.suite, env.payload, { maxBytes: this.#o.maxFrameBytes });
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      return this.#refuse(ws, sessionId, e.code, e.message);
    }
    if (round === CONTROL_ROUND.ERROR) {
      const { code, message } = body as ErrorBody;
      this.#o.log.warn('coordinator reported an error', { code, reason: message });
      return;
    }
    if (round === CONTROL_ROUND.CHALLENGE && this.#phase === 'challenge') {
      const { nonce } = body as ChallengeBody;
      if (!equalBytes(nonce, sessionId)) return this.#refuse(ws, sessionId, 'HANDSHAKE_FAILED', 'challenge nonce differs from its session id');
      this.#signerNonce = this.#o.rng(32);
      const auth: AuthBody = { nonce: this.#signerNonce, coordinatorNonce: nonce, publicKey: this.#o.identity.publicKey };
      this.#sendRaw(ws, controlEnvelope(this.#o.identity, this.#o.signerId, nonce, CONTROL_ROUND.AUTH, auth));
      this.#phase = 'welcome';
      return;
    }
    if (round === CONTROL_ROUND.WELCOME && this.#phase === 'welcome') {
      const { signerNonce, leaderToken } = body as WelcomeBody;
      const url = this.#o.urls[this.#at];
      if (!equalBytes(signerNonce, this.#signerNonce!) || !equalBytes(sessionId, this.#signerNonce!)) {
        this.#o.log.error('coordinator refused: WELCOME does not answer our nonce', { url });
        ws.terminate();
        return;
      }
      if (!this.#acceptToken(leaderToken)) {
        this.#o.log.error('coordinator refused: its leaderToken is below the highest this signer accepted (a deposed leader)', { url, leaderToken });
        ws.terminate();
        return;
      }
      clearTimeout(this.#handshakeTimer);
      this.#phase = 'ready';
      this.#attempt = 0;
      this.#o.count('connects');
      this.#o.onUp();
      return;
    }
    this.#refuse(ws, sessionId, 'WRONG_ROUND', `control round ${round} is not expected now`);
  }

  /** `acceptLeaderToken`, a failure of which (keystore closed) refuses the coordinator. */
  #acceptToken(token: number): boolean {
    try {
      return this.#o.acceptLeaderToken(token);
    } catch (e) {
      this.#o.log.error('leader token not recorded', { error: e instanceof Error ? e.message : String(e) });
      return false;
    }
  }
}
