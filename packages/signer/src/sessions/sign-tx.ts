/**
 * A sign START with `tx` (docs/transactions.md section 4): the signer signs one input
 * of a transaction it parses itself, never a digest it was handed. Here:
 *   - `startTx`: the suite is the chain's (`CHAIN_SUITE`), the chain module was loaded
 *     by the router's asynchronous pre-step, and the request digest this signer
 *     recomputes is `signTxDigest` of the transaction (not `signDigest` of the message);
 *   - `parseStartTx`: the transaction parsed against the key's public package, and the
 *     START's `message`, `path` and `taproot` exactly the target of `tx.input`, else
 *     BAD_DIGEST 'message'; a transaction the module refuses is SignerError BAD_FIELD
 *     naming the TxError's code and field;
 *   - `txApprovalsRequired`: for the pre-step, how many approvals the transaction needs
 *     under a policy (parsed there only if the policy has `approvalsAbove`; a parse
 *     that fails gives the sign action's count: the synchronous path parses again and
 *     refuses it, and counts again).
 * The policy (`checkTxPolicy`, the spend ledger, `checkRawSign` without `tx`) is
 * admit.ts's, in the admission's transaction.
 */
import { equalBytes } from '@noble/curves/utils.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import {
  CHAIN_SUITE,
  TxError,
  fromWirePublicKey,
  loadedChain,
  requiredApprovals,
  signTxDigest,
  txRequiredApprovals,
  type ChainModule,
  type KeyPolicy,
  type ParsedTx,
  type SignStartBody,
  type SignTxField,
} from '@keyquorum/protocol';
import type { PublicKeyPackage } from '@keyquorum/crypto';
import { SignerError } from '../errors.ts';
import { decodeSharePublicPart, type HeldShare } from '../held-share.ts';
import type { SessionContext } from './context.ts';

/** A START's transaction, checked against the START's suite, with its chain module and request digest. */
export interface StartTx {
  field: SignTxField;
  module: ChainModule;
  /** The digest the client's request must carry. */
  digest: Uint8Array;
}

/** The parse options of a START: bitcoin inputs name their own paths; the others sign at the START's. */
const parseOptions = (body: SignStartBody, tx: SignTxField) => ({
  ...(tx.chain === 'bitcoin' || body.path === undefined ? {} : { path: body.path }),
  ...(tx.network === undefined ? {} : { network: tx.network }),
});

function moduleOf(tx: SignTxField): ChainModule {
  const module = loadedChain(tx.chain);
  // The router's pre-step awaits `loadChain` for every START with `tx`.
  if (module === undefined) throw new SignerError('BAD_FIELD', { field: 'tx.chain', message: `the ${tx.chain} module is not loaded` });
  return module;
}

/** The START's transaction under the header's `suite`: BAD_FIELD 'tx.chain' unless it is the chain's; the request digest it needs. */
export function startTx(body: SignStartBody & { tx: SignTxField }, suite: string): StartTx {
  const { tx } = body;
  if (CHAIN_SUITE[tx.chain] !== suite) throw new SignerError('BAD_FIELD', { field: 'tx.chain', message: `${tx.chain} transactions are signed by ${CHAIN_SUITE[tx.chain]} keys, not ${suite}` });
  // The path and network the transaction is parsed with are the ones the client's request names.
  const digest = signTxDigest({ keyId: body.keyId, epoch: body.epoch, chain: tx.chain, data: tx.data, ...parseOptions(body, tx) });
  return { field: tx, module: moduleOf(tx), digest };
}

/**
 * Parses already made, by transaction, key and options: a PSBT with k inputs of the key
 * comes in k STARTs (and their retries), each of which would otherwise parse it again
 * (about 0.5 s for 64 inputs on a loaded machine). A parse depends on nothing else, so a
 * hit is the same answer; refusals are not kept.
 */
const parseCache = new Map<string, ParsedTx>();
const PARSE_CACHE_ENTRIES = 32;

/** The module's parse; a refusal is SignerError BAD_FIELD whose field and message name the TxError's. */
function parse(module: ChainModule, key: PublicKeyPackage, body: SignStartBody, tx: SignTxField): ParsedTx {
  const opts = parseOptions(body, tx);
  const id = [module.chain, bytesToHex(sha256(tx.data)), key.suite, bytesToHex(key.groupKey), bytesToHex(key.chainCode), opts.path ?? '', opts.network ?? ''].join('|');
  const hit = parseCache.get(id);
  if (hit !== undefined) return hit;
  try {
    const result = module.parse(tx.data, key, opts);
    if (parseCache.size >= PARSE_CACHE_ENTRIES) parseCache.delete(parseCache.keys().next().value!);
    parseCache.set(id, result);
    return result;
  } catch (e) {
    if (e instanceof TxError) throw new SignerError('BAD_FIELD', { field: e.field, message: e.message, cause: e });
    if (e instanceof SignerError) throw e;
    // A library's own exception on input the module did not foresee: still the transaction's fault, not the signer's.
    throw new SignerError('BAD_FIELD', { field: 'tx.data', message: 'MALFORMED_TX: the transaction could not be read', cause: e });
  }
}

/** The transaction parsed against the share's key; the START's message, path and taproot must be its target `tx.input`. */
export function parseStartTx(share: HeldShare, body: SignStartBody, t: StartTx): ParsedTx {
  const tx = parse(t.module, share.keyShare.publicKey, body, t.field);
  const target = tx.targets.find((x) => x.input === t.field.input);
  const mismatch = (what: string) => new SignerError('BAD_DIGEST', { field: 'message', message: `the START's ${what} does not match the transaction's input ${t.field.input}` });
  if (target === undefined) throw mismatch('input');
  if (!equalBytes(target.message, body.message)) throw mismatch('message');
  if ((target.path === 'm' ? undefined : target.path) !== body.path) throw mismatch('path');
  const a = target.taproot;
  const b = body.taproot;
  const sameTaproot = a === undefined || b === undefined
    ? a === b
    : a.merkleRoot === undefined || b.merkleRoot === undefined ? a.merkleRoot === b.merkleRoot : equalBytes(a.merkleRoot, b.merkleRoot);
  if (!sameTaproot) throw mismatch('taproot');
  return tx;
}

/**
 * For the pre-step (approvals.ts): the approvals a START's transaction needs under a
 * policy, parsed against the key's public package here. Anything that stops the parse
 * (no active share, a module refusal) gives the sign action's count: the synchronous
 * path refuses such a START anyway.
 */
export function txApprovalsRequired(ctx: SessionContext, body: SignStartBody & { tx: SignTxField }): (policy: KeyPolicy) => number {
  return (policy) => {
    // Only an `approvalsAbove` rule makes the count depend on the transaction: parse only then.
    if ((policy.transactions?.approvalsAbove ?? []).length === 0) return requiredApprovals(policy, 'sign');
    let parsed: ParsedTx;
    try {
      const row = ctx.keystore.getActive(body.keyId);
      row.secret.fill(0);
      parsed = parse(moduleOf(body.tx), fromWirePublicKey(decodeSharePublicPart(row.public).publicKey), body, body.tx);
    } catch {
      return requiredApprovals(policy, 'sign');
    }
    return txRequiredApprovals(policy, parsed);
  };
}
