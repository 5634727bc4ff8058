/**
 * The shape every live session executor has, as the router sees it. A session is
 * created by a START frame, advanced by the coordinator's frames of its kind, and
 * closed when it finishes, fails, is aborted, times out, or the link drops.
 */
import type { Envelope } from '@keyquorum/protocol';
import type { SessionKind } from './context.ts';

export type CloseReason = 'done' | 'failed' | 'aborted' | 'timeout' | 'disconnected' | 'stopped';

export interface Session {
  readonly kind: SessionKind;
  readonly suite: string;
  readonly keyId: string;
  /** The id this signer's next message (or its ABORT) carries: the proposal id, then the derived one. */
  readonly currentId: Uint8Array;
  /** Past CONFIRM: the outcome lives in the keystore (pending share) and survives the session. */
  readonly confirmed: boolean;
  /** Hex of every id the coordinator may address this session by. */
  ids(): string[];
  /**
   * Advances on one coordinator frame whose body is already decoded; true when finished.
   * A promise when the round runs off the event loop (`workers/`); the session refuses
   * further rounds until it settles.
   */
  handle(envelope: Envelope, body: unknown): boolean | Promise<boolean>;
  /** Releases what the session holds (a nonce, a pending share on 'aborted'). */
  close(reason: CloseReason): void;
}
