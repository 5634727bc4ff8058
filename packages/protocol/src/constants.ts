/**
 * Defaults, limits and domain-separation labels of the wire layer, in one place
 * (the js-libp2p `constants.ts` habit).
 */

/** The only protocol version this code speaks; carried as `v` in every header. */
export const PROTOCOL_VERSION = 1;

/** Frames longer than this are refused before decoding (1 MiB). */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;
/** Deepest array/object nesting a decoded frame may have. */
export const MAX_NESTING_DEPTH = 32;

/** Envelope kinds: one per lifecycle operation, plus coordinator control traffic. */
export const KINDS = ['dkg', 'sign', 'refresh', 'reshare', 'repair', 'retire', 'state', 'policy', 'checkpoint', 'control'] as const;
/** Kinds that belong to no key and no ciphersuite: their `header.suite` is 'none' and `decodeBody` reads no curve. */
export const SUITELESS_KINDS: readonly string[] = ['control', 'checkpoint'];

/** Node ids (signers and the coordinator). */
export const NODE_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** The `to` of an envelope meant for every participant of the session. */
export const BROADCAST = '*';
/** Ciphersuite ids, e.g. 'frost-secp256k1-tr'. */
export const SUITE_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/;
/** Key ids (same alphabet as the signer keystore). */
export const KEY_ID_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;
/** Names of the parameters hashed by `operationDigest`. */
export const PARAM_NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
/** Lowercase hex, as used for replay-guard keys. */
export const HEX_PATTERN = /^(?:[0-9a-f]{2}){1,64}$/;

/** Highest round number in a header. */
export const MAX_ROUND = 0xffff;
/** Largest participant set a session may have. */
export const MAX_PARTICIPANTS = 255;

export const SESSION_ID_LENGTH = 32;
export const CONTRIBUTION_LENGTH = 32;
export const DIGEST_LENGTH = 32;
export const ED25519_PUBLIC_KEY_LENGTH = 32;
export const ED25519_SECRET_LENGTH = 32;
export const ED25519_SIGNATURE_LENGTH = 64;
export const X25519_KEY_LENGTH = 32;
export const CLIENT_NONCE_LENGTH = 16;

/**
 * WebSocket close code of a coordinator that is not the cluster's leader (docs/ha.md §2):
 * it closes a signer's link at once with this code and, as the reason, the leader's
 * signer-facing URL ('' when it knows no leader). A signer follows that URL only when
 * it is one of its own configured `coordinatorUrls`.
 */
export const CLOSE_NOT_LEADER = 4010;

/** Largest |now - timestamp| a client request may show, and the replay window. */
export const DEFAULT_MAX_SKEW_MS = 60_000;

/** Domain-separation tags, one per hashed or derived structure. */
export const ENVELOPE_TAG = 'keyquorum/envelope/v1';
export const E2E_TAG = 'keyquorum/e2e/v1';
export const SESSION_ID_TAG = 'keyquorum/session-id/v2';
export const KEY_STATE_TAG = 'keyquorum/key-state/v1';
export const CLIENT_REQUEST_ID_TAG = 'keyquorum/client-request-id/v1';
export const CLIENT_REQUEST_TAG = 'keyquorum/client-request/v1';
export const OPERATION_DIGEST_TAG = 'keyquorum/operation/v1';
export const HTTP_REQUEST_TAG = 'keyquorum/http-request/v1';
