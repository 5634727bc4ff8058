/**
 * The one typed error of the signer package, daemon and keystore alike. `code` says
 * what went wrong and is what the daemon puts in a control ERROR or a session ABORT;
 * `field` names the offending input (a config field, a message field, a keystore
 * argument such as 'keyId' or 'kek.keyFile'); `culprits` names the peer signers whose
 * messages provably failed a check, so the coordinator can exclude them.
 */
import { PolicyDeniedError, type PolicyRule } from '@keyquorum/protocol';

export type SignerErrorCode =
  /** A config field or CLI argument is missing or invalid. */
  | 'BAD_CONFIG'
  /** No passphrase or key file is available to unlock the keystore. */
  | 'NO_PASSPHRASE'
  /** The coordinator's key does not match the pinned one, or the handshake is out of order. */
  | 'HANDSHAKE_FAILED'
  /** A frame belongs to no session this signer runs. */
  | 'UNKNOWN_SESSION'
  /** A frame arrived in a round the session is not waiting for. */
  | 'WRONG_ROUND'
  /** A session's frames changed their suite. */
  | 'WRONG_SUITE'
  /** A session names a signer this one has not pinned, or omits this signer. */
  | 'UNPINNED_PEER'
  /** The session's participant set does not match the key's. */
  | 'BAD_PARTICIPANTS'
  /** The client request does not authorise these parameters. */
  | 'BAD_DIGEST'
  /** The key is not in the state the operation needs (unknown, pending, retired, other epoch). */
  | 'WRONG_KEY_STATE'
  /** The key holds a pending share of a session that may have committed: no new key session until it is resolved. */
  | 'PENDING_UNRESOLVED'
  /** This signer vetoed that key session: it never stores, confirms or activates it. */
  | 'VETOED'
  /** A VETO that does not prove the session cannot commit (not a participant's, another session, ...). */
  | 'BAD_VETO'
  /** A relayed set of envelopes is incomplete, duplicated or inconsistent. */
  | 'BAD_TRANSCRIPT'
  /** A relayed peer envelope's signature does not verify: altered in relay or forged; no culprit. */
  | 'BAD_ENVELOPE'
  /** A participant's message failed a protocol check (see `culprits`). */
  | 'PEER_MISBEHAVED'
  /** This signer's own earlier message was altered or dropped by the relay. */
  | 'OWN_MESSAGE_ALTERED'
  /** The session ran past its round timeout. */
  | 'TIMEOUT'
  /** The daemon is not in a state that allows the call. */
  | 'WRONG_STATUS'
  /** The session's signing nonce is not the one the keystore journalled for it. */
  | 'NONCE_MISMATCH'
  // The keystore's codes (every exported keystore method validates its arguments first).
  /** The keystore is closed; open it again to use it. */
  | 'LOCKED'
  /** The passphrase or key file does not unlock this keystore, or none was given. */
  | 'BAD_PASSPHRASE'
  /** No keystore, key or share with that id. */
  | 'NOT_FOUND'
  /** A keystore, share or nonce with that id already exists. */
  | 'EXISTS'
  /** Stored data fails its integrity check (AEAD tag, SQLite header, missing metadata). */
  | 'CORRUPT'
  /** The keystore was written by a schema version this code does not read. */
  | 'SCHEMA_VERSION'
  /** The key or share is not in a state that allows the operation (retired, pending, stale epoch). */
  | 'WRONG_STATE'
  /** The signing nonce was already consumed; it must never be used twice. */
  | 'NONCE_CONSUMED'
  /** The signing nonce was discarded (after a restart, a refresh or a retirement). */
  | 'NONCE_DISCARDED'
  /** No signing nonce with that id. */
  | 'NONCE_UNKNOWN'
  /** An argument or option has the wrong type, length, range or format. */
  | 'BAD_FIELD'
  /** A repaired share does not match its verifying share in the key's public package (a helper sent a wrong value). */
  | 'SHARE_MISMATCH'
  /** The coordinator's audit log does not extend the last checkpoint this signer cosigned: no operation until one that does. */
  | 'AUDIT_INCONSISTENT'
  /** Too many operations started since this signer's last cosigned audit checkpoint: no audit, no operation. */
  | 'AUDIT_CHECKPOINT_REQUIRED'
  /** A checkpoint START whose rows do not chain from its `from` to its `to`. */
  | 'BAD_CHECKPOINT'
  /** A checkpoint START that does not start at this signer's last cosigned checkpoint (the ABORT names it). */
  | 'STALE_CHECKPOINT'
  /** A crypto worker thread died or failed a call: the session's round is lost (`workers/pool.ts`). */
  | 'WORKER_FAILED'
  /** The key's policy here refuses the use (`rule` names the rule; docs/governance.md). */
  | 'POLICY_DENIED';

export interface SignerErrorOptions {
  field?: string;
  /** Signer ids whose messages failed a check. */
  culprits?: string[];
  message?: string;
  cause?: unknown;
  /** With 'POLICY_DENIED': the rule that refused; the message then starts `POLICY_DENIED (<rule>): `, as PolicyDeniedError's. */
  rule?: PolicyRule;
}

export class SignerError extends Error {
  override readonly name = 'SignerError';
  readonly code: SignerErrorCode;
  readonly field: string | undefined;
  readonly culprits: string[];
  readonly rule: PolicyRule | undefined;

  constructor(code: SignerErrorCode, opts: SignerErrorOptions = {}) {
    const culprits = [...new Set(opts.culprits ?? [])].sort();
    const detail = [opts.field !== undefined ? `field ${opts.field}` : '', culprits.length > 0 ? `culprits ${culprits.join(',')}` : '', opts.message ?? '']
      .filter(Boolean)
      .join('; ');
    const head = opts.rule === undefined ? code : `${code} (${opts.rule})`;
    super(detail ? `${head}: ${detail}` : head, { cause: opts.cause });
    this.code = code;
    this.rule = opts.rule;
    this.field = opts.field;
    this.culprits = culprits;
  }
}

export function isSignerError(e: unknown): e is SignerError {
  return e instanceof SignerError;
}

/** A policy refusal as the signer's error: code 'POLICY_DENIED', the same message (`POLICY_DENIED (<rule>): ...`). */
export function policyDenied(e: PolicyDeniedError): SignerError {
  const prefix = `POLICY_DENIED (${e.rule}): `;
  return new SignerError('POLICY_DENIED', { rule: e.rule, message: e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message, cause: e });
}

/** Runs `check`, turning a PolicyDeniedError into `policyDenied`. */
export function underPolicy<T>(check: () => T): T {
  try {
    return check();
  } catch (e) {
    throw e instanceof PolicyDeniedError ? policyDenied(e) : e;
  }
}
