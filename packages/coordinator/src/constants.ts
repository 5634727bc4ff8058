/**
 * Coordinator defaults and limits, in one place (the js-libp2p `constants.ts` habit).
 * `CoordinatorOptions` (config.ts) falls back to these; the JSON config file names
 * the same fields.
 */

/** `listen` when a config gives none: loopback only. */
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 7400;
/** The WebSocket upgrade path signers dial; everything else on the port is HTTP. */
export const SIGNER_PATH = '/signer';

/** How long the coordinator waits for every expected message of one protocol round. */
export const DEFAULT_ROUND_TIMEOUT_MS = 5000;
/** How often the coordinator looks for keys due for a scheduled refresh (refresh-schedule.ts). */
export const DEFAULT_REFRESH_CHECK_MS = 30_000;
/** Backoff of a key's scheduled refresh after a failure or missing signers: doubles from the first to the last. */
export const SCHEDULED_REFRESH_BACKOFF_MS = { first: 60_000, max: 3600_000 } as const;
/** WebSocket ping interval. */
export const DEFAULT_HEARTBEAT_MS = 10_000;
/**
 * A signer is dropped when this many consecutive pings went unanswered, not one: a
 * signer busy for a few seconds (a heavy crypto round, a loaded host) is slow, not gone,
 * and dropping it mid-session fails the session (issue 10, finding 6). Any frame or
 * pong from the signer resets the count.
 */
export const MISSED_PONGS_TO_DROP = 3;
/** Largest WebSocket frame decoded (the wire layer's 1 MiB cap). */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;
/** Largest HTTP request body read (a 64 KiB message in hex plus the request). */
export const DEFAULT_MAX_BODY_BYTES = 256 * 1024;
/**
 * A request refused with its body unread (413, or 401/403 from its headers) is answered
 * with `connection: close`, and the rest of its body is read and discarded, at most
 * this many bytes for at most `REFUSED_BODY_DRAIN_MS`, before the socket closes: closed
 * with bytes unread, it would be reset and a client still uploading could lose the
 * answer (RFC 9112 §9.6).
 */
export const REFUSED_BODY_DRAIN_BYTES = 4 * 1024 * 1024;
export const REFUSED_BODY_DRAIN_MS = 5_000;
/** Client request freshness window (|now - timestamp|) and replay window. */
export const DEFAULT_MAX_SKEW_MS = 60_000;

/**
 * Open TCP connections on the port (HTTP clients and signers' WebSockets together);
 * above it node:http drops new connections at once (`server.maxConnections`).
 */
export const DEFAULT_MAX_CONNECTIONS = 256;
/** Time a client has to send a request's headers (node's default is 60 s): slow-loris headers. */
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
/** Time a client has to send a whole request, body included (node's default is 300 s). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** An idle keep-alive connection is closed after this long. */
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 5_000;

/** Audit rows verified between two yields to the event loop (registry/audit.ts). */
export const AUDIT_VERIFY_CHUNK_ROWS = 200;

/** Environment variable holding the passphrase that unseals the identity. */
export const DEFAULT_PASSPHRASE_ENV = 'KEYQUORUM_COORDINATOR_PASSPHRASE';

/**
 * At most this many sign attempts (quorums) per client request; a request tries each
 * t-subset of the key's signers at most once, so keys with C(n, t) <= 10 (2-of-3: 3,
 * 3-of-5: 10) search every quorum and an honest one is always reached
 * (sessions/quorum-choice.ts). Signers accept one request for the same number of sign
 * STARTs (signer constants.ts MAX_ATTEMPTS_PER_REQUEST; docs/cluster-protocol.md "Signing").
 */
export const MAX_SIGN_ATTEMPTS = 10;

/**
 * Nonce pool (sessions/nonce-pool.ts): FROST commitments kept per (signer, key, epoch)
 * at most (a signer's own pool is at most 64: signer config `noncePool`), and the count
 * under which the coordinator asks a signer to top its pool up (POOL).
 */
export const MAX_POOLED_PER_KEY = 64;
export const POOL_LOW_WATER = 8;
/**
 * Presignature pool (ecdsa-secp256k1, sessions/ecdsa-presign.ts): presignatures the
 * coordinator makes per (key, quorum) in the background after a signing with that
 * quorum, and the count under which it makes more (a signer keeps at most its `noncePool`, default 16, per key).
 */
export const PRESIGN_TARGET = 4;
export const PRESIGN_LOW_WATER = 2;

/** Files in the data directory. */
export const IDENTITY_FILE = 'identity.sealed';
export const REGISTRY_FILE = 'registry.db';
export const SECRET_FILE_MODE = 0o600;
export const DATA_DIR_MODE = 0o700;

/** scrypt (RFC 7914) cost for a newly sealed identity: N = 2^17 (OWASP), r = 8, p = 1 (~128 MiB); the file records its N. */
export const SCRYPT_N_DEFAULT = 2 ** 17;
/** Lowest accepted N: for tests only (`init --scrypt-n`), production keeps the default. */
export const SCRYPT_N_MIN = 2 ** 4;
export const SCRYPT_N_MAX = 2 ** 20;

/** `header.suite` of connection-control frames. */
export const CONTROL_SUITE = 'none';

/**
 * Finished long operations (`?wait=false`) remembered in memory for GET
 * /v1/operations/:id, most recent first; running ones are always kept (operations.ts).
 */
export const OPERATION_HISTORY = 1000;

/**
 * ecdsa-secp256k1 key sessions (dkg, refresh) wait this many round timeouts per round:
 * their rounds make and check pairwise base OTs (hundreds of curve operations per peer).
 */
export const ECDSA_KEY_ROUND_TIMEOUT_FACTOR = 4;

/**
 * Audit checkpoints (sessions/checkpoints.ts): a signer is asked to cosign the log once
 * this many rows were appended since its last cosigned checkpoint, and at least every
 * DEFAULT_CHECKPOINT_INTERVAL_MS while new rows exist; each signer refuses operations
 * after its MAX_UNCHECKPOINTED (512) STARTs without one, far above this.
 */
export const CHECKPOINT_EVERY = 32;
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 10_000;
/** How often the coordinator looks at the log's head for CHECKPOINT_EVERY. */
export const CHECKPOINT_POLL_MS = 500;
/** A signer whose last checkpoint is this old is asked again even without new rows (it resets its operation count). */
export const CHECKPOINT_REFRESH_MS = 60_000;

/** The leader lease of coordinators sharing one PostgreSQL database (docs/ha.md), renewed every third of it. */
export const DEFAULT_LEASE_MS = 5_000;

/** Exit status of a coordinator that lost the leader lease (crash-only: its supervisor restarts it as a follower); EX_TEMPFAIL. */
export const EXIT_DEPOSED = 75;
