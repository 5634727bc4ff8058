/**
 * An in-process signer that speaks docs/cluster-protocol.md from the signer side,
 * with in-memory shares: enough to drive the coordinator's engine end to end in
 * tests (the real daemon lives in @keyquorum/signer). It checks what an honest
 * signer checks (pinned keys, sessions, client requests, digests) and can be told
 * to misbehave: send an invalid signature share, stay silent while signing, refuse
 * to approve a retirement, activate a commit without acknowledging it (as if the
 * ACK were lost), or send one kind of frame under a forged signature (`Forgery`); a
 * re-sent COMMIT of an epoch it already activated is ACKed again. A policy START
 * (docs/governance.md) is checked (request, digest, next version) and ACKed; the
 * signer's own policy enforcement is the real signer's (packages/signer), not this
 * fixture's: `policyDeny` only makes it answer a sign as a refusing signer would, and
 * a scheduled refresh START (`scheduled: true`) is run without judging whether it is
 * due (counted in `scheduledRefreshStarts`).
 */
import { equalBytes } from '@noble/curves/utils.js';
import { bytesToHex, randomBytes } from '@noble/hashes/utils.js';
import WebSocket from 'ws';
import {
  commit,
  dkgRound1,
  dkgRound2,
  dkgRound3,
  refreshRound1,
  refreshRound2,
  refreshRound3,
  signShare,
  type DkgRound1Secret,
  type DkgRound2Secret,
  type KeyShare,
  type RefreshRound1Secret,
  type RefreshRound2Secret,
  type SigningNonces,
  type SuiteId,
} from '@keyquorum/crypto';
import {
  CHECKPOINT_ROUND,
  CHECKPOINT_SUITE,
  checkExtension,
  signCheckpoint,
  type AuditPosition,
  type CheckpointStartBody,
  CONTROL_ROUND,
  COORDINATOR_ID,
  KEY_ROUND,
  PROTOCOL_VERSION,
  RETIRE_ROUND,
  SIGN_ROUND,
  createKeyDigest,
  decodeBody,
  decodeEnvelope,
  decryptFrom,
  deriveSessionId,
  encodeBody,
  encodeEnvelope,
  encryptTo,
  openEnvelope,
  refreshDigest,
  retireDigest,
  clientRequestId,
  keyStateOf,
  POLICY_ROUND,
  policyDigest,
  policyFromText,
  policyRequestDigest,
  type PolicyRule,
  type PolicyStartBody,
  sealEnvelope,
  signDigest,
  signTxDigest,
  loadedChain,
  toWirePublicKey,
  verifyClientRequest,
  type ClientRequest,
  type ConfirmBody,
  type DeliverBody,
  type DkgStartBody,
  type Envelope,
  type ErrorBody,
  type IdentityKey,
  type ParticipantRef,
  type RefreshStartBody,
  type RetireStartBody,
  type SignCommitmentBody,
  type SignStartBody,
  type TrustedClient,
} from '@keyquorum/protocol';

export interface FakeSignerOptions {
  id: string;
  identity: IdentityKey;
  coordinatorKey: Uint8Array;
  /** Every signer's public key, this one included. */
  peers: Record<string, Uint8Array>;
  clients: TrustedClient[];
  url: string;
  /** Answer audit checkpoints (honestly); otherwise leave them unanswered. */
  cosign?: boolean;
  misbehave?: {
    badShare?: boolean; silentSign?: boolean; refuseRetire?: boolean; dropAck?: boolean; forge?: Forgery; checkpointSignedBy?: IdentityKey;
    /** Refuse every sign START as a signer's policy would: ABORT 'POLICY_DENIED (<rule>): ...'. */
    policyDeny?: PolicyRule;
    /** Refuse every sign START with an ABORT that accuses nobody. */
    refuseSign?: boolean;
    /** Answer a sign START with a commitment that is not a point (the coordinator's own check fails it). */
    badCommitment?: boolean;
    /** Called when a SIGN (round 2) arrives, before the share is computed and sent. */
    onSign?: () => void;
    /** Refuse every policy START (ABORT naming rule 'version'). */
    refusePolicy?: boolean;
  };
}

