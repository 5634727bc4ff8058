/**
 * `admitRequest`: the client request of a START, checked against the request itself
 * and against the key's policy in force HERE (docs/governance.md "Signer"), then
 * admitted durably. In order:
 *   1. it authorises exactly this use: op, key id, the digest this signer recomputes;
 *   2. `verifyClientRequest`: trusted client with a role allowing the op, signature,
 *      freshness: the 60 s skew, or, when the policy requires approvals for the
 *      action, until the approval deadline (a request waits for its approvers);
 *   3. the policy: the client allow-list of the op (`checkClient`), the approvals of
 *      the action (approvals.ts, verified before this synchronous path), the
 *      operation's own rules (`check`: a policy change's successor rule) and, for a
 *      signature, `checkSignPolicy` (validity, derivation depth, refresh overdue,
 *      velocity from this signer's own ledger), then for a transaction `checkTxPolicy`
 *      (network, destinations, fee, opaque, amounts against this signer's spend
 *      ledger; its approvals are `txRequiredApprovals`) and for a plain signature
 *      `checkRawSign` (docs/transactions.md section 3). A refusal is SignerError
 *      'POLICY_DENIED', message `POLICY_DENIED (<rule>): ...`;
 *   4. one keystore transaction: the replay entry (the request nonce, or the first
 *      unused attempt of a sign request: nonce || u8 attempt, for a transaction
 *      nonce || u16 input || u8 attempt), the velocity entry of a signature and the
 *      spend entries of a transaction (once per request id, whatever the input or
 *      attempt) and the policy a change sets. A request that needed approvals
 *      keeps its replay entry until the longest deadline any policy can give
 *      (MAX_APPROVAL_TTL_SECONDS after its timestamp), so it is honoured once even if
 *      a later policy lengthens its deadline.
 * A refusal at any step writes nothing: no replay entry, no velocity count.
 */
import { equalBytes } from '@noble/curves/utils.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import {
  CLIENT_RULE_OPERATIONS,
  MAX_APPROVAL_TTL_SECONDS,
  WireError,
  checkClient,
  checkRawSign,
  checkSignPolicy,
  checkTxPolicy,
  clientRequestId,
  requiredApprovals,
  txRequiredApprovals,
  txTotals,
  verifyClientRequest,
  type ApprovalAction,
  type ClientRequest,
  type ClientRuleOperation,
  type KeyPolicy,
  type Operation,
  type ParsedTx,
} from '@keyquorum/protocol';
import { MAX_REQUEST_SKEW_MS, MIN_VELOCITY_RETENTION_MS } from '../constants.ts';
import { SignerError, underPolicy } from '../errors.ts';
import type { StoredPolicy } from '../keystore/index.ts';
import type { SpendEntry } from '../keystore/spend.ts';
import type { VelocityEntry } from '../keystore/velocity.ts';
import { checkApprovals, policyOf, type ApprovalGrant } from './approvals.ts';
import type { SessionContext } from './context.ts';

export interface RequestUse {
  op: Operation;
  keyId: string;
  request: ClientRequest;
  /** The request digest this signer recomputes from the START body. */
  digest: Uint8Array;
  /** What the policy's approvals are counted for; undefined for createKey. */
  action?: ApprovalAction;
  /** Step 1's verification of the approvals (approvals.ts), if the policy required any then. */
  grant?: ApprovalGrant;
  /** Sign STARTs accepted per request (each attempt its own replay entry); default 1. */
  attempts?: number;
  /** A restrictive transition: honoured at any age (not older than the last applied: the caller checks). */
  late?: boolean;
  /** A signature: the derivation indices, when this signer's share of the epoch was made, and for a transaction the parsed transaction and the input signed. */
  sign?: SignUse;
  /** The operation's own policy rules (throw PolicyDeniedError). */
  check?(policy: KeyPolicy): void;
  /** The policy this request sets, recorded with its admission. */
  record?: StoredPolicy;
}

export interface SignUse {
  path: readonly number[];
  epochSince: number;
  tx?: { parsed: ParsedTx; input: number };
}

const isClientRuleOp = (op: Operation): op is ClientRuleOperation => (CLIENT_RULE_OPERATIONS as readonly string[]).includes(op);

