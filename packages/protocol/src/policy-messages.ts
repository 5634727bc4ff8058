/**
 * Policy changes on the wire (docs/cluster-protocol.md "Policy"). An admin asks for a
 * key's next policy with a signed request (op 'policy', `policyRequestDigest`),
 * approved, when the current policy says so, by its 'policy' quorum. The coordinator
 * records it and delivers it to every holder, as it delivers state transitions.
 *
 * Session (kind 'policy', rounds `POLICY_ROUND`; session id = `clientRequestId` of the
 * request): START C->S carries the policy's canonical text and the request (with its
 * approvals); ACK S->C says the signer now enforces that version; ABORT S->C names why
 * it refused (and the rule, for a policy refusal).
 */
import { operationDigest, parseClientRequest, type ClientRequest } from './auth.ts';
import { DIGEST_LENGTH, KEY_ID_PATTERN } from './constants.ts';
import { STATE_PARSERS } from './key-states.ts';
import { POLICY_RULES, policyDigest, policyFromText, type KeyPolicy, type PolicyRule } from './policy.ts';
import { bytes, oneOf, str, strictObject, uint } from './validate.ts';

/** The digest an admin signs to set `policy` on `keyId`: bound to the version and the policy's digest. */
export function policyRequestDigest(p: { keyId: string; policy: KeyPolicy }): Uint8Array {
  return operationDigest('policy', { keyId: str(p.keyId, KEY_ID_PATTERN, 'keyId'), version: p.policy.version, policy: policyDigest(p.policy) });
}

export const POLICY_ROUND = { START: 0, ACK: 1, ABORT: 15 } as const;

/** `policy`: the canonical text (`policyToText`), parsed and checked on receipt. */
export interface PolicyStartBody { keyId: string; policy: string; request: ClientRequest }
/** The version and digest the signer now enforces. */
export interface PolicyAckBody { keyId: string; version: number; digest: Uint8Array }
export interface PolicyAbortBody { reason: string; rule?: PolicyRule }

const MAX_REASON_LENGTH = 1024;
const keyId = (v: unknown) => str(v, KEY_ID_PATTERN, 'keyId');

export const POLICY_PARSERS: Record<number, (v: unknown) => unknown> = {
  [POLICY_ROUND.START]: (v): PolicyStartBody => {
    const o = strictObject(v, ['keyId', 'policy', 'request'], ['keyId', 'policy', 'request'], '');
    const text = str(o.policy, 64 * 1024, 'policy');
    policyFromText(text);
    return { keyId: keyId(o.keyId), policy: text, request: parseClientRequest(o.request, 'request') };
  },
  [POLICY_ROUND.ACK]: (v): PolicyAckBody => {
    const o = strictObject(v, ['keyId', 'version', 'digest'], ['keyId', 'version', 'digest'], '');
    return { keyId: keyId(o.keyId), version: uint(o.version, 1, Number.MAX_SAFE_INTEGER, 'version'), digest: bytes(o.digest, DIGEST_LENGTH, 'digest') };
  },
  [POLICY_ROUND.ABORT]: (v): PolicyAbortBody => {
    const o = strictObject(v, ['reason', 'rule'], ['reason'], '');
    const out: PolicyAbortBody = { reason: str(o.reason, MAX_REASON_LENGTH, 'reason') };
    if (o.rule !== undefined) out.rule = oneOf(o.rule, POLICY_RULES, 'rule');
    return out;
  },
};

/**
 * The optional `policy` of a reshare or repair START (docs/governance.md "Handover"):
 * the key's current policy as canonical text, checked here; absent means
 * DEFAULT_POLICY (version 0). Spread into the parsed START body.
 */
export function handoverPolicy(v: unknown): { policy?: string } {
  if (v === undefined) return {};
  const text = str(v, 64 * 1024, 'policy');
  policyFromText(text);
  return { policy: text };
}

/** The parsers of the governance kinds ('state', 'policy'), by kind then round (messages.ts `decodeBody`). */
export const GOVERNANCE_PARSERS: Record<string, Record<number, (v: unknown) => unknown>> = { state: STATE_PARSERS, policy: POLICY_PARSERS };
