/**
 * The `transactions` section of a key policy (docs/transactions.md "Policy"): what a
 * key may send, read by every signer from the transaction it parses itself. This file
 * holds its form (parse, canonical JSON); policy-tx.ts holds the checks.
 *
 *   "transactions": { "rawSign": false, "networks": ["eip155:1"],
 *     "destinations": ["0x1111…"], "maxFee": "2000000000000000",
 *     "limits": [ { "asset": "native", "perTransaction": "10", "perWindow": "50", "windowSeconds": 86400 } ],
 *     "approvalsAbove": [ { "asset": "native", "amount": "5", "approvals": 2 } ],
 *     "allowOpaque": false }
 * Amounts are decimal strings of base units (wei, satoshi, lamport, token units).
 */
import { bech32, bech32m } from '@scure/base';
import { WireError } from './errors.ts';
import { array, fieldPath, str, strictObject, uint } from './validate.ts';

export const MAX_TX_RULES = 16;
export const MAX_DESTINATIONS = 256;
const MAX_AMOUNT = (1n << 256n) - 1n;
const MAX_WINDOW_SECONDS = 366 * 24 * 3600;
const AMOUNT = /^(0|[1-9][0-9]{0,77})$/;
const NETWORK = /^[a-z0-9:-]{1,64}$/;
/** An address or asset as the chain modules render it: 0x-hex, bech32, base58, 'spl:<base58>', 'script:<hex>'. */
const ADDRESS = /^[A-Za-z0-9:]{1,200}$/;

/** At most `perTransaction` of `asset` in one transaction, and `perWindow` in any `windowSeconds` (this signer's ledger). */
export interface AmountLimit { asset: string; perTransaction?: bigint; perWindow?: bigint; windowSeconds?: number }
/** A transaction moving more than `amount` of `asset` needs `approvals` approvals. */
export interface ApprovalThreshold { asset: string; amount: bigint; approvals: number }

export interface TransactionRules {
  /** Raw-digest `sign` (no transaction to read) allowed; default true. */
  rawSign: boolean;
  /** Networks a transaction may be for ('eip155:1', 'regtest', 'solana'); absent: any. */
  networks?: string[];
  /** Where value may go (canonical form, see `canonicalAddress`); absent: anywhere. */
  destinations?: string[];
  /** The most fee a transaction may pay, native base units. */
  maxFee?: bigint;
  limits: AmountLimit[];
  approvalsAbove: ApprovalThreshold[];
  /** Sign transactions with parts policy cannot read (contract calls, unknown programs); default false. */
  allowOpaque: boolean;
}

/**
 * 0x addresses and bech32/bech32m addresses (BIP173, BIP350) compare case-insensitively:
 * lowercase them. Anything else (base58: Solana accounts, legacy Bitcoin addresses) is
 * case-sensitive and kept as given, even when it merely starts like a bech32 address: an
 * address is folded only if it decodes as bech32 or bech32m with a bitcoin prefix.
 */
export function canonicalAddress(a: string): string {
  if (/^0x[0-9a-fA-F]{40}$/.test(a)) return a.toLowerCase();
  return isBitcoinBech32(a) ? a.toLowerCase() : a;
}

function isBitcoinBech32(a: string): boolean {
  if (!/^(bc|tb|bcrt)1/i.test(a) || a.length > 90) return false;
  for (const codec of [bech32, bech32m]) {
    try {
      codec.decode(a as `${string}1${string}`, 90);
      return true;
    } catch {
      // not this encoding (or not bech32 at all: mixed case, bad checksum)
    }
  }
  return false;
}

function amount(v: unknown, field: string): bigint {
  const n = BigInt(str(v, AMOUNT, field));
  if (n > MAX_AMOUNT) throw new WireError('BAD_FIELD', { field, message: `BAD_FIELD: ${field}: above 2^256 - 1` });
  return n;
}

const asset = (v: unknown, field: string): string => canonicalAddress(str(v, ADDRESS, field));

