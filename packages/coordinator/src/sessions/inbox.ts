/**
 * One running session's mailbox. The engine routes each authenticated, signature-
 * checked envelope of the session here (runtime.ts keeps the routing table); the session declares the round it waits
 * for (`expect`), and `wait` resolves once every expected sender has delivered, or
 * rejects with a session fault (errors.ts `sessionFault`) naming who failed: a timeout, a dropped
 * connection, a signer's ABORT (with the culprits it names), or a message that is
 * signed but invalid (its sender is the culprit).
 */
import { bytesToHex } from '@noble/hashes/utils.js';
import type { Envelope } from '@keyquorum/protocol';
import { CoordinatorError, sessionFault } from '../errors.ts';

interface Stage {
  round: number;
  from: Set<string>;
  /** How many envelopes each sender owes. */
  count: (sender: string) => number;
  validate: (envelope: Envelope, prior: readonly Envelope[]) => void;
  got: Map<string, Envelope[]>;
}

/** A session kind's round numbers by name: KEY_ROUND, SIGN_ROUND, ECDSA_SIGN_ROUND, RETIRE_ROUND. */
export type RoundTable = Readonly<Record<string, number>>;

export interface WaitOptions {
  timeoutMs: number;
  /** Senders that must complete; default all expected senders. Others may time out or drop. */
  min?: number;
}

export class Inbox {
  readonly kind: string;
  readonly suite: string;
  readonly rounds: RoundTable;
  readonly participants: ReadonlySet<string>;
  /** Hex session ids routed here (the proposal id, then the derived id). */
  readonly ids = new Set<string>();
  private stage: Stage | undefined;
  private fault: CoordinatorError | undefined;
  private readonly lost = new Set<string>();
  private wake: (() => void) | undefined;

  constructor(kind: string, suite: string, rounds: RoundTable, participants: readonly string[], proposalId: Uint8Array) {
    this.kind = kind;
    this.suite = suite;
    this.rounds = rounds;
    this.participants = new Set(participants);
    this.ids.add(bytesToHex(proposalId));
  }

  /** Declares the next round: `perSender` envelopes of `round` from each of `from` (a number, or one per sender). */
  expect(round: number, from: readonly string[], validate: Stage['validate'], perSender: number | ((sender: string) => number) = 1): void {
    const count = typeof perSender === 'number' ? () => perSender : perSender;
    this.stage = { round, from: new Set(from), count, validate, got: new Map() };
  }

  /**
   * Offers an envelope whose signature and session were checked. Returns false when
   * no stage waits for its round (the caller answers with an ERROR); throws what
   * `validate` throws after faulting the session with the sender as culprit.
   */
  offer(envelope: Envelope): boolean {
    const s = this.stage;
    const sender = envelope.header.from;
    if (s === undefined || envelope.header.round !== s.round || !s.from.has(sender)) return false;
    const prior = s.got.get(sender) ?? [];
    if (prior.length >= s.count(sender)) return false;
    try {
      s.validate(envelope, prior);
    } catch (e) {
      this.fail(sessionFault('invalid', [sender], [sender], `${sender} sent an invalid ${this.kind} round-${s.round} message: ${(e as Error).message}`));
      throw e;
    }
    s.got.set(sender, [...prior, envelope]);
    this.wake?.();
    return true;
  }

  /** The round `expect` declared last. */
  get round(): number | undefined {
    return this.stage?.round;
  }

  /** The declared round's name for metrics, e.g. KEY_ROUND.R1 -> 'r1', SIGN_ROUND.SHARE -> 'share'. */
  get roundName(): string {
    const round = this.round;
    const name = Object.entries(this.rounds).find(([, n]) => n === round)?.[0];
    return name === undefined ? String(round) : name.toLowerCase();
  }

  /** Fails the session with `fault` (a session fault); the first one wins. */
  fail(fault: CoordinatorError): void {
    this.fault ??= fault;
    this.wake?.();
  }

  signerLost(signer: string): void {
    if (!this.participants.has(signer)) return;
    this.lost.add(signer);
    this.wake?.();
  }

  /** Waits for the declared round; returns each complete sender's envelopes. */
  wait(opts: WaitOptions): Promise<Map<string, Envelope[]>> {
    const s = this.stage;
    if (s === undefined) return Promise.reject(new CoordinatorError('INTERNAL', { message: 'no stage declared' }));
    const min = opts.min ?? s.from.size;
    const complete = () => [...s.from].filter((id) => (s.got.get(id)?.length ?? 0) >= s.count(id));
    const missing = () => [...s.from].filter((id) => (s.got.get(id)?.length ?? 0) < s.count(id));
    const result = () => new Map(complete().map((id) => [id, s.got.get(id)!]));
    return new Promise((resolve, reject) => {
      const done = (outcome: () => void) => {
        clearTimeout(timer);
        this.wake = undefined;
        outcome();
      };
      const check = () => {
        if (this.fault !== undefined) return done(() => reject(this.fault));
        const ok = complete().length;
        if (ok === s.from.size) return done(() => resolve(result()));
        const dropped = missing().filter((id) => this.lost.has(id));
        const waiting = missing().length - dropped.length;
        if (waiting === 0 && ok >= min) return done(() => resolve(result()));
        if (ok + waiting < min) {
          return done(() => reject(sessionFault('disconnect', dropped, [], `${dropped.join(',')} disconnected during ${this.kind} round ${s.round}`)));
        }
      };
      const timer = setTimeout(() => {
        if (complete().length >= min) return done(() => resolve(result()));
        const late = missing();
        done(() => reject(sessionFault('timeout', late, [], `${late.join(',')} did not answer ${this.kind} round ${s.round} in ${opts.timeoutMs} ms`)));
      }, opts.timeoutMs);
      this.wake = check;
      check();
    });
  }
}
