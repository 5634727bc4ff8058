/**
 * The wire and JSON forms of an approval (approvals.ts says what one proves). An
 * approval travels beside the client request it approves (`ClientRequest.approvals`):
 * it is not covered by the client's signature, but it signs that request's id, so it
 * cannot be moved to another request.
 *
 * - `ed25519`: `sig` is the approver key's RFC 8032 signature of the approval challenge.
 * - `webauthn`: a WebAuthn assertion (W3C WebAuthn Level 3 §7.2) whose challenge is the
 *   approval challenge: the authenticator data, the client data JSON and the ES256
 *   signature, as the browser's `navigator.credentials.get()` returns them.
 */
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { ED25519_SIGNATURE_LENGTH } from './constants.ts';
import { WireError } from './errors.ts';
import { APPROVER_ID_PATTERN, MAX_APPROVERS } from './policy.ts';
import { array, bytes, fieldPath, isPlainObject, oneOf, str, strictObject } from './validate.ts';

export interface Ed25519Approval { approver: string; type: 'ed25519'; sig: Uint8Array }
export interface PasskeyApproval { approver: string; type: 'webauthn'; authenticatorData: Uint8Array; clientDataJSON: Uint8Array; signature: Uint8Array }
export type Approval = Ed25519Approval | PasskeyApproval;

const MAX_AUTHENTICATOR_DATA = 1024;
const MAX_CLIENT_DATA = 2048;
const MAX_SIGNATURE = 256;

function bounded(v: unknown, max: number, field: string): Uint8Array {
  const b = bytes(v, undefined, field);
  if (b.length === 0 || b.length > max) throw new WireError('BAD_FIELD', { field, message: `1 to ${max} bytes` });
  return b;
}

/** Validates one decoded approval (msgpack form: byte strings as Uint8Array). */
export function parseApproval(v: unknown, field: string): Approval {
  if (!isPlainObject(v)) throw new WireError('BAD_FIELD', { field });
  const type = oneOf(v.type, ['ed25519', 'webauthn'] as const, fieldPath(field, 'type'));
  if (type === 'ed25519') {
    const o = strictObject(v, ['approver', 'type', 'sig'], ['approver', 'type', 'sig'], field);
    return { approver: str(o.approver, APPROVER_ID_PATTERN, fieldPath(field, 'approver')), type, sig: bytes(o.sig, ED25519_SIGNATURE_LENGTH, fieldPath(field, 'sig')) };
  }
  const keys = ['approver', 'type', 'authenticatorData', 'clientDataJSON', 'signature'] as const;
  const o = strictObject(v, keys, keys, field);
  return {
    approver: str(o.approver, APPROVER_ID_PATTERN, fieldPath(field, 'approver')),
    type,
    authenticatorData: bounded(o.authenticatorData, MAX_AUTHENTICATOR_DATA, fieldPath(field, 'authenticatorData')),
    clientDataJSON: bounded(o.clientDataJSON, MAX_CLIENT_DATA, fieldPath(field, 'clientDataJSON')),
    signature: bounded(o.signature, MAX_SIGNATURE, fieldPath(field, 'signature')),
  };
}

export function parseApprovals(v: unknown, field: string): Approval[] {
  return array(v, MAX_APPROVERS, field).map((a, i) => parseApproval(a, fieldPath(field, i)));
}

/** JSON form: hex for an Ed25519 signature, base64url for the WebAuthn fields (as browsers encode them). */
export type ApprovalJson =
  | { approver: string; type: 'ed25519'; sig: string }
  | { approver: string; type: 'webauthn'; authenticatorData: string; clientDataJSON: string; signature: string };

export function approvalToJson(a: Approval): ApprovalJson {
  if (a.type === 'ed25519') return { approver: a.approver, type: a.type, sig: bytesToHex(a.sig) };
  const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64url');
  return { approver: a.approver, type: a.type, authenticatorData: b64(a.authenticatorData), clientDataJSON: b64(a.clientDataJSON), signature: b64(a.signature) };
}

export function approvalFromJson(v: unknown, field = 'approval'): Approval {
  if (!isPlainObject(v)) throw new WireError('BAD_FIELD', { field });
  if (v.type === 'ed25519') {
    const sig = str(v.sig, /^[0-9a-f]{128}$/, fieldPath(field, 'sig'));
    return parseApproval({ ...v, sig: hexToBytes(sig) }, field);
  }
  const b64 = (name: string) => {
    const s = str(v[name], /^[A-Za-z0-9_-]{1,4096}$/, fieldPath(field, name));
    return new Uint8Array(Buffer.from(s, 'base64url'));
  };
  if (v.type !== 'webauthn') throw new WireError('BAD_FIELD', { field: fieldPath(field, 'type') });
  return parseApproval({ ...v, authenticatorData: b64('authenticatorData'), clientDataJSON: b64('clientDataJSON'), signature: b64('signature') }, field);
}