/** Checks and admits the request (see the file header); returns the approvers counted. */
export function admitRequest(ctx: SessionContext, use: RequestUse): string[] {
  const { request, op, keyId } = use;
  if (request.op !== op) throw new SignerError('BAD_DIGEST', { field: 'request.op', message: `expected ${op}` });
  if (request.keyId !== keyId) throw new SignerError('BAD_DIGEST', { field: 'request.keyId' });
  if (!equalBytes(request.digest, use.digest)) throw new SignerError('BAD_DIGEST', { field: 'request.digest', message: 'the request does not authorise these parameters' });
  const { policy, digest: policyDigest } = policyOf(ctx, keyId);
  const now = ctx.now();
  const tx = use.sign?.tx;
  const required = use.action === undefined ? 0 : tx === undefined ? requiredApprovals(policy, use.action) : txRequiredApprovals(policy, tx.parsed);
  const needsApprovals = required > 0;
  const age = now - request.timestamp;
  // Past the skew, a request that waits for approvals (deadline: checkApprovals) or a late restriction.
  const maxSkewMs = (needsApprovals || use.late === true) && age > MAX_REQUEST_SKEW_MS ? age : MAX_REQUEST_SKEW_MS;
  verifyClientRequest(request, { trusted: ctx.clients, now, maxSkewMs, replay: { checkAndRemember: () => true } });
  const clientKeyHex = bytesToHex(request.clientKey);
  const requestId = clientRequestId(request);
  const { approvers, ledgers } = underPolicy(() => {
    if (isClientRuleOp(op)) checkClient(policy, op, clientKeyHex);
    const counted = use.action === undefined ? [] : checkApprovals({
      policy, policyDigest, action: use.action, request, requestId: bytesToHex(requestId), grant: use.grant, now, late: use.late === true && age > MAX_REQUEST_SKEW_MS, required,
    });
    use.check?.(policy);
    return { approvers: counted, ledgers: use.sign === undefined ? undefined : signRules(ctx, policy, { keyId, clientKeyHex, requestId, now, ...use.sign }) };
  });
  const nonce = bytesToHex(request.nonce);
  const attempts = use.attempts ?? 1;
  // A transaction's inputs are signed under one request: each (input, attempt) is its own entry.
  const input = tx === undefined ? '' : tx.input.toString(16).padStart(4, '0');
  const nonces = attempts === 1 && tx === undefined ? [nonce] : Array.from({ length: attempts }, (_, n) => `${nonce}${input}${n.toString(16).padStart(2, '0')}`);
  const stamp = needsApprovals ? request.timestamp + MAX_APPROVAL_TTL_SECONDS * 1000 : request.timestamp;
  const admitted = ctx.keystore.admitRequest({ clientKeyHex, nonces, stamp, ...ledgers, ...(use.record ? { policy: use.record } : {}) });
  if (!admitted) throw new WireError('REPLAY', { field: 'request.nonce' });
  return approvers;
}

/** The canonical form of a derivation path in the ledger: 'm', 'm/0/2147483649'. */
export const pathKey = (path: readonly number[]): string => ['m', ...path].join('/');

/**
 * `checkSignPolicy` with this signer's own velocity counts, then `checkTxPolicy` with its
 * own spend ledger (the request's own entries not counted: another input or attempt of
 * it) or, for a plain signature, `checkRawSign`; the ledger entries to write if they pass.
 */
function signRules(
  ctx: SessionContext,
  policy: KeyPolicy,
  s: SignUse & { keyId: string; clientKeyHex: string; requestId: Uint8Array; now: number },
): { velocity: VelocityEntry; spend?: SpendEntry[] } {
  const path = pathKey(s.path);
  checkSignPolicy(policy, {
    now: s.now,
    clientKeyHex: s.clientKeyHex,
    path: s.path,
    epochSince: s.epochSince,
    used: (rule) => ctx.keystore.velocityUsed(s.keyId, s.now - rule.windowSeconds * 1000, s.requestId, rule.per === 'path' ? path : undefined),
  });
  const retainMs = Math.max(MIN_VELOCITY_RETENTION_MS, ...policy.velocity.map((r) => r.windowSeconds * 1000));
  const velocity = { keyId: s.keyId, requestId: s.requestId, path, at: s.now, retainMs };
  if (s.tx === undefined) {
    checkRawSign(policy);
    return { velocity };
  }
  const tx = s.tx.parsed;
  checkTxPolicy(policy, tx, (asset, sinceMs) => ctx.keystore.spentSince(s.keyId, asset, sinceMs, s.requestId), s.now);
  const spendRetainMs = Math.max(MIN_VELOCITY_RETENTION_MS, ...(policy.transactions?.limits ?? []).map((l) => (l.windowSeconds ?? 0) * 1000));
  const spend = [...txTotals(tx)].map(([asset, amount]) => ({ keyId: s.keyId, requestId: s.requestId, asset, amount, at: s.now, retainMs: spendRetainMs }));
  return { velocity, spend };
}
