/**
 * Frame fuzzing of live processes over the relayed signer-3 link (proxy.ts):
 * - coordinator target: mutated signer-3 frames of every round (and ABORT/ERROR frames
 *   built from them), injected upstream on signer-3's authenticated connection;
 * - handshake target: mutated AUTHs on fresh connections, as an allow-listed identity
 *   no daemon uses (a valid AUTH then disturbs no real link);
 * - signer target: mutated coordinator frames of every round (relayed peer envelopes
 *   inside DELIVER/COMMIT bodies re-signed by their peers), injected downstream to the
 *   real signer-3 daemon.
 * After each input a barrier probe (a frame whose refusal is known, under a fresh
 * session id) proves every answer to the input has arrived; the answers between are the
 * input's: ERROR codes and ABORT reasons are collected, anything else counts as accepted
 * (an accepted START is ended with the coordinator's ABORT, as a relay would).
 */
import WebSocket from 'ws';
import {
  CHECKPOINT_ROUND,
  CONTROL_ROUND,
  COORDINATOR_ID,
  KEY_ROUND,
  POLICY_ROUND,
  PROTOCOL_VERSION,
  RETIRE_ROUND,
  SIGN_ROUND,
  STATE_ROUND,
  decode,
  decodeBody,
  decodeEnvelope,
  encodeBody,
  encodeEnvelope,
  sealEnvelope,
  type Envelope,
  type ErrorBody,
  type IdentityKey,
} from '@keyquorum/protocol';
import { FUZZ_SIGNER, HELLO_SIGNER, type Live } from './harness.ts';
import { mutateFrame, type FuzzInput, type MutationContext } from './mutate.ts';
import { abortCode, judgeFrame, type Verdict } from './oracles.ts';
import type { Direction } from './proxy.ts';
import type { Rand } from './random.ts';

const ABORT_ROUNDS: Record<string, number> = {
  dkg: KEY_ROUND.ABORT, refresh: KEY_ROUND.ABORT, reshare: KEY_ROUND.ABORT, repair: KEY_ROUND.ABORT, sign: SIGN_ROUND.ABORT, retire: RETIRE_ROUND.ABORT,
  state: STATE_ROUND.ABORT, policy: POLICY_ROUND.ABORT, checkpoint: CHECKPOINT_ROUND.ABORT,
};
/** Kinds whose ABORT names no culprits (policy: a rule; checkpoint: the signer's last checkpoint). */
const NO_CULPRITS = new Set(['policy', 'checkpoint']);
const BARRIER_TIMEOUT_MS = 15_000;
const MAX_FRAME_BYTES = 1024 * 1024;

export interface FrameResult {
  target: 'coordinator' | 'signer' | 'handshake';
  input: FuzzInput;
  verdict: Verdict;
}

const seal = (identity: IdentityKey, h: Omit<Envelope['header'], 'v'>, body: unknown): Envelope => sealEnvelope(identity, { v: PROTOCOL_VERSION, ...h }, encodeBody(body));

/** The recorded frames of one direction, with ABORT and ERROR frames of every session kind built beside them. */
function corpusOf(live: Live, dir: Direction): Array<{ bytes: Uint8Array; env: Envelope }> {
  const fromId = dir === 'up' ? FUZZ_SIGNER : COORDINATOR_ID;
  const identity = dir === 'up' ? live.identities.get(FUZZ_SIGNER)! : live.coordinatorIdentity;
  const to = dir === 'up' ? COORDINATOR_ID : FUZZ_SIGNER;
  const out: Array<{ bytes: Uint8Array; env: Envelope }> = [];
  const built = new Set<string>();
  for (const f of live.proxy.recorded) {
    if (f.dir !== dir) continue;
    const env = decodeEnvelope(f.bytes, { maxBytes: 64 * MAX_FRAME_BYTES });
    // The signer side's handshake frames are fuzzed on fresh connections (handshakeInput).
    if (dir === 'up' && env.header.kind === 'control') continue;
    out.push({ bytes: f.bytes, env });
    const { kind, suite, sessionId } = env.header;
    if (kind === 'control' || built.has(`${kind}/${suite}`)) continue;
    built.add(`${kind}/${suite}`);
    const abort = seal(identity, { kind, suite, sessionId, round: ABORT_ROUNDS[kind]!, from: fromId, to }, NO_CULPRITS.has(kind) ? { reason: 'TIMEOUT: fuzz' } : { reason: 'TIMEOUT: fuzz', culprits: ['signer-1'] });
    const error = seal(identity, { kind: 'control', suite: 'none', sessionId, round: CONTROL_ROUND.ERROR, from: fromId, to }, { code: 'BAD_FIELD', message: 'fuzz' });
    for (const e of [abort, error]) out.push({ bytes: encodeEnvelope(e), env: e });
  }
  return out;
}