/**
 * A frame of `kind` and `round` sent with a signature that is not this signer's: its
 * bits flipped ('corrupt'), all zero ('blank': no signature at all, in the fixed-length
 * field), or made with another identity (`key`, e.g. another pinned signer's) over the
 * same header, which still names this signer as its sender. The body stays honest.
 */
export interface Forgery {
  kind: string;
  round: number;
  how: 'corrupt' | 'blank' | 'other';
  key?: IdentityKey;
}

function forge(e: Envelope, f: Forgery): Envelope {
  if (f.how === 'other') return sealEnvelope(f.key!, e.header, e.payload, e.enc === undefined ? {} : { enc: e.enc });
  const sig = f.how === 'blank' ? new Uint8Array(e.sig.length) : e.sig.slice();
  if (f.how === 'corrupt') sig[0]! ^= 1;
  return { ...e, sig };
}

interface KeySessionState {
  kind: 'dkg' | 'refresh';
  suite: string;
  keyId: string;
  participants: ParticipantRef[];
  threshold: number;
  epoch: number;
  request: Pick<ClientRequest, 'digest'>;
  proposal: Uint8Array;
  contribution: Uint8Array;
  sessionId?: Uint8Array;
  r1?: DkgRound1Secret | RefreshRound1Secret;
  r2?: DkgRound2Secret | RefreshRound2Secret;
  pending?: KeyShare;
}

interface StoredKey {
  suite: string;
  epoch: number;
  participants: ParticipantRef[];
  share: KeyShare;
}

export class FakeSigner {
  readonly id: string;
  readonly keys = new Map<string, StoredKey>();
  readonly retired = new Set<string>();
  readonly errors: ErrorBody[] = [];
  /** Key id -> the policy version this signer ACKed, and how many policy STARTs it received. */
  readonly policies = new Map<string, number>();
  policyStarts = 0;
  /** Sign STARTs received (a refusal before any signer is contacted leaves it unchanged). */
  signStarts = 0;
  /** Sign STARTs with `tx` it accepted: the chain, the input and the client's request. */
  readonly txStarts: { chain: string; input: number; request: ClientRequest }[] = [];
  /** The last audit checkpoint this signer cosigned (honestly: only extensions of the previous one; the first on trust). */
  lastCheckpoint: AuditPosition | undefined;
  /** Reshare and repair STARTs received (this fixture does not run them), with the policy each hands over. */
  readonly handoverStarts: { kind: string; keyId: string; policy?: string }[] = [];
  /** Refresh STARTs with `scheduled: true` received. */
  scheduledRefreshStarts = 0;
  /**
   * Nonce pool (docs/cluster-protocol.md "Nonce pool"): commitments this signer keeps
   * made ahead per key when the coordinator asks (0: it answers no POOL, as before the
   * pool). `forgetPool` refuses every POOLED as a restarted signer would (NONCE_UNKNOWN).
   */
  poolSize = 0;
  forgetPool = false;
  /** POOLED signs this signer answered with a SHARE. */
  pooledSigns = 0;
  private readonly pooled = new Map<string, { nonces: SigningNonces; keyId: string; epoch: number }>();
  misbehave: NonNullable<FakeSignerOptions['misbehave']>;
  /** How far this signer's clock runs ahead of the test's (a signer back after a long absence). */
  clockOffsetMs = 0;
  private readonly o: FakeSignerOptions;
  private readonly sessions = new Map<string, KeySessionState>();
  private readonly nonces = new Map<string, { nonces: SigningNonces; start: SignStartBody }>();
  private ws: WebSocket | undefined;
  private signerNonce = new Uint8Array(32);

  constructor(o: FakeSignerOptions) {
    this.o = o;
    this.id = o.id;
    this.misbehave = o.misbehave ?? {};
  }

