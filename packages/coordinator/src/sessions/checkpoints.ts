/**
 * Audit checkpoints at the coordinator (docs/cluster-protocol.md "Audit checkpoints";
 * protocol audit-checkpoint.ts; the signer's side is signer sessions/checkpoint.ts).
 * Each connected signer is asked to cosign the log's head: once CHECKPOINT_EVERY rows
 * were appended since its last cosigned checkpoint, at least every
 * `checkpointIntervalMs` while it is behind the head, every CHECKPOINT_REFRESH_MS even
 * without new rows (the signer's count of operations restarts with each checkpoint),
 * and as soon as it connects. One checkpoint is in flight per signer.
 *
 * START carries the rows after the signer's last cosigned checkpoint (or, for a signer
 * without one, after the latest any signer cosigned: it trusts that on first use), at
 * most MAX_CHECKPOINT_ROWS and MAX_CHECKPOINT_ROW_BYTES of them; a signer further
 * behind gets consecutive checkpoints. An ACK is kept (registry audit_checkpoints) once
 * its signature verifies under the signer's pinned key over exactly the head sent. An
 * ABORT naming the signer's own last checkpoint (its keystore may be older than this
 * registry) makes the next START start there. If this log no longer carries the hash
 * the signer cosigned at that seq, the START still covers that row, so the signer sees
 * the change and refuses work (AUDIT_INCONSISTENT): the coordinator never hides it.
 */
import { bytesToHex, randomBytes } from '@noble/hashes/utils.js';
import {
  AUDIT_GENESIS,
  CHECKPOINT_ROUND,
  CHECKPOINT_SUITE,
  COORDINATOR_ID,
  MAX_CHECKPOINT_ROWS,
  MAX_CHECKPOINT_ROW_BYTES,
  PROTOCOL_VERSION,
  WireError,
  checkpointRowBytes,
  decodeBody,
  encodeBody,
  encodeEnvelope,
  openEnvelope,
  sealEnvelope,
  sigHex,
  verifyCheckpoint,
  type AuditPosition,
  type CheckpointAbortBody,
  type CheckpointAckBody,
  type CheckpointStartBody,
  type Envelope,
  type IdentityKey,
} from '@keyquorum/protocol';
import type { ResolvedOptions } from '../config.ts';
import { CHECKPOINT_EVERY, CHECKPOINT_POLL_MS, CHECKPOINT_REFRESH_MS } from '../constants.ts';
import type { CoordinatorMetrics } from '../metrics.ts';
import type { CoordinatorStore } from '../store/types.ts';
import type { SignerLink } from '../server.ts';

interface InFlight {
  sessionId: string;
  from: AuditPosition;
  to: AuditPosition;
  timer: NodeJS.Timeout;
}

const REFUSALS = ['AUDIT_INCONSISTENT', 'STALE_CHECKPOINT', 'BAD_CHECKPOINT'] as const;

export class Checkpointer {
  readonly #inFlight = new Map<string, InFlight>();
  /** Signers whose START is being prepared (the registry reads before it is in flight). */
  readonly #starting = new Set<string>();
  /** Where a signer said its last checkpoint is (ABORT `last`), when this registry does not know it. */
  readonly #resume = new Map<string, AuditPosition>();
  /** No new attempt for a signer before this time (after a refusal or a timeout). */
  readonly #retryAt = new Map<string, number>();
  #poll: NodeJS.Timeout | undefined;

  constructor(
    private readonly opts: ResolvedOptions,
    private readonly identity: IdentityKey,
    private readonly registry: CoordinatorStore,
    private readonly link: SignerLink,
    private readonly metrics: CoordinatorMetrics,
  ) {}

