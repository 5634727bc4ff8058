/**
 * The transaction rules of a key policy (policy-tx-rules.ts), checked against what a
 * transaction does as its chain module parsed it (`ParsedTx`). Every signer runs these
 * on the transaction it parsed itself; the coordinator runs them for early refusal
 * (without the signers' spend windows). A refusal is `PolicyDeniedError` naming the rule.
 */
import { PolicyDeniedError, requiredApprovals, type KeyPolicy } from './policy.ts';
import type { AmountLimit } from './policy-tx-rules.ts';
import type { ParsedTx } from './tx/types.ts';

/** How much of each asset the transaction sends away from the key. */
export function txTotals(tx: ParsedTx): Map<string, bigint> {
  const totals = new Map<string, bigint>();
  for (const t of tx.transfers) totals.set(t.asset, (totals.get(t.asset) ?? 0n) + t.amount);
  return totals;
}

/** A raw-digest signature (no transaction to read) is allowed unless the policy says `rawSign: false`. */
export function checkRawSign(policy: KeyPolicy): void {
  if (policy.transactions?.rawSign === false) throw new PolicyDeniedError('raw-sign', 'this key signs parsed transactions only (sign-tx)');
}

/**
 * Network, readable content, destinations, fee, then amounts: per transaction, and per
 * window with `spent(asset, sinceMs)`, the amount this checker's ledger has recorded for
 * the key since then (other requests only).
 */
export function checkTxPolicy(policy: KeyPolicy, tx: ParsedTx, spent: (asset: string, sinceMs: number) => bigint, now: number): void {
  const rules = policy.transactions;
  if (rules === undefined) return;
  if (rules.networks !== undefined && !rules.networks.includes(tx.network)) throw new PolicyDeniedError('network', `network ${tx.network} is not one of ${rules.networks.join(', ')}`);
  if (tx.opaque.length > 0 && !rules.allowOpaque) throw new PolicyDeniedError('opaque', `policy cannot read: ${tx.opaque.join('; ')}`);
  if (rules.destinations !== undefined) {
    for (const t of tx.transfers) {
      if (!rules.destinations.includes(t.to)) throw new PolicyDeniedError('destination', `${t.to} is not an allowed destination`);
    }
  }
  if (rules.maxFee !== undefined && tx.fee > rules.maxFee) throw new PolicyDeniedError('fee', `fee up to ${tx.fee} is above ${rules.maxFee}`);
  const totals = txTotals(tx);
  for (const limit of rules.limits) checkLimit(limit, totals.get(limit.asset) ?? 0n, spent, now);
}

function checkLimit(limit: AmountLimit, amount: bigint, spent: (asset: string, sinceMs: number) => bigint, now: number): void {
  if (amount === 0n) return;
  if (limit.perTransaction !== undefined && amount > limit.perTransaction) {
    throw new PolicyDeniedError('amount', `${amount} ${limit.asset} is above ${limit.perTransaction} per transaction`);
  }
  if (limit.perWindow !== undefined) {
    const before = spent(limit.asset, now - limit.windowSeconds! * 1000);
    if (before + amount > limit.perWindow) {
      throw new PolicyDeniedError('amount', `${before} + ${amount} ${limit.asset} is above ${limit.perWindow} per ${limit.windowSeconds} s`);
    }
  }
}

/** The approvals a transaction needs: the policy's for 'sign', raised by every `approvalsAbove` threshold it exceeds. */
export function txRequiredApprovals(policy: KeyPolicy, tx: ParsedTx): number {
  let n = requiredApprovals(policy, 'sign');
  const totals = txTotals(tx);
  for (const a of policy.transactions?.approvalsAbove ?? []) {
    if ((totals.get(a.asset) ?? 0n) > a.amount) n = Math.max(n, a.approvals);
  }
  return n;
}