  /** Connects and resolves once WELCOME arrives. */
  connect(): Promise<void> {
    const ws = new WebSocket(this.o.url);
    this.ws = ws;
    return new Promise((resolve, reject) => {
      ws.on('message', (data: Buffer) => {
        try {
          const welcomed = this.onFrame(decodeEnvelope(new Uint8Array(data)));
          if (welcomed) resolve();
        } catch (e) {
          reject(e);
        }
      });
      ws.on('error', reject);
      ws.on('close', () => reject(new Error('closed before WELCOME')));
    });
  }

  async close(): Promise<void> {
    const ws = this.ws;
    if (ws === undefined || ws.readyState === ws.CLOSED) return;
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      ws.close();
    });
  }

  private send(kind: string, suite: string, sessionId: Uint8Array, round: number, to: string, body: unknown): void {
    const header = { v: PROTOCOL_VERSION, kind, suite, sessionId, round, from: this.id, to } as const;
    const sealed = sealEnvelope(this.o.identity, header, encodeBody(body));
    const f = this.misbehave.forge;
    this.ws!.send(encodeEnvelope(f !== undefined && f.kind === kind && f.round === round ? forge(sealed, f) : sealed));
  }

  private peer(id: string): Uint8Array {
    const key = this.o.peers[id];
    if (key === undefined) throw new Error(`unpinned peer ${id}`);
    return key;
  }

  /**
   * A START with `tx` as an honest signer reads it (docs/transactions.md section 4): the
   * transaction parsed here (its chain module already loaded by the test), the START's
   * message and path exactly its target, and the request digest `signTxDigest` of it.
   */
  private txDigest(b: SignStartBody, share: KeyShare): Uint8Array {
    const tx = b.tx!;
    const module = loadedChain(tx.chain);
    if (module === undefined) throw new Error(`the ${tx.chain} module is not loaded`);
    const path = tx.chain === 'bitcoin' ? undefined : b.path;
    const parsed = module.parse(tx.data, share.publicKey, { ...(path === undefined ? {} : { path }), ...(tx.network === undefined ? {} : { network: tx.network }) });
    const target = parsed.targets.find((t) => t.input === tx.input);
    if (target === undefined || !equalBytes(target.message, b.message) || (target.path === 'm' ? undefined : target.path) !== b.path) throw new Error("BAD_DIGEST: the START does not match the transaction's target");
    return signTxDigest({ keyId: b.keyId, epoch: b.epoch, chain: tx.chain, data: tx.data, ...(path === undefined ? {} : { path }), ...(tx.network === undefined ? {} : { network: tx.network }) });
  }

  private checkRequest(request: ClientRequest, digest: Uint8Array): void {
    // No replay window here: the coordinator's sign retries reuse one request (the daemon caps them).
    verifyClientRequest(request, { trusted: this.o.clients, now: Date.now() + this.clockOffsetMs, replay: { checkAndRemember: () => true } });
    if (!equalBytes(request.digest, digest)) throw new Error('request digest mismatch');
  }

  /** Opens relayed peer envelopes of one round; returns them keyed by sender. */
  private openPeers(envelopes: Envelope[], sessionId: Uint8Array, kind: string, round: number): Map<string, Envelope> {
    const out = new Map<string, Envelope>();
    const to = round === KEY_ROUND.R2 ? this.id : undefined;
    for (const e of envelopes) out.set(e.header.from, openEnvelope(e, this.peer(e.header.from), { expect: { sessionId, kind, ...(to === undefined ? {} : { to }) } }));
    for (const e of out.values()) if (e.header.round !== round) throw new Error('wrong round');
    return out;
  }

  /** Returns true on WELCOME. */
  private onFrame(raw: Envelope): boolean {
    const e = openEnvelope(raw, this.o.coordinatorKey, { expect: { to: this.id } });
    const { kind, round, suite, sessionId } = e.header;
    if (kind === 'control') {
      if (round === CONTROL_ROUND.CHALLENGE) {
        const { nonce } = decodeBody<{ nonce: Uint8Array }>(kind, round, suite, e.payload);
        this.signerNonce = randomBytes(32);
        this.send('control', 'none', nonce, CONTROL_ROUND.AUTH, COORDINATOR_ID, { nonce: this.signerNonce, coordinatorNonce: nonce, publicKey: this.o.identity.publicKey });
        return false;
      }
      if (round === CONTROL_ROUND.WELCOME) {
        const { signerNonce } = decodeBody<{ signerNonce: Uint8Array }>(kind, round, suite, e.payload);
        if (!equalBytes(signerNonce, this.signerNonce) || !equalBytes(sessionId, this.signerNonce)) throw new Error('bad WELCOME');
        return true;
      }
      this.errors.push(decodeBody<ErrorBody>(kind, round, suite, e.payload));
      return false;
    }
    try {
      this.dispatch(e);
    } catch (err) {
      this.send(kind, suite, sessionId, KEY_ROUND.ABORT, COORDINATOR_ID, { reason: (err as Error).message.slice(0, 200) });
    }
    return false;
  }

  private dispatch(e: Envelope): void {
    const { kind, round, suite, sessionId } = e.header;
    const body = decodeBody<Record<string, unknown>>(kind, round, suite, e.payload);
    const hex = bytesToHex(sessionId);
    if (kind === 'dkg' || kind === 'refresh') return this.keySession(kind, round, suite, sessionId, hex, body);
    if (kind === 'sign') return this.signSession(round, suite, sessionId, hex, body);
    if (kind === 'retire') return this.retireSession(round, suite, sessionId, body);
    if (kind === 'policy' && round === POLICY_ROUND.START) return this.policySession(suite, sessionId, body as unknown as PolicyStartBody);
    if (kind === 'checkpoint' && this.o.cosign === true) return this.checkpoint(sessionId, body as unknown as CheckpointStartBody);
    if ((kind === 'reshare' || kind === 'repair') && round === KEY_ROUND.START) {
      const b = body as { keyId: string; policy?: string };
      this.handoverStarts.push({ kind, keyId: b.keyId, ...(b.policy === undefined ? {} : { policy: b.policy }) });
    }
  }

  /** Cosigns an audit checkpoint as an honest signer does (signer sessions/checkpoint.ts), without a keystore. */
  private checkpoint(sessionId: Uint8Array, b: CheckpointStartBody): void {
    const last = this.lastCheckpoint;
    const seen = last === undefined ? undefined : b.from.seq === last.seq ? b.from.hash : b.from.seq < last.seq && b.to.seq >= last.seq ? b.rows[last.seq - b.from.seq - 1]!.hash : null;
    if (checkExtension(b) !== undefined || (last !== undefined && seen !== last.hash)) {
      const reason = checkExtension(b) !== undefined ? 'BAD_CHECKPOINT' : seen === null ? 'STALE_CHECKPOINT' : 'AUDIT_INCONSISTENT';
      this.send('checkpoint', CHECKPOINT_SUITE, sessionId, CHECKPOINT_ROUND.ABORT, COORDINATOR_ID, { reason, ...(last === undefined ? {} : { last }) });
      return;
    }
    this.lastCheckpoint = { ...b.to };
    const signer = this.o.misbehave?.checkpointSignedBy ?? this.o.identity;
    this.send('checkpoint', CHECKPOINT_SUITE, sessionId, CHECKPOINT_ROUND.ACK, COORDINATOR_ID, { seq: b.to.seq, hash: b.to.hash, sig: signCheckpoint(signer, this.id, b.to.seq, b.to.hash) });
  }

  private keySession(kind: 'dkg' | 'refresh', round: number, suite: string, sessionId: Uint8Array, hex: string, body: Record<string, unknown>): void {
    if (round === KEY_ROUND.START) {
      const b = body as unknown as DkgStartBody & RefreshStartBody;
      const stored = this.keys.get(b.keyId);
      if (kind === 'dkg') this.checkRequest(b.request, createKeyDigest({ keyId: b.keyId, suite, threshold: b.threshold, signers: b.participants.map((p) => p.signer) }));
      else {
        if (b.scheduled === true) this.scheduledRefreshStarts += 1;
        else this.checkRequest(b.request!, refreshDigest({ keyId: b.keyId }));
        if (stored === undefined || stored.epoch !== b.epoch) throw new Error('refresh of an unknown key or epoch');
      }
      const s: KeySessionState = {
        kind,
        suite,
        keyId: b.keyId,
        participants: b.participants,
        threshold: kind === 'dkg' ? b.threshold : stored!.share.publicKey.threshold,
        epoch: kind === 'dkg' ? 0 : b.epoch + 1,
        request: b.request ?? { digest: refreshDigest({ keyId: b.keyId }) },
        proposal: sessionId,
        contribution: randomBytes(32),
      };
      this.sessions.set(hex, s);
      this.send(kind, suite, sessionId, KEY_ROUND.CONTRIBUTION, COORDINATOR_ID, { contribution: s.contribution });
      return;
    }
    const s = this.sessions.get(hex);
    if (s === undefined && round === KEY_ROUND.COMMIT) return this.reacknowledge(kind, suite, sessionId, body as unknown as DeliverBody);
    if (s === undefined) throw new Error('unknown session');
    const ids = s.participants.map((p) => p.signer);
    const indexOf = (id: string) => s.participants.find((p) => p.signer === id)!.index;
    const me = indexOf(this.id);
    const envelopes = (body as unknown as DeliverBody).envelopes;
    if (round === KEY_ROUND.CONTRIBUTIONS) {
      const got = this.openPeers(envelopes, s.proposal, kind, KEY_ROUND.CONTRIBUTION);
      const contributions: Record<string, Uint8Array> = {};
      for (const [id, env] of got) contributions[id] = decodeBody<{ contribution: Uint8Array }>(kind, KEY_ROUND.CONTRIBUTION, suite, env.payload).contribution;
      if (!equalBytes(contributions[this.id]!, s.contribution)) throw new Error('own contribution changed');
      const held = kind === 'dkg' ? undefined : this.keys.get(s.keyId)!;
      const keyState = held === undefined ? null : keyStateOf(held.epoch, toWirePublicKey(held.share.publicKey));
      s.sessionId = deriveSessionId({ kind, suite, keyId: s.keyId, participants: ids, contributions, requestDigest: s.request.digest, keyState });
      this.sessions.set(bytesToHex(s.sessionId), s);
      if (kind === 'dkg') {
        const r = dkgRound1({ suite: suite as SuiteId, sessionId: s.sessionId, self: me, participants: s.participants.map((p) => p.index).sort((a, b) => a - b), threshold: s.threshold });
        s.r1 = r.secret;
        this.send(kind, suite, s.sessionId, KEY_ROUND.R1, '*', { commitment: r.package.commitment, proofOfKnowledge: r.package.proofOfKnowledge, chainCodeContribution: r.package.chainCodeContribution });
      } else {
        const r = refreshRound1({ sessionId: s.sessionId, keyShare: this.keys.get(s.keyId)!.share });
        s.r1 = r.secret;
        this.send(kind, suite, s.sessionId, KEY_ROUND.R1, '*', { commitment: r.package.commitment });
      }
      return;
    }
    const sid = s.sessionId!;
    if (round === KEY_ROUND.R1_DELIVER) {
      const got = this.openPeers(envelopes, sid, kind, KEY_ROUND.R1);
      const packages = [...got].filter(([id]) => id !== this.id).map(([id, env]) => ({ from: indexOf(id), ...decodeBody<Record<string, never>>(kind, KEY_ROUND.R1, suite, env.payload) }));
      const r = kind === 'dkg' ? dkgRound2(s.r1 as DkgRound1Secret, packages as never) : refreshRound2(s.r1 as RefreshRound1Secret, packages as never);
      s.r2 = r.secret;
      for (const p of r.packages) {
        const to = s.participants.find((x) => x.index === p.to)!.signer;
        const header = { v: PROTOCOL_VERSION, kind, suite, sessionId: sid, round: KEY_ROUND.R2, from: this.id, to } as const;
        const { payload, enc } = encryptTo(this.o.identity, this.peer(to), header, encodeBody({ signingShare: p.signingShare }));
        this.ws!.send(encodeEnvelope(sealEnvelope(this.o.identity, header, payload, { enc })));
      }
      return;
    }
    if (round === KEY_ROUND.R2_DELIVER) {
      const got = this.openPeers(envelopes, sid, kind, KEY_ROUND.R2);
      const packages = [...got].map(([id, env]) => ({
        from: indexOf(id),
        to: me,
        signingShare: decodeBody<{ signingShare: Uint8Array }>(kind, KEY_ROUND.R2, suite, decryptFrom(this.o.identity, this.peer(id), env)).signingShare,
      }));
      const out = kind === 'dkg' ? dkgRound3(s.r2 as DkgRound2Secret, packages) : refreshRound3(s.r2 as RefreshRound2Secret, packages);
      s.pending = out.keyShare;
      this.send(kind, suite, sid, KEY_ROUND.CONFIRM, COORDINATOR_ID, { keyId: s.keyId, epoch: s.epoch, transcriptHash: out.transcriptHash, publicKey: toWirePublicKey(out.keyShare.publicKey) });
      return;
    }
    if (round === KEY_ROUND.COMMIT) {
      const got = this.openPeers(envelopes, sid, kind, KEY_ROUND.CONFIRM);
      const bodies = [...got.values()].map((env) => decodeBody<ConfirmBody>(kind, KEY_ROUND.CONFIRM, suite, env.payload));
      if (got.size !== ids.length || bodies.some((b) => !equalBytes(b.transcriptHash, bodies[0]!.transcriptHash))) throw new Error('confirmations disagree');
      this.keys.set(s.keyId, { suite, epoch: s.epoch, participants: s.participants, share: s.pending! });
      if (!this.misbehave.dropAck) this.send(kind, suite, sid, KEY_ROUND.ACK, COORDINATOR_ID, { keyId: s.keyId, epoch: s.epoch });
      this.sessions.delete(hex);
      this.sessions.delete(bytesToHex(s.proposal));
      return;
    }
    if (round === KEY_ROUND.ABORT) {
      this.sessions.delete(hex);
      this.sessions.delete(bytesToHex(s.proposal));
    }
  }

  /** A COMMIT re-sent after a reconnect: ACK again if that epoch is already active here. */
  private reacknowledge(kind: string, suite: string, sessionId: Uint8Array, body: DeliverBody): void {
    const first = body.envelopes[0];
    if (first === undefined) throw new Error('empty COMMIT');
    const confirm = decodeBody<ConfirmBody>(kind, KEY_ROUND.CONFIRM, suite, openEnvelope(first, this.peer(first.header.from), { expect: { sessionId } }).payload);
    if (this.keys.get(confirm.keyId)?.epoch !== confirm.epoch) throw new Error('unknown session');
    this.send(kind, suite, sessionId, KEY_ROUND.ACK, COORDINATOR_ID, { keyId: confirm.keyId, epoch: confirm.epoch });
  }

  private policySession(suite: string, sessionId: Uint8Array, b: PolicyStartBody): void {
    this.policyStarts += 1;
    const policy = policyFromText(b.policy);
    this.checkRequest(b.request, policyRequestDigest({ keyId: b.keyId, policy }));
    if (this.misbehave.refusePolicy) {
      this.send('policy', suite, sessionId, POLICY_ROUND.ABORT, COORDINATOR_ID, { reason: `POLICY_DENIED (version): this signer refuses policy v${policy.version}`, rule: 'version' });
      return;
    }
    const held = this.policies.get(b.keyId) ?? 0;
    if (policy.version !== held + 1 && policy.version !== held) throw new Error(`POLICY_DENIED (version): policy version ${policy.version} does not follow ${held}`);
    this.policies.set(b.keyId, policy.version);
    this.send('policy', suite, sessionId, POLICY_ROUND.ACK, COORDINATOR_ID, { keyId: b.keyId, version: policy.version, digest: policyDigest(policy) });
  }

  private signSession(round: number, suite: string, sessionId: Uint8Array, hex: string, body: Record<string, unknown>): void {
    if (round === SIGN_ROUND.POOL) return this.topUp(suite, body as unknown as { keyId: string; epoch: number });
    if (round === SIGN_ROUND.POOLED) return this.signPooled(suite, sessionId, body as unknown as { start: SignStartBody; envelopes: Envelope[] });
    if (round === SIGN_ROUND.START) {
      const b = body as unknown as SignStartBody;
      this.signStarts += 1;
      if (this.misbehave.policyDeny !== undefined) throw new Error(`POLICY_DENIED (${this.misbehave.policyDeny}): this signer's policy refuses the signature`);
      if (this.misbehave.refuseSign === true) throw new Error('this signer refuses to sign');
      const key = this.keys.get(b.keyId);
      if (key === undefined || key.epoch !== b.epoch || this.retired.has(b.keyId)) throw new Error('no active share at that epoch');
      this.checkRequest(b.request, b.tx === undefined ? signDigest(b) : this.txDigest(b, key.share));
      if (b.tx !== undefined) this.txStarts.push({ chain: b.tx.chain, input: b.tx.input, request: b.request });
      if (this.misbehave.silentSign) return;
      const { nonces, commitments } = commit(key.share);
      this.nonces.set(hex, { nonces, start: b });
      const hiding = this.misbehave.badCommitment === true ? new Uint8Array(commitments.hiding.length) : commitments.hiding;
      this.send('sign', suite, sessionId, SIGN_ROUND.COMMITMENT, COORDINATOR_ID, { hiding, binding: commitments.binding });
      return;
    }
    const entry = this.nonces.get(hex);
    if (entry === undefined) throw new Error('unknown sign session');
    this.nonces.delete(hex);
    if (round !== SIGN_ROUND.SIGN) return;
    this.misbehave.onSign?.();
    const key = this.keys.get(entry.start.keyId)!;
    const got = this.openPeers((body as unknown as DeliverBody).envelopes, sessionId, 'sign', SIGN_ROUND.COMMITMENT);
    const commitments = [...got].map(([id, env]) => ({ id: key.participants.find((p) => p.signer === id)!.index, ...decodeBody<SignCommitmentBody>('sign', SIGN_ROUND.COMMITMENT, suite, env.payload) }));
    const target: { path?: string; taproot?: { merkleRoot?: Uint8Array } } = {};
    if (entry.start.path !== undefined) target.path = entry.start.path;
    if (entry.start.taproot !== undefined) target.taproot = entry.start.taproot;
    const out = signShare(key.share, entry.nonces, { message: entry.start.message, commitments }, target);
    const share = this.misbehave.badShare ? new Uint8Array(32).fill(1) : out.share;
    this.send('sign', suite, sessionId, SIGN_ROUND.SHARE, COORDINATOR_ID, { share });
  }

  /** POOL: up to `poolSize` commitments of the key's epoch, each offered under its own nonce id. */
  private topUp(suite: string, b: { keyId: string; epoch: number }): void {
    const key = this.keys.get(b.keyId);
    if (key === undefined || key.epoch !== b.epoch) throw new Error('no active share at that epoch');
    const held = [...this.pooled.values()].filter((p) => p.keyId === b.keyId && p.epoch === b.epoch).length;
    for (let i = held; i < this.poolSize; i++) this.offer(suite, b.keyId, b.epoch);
  }

  /** Sends one OFFER of a fresh commitment for `keyId` at `epoch` (a test may name an epoch the key is not at). */
  offer(suite: string, keyId: string, epoch: number): void {
    const { nonces, commitments } = commit(this.keys.get(keyId)!.share);
    const id = randomBytes(32);
    this.pooled.set(bytesToHex(id), { nonces, keyId, epoch });
    this.send('sign', suite, id, SIGN_ROUND.OFFER, COORDINATOR_ID, { keyId, epoch, hiding: commitments.hiding, binding: commitments.binding });
  }

  /** POOLED: the START's checks, this signer's own pooled commitment (used once), then SHARE. */
  private signPooled(suite: string, sessionId: Uint8Array, b: { start: SignStartBody; envelopes: Envelope[] }): void {
    const start = b.start;
    const key = this.keys.get(start.keyId);
    if (key === undefined || key.epoch !== start.epoch) throw new Error('no active share at that epoch');
    this.checkRequest(start.request, signDigest(start));
    const own = b.envelopes.find((e) => e.header.from === this.id);
    const entry = own && this.pooled.get(bytesToHex(own.header.sessionId));
    if (this.forgetPool || own === undefined || entry === undefined) throw new Error('NONCE_UNKNOWN: not one of this signer\'s pooled commitments');
    this.pooled.delete(bytesToHex(own.header.sessionId));
    const commitments = b.envelopes.map((e) => {
      openEnvelope(e, this.peer(e.header.from), { expect: { kind: 'sign', to: COORDINATOR_ID } });
      const c = decodeBody<SignCommitmentBody>('sign', SIGN_ROUND.OFFER, suite, e.payload);
      return { id: key.participants.find((p) => p.signer === e.header.from)!.index, hiding: c.hiding, binding: c.binding };
    });
    const target: { path?: string; taproot?: { merkleRoot?: Uint8Array } } = {};
    if (start.path !== undefined) target.path = start.path;
    if (start.taproot !== undefined) target.taproot = start.taproot;
    const out = signShare(key.share, entry.nonces, { message: start.message, commitments }, target);
    this.pooledSigns += 1;
    this.send('sign', suite, sessionId, SIGN_ROUND.SHARE, COORDINATOR_ID, { share: out.share });
  }

  private retireSession(round: number, suite: string, sessionId: Uint8Array, body: Record<string, unknown>): void {
    if (round === RETIRE_ROUND.START) {
      const b = body as unknown as RetireStartBody;
      this.checkRequest(b.request, retireDigest({ keyId: b.keyId }));
      if (this.misbehave.refuseRetire) throw new Error('operator refuses retirement');
      this.send('retire', suite, sessionId, RETIRE_ROUND.APPROVE, COORDINATOR_ID, { keyId: b.keyId, epoch: b.epoch, requestId: clientRequestId(b.request) });
      return;
    }
    if (round !== RETIRE_ROUND.COMMIT) return;
    // Like a daemon (issue 10, finding 4): the client's request must still be fresh here.
    const request = (body as unknown as { request: ClientRequest }).request;
    this.checkRequest(request, retireDigest({ keyId: request.keyId }));
    const got = this.openPeers((body as unknown as DeliverBody).envelopes, sessionId, 'retire', RETIRE_ROUND.APPROVE);
    const approvals = [...got.values()].map((env) => decodeBody<{ keyId: string; epoch: number }>('retire', RETIRE_ROUND.APPROVE, suite, env.payload));
    const keyId = approvals[0]!.keyId;
    const key = this.keys.get(keyId)!;
    if (approvals.length < key.share.publicKey.threshold) throw new Error('too few approvals');
    this.retired.add(keyId);
    const verifyingShare = key.share.publicKey.verifyingShares[key.share.id]!;
    this.send('retire', suite, sessionId, RETIRE_ROUND.ATTEST, COORDINATOR_ID, { keyId, epoch: key.epoch, destroyedAt: Date.now(), verifyingShare });
  }
}
