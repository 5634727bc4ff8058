/**
 * Key states (NIST SP 800-57 Part 1 Rev. 5 §5.3, threshold edition;
 * docs/cluster-protocol.md "Key states"). A key that exists is `active`, `suspended`
 * (reversible, no signing), `deactivated` (no signing ever again; public key and
 * derivation kept), `compromised` (never signs again; the mark stays), or
 * `destroy-scheduled` (no signing; after a delay the shares are wiped: `destroyed`;
 * cancellable until then). An admin client asks for a transition with a signed request
 * (op 'state', `stateDigest`); the coordinator and every signer check it against their
 * own records (`nextState`) and refuse what the state does not allow (`allowsUse`).
 *
 * Session (kind 'state', rounds `STATE_ROUND`; session id = `clientRequestId` of the
 * request): START C->S carries the request; ACK S->C says the signer recorded it;
 * ATTEST S->C (transition 'destroy' only) is the signed destruction attestation, the
 * same body as a retirement's; ABORT S->C names why the signer refused.
 */
import { operationDigest, parseClientRequest, type ClientRequest, type Operation } from './auth.ts';
import { DIGEST_LENGTH, KEY_ID_PATTERN, MAX_PARTICIPANTS, NODE_ID_PATTERN } from './constants.ts';
import { WireError } from './errors.ts';
import { array, bytes, fieldPath, oneOf, str, strictObject, uint } from './validate.ts';

export const USAGE_STATES = ['active', 'suspended', 'deactivated', 'compromised', 'destroy-scheduled', 'destroyed'] as const;
export type UsageState = (typeof USAGE_STATES)[number];

/** What an admin may ask for; 'destroy' is the coordinator's follow-up of 'schedule-destroy', authorised by that request. */
export const TRANSITIONS = ['suspend', 'resume', 'deactivate', 'compromise', 'schedule-destroy', 'cancel-destroy', 'destroy'] as const;
export type Transition = (typeof TRANSITIONS)[number];
export type RequestedTransition = Exclude<Transition, 'destroy'>;
export const REQUESTED_TRANSITIONS: readonly RequestedTransition[] = TRANSITIONS.filter((t): t is RequestedTransition => t !== 'destroy');

/**
 * Transitions that only take the key further from use: a signer may apply one it
 * receives after the request's freshness window (late delivery to a signer that was
 * offline), provided it is newer than the last transition it recorded. The others
 * (resume, cancel-destroy) need a fresh request.
 */
export const RESTRICTIVE: readonly Transition[] = ['suspend', 'deactivate', 'compromise', 'schedule-destroy'];

/** The default delay of 'schedule-destroy' (7 days, as cloud KMS deletion windows). */
export const DEFAULT_DESTROY_DELAY_MS = 7 * 24 * 60 * 60 * 1000;
/** The longest delay a schedule may name (a year). */
export const MAX_DESTROY_DELAY_MS = 365 * 24 * 60 * 60 * 1000;

const FROM: Readonly<Record<Exclude<Transition, 'cancel-destroy'>, { from: readonly UsageState[]; to: UsageState }>> = {
  suspend: { from: ['active'], to: 'suspended' },
  resume: { from: ['suspended'], to: 'active' },
  deactivate: { from: ['active', 'suspended'], to: 'deactivated' },
  compromise: { from: ['active', 'suspended', 'deactivated'], to: 'compromised' },
  'schedule-destroy': { from: ['active', 'suspended', 'deactivated', 'compromised'], to: 'destroy-scheduled' },
  destroy: { from: ['destroy-scheduled'], to: 'destroyed' },
};

/**
 * The state `transition` leads to from `from`, or undefined if it is not allowed:
 * compromised and deactivated never return to active, destroyed is final, and
 * 'cancel-destroy' returns to `previous`, the state the schedule left.
 */
export function nextState(from: UsageState, transition: Transition, previous?: UsageState): UsageState | undefined {
  if (transition === 'cancel-destroy') return from === 'destroy-scheduled' ? previous : undefined;
  const rule = FROM[transition];
  return rule.from.includes(from) ? rule.to : undefined;
}

/**
 * Operations a key in `state` may be used for; `retire` (immediate destruction) stays
 * possible until the key is scheduled for destruction. A suspended key may be refreshed
 * (same holders, who keep their records) but not reshared or repaired: a new holder
 * would have no record of the suspension.
 */