/**
 * A frame never answered by design: an ABORT or a control ERROR (answering either could
 * loop), or a FROST nonce-pool POOL or OFFER (docs/cluster-protocol.md "Nonce pool"): a
 * top-up request is answered with OFFERs only while the signer's pool has room, and an
 * OFFER the coordinator keeps is answered by nothing (one it refuses draws an ERROR).
 */
function silentByDesign(input: FuzzInput): boolean {
  const frame = input.frames[0];
  if (typeof frame === 'string') return false;
  try {
    const { kind, round, suite } = decodeEnvelope(frame!, { maxBytes: MAX_FRAME_BYTES }).header;
    if (kind === 'sign' && (round === SIGN_ROUND.POOL || round === SIGN_ROUND.OFFER) && suite !== 'ecdsa-secp256k1') return true;
    return (kind === 'control' && round === CONTROL_ROUND.ERROR) || round === ABORT_ROUNDS[kind];
  } catch {
    return false;
  }
}

export class FrameFuzzer {
  private readonly up: Array<{ bytes: Uint8Array; env: Envelope }>;
  private readonly down: Array<{ bytes: Uint8Array; env: Envelope }>;
  private readonly ctx: MutationContext;

  constructor(
    private readonly live: Live,
    private readonly rand: Rand,
    private readonly known: ReadonlySet<string>,
  ) {
    this.up = corpusOf(live, 'up');
    this.down = corpusOf(live, 'down');
    const identities = new Map(live.identities);
    identities.set(COORDINATOR_ID, live.coordinatorIdentity);
    this.ctx = { rand, identities, corpus: [...this.up, ...this.down].map((f) => f.env), maxFrameBytes: MAX_FRAME_BYTES };
  }

  /** Origins (kind/suite/round) available to mutate, per direction. */
  origins(): { up: string[]; down: string[] } {
    const o = (xs: typeof this.up) => [...new Set(xs.map((f) => `${f.env.header.kind}/${f.env.header.suite}/${f.env.header.round}`))].sort();
    return { up: o(this.up), down: o(this.down) };
  }

  /** One input against `target`. */
  async one(target: FrameResult['target']): Promise<FrameResult> {
    if (target === 'handshake') return this.handshake();
    const dir: Direction = target === 'coordinator' ? 'up' : 'down';
    const pool = dir === 'up' ? this.up : this.down;
    const base = this.rand.pick(pool);
    const input = mutateFrame(base.bytes, base.env, this.ctx);
    return { target, input, verdict: await this.send(dir, input) };
  }

