/**
 * Bodies of the resolution of an unresolved key session (docs/cluster-protocol.md
 * "Unresolved key sessions", issue 10 finding 3): RESOLVE (C->S) and VETO (S->C) name
 * the key and the epoch the session stores; a RESOLVE may also name the session's
 * receiving members (`participants`, a reshare's new member refs), which a signer
 * holding a share of it checks against the refs it stored with that share. A key
 * session's ABORT may carry one signed envelope: C->S a participant's VETO (the proof
 * that lets a signer discard its pending share), S->C the refusing signer's own CONFIRM
 * of its unresolved session, with the member refs stored beside it (`participants`).
 */
import { KEY_ID_PATTERN } from './constants.ts';
import { parseEnvelope, type Envelope } from './envelope.ts';
import { WireError } from './errors.ts';
import { array, str, strictObject, uint } from './validate.ts';

/** messages.ts's `ParticipantRef` (not imported: messages.ts imports this module). */
interface ParticipantRef {
  signer: string;
  index: number;
}

/** RESOLVE (C->S; `participants` optional) and VETO (S->C; never `participants`). */
export interface ResolveBody {
  keyId: string;
  epoch: number;
  participants?: ParticipantRef[];
}

/** messages.ts's `parseParticipants`, passed in (this module is imported by it). */
type RefsParser = (v: unknown, field: string, min?: number) => ParticipantRef[];

const keyAndEpoch = (o: Record<string, unknown>): ResolveBody => ({ keyId: str(o.keyId, KEY_ID_PATTERN, 'keyId'), epoch: uint(o.epoch, 0, Number.MAX_SAFE_INTEGER, 'epoch') });

export function parseResolve(v: unknown, refs: RefsParser): ResolveBody {
  const o = strictObject(v, ['keyId', 'epoch', 'participants'], ['keyId', 'epoch'], '');
  const body = keyAndEpoch(o);
  if (o.participants !== undefined) body.participants = refs(o.participants, 'participants', 2);
  return body;
}

export function parseVeto(v: unknown): ResolveBody {
  return keyAndEpoch(strictObject(v, ['keyId', 'epoch'], ['keyId', 'epoch'], ''));
}

/** A key session's ABORT: the common body (`abort`) plus at most one signed envelope and, beside it, member refs. */
export function parseKeyAbort(v: unknown, abort: (v: unknown, curve: undefined) => unknown, refs: RefsParser): unknown {
  const o = strictObject(v, ['reason', 'culprits', 'envelopes', 'participants'], ['reason'], '');
  const body = abort({ reason: o.reason, ...(o.culprits === undefined ? {} : { culprits: o.culprits }) }, undefined) as { envelopes?: Envelope[]; participants?: ParticipantRef[] };
  if (o.envelopes === undefined) {
    if (o.participants !== undefined) throw new WireError('BAD_FIELD', { field: 'participants', message: 'BAD_FIELD: participants: only beside envelopes' });
    return body;
  }
  const list = array(o.envelopes, 1, 'envelopes');
  if (list.length !== 1) throw new WireError('BAD_FIELD', { field: 'envelopes', message: 'BAD_FIELD: envelopes: exactly one' });
  try {
    body.envelopes = [parseEnvelope(list[0])];
  } catch (err) {
    if (err instanceof WireError) throw new WireError(err.code, { field: `envelopes[0].${err.field ?? ''}` });
    throw err;
  }
  if (o.participants !== undefined) body.participants = refs(o.participants, 'participants', 2);
  return body;
}
