/**
 * Bodies of the resolution of an unresolved key session (docs/cluster-protocol.md
 * "Unresolved key sessions", issue 10 finding 3): RESOLVE (C->S) and VETO (S->C) name
 * the key and the epoch the session stores; a key session's ABORT may carry one
 * signed envelope: C->S a participant's VETO (the proof that lets a signer discard its
 * pending share), S->C the refusing signer's own CONFIRM of its unresolved session.
 */
import { KEY_ID_PATTERN } from './constants.ts';
import { parseEnvelope, type Envelope } from './envelope.ts';
import { WireError } from './errors.ts';
import { array, str, strictObject, uint } from './validate.ts';

/** RESOLVE (C->S) and VETO (S->C). */
export interface ResolveBody {
  keyId: string;
  epoch: number;
}

export function parseResolve(v: unknown): ResolveBody {
  const o = strictObject(v, ['keyId', 'epoch'], ['keyId', 'epoch'], '');
  return { keyId: str(o.keyId, KEY_ID_PATTERN, 'keyId'), epoch: uint(o.epoch, 0, Number.MAX_SAFE_INTEGER, 'epoch') };
}

/** A key session's ABORT: the common body (`abort`) plus at most one signed envelope. */
export function parseKeyAbort(v: unknown, abort: (v: unknown, curve: undefined) => unknown): unknown {
  const o = strictObject(v, ['reason', 'culprits', 'envelopes'], ['reason'], '');
  const body = abort({ reason: o.reason, ...(o.culprits === undefined ? {} : { culprits: o.culprits }) }, undefined) as { envelopes?: Envelope[] };
  if (o.envelopes === undefined) return body;
  const list = array(o.envelopes, 1, 'envelopes');
  if (list.length !== 1) throw new WireError('BAD_FIELD', { field: 'envelopes', message: 'BAD_FIELD: envelopes: exactly one' });
  try {
    body.envelopes = [parseEnvelope(list[0])];
  } catch (err) {
    if (err instanceof WireError) throw new WireError(err.code, { field: `envelopes[0].${err.field ?? ''}` });
    throw err;
  }
  return body;
}

