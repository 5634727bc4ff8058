/**
 * The base of every session whose id its participants derive together
 * (docs/cluster-protocol.md "Key sessions", "ecdsa-secp256k1"): key sessions (dkg, refresh, reshare) and
 * ecdsa-secp256k1 signing. START sends this signer's CONTRIBUTION (fresh 32 bytes)
 * under the coordinator's proposal id; CONTRIBUTIONS -> the session id, a hash of every
 * contribution, the client request digest and the key's state in this signer's own
 * keystore (epoch and public package hash), so the coordinator cannot replay an old
 * transcript, and signers holding the key at different epochs derive different ids:
 * the first peer envelope then fails as another session's (BAD_TRANSCRIPT, no culprit,
 * so never a ban) before any secret round is opened; then R1_DELIVER and R2_DELIVER under that id, each accepted once and in
 * order (the phase guard). Past CONFIRM the outcome is a pending share in the
 * keystore, kept until a COMMIT or a participant's VETO (`pending.ts`): a bare ABORT, a
 * timeout or a dropped link leaves it there.
 * A round may run off the event loop (a promise, `workers/`): a frame that arrives
 * before it settles waits its turn (one at a time, in order) and is then checked by the
 * phase guard as usual; once the session is closed nothing more is sent.
 */
import { equalBytes } from '@noble/curves/utils.js';
import { COORDINATOR_ID, WireError, deriveSessionId, sessionContribution, type ContributionBody, type DeliverBody, type Envelope, type SessionKeyState } from '@keyquorum/protocol';
import { SignerError } from '../errors.ts';
import { hex, openRelayed, sendBody, type SessionContext, type SessionKind } from './context.ts';
import type { CloseReason, Session } from './session.ts';

export type Phase = 'contributed' | 'round1' | 'round2' | 'confirmed' | 'done';

/** The round numbers of a contributed session (`KEY_ROUND`, `ECDSA_SIGN_ROUND`). */
export interface ContributedRounds {
  readonly CONTRIBUTION: number;
  readonly CONTRIBUTIONS: number;
  readonly R1_DELIVER: number;
  readonly R2_DELIVER: number;
}

export interface ContributedInit {
  kind: SessionKind;
  suite: string;
  keyId: string;
  proposalId: Uint8Array;
  /** The client request's digest, bound into the session id. */
  requestDigest: Uint8Array;
  /** The key this session starts from, from this signer's own keystore (null for a dkg), bound into the session id. */
  keyState: SessionKeyState | null;
  rounds: ContributedRounds;
}

export abstract class ContributedSession implements Session {
  readonly kind: SessionKind;
  readonly suite: string;
  readonly keyId: string;
  protected readonly ctx: SessionContext;
  protected phase: Phase = 'contributed';
  readonly #init: ContributedInit;
  readonly #ownContribution: Uint8Array;
  #sessionId: Uint8Array | undefined;
  /** A round is running off the event loop. */
  #busy = false;
  /** That round's outcome: a frame arriving meanwhile waits for it (see `handle`). */
  #running: Promise<unknown> | undefined;
  #closed = false;

  protected constructor(ctx: SessionContext, init: ContributedInit) {
    this.ctx = ctx;
    this.#init = init;
    this.kind = init.kind;
    this.suite = init.suite;
    this.keyId = init.keyId;
    const contribution: ContributionBody = { contribution: sessionContribution(ctx.rng) };
    this.#ownContribution = sendBody(ctx, { kind: init.kind, suite: init.suite, sessionId: init.proposalId, round: init.rounds.CONTRIBUTION }, contribution).payload;
  }

  /** Who must (and who may) send a CONTRIBUTION. */
  protected abstract contributors(): { required: readonly string[]; optional?: readonly string[] };
  /** The signers the session id binds, from the contributions received; refuses a set that does not fit. */
  protected abstract quorum(contributions: ReadonlyMap<string, ContributionBody>): string[];
  /** Round 1 under the fresh session id. */
  protected abstract onSessionId(sessionId: Uint8Array): void | Promise<void>;
  /** R1_DELIVER; true when this signer's part is over. */
  protected abstract onRound1(envelopes: Envelope[]): boolean | Promise<boolean>;
  /** R2_DELIVER; true when this signer's part is over. */
  protected abstract onRound2(envelopes: Envelope[]): boolean | Promise<boolean>;
  /** Zeroes what the session holds. */
  protected abstract release(reason: CloseReason): void;

  get currentId(): Uint8Array {
    return this.#sessionId ?? this.#init.proposalId;
  }

  get confirmed(): boolean {
    return this.phase === 'confirmed';
  }

