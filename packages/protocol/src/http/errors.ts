/**
 * The error codes of the HTTP API and the status each is answered with, in one
 * table: the coordinator maps its errors to statuses with it, the client types the
 * codes it may receive with it, and the OpenAPI document lists them from it. An
 * error answer is `{ error: { code, message, field?, culprits?, rule?, txCode? } }`.
 */
import { POLICY_RULES } from '../policy.ts';
import { TX_ERROR_CODES } from '../tx/types.ts';
import { array, object, oneOf, string } from './schema.ts';

/** Every code the API answers with, its HTTP status and what it means. */
export const API_ERRORS = {
  /** Malformed input: JSON, types, lengths, paths, parameters. */
  BAD_REQUEST: 400,
  /** The request signature, freshness or nonce (replay) check failed. */
  UNAUTHENTICATED: 401,
  /** The client key is not trusted for the operation, or the request authorises something else. */
  UNAUTHORISED: 403,
  /** The key's policy refuses the use (docs/governance.md); the error's `rule` names the rule. */
  POLICY_DENIED: 403,
  /** sign-tx: the chain module refuses the transaction (docs/transactions.md); `txCode` is its TxError code, `field` where. */
  BAD_TX: 400,
  /** No key with that id. */
  UNKNOWN_KEY: 404,
  /** No such route, operation or ban. */
  NOT_FOUND: 404,
  /** The route exists but not with that method. */
  METHOD_NOT_ALLOWED: 405,
  /** A request body above the cap. */
  PAYLOAD_TOO_LARGE: 413,
  /** A key with that id already exists. */
  KEY_EXISTS: 409,
  /** The key's lifecycle state does not allow the operation. */
  WRONG_STATE: 409,
  /** The key's usage state (suspended, deactivated, compromised, destroy-scheduled, destroyed) refuses the operation or transition; the message names the state. */
  WRONG_KEY_STATE: 409,
  /** The operation waited for approvals past its approval deadline. */
  OPERATION_EXPIRED: 409,
  /** Another lifecycle session of the key is running. */
  BUSY: 409,
  /** Fewer usable (connected, allow-listed, not excluded) signers than the operation needs. */
  NOT_ENOUGH_SIGNERS: 503,
  /** The coordinator is not started, or is stopping. */
  NOT_STARTED: 503,
  /** This coordinator does not (or no longer) hold the leader lease of a highly available deployment (docs/ha.md): a write is refused rather than landing beside the leader's. */
  NOT_LEADER: 503,
  /** No coordinator of a highly available deployment holds the leader lease right now (docs/ha.md): retry shortly. */
  NO_LEADER: 503,
  /** Signers did not answer a round in time. */
  TIMEOUT: 500,
  /** A protocol session failed (a signer aborted, or a message failed a check). */
  SESSION_FAILED: 500,
  /** An unexpected failure (logged; details are not returned to callers). */
  INTERNAL: 500,
} as const;

export type ApiErrorCode = keyof typeof API_ERRORS;
export const API_ERROR_CODES = Object.keys(API_ERRORS) as ApiErrorCode[];

export function isApiErrorCode(code: string): code is ApiErrorCode {
  return Object.hasOwn(API_ERRORS, code);
}

/** The HTTP status of an error code; 500 for a code the API does not name (a failure of its own). */
export function httpStatusOf(code: string): number {
  return isApiErrorCode(code) ? API_ERRORS[code] : 500;
}

/** What the documented error answers of each status add to their codes' names. */
const STATUS_DETAIL: Readonly<Record<number, string>> = {
  400: 'malformed JSON, wrong types, unknown fields; BAD_TX: a transaction its chain module refuses (`txCode`, `field`)',
  401: 'missing or bad request signature, stale timestamp, replayed nonce',
  403: "client key not trusted, or its roles do not allow this, or the key's policy refuses it (`rule` names the rule)",
};

/** 'KEY_EXISTS, WRONG_STATE or BUSY', then the detail: the OpenAPI description of an error status. */
export function errorStatusDescription(status: number): string {
  const codes = API_ERROR_CODES.filter((c) => API_ERRORS[c] === status);
  const names = codes.length === 1 ? codes[0]! : `${codes.slice(0, -1).join(', ')} or ${codes.at(-1)!}`;
  const detail = STATUS_DETAIL[status];
  return detail === undefined ? names : `${names}: ${detail}`;
}

/**
 * The error object of an error answer, and of a failed operation. `code` is one of
 * `API_ERROR_CODES`, typed and documented as a string so that a code added later
 * does not break a client.
 */
export const apiError = (description?: string) =>
  object(
    {
      code: string(),
      message: string(),
      field: string(),
      culprits: array(string()),
      rule: oneOf(POLICY_RULES, { description: 'POLICY_DENIED only: the policy rule that refused' }),
      txCode: oneOf(TX_ERROR_CODES, { description: 'BAD_TX only: why the chain module refused the transaction (docs/transactions.md)' }),
    },
    { optional: ['field', 'culprits', 'rule', 'txCode'], ...(description === undefined ? {} : { description }) },
  );