  private async waitLinked(): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (!this.live.proxy.linked) {
      if (Date.now() > deadline) throw new Error(`${FUZZ_SIGNER} did not relink through the relay`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** The barrier: a frame the receiver refuses with a known ERROR under `marker`. */
  private probe(dir: Direction, marker: Uint8Array): Uint8Array {
    if (dir === 'up') {
      return encodeEnvelope(seal(this.live.identities.get(FUZZ_SIGNER)!, { kind: 'control', suite: 'none', sessionId: marker, round: CONTROL_ROUND.CHALLENGE, from: FUZZ_SIGNER, to: COORDINATOR_ID }, { nonce: marker }));
    }
    return encodeEnvelope(seal(this.live.coordinatorIdentity, { kind: 'control', suite: 'none', sessionId: marker, round: CONTROL_ROUND.CHALLENGE, from: COORDINATOR_ID, to: FUZZ_SIGNER }, { nonce: marker }));
  }

  private async send(dir: Direction, input: FuzzInput): Promise<Verdict> {
    const proxy = this.live.proxy;
    const answers: Direction = dir === 'up' ? 'down' : 'up';
    await this.waitLinked();
    proxy.muted = { up: true, down: true };
    const mark = proxy.captured.length;
    for (const f of input.frames) proxy.inject(dir, f);
    const marker = this.rand.bytes(32);
    proxy.inject(dir, this.probe(dir, marker));
    const isMarker = (f: { dir: Direction; bytes: Uint8Array }) => {
      if (f.dir !== answers) return false;
      try {
        const e = decodeEnvelope(f.bytes, { maxBytes: 64 * MAX_FRAME_BYTES });
        return e.header.kind === 'control' && Buffer.from(e.header.sessionId).equals(Buffer.from(marker));
      } catch {
        return false;
      }
    };
    const at = await proxy.waitCaptured(mark, isMarker, BARRIER_TIMEOUT_MS);
    const codes: string[] = [];
    let other = 0;
    for (const f of proxy.captured.slice(mark, at ?? proxy.captured.length)) {
      if (f.dir !== answers) continue;
      const got = this.answerOf(f.bytes);
      if (got.code !== undefined) codes.push(got.code);
      else other++;
      if (got.accepted !== undefined && dir === 'down') this.endSession(got.accepted);
    }
    proxy.captured.length = 0;
    return judgeFrame(this.known, codes, other, at !== undefined, silentByDesign(input));
  }

  /** An answer's refusal code (ERROR or ABORT), or the envelope it accepted with. */
  private answerOf(bytes: Uint8Array): { code?: string; accepted?: Envelope } {
    let e: Envelope;
    try {
      e = decodeEnvelope(bytes, { maxBytes: 64 * MAX_FRAME_BYTES });
    } catch {
      return { code: 'UNDECODABLE_ANSWER' };
    }
    const { kind, round, suite } = e.header;
    if (kind === 'control' && round === CONTROL_ROUND.ERROR) return { code: decodeBody<ErrorBody>('control', round, suite, e.payload).code };
    if (kind !== 'control' && round === ABORT_ROUNDS[kind]) return { code: abortCode(String((decode(e.payload) as { reason?: unknown }).reason)) };
    return { accepted: e };
  }

  /** Ends a session the signer accepted from a fuzz input, as a coordinator would (ABORT). */
  private endSession(e: Envelope): void {
    const { kind, suite, sessionId } = e.header;
    if (ABORT_ROUNDS[kind] === undefined) return;
    const abort = seal(this.live.coordinatorIdentity, { kind, suite, sessionId, round: ABORT_ROUNDS[kind], from: COORDINATOR_ID, to: FUZZ_SIGNER }, { reason: 'fuzz input accepted; ended' });
    this.live.proxy.inject('down', encodeEnvelope(abort));
  }

  /** A mutated AUTH on a fresh connection to the coordinator, built for that connection's CHALLENGE. */
  private async handshake(): Promise<FrameResult> {
    const identity = this.live.identities.get(HELLO_SIGNER)!;
    const ws = new WebSocket(this.live.cluster.signerUrl, { maxPayload: 64 * MAX_FRAME_BYTES });
    const frames: Envelope[] = [];
    let closed = false;
    let wake = () => {};
    ws.on('message', (d: Buffer) => {
      try {
        frames.push(decodeEnvelope(new Uint8Array(d), { maxBytes: MAX_FRAME_BYTES }));
      } catch {
        frames.push(undefined as unknown as Envelope);
      }
      wake();
    });
    ws.on('close', () => {
      closed = true;
      wake();
    });
    ws.on('error', () => {});
    const until = async (test: () => boolean) => {
      const deadline = Date.now() + BARRIER_TIMEOUT_MS;
      while (!test() && Date.now() < deadline) await new Promise<void>((r) => ((wake = r), setTimeout(r, 100)));
      return test();
    };
    await until(() => frames.length > 0 || closed);
    const challenge = frames[0]!;
    const nonce = this.rand.bytes(32);
    const auth = seal(identity, { kind: 'control', suite: 'none', sessionId: challenge.header.sessionId, round: CONTROL_ROUND.AUTH, from: HELLO_SIGNER, to: COORDINATOR_ID }, { nonce, coordinatorNonce: challenge.header.sessionId, publicKey: identity.publicKey });
    const input = mutateFrame(encodeEnvelope(auth), auth, this.ctx);
    for (const f of input.frames) ws.send(f, { binary: typeof f !== 'string' });
    const answered = await until(() => frames.length > 1 || closed);
    const replies = frames.slice(1);
    const codes = replies.filter((e) => e?.header.round === CONTROL_ROUND.ERROR).map((e) => decodeBody<ErrorBody>('control', CONTROL_ROUND.ERROR, 'none', e.payload).code);
    const welcomed = replies.some((e) => e?.header.round === CONTROL_ROUND.WELCOME);
    ws.terminate();
    return { target: 'handshake', input, verdict: judgeFrame(this.known, codes, welcomed ? 1 : 0, answered, false) };
  }
}