/** Validates the section; `approvers` is how many approvers the policy names (an approval threshold cannot ask for more). */
export function parseTransactionRules(v: unknown, field: string, approvers: number): TransactionRules {
  const keys = ['rawSign', 'networks', 'destinations', 'maxFee', 'limits', 'approvalsAbove', 'allowOpaque'] as const;
  const o = strictObject(v, keys, [], field);
  const flag = (x: unknown, f: string, dflt: boolean): boolean => {
    if (x === undefined) return dflt;
    if (typeof x !== 'boolean') throw new WireError('BAD_FIELD', { field: fieldPath(field, f), message: `BAD_FIELD: ${field}.${f}: true or false` });
    return x;
  };
  const rules: TransactionRules = {
    rawSign: flag(o.rawSign, 'rawSign', true),
    limits: array(o.limits ?? [], MAX_TX_RULES, fieldPath(field, 'limits')).map((l, i) => {
      const f = fieldPath(fieldPath(field, 'limits'), i);
      const r = strictObject(l, ['asset', 'perTransaction', 'perWindow', 'windowSeconds'], ['asset'], f);
      const limit: AmountLimit = { asset: asset(r.asset, fieldPath(f, 'asset')) };
      if (r.perTransaction !== undefined) limit.perTransaction = amount(r.perTransaction, fieldPath(f, 'perTransaction'));
      if ((r.perWindow === undefined) !== (r.windowSeconds === undefined)) throw new WireError('BAD_FIELD', { field: fieldPath(f, 'windowSeconds'), message: `BAD_FIELD: ${f}: perWindow and windowSeconds go together` });
      if (r.perWindow !== undefined) {
        limit.perWindow = amount(r.perWindow, fieldPath(f, 'perWindow'));
        limit.windowSeconds = uint(r.windowSeconds, 1, MAX_WINDOW_SECONDS, fieldPath(f, 'windowSeconds'));
      }
      if (limit.perTransaction === undefined && limit.perWindow === undefined) throw new WireError('BAD_FIELD', { field: f, message: `BAD_FIELD: ${f}: a limit needs perTransaction or perWindow` });
      return limit;
    }),
    approvalsAbove: array(o.approvalsAbove ?? [], MAX_TX_RULES, fieldPath(field, 'approvalsAbove')).map((a, i) => {
      const f = fieldPath(fieldPath(field, 'approvalsAbove'), i);
      const r = strictObject(a, ['asset', 'amount', 'approvals'], ['asset', 'amount', 'approvals'], f);
      const count = uint(r.approvals, 1, approvers, fieldPath(f, 'approvals'));
      return { asset: asset(r.asset, fieldPath(f, 'asset')), amount: amount(r.amount, fieldPath(f, 'amount')), approvals: count };
    }),
    allowOpaque: flag(o.allowOpaque, 'allowOpaque', false),
  };
  if (o.networks !== undefined) rules.networks = array(o.networks, MAX_TX_RULES, fieldPath(field, 'networks')).map((n, i) => str(n, NETWORK, fieldPath(fieldPath(field, 'networks'), i)));
  if (o.destinations !== undefined) rules.destinations = array(o.destinations, MAX_DESTINATIONS, fieldPath(field, 'destinations')).map((d, i) => asset(d, fieldPath(fieldPath(field, 'destinations'), i)));
  if (o.maxFee !== undefined) rules.maxFee = amount(o.maxFee, fieldPath(field, 'maxFee'));
  return rules;
}

/** The section's JSON form, keys sorted (part of the policy's canonical bytes). */
export function transactionRulesToJson(r: TransactionRules): Record<string, unknown> {
  const out: Record<string, unknown> = {
    allowOpaque: r.allowOpaque,
    approvalsAbove: r.approvalsAbove.map((a) => ({ amount: a.amount.toString(), approvals: a.approvals, asset: a.asset })),
  };
  if (r.destinations !== undefined) out.destinations = [...r.destinations];
  out.limits = r.limits.map((l) => ({
    asset: l.asset,
    ...(l.perTransaction === undefined ? {} : { perTransaction: l.perTransaction.toString() }),
    ...(l.perWindow === undefined ? {} : { perWindow: l.perWindow.toString(), windowSeconds: l.windowSeconds }),
  }));
  if (r.maxFee !== undefined) out.maxFee = r.maxFee.toString();
  if (r.networks !== undefined) out.networks = [...r.networks];
  out.rawSign = r.rawSign;
  return out;
}
