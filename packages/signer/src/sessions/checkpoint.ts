/**
 * Audit checkpoints at the signer (docs/cluster-protocol.md "Audit checkpoints";
 * protocol audit-checkpoint.ts): this signer cosigns the coordinator's hash-chained
 * audit log, and refuses work against a log it cannot vouch for.
 *
 * A checkpoint START {from, rows, to} is cosigned when the rows chain from `from` to
 * `to` (`checkExtension`) and `from` is the last checkpoint this signer cosigned (or,
 * before its first, whatever `from` says: trust on first use). A START that starts
 * before that checkpoint but whose rows reach past it is cosigned too when its row at
 * that seq carries the cosigned hash. The new (seq, hash) is stored durably, then the
 * ACK carries the signed statement. Otherwise:
 *   - the rows put another hash at the cosigned seq (or `from` names that seq with
 *     another hash): the coordinator's log was rewritten or forked. This is recorded
 *     durably and every operation START is refused AUDIT_INCONSISTENT until a
 *     checkpoint that extends the cosigned one arrives; ABORT carries the cosigned one;
 *   - `from` is elsewhere (this signer is behind or ahead): ABORT STALE_CHECKPOINT with
 *     this signer's last checkpoint, so the coordinator resends from there;
 *   - the rows do not chain: ABORT BAD_CHECKPOINT, nothing recorded.
 *
 * "No audit, no operation": every operation START (sign, dkg, refresh, reshare, repair,
 * retire, state, policy) counts; once `maxUncheckpointed` started since the last cosigned
 * checkpoint, the next is refused AUDIT_CHECKPOINT_REQUIRED. The count is durable in
 * blocks of RESERVE_BLOCK: the keystore holds a reservation raised before the
 * operations it covers start, and a restarted signer resumes from it (an upper bound).
 */
import {
  CHECKPOINT_ROUND,
  CHECKPOINT_SUITE,
  checkExtension,
  signCheckpoint,
  type AuditPosition,
  type CheckpointAbortBody,
  type CheckpointAckBody,
  type CheckpointStartBody,
  type Envelope,
} from '@keyquorum/protocol';
import { SignerError } from '../errors.ts';
import { hex, sendBody, type SessionContext } from './context.ts';

/** Operation STARTs reserved durably at a time. */
export const RESERVE_BLOCK = 16;

/** The session kinds whose START is an operation ("no audit, no operation"). */
export const OPERATION_KINDS: readonly string[] = ['sign', 'dkg', 'refresh', 'reshare', 'repair', 'retire', 'state', 'policy'];

export class AuditGate {
  readonly #ctx: SessionContext;
  readonly #max: number;
  /** Operation STARTs since the last cosigned checkpoint (an upper bound after a restart). */
  #ops: number;
  /** What the keystore holds as reserved: #ops never passes it without a write first. */
  #reserved: number;
  #inconsistent: boolean;

  constructor(ctx: SessionContext, maxUncheckpointed: number) {
    this.#ctx = ctx;
    this.#max = maxUncheckpointed;
    const record = ctx.keystore.auditCheckpoint();
    this.#ops = record.opsReserved;
    this.#reserved = record.opsReserved;
    this.#inconsistent = record.inconsistent !== undefined;
  }

  /** Operation STARTs counted since the last cosigned checkpoint. */
  get operations(): number {
    return this.#ops;
  }