  start(): void {
    this.#poll = setInterval(() => {
      this.#tick().catch((e: unknown) => this.opts.logger.error('audit checkpoint poll failed', { error: e instanceof Error ? e.message : String(e) }));
    }, Math.min(CHECKPOINT_POLL_MS, this.opts.checkpointIntervalMs));
    this.#poll.unref();
  }

  stop(): void {
    clearInterval(this.#poll);
    for (const f of this.#inFlight.values()) clearTimeout(f.timer);
    this.#inFlight.clear();
  }

  /** A signer (re)connected: checkpoint it now. */
  connected(signer: string): void {
    this.#retryAt.delete(signer);
    this.#drop(signer);
    this.#later(signer);
  }

  /** `run` in the background, a failure logged. */
  #later(signer: string): void {
    this.run(signer).catch((e: unknown) => this.opts.logger.error('audit checkpoint failed', { signer, error: e instanceof Error ? e.message : String(e) }));
  }

  lost(signer: string): void {
    this.#drop(signer);
  }

  #drop(signer: string): void {
    clearTimeout(this.#inFlight.get(signer)?.timer);
    this.#inFlight.delete(signer);
  }

  async #tick(): Promise<void> {
    const head = await this.registry.auditHead();
    if (head.seq === 0) return;
    const now = this.opts.now();
    for (const signer of this.link.connectedSigners()) {
      if (this.#inFlight.has(signer) || now < (this.#retryAt.get(signer) ?? 0)) continue;
      const last = await this.registry.lastCheckpoint(signer);
      const behind = head.seq - (last?.seq ?? 0);
      const age = now - (last?.at ?? 0);
      if (behind >= CHECKPOINT_EVERY || (behind > 0 && age >= this.opts.checkpointIntervalMs) || age >= CHECKPOINT_REFRESH_MS) this.#later(signer);
    }
  }

  /** Sends `signer` the next checkpoint START (nothing if one is in flight or the log is empty). */
  async run(signer: string): Promise<void> {
    if (this.#inFlight.has(signer) || this.#starting.has(signer) || !this.link.isConnected(signer)) return;
    this.#starting.add(signer);
    try {
      await this.#start(signer);
    } finally {
      this.#starting.delete(signer);
    }
  }

  async #start(signer: string): Promise<void> {
    const head = await this.registry.auditHead();
    if (head.seq === 0) return;
    const known = this.#resume.get(signer) ?? (await this.registry.lastCheckpoint(signer)) ?? (await this.registry.lastCheckpoint());
    let from: AuditPosition = known === undefined ? { seq: 0, hash: AUDIT_GENESIS } : { seq: known.seq, hash: known.hash };
    if (from.seq > head.seq) {
      this.opts.logger.error('a signer cosigned the audit log past its head here (was the registry rolled back?)', { signer, cosigned: from.seq, head: head.seq });
      this.#retryAt.set(signer, this.opts.now() + this.opts.checkpointIntervalMs);
      return;
    }
    if ((await this.registry.auditHashAt(from.seq)) !== from.hash) {
      // This log changed under a cosigned checkpoint: show the signer that row, never hide it.
      this.opts.logger.error('the audit log no longer carries the hash a signer cosigned', { signer, seq: from.seq });
      from = from.seq === 0 ? { seq: 0, hash: AUDIT_GENESIS } : { seq: from.seq - 1, hash: (await this.registry.auditHashAt(from.seq - 1))! };
    }
    const rows = await this.registry.auditRows(from.seq, MAX_CHECKPOINT_ROWS);
    // The reads above yielded: the signer may have gone, or a START gone out meanwhile.
    if (this.#inFlight.has(signer) || !this.link.isConnected(signer)) return;
    let bytes = 0;
    const fit = rows.findIndex((r) => (bytes += checkpointRowBytes(r)) > MAX_CHECKPOINT_ROW_BYTES);
    if (fit >= 0) rows.length = Math.max(1, fit);
    const to = rows.length === 0 ? from : { seq: rows.at(-1)!.seq, hash: rows.at(-1)!.hash };
    const sessionId = randomBytes(32);
    const body: CheckpointStartBody = { from, rows, to };
    const header = { v: PROTOCOL_VERSION, kind: 'checkpoint', suite: CHECKPOINT_SUITE, sessionId, round: CHECKPOINT_ROUND.START, from: COORDINATOR_ID, to: signer } as const;
    const timer = setTimeout(() => {
      this.#inFlight.delete(signer);
      this.#retryAt.set(signer, this.opts.now() + this.opts.checkpointIntervalMs);
    }, this.opts.roundTimeoutMs);
    timer.unref();
    this.#inFlight.set(signer, { sessionId: bytesToHex(sessionId), from, to, timer });
    if (!this.link.sendFrame(signer, encodeEnvelope(sealEnvelope(this.identity, header, encodeBody(body))))) this.#drop(signer);
  }

  /** A signer's ACK or ABORT of the checkpoint in flight; throws (answered with control/ERROR) if it answers none. */
  async onFrame(signer: string, envelope: Envelope): Promise<void> {
    const h = envelope.header;
    const f = this.#inFlight.get(signer);
    if (f === undefined || f.sessionId !== bytesToHex(h.sessionId)) throw new WireError('WRONG_SESSION', { field: 'header.sessionId', message: 'WRONG_SESSION: no checkpoint of this signer awaits this answer' });
    const pinned = this.opts.signers.get(signer)!;
    openEnvelope(envelope, pinned, { expect: { sessionId: h.sessionId, to: COORDINATOR_ID, kind: 'checkpoint' } });
    if (h.round !== CHECKPOINT_ROUND.ACK && h.round !== CHECKPOINT_ROUND.ABORT) throw new WireError('WRONG_KIND', { field: 'header.round' });
    const body = decodeBody<CheckpointAckBody | CheckpointAbortBody>('checkpoint', h.round, h.suite, envelope.payload);
    this.#drop(signer);
    if (h.round === CHECKPOINT_ROUND.ACK) return await this.#cosigned(signer, pinned, f, body as CheckpointAckBody);
    this.#refused(signer, f, body as CheckpointAbortBody);
  }

  async #cosigned(signer: string, pinned: Uint8Array, f: InFlight, ack: CheckpointAckBody): Promise<void> {
    const checkpoint = { signer, seq: ack.seq, hash: ack.hash, sig: sigHex(ack.sig) };
    if (ack.seq !== f.to.seq || ack.hash !== f.to.hash || !verifyCheckpoint(pinned, checkpoint)) {
      this.metrics.checkpoint('other');
      this.#retryAt.set(signer, this.opts.now() + this.opts.checkpointIntervalMs);
      throw new WireError('BAD_SIGNATURE', { field: 'sig', message: 'BAD_SIGNATURE: the cosignature is not of the checkpoint sent, or does not verify' });
    }
    this.#resume.delete(signer);
    if (ack.seq > 0) await this.registry.addCheckpoint(checkpoint);
    this.metrics.checkpoint('cosigned');
    this.opts.logger.debug('audit checkpoint cosigned', { signer, seq: ack.seq });
    if ((await this.registry.auditHead()).seq - ack.seq >= CHECKPOINT_EVERY) setImmediate(() => this.#later(signer));
  }

  #refused(signer: string, f: InFlight, abort: CheckpointAbortBody): void {
    const code = REFUSALS.find((c) => abort.reason.startsWith(c)) ?? 'other';
    this.metrics.checkpoint(code);
    const level = code === 'AUDIT_INCONSISTENT' ? 'error' : 'warn';
    this.opts.logger[level]('audit checkpoint refused', { signer, reason: abort.reason, signerSeq: abort.last?.seq });
    const moved = abort.last !== undefined && (abort.last.seq !== f.from.seq || abort.last.hash !== f.from.hash);
    if (abort.last !== undefined) this.#resume.set(signer, abort.last);
    if (code === 'STALE_CHECKPOINT' && moved) setImmediate(() => this.#later(signer));
    else this.#retryAt.set(signer, this.opts.now() + this.opts.checkpointIntervalMs);
  }
}
