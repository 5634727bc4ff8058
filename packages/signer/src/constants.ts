/**
 * Signer daemon defaults and limits, in one place (the js-libp2p `constants.ts`
 * habit). Timings follow docs/cluster-protocol.md "Connection".
 */
import os from 'node:os';
import { DEFAULT_MAX_SKEW_MS } from '@keyquorum/protocol';

/** Environment variable read for the keystore passphrase unless `passphraseEnv` names another. */
export const DEFAULT_PASSPHRASE_ENV = 'KEYQUORUM_PASSPHRASE';
/** A session that makes no progress for this long is dropped (its nonce discarded). */
export const DEFAULT_ROUND_TIMEOUT_MS = 60_000;
/** Bounds of `roundTimeoutMs` and `maxFrameBytes` (the default frame cap is the protocol's 1 MiB). */
export const ROUND_TIMEOUT_RANGE_MS = [10, 86_400_000] as const;
export const MAX_FRAME_BYTES_RANGE = [4096, 16 * 1024 * 1024] as const;
/**
 * The WebSocket layer closes the connection on frames longer than this multiple of
 * `maxFrameBytes`; frames between the two are answered with FRAME_TOO_LARGE.
 */
export const WS_PAYLOAD_FACTOR = 4;
/** Reconnect backoff: 0.1 s doubling to 5 s, with full jitter. */
export const RECONNECT_MIN_MS = 100;
export const RECONNECT_MAX_MS = 5_000;
/** Most coordinators (`coordinatorUrls`) a signer dials in turn (docs/ha.md §2). */
export const MAX_COORDINATOR_URLS = 8;
/** The signer pings the coordinator this often. */
export const PING_INTERVAL_MS = 15_000;
/**
 * The link is dropped after this many consecutive pings went unanswered (not one): a
 * coordinator busy for a few seconds is slow, not gone. Same rule as the coordinator's
 * `MISSED_PONGS_TO_DROP`.
 */
export const MISSED_PONGS_TO_DROP = 3;
/** Bounds of `cryptoWorkers` (0 runs key rounds on the event loop). */
export const CRYPTO_WORKERS_RANGE = [0, 16] as const;
/** FROST nonce commitments kept made ahead per key (config `noncePool`; sessions/nonce-pool.ts), and its bounds. */
export const NONCE_POOL_SIZE = 16;
export const NONCE_POOL_RANGE = [0, 64] as const;
/** Default `cryptoWorkers`: one thread per core beyond the event loop's, at least 1, at most 2. */
export function defaultCryptoWorkers(cores = os.availableParallelism()): number {
  return Math.max(1, Math.min(2, cores - 1));
}
/** A handshake that has not completed in this long is dropped and retried. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Largest clock difference accepted on a client request; also the replay window. */
export const MAX_REQUEST_SKEW_MS = DEFAULT_MAX_SKEW_MS;
/** How often the persistent replay window forgets requests too old to be accepted. */
export const REPLAY_PRUNE_INTERVAL_MS = 60_000;
/**
 * Sign STARTs accepted per client request (docs/cluster-protocol.md "Signing"): the
 * coordinator's MAX_SIGN_ATTEMPTS, since a signer may be in every quorum it tries.
 */
export const MAX_ATTEMPTS_PER_REQUEST = 10;
/** The epoch a key's first (DKG) share is stored at. */
export const DKG_EPOCH = 0;
/** `header.suite` of control frames. */
export const CONTROL_SUITE = 'none';
/** Version of the public record stored beside each sealed share. */
export const SHARE_RECORD_VERSION = 1;
/**
 * Velocity ledger rows are kept at least this long (longer if the key's policy has a
 * longer window), so a velocity rule added by a policy change counts recent signatures.
 */
export const MIN_VELOCITY_RETENTION_MS = 60 * 60_000;
/**
 * Operation STARTs accepted since the last audit checkpoint this signer cosigned
 * (sessions/checkpoint.ts; the coordinator checkpoints every CHECKPOINT_EVERY rows or
 * STARTs, far below this), and the bounds of the `maxUncheckpointed` option.
 */
export const MAX_UNCHECKPOINTED = 512;
export const MAX_UNCHECKPOINTED_RANGE = [1, 1_000_000] as const;