const USES: Readonly<Record<UsageState, readonly Operation[]>> = {
  active: ['sign', 'refresh', 'reshare', 'repair', 'retire', 'state', 'policy'],
  suspended: ['refresh', 'retire', 'state', 'policy'],
  deactivated: ['retire', 'state', 'policy'],
  compromised: ['retire', 'state', 'policy'],
  'destroy-scheduled': ['state', 'policy'],
  destroyed: [],
};

export function allowsUse(state: UsageState, op: Operation): boolean {
  return USES[state].includes(op);
}

/**
 * The digest of a transition request: bound to the key, the transition and its delay
 * (0 but for 'schedule-destroy'); the request adds its nonce and timestamp. An approval
 * quorum (issue 11 item 2) can sign `clientRequestId` of the same request.
 */
export function stateDigest(p: { keyId: string; transition: RequestedTransition; afterMs?: number }): Uint8Array {
  return operationDigest('state', { keyId: p.keyId, transition: oneOf(p.transition, REQUESTED_TRANSITIONS, 'transition'), afterMs: p.afterMs ?? 0 });
}

export const STATE_ROUND = { START: 0, ACK: 1, ATTEST: 2, ABORT: 15 } as const;

/** `afterMs`: the destruction delay of 'schedule-destroy' (0 otherwise). For 'destroy', `request` is the schedule's. */
export interface StateStartBody { keyId: string; transition: Transition; afterMs: number; request: ClientRequest }
/** `requestId`: `clientRequestId` of the request applied; `state`: the signer's state now. */
export interface StateAckBody { keyId: string; transition: Transition; state: UsageState; requestId: Uint8Array }

const MAX_REASON_LENGTH = 1024;

const body = <K extends string>(v: unknown, keys: readonly K[], optional: readonly K[] = []) => strictObject(v, [...keys, ...optional], keys, '');
const keyId = (v: unknown) => str(v, KEY_ID_PATTERN, 'keyId');

/** The parsers of the 'state' kind, by round (messages.ts `decodeBody`). */
export const STATE_PARSERS: Record<number, (v: unknown) => unknown> = {
  [STATE_ROUND.START]: (v): StateStartBody => {
    const o = body(v, ['keyId', 'transition', 'afterMs', 'request']);
    const afterMs = uint(o.afterMs, 0, MAX_DESTROY_DELAY_MS, 'afterMs');
    const transition = oneOf(o.transition, TRANSITIONS, 'transition');
    if (transition !== 'schedule-destroy' && transition !== 'destroy' && afterMs !== 0) throw new WireError('BAD_FIELD', { field: 'afterMs' });
    return { keyId: keyId(o.keyId), transition, afterMs, request: parseClientRequest(o.request, 'request') };
  },
  [STATE_ROUND.ACK]: (v): StateAckBody => {
    const o = body(v, ['keyId', 'transition', 'state', 'requestId']);
    return { keyId: keyId(o.keyId), transition: oneOf(o.transition, TRANSITIONS, 'transition'), state: oneOf(o.state, USAGE_STATES, 'state'), requestId: bytes(o.requestId, DIGEST_LENGTH, 'requestId') };
  },
  [STATE_ROUND.ATTEST]: (v) => {
    const o = body(v, ['keyId', 'epoch', 'destroyedAt', 'verifyingShare']);
    return { keyId: keyId(o.keyId), epoch: uint(o.epoch, 0, 0xffffffff, 'epoch'), destroyedAt: uint(o.destroyedAt, 0, Number.MAX_SAFE_INTEGER, 'destroyedAt'), verifyingShare: bytes(o.verifyingShare, undefined, 'verifyingShare') };
  },
  [STATE_ROUND.ABORT]: (v) => {
    const o = body(v, ['reason'], ['culprits']);
    const out: { reason: string; culprits?: string[] } = { reason: str(o.reason, MAX_REASON_LENGTH, 'reason') };
    if (o.culprits !== undefined) out.culprits = array(o.culprits, MAX_PARTICIPANTS, 'culprits').map((c, i) => str(c, NODE_ID_PATTERN, fieldPath('culprits', i)));
    return out;
  },
};