  /** Admits one operation START, or refuses it (AUDIT_INCONSISTENT, AUDIT_CHECKPOINT_REQUIRED). */
  admit(kind: string): void {
    if (this.#inconsistent) {
      throw new SignerError('AUDIT_INCONSISTENT', { message: `the coordinator's audit log does not extend the last checkpoint this signer cosigned: no ${kind} until one that does` });
    }
    if (this.#ops >= this.#max) {
      throw new SignerError('AUDIT_CHECKPOINT_REQUIRED', { message: `${this.#ops} operations since the last audit checkpoint this signer cosigned (at most ${this.#max})` });
    }
    if (this.#ops + 1 > this.#reserved) {
      const reserve = Math.min(this.#max, this.#ops + RESERVE_BLOCK);
      this.#ctx.keystore.recordAudit({ reserve });
      this.#reserved = reserve;
    }
    this.#ops++;
  }

  /** Answers a checkpoint START with ACK or ABORT; never throws. */
  checkpoint(env: Envelope, body: CheckpointStartBody): void {
    const { sessionId } = env.header;
    const header = { kind: 'checkpoint', suite: CHECKPOINT_SUITE, sessionId };
    try {
      const ack = this.#cosign(env, body);
      sendBody(this.#ctx, { ...header, round: CHECKPOINT_ROUND.ACK }, ack);
      this.#ctx.log.info('audit checkpoint cosigned', { seq: ack.seq, hash: ack.hash, sessionId: hex(sessionId) });
    } catch (e) {
      const f = e instanceof SignerError ? e : { code: 'INTERNAL', message: 'internal error' };
      if (!(e instanceof SignerError)) this.#ctx.log.error('audit checkpoint failed', { detail: e instanceof Error ? e.message : String(e) });
      const last = this.#ctx.keystore.auditCheckpoint().last;
      const abort: CheckpointAbortBody = { reason: (f.message.startsWith(f.code) ? f.message : `${f.code}: ${f.message}`).slice(0, 1024) };
      if (last !== undefined) abort.last = { seq: last.seq, hash: last.hash };
      this.#ctx.log[f.code === 'AUDIT_INCONSISTENT' ? 'error' : 'warn']('audit checkpoint refused', { code: f.code, reason: f.message, sessionId: hex(sessionId) });
      sendBody(this.#ctx, { ...header, round: CHECKPOINT_ROUND.ABORT }, abort);
    }
  }

  #cosign(env: Envelope, body: CheckpointStartBody): CheckpointAckBody {
    if (env.header.suite !== CHECKPOINT_SUITE) throw new SignerError('WRONG_SUITE', { field: 'header.suite', message: `checkpoints carry suite '${CHECKPOINT_SUITE}'` });
    const broken = checkExtension(body);
    if (broken !== undefined) throw new SignerError('BAD_CHECKPOINT', { field: 'rows', message: broken });
    const last = this.#ctx.keystore.auditCheckpoint().last;
    if (last !== undefined) this.#extendsLast(body, last);
    const { seq, hash } = body.to;
    const sig = signCheckpoint(this.#ctx.identity, this.#ctx.signerId, seq, hash);
    // Durable before the ACK leaves: a restarted signer knows what it cosigned.
    this.#ctx.keystore.recordAudit({ cosigned: { seq, hash } });
    this.#ops = 0;
    this.#reserved = 0;
    this.#inconsistent = false;
    return { seq, hash, sig };
  }

  /** Returns if `body` extends `last`; records and throws AUDIT_INCONSISTENT if it contradicts it; STALE_CHECKPOINT if it cannot tell. */
  #extendsLast(body: CheckpointStartBody, last: AuditPosition): void {
    const { from, to, rows } = body;
    let seen: string | undefined;
    if (from.seq === last.seq) seen = from.hash;
    else if (from.seq < last.seq && to.seq >= last.seq) seen = rows[last.seq - from.seq - 1]!.hash;
    if (seen === undefined) throw new SignerError('STALE_CHECKPOINT', { field: 'from', message: `this signer's last checkpoint is at ${last.seq}; the START covers ${from.seq}..${to.seq}` });
    if (seen === last.hash) return;
    const reason = `row ${last.seq} has hash ${seen}, not ${last.hash} as cosigned here`;
    this.#ctx.keystore.recordAudit({ inconsistent: reason });
    this.#inconsistent = true;
    throw new SignerError('AUDIT_INCONSISTENT', { field: 'rows', message: reason });
  }
}