  ids(): string[] {
    return [hex(this.#init.proposalId), ...(this.#sessionId ? [hex(this.#sessionId)] : [])];
  }

  protected get proposalId(): Uint8Array {
    return this.#init.proposalId;
  }

  /** The derived session id (set from CONTRIBUTIONS on). */
  protected get sessionId(): Uint8Array {
    return this.#sessionId!;
  }

  handle(env: Envelope, body: unknown): boolean | Promise<boolean> {
    // The next round may come before this one's worker call settles (a reshare member
    // that deals nothing gets R2_DELIVER as soon as the dealers' R2 are in, possibly while
    // its own R1 checks still run): it waits its turn, then meets the phase checks.
    if (this.#running !== undefined) {
      return this.#running.then(
        () => this.handle(env, body),
        () => {
          throw new SignerError('WRONG_STATUS', { message: `the ${this.kind} session failed before round ${env.header.round} could run` });
        },
      );
    }
    const envelopes = (body as DeliverBody).envelopes;
    const rounds = this.#init.rounds;
    switch (env.header.round) {
      case rounds.CONTRIBUTIONS:
        this.#expect('contributed', env, this.#init.proposalId);
        return this.#then(this.#onContributions(envelopes), () => {
          this.phase = 'round1';
          return false;
        });
      case rounds.R1_DELIVER:
        this.#expect('round1', env, this.#sessionId);
        return this.#then(this.onRound1(envelopes), (done) => {
          this.phase = 'round2';
          return done;
        });
      case rounds.R2_DELIVER:
        this.#expect('round2', env, this.#sessionId);
        return this.#then(this.onRound2(envelopes), (done) => done);
      default:
        throw new SignerError('WRONG_ROUND', { field: 'header.round', message: `${this.kind} does not accept round ${env.header.round} here` });
    }
  }

  /** Past CONFIRM the pending share stays whatever the reason: only a COMMIT or a participant's VETO ends it (`pending.ts`). */
  close(reason: CloseReason): void {
    this.#closed = true;
    this.release(reason);
  }

  /** Past CONFIRM: the share pending at `epoch` is the outcome; it outlives the session. */
  protected confirm(_epoch: number): void {
    this.phase = 'confirmed';
  }

  /**
   * After an awaited round: refuses to go on once the session was closed meanwhile (an
   * ABORT, a timeout or a dropped link), so nothing computed for it is stored or sent.
   */
  protected assertOpen(): void {
    if (this.#closed) throw new SignerError('WRONG_STATUS', { message: `the ${this.kind} session was closed while its round ran` });
  }

  /** Runs `next` after `step`, at once when it is synchronous; while it is pending the session is busy. */
  #then<T>(step: T | Promise<T>, next: (value: T) => boolean): boolean | Promise<boolean> {
    if (!(step instanceof Promise)) return next(step);
    this.#busy = true;
    const running = step.then(
      (value) => {
        this.#busy = false;
        this.#running = undefined;
        this.assertOpen();
        return next(value);
      },
      (e: unknown) => {
        this.#busy = false;
        this.#running = undefined;
        throw e;
      },
    );
    this.#running = running;
    return running;
  }

  #expect(phase: Phase, env: Envelope, id: Uint8Array | undefined): void {
    if (this.#busy) throw new SignerError('WRONG_ROUND', { field: 'header.round', message: `round ${env.header.round} arrived while this session's previous round still runs` });
    if (this.phase !== phase || id === undefined || !equalBytes(env.header.sessionId, id)) {
      throw new SignerError('WRONG_ROUND', { field: 'header.round', message: `round ${env.header.round} is not expected in phase ${this.phase} under this session id` });
    }
  }

  /** CONTRIBUTIONS: every contributor's fresh 32 bytes -> the session id; then round 1. */
  #onContributions(envelopes: Envelope[]): void | Promise<void> {
    const { kind, suite, keyId } = this;
    const bodies = openRelayed<ContributionBody>(this.ctx, envelopes, {
      kind, suite, round: this.#init.rounds.CONTRIBUTION, sessionId: this.#init.proposalId, to: COORDINATOR_ID, ...this.contributors(), own: this.#ownContribution,
    });
    const participants = this.quorum(bodies);
    try {
      this.#sessionId = deriveSessionId({
        kind, suite, keyId, participants,
        contributions: Object.fromEntries([...bodies].map(([s, b]) => [s, b.contribution])),
        requestDigest: this.#init.requestDigest,
        keyState: this.#init.keyState,
      });
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      throw new SignerError('BAD_TRANSCRIPT', { field: 'contributions', message: e.message, cause: e });
    }
    return this.onSessionId(this.#sessionId);
  }
}
