/**
 * The coordinator's reading of an unsigned transaction (docs/transactions.md section 5):
 * the sign-tx parameters checked, and the chain module's `ParsedTx` of it under the
 * key's public package. The coordinator parses for two things only: the signing
 * targets it runs a signing for, and its early refusal (policy copy, approvals). Every
 * signer parses the same bytes itself and decides.
 */
import type { PublicKeyPackage } from '@keyquorum/crypto';
import {
  BITCOIN_NETWORKS,
  CHAINS,
  CHAIN_SUITE,
  MAX_TX_BYTES,
  MAX_TX_TARGETS,
  TxError,
  loadChain,
  type BitcoinNetwork,
  type Chain,
  type ChainModule,
  type ParseOptions,
  type ParsedTx,
} from '@keyquorum/protocol';
import { badRequest } from './checks.ts';
import { CoordinatorError } from './errors.ts';

/** What a sign-tx names: the chain, the transaction's bytes, and its options. */
export interface TxParams {
  chain: Chain;
  tx: Uint8Array;
  path?: string;
  network?: BitcoinNetwork;
}

/** A pending operation's params are a transaction's (sign-tx), not a raw message's. */
export function isTxParams(params: Readonly<Record<string, unknown>>): boolean {
  return params.chain !== undefined && params.tx !== undefined;
}

/** The sign-tx parameters of a key of `suite`, checked (400 BAD_REQUEST naming the field). */
export function checkTxParams(p: Readonly<Record<string, unknown>>, suite: string): TxParams {
  const chain = p.chain as Chain;
  if (!(CHAINS as readonly unknown[]).includes(chain)) throw badRequest('chain', `expected one of ${CHAINS.join(', ')}`);
  if (CHAIN_SUITE[chain] !== suite) throw badRequest('chain', `${chain} transactions are signed by ${CHAIN_SUITE[chain]} keys, not ${suite}`);
  const tx = p.tx;
  if (!(tx instanceof Uint8Array) || tx.length === 0 || tx.length > MAX_TX_BYTES) throw badRequest('tx', `expected 1 to ${MAX_TX_BYTES} bytes`);
  const out: TxParams = { chain, tx };
  if (p.path !== undefined) {
    if (typeof p.path !== 'string') throw badRequest('path', "expected a path such as 'm/44/0/7'");
    if (chain === 'bitcoin') throw badRequest('path', 'a PSBT input names its own derivation path (tapBip32Derivation)');
    // The signers read the path from the START, which omits 'm': the request must too.
    if (p.path === 'm') throw badRequest('path', "omit the path for the root key ('m')");
    out.path = p.path;
  }
  if (p.network !== undefined) {
    if (chain !== 'bitcoin') throw badRequest('network', 'bitcoin only');
    if (!(BITCOIN_NETWORKS as readonly unknown[]).includes(p.network)) throw badRequest('network', `expected one of ${BITCOIN_NETWORKS.join(', ')}`);
    out.network = p.network as BitcoinNetwork;
  }
  return out;
}

/** The chain module's parse options for `p` (the signers use the same: docs/transactions.md section 4). */
export function parseOptions(p: TxParams): ParseOptions {
  return p.chain === 'bitcoin' ? (p.network === undefined ? {} : { network: p.network }) : p.path === undefined ? {} : { path: p.path };
}

/** A chain module's refusal as the API's 400 BAD_TX, with its code and field. */
export function txError(e: TxError): CoordinatorError {
  return new CoordinatorError('BAD_TX', { field: e.field, txCode: e.code, message: e.message, cause: e });
}

/** The module of `p.chain` and its parse of the transaction for `key`; BAD_TX when it refuses. */
export async function parseTx(key: PublicKeyPackage, p: TxParams): Promise<{ module: ChainModule; parsed: ParsedTx }> {
  const module = await loadChain(p.chain);
  let parsed: ParsedTx;
  try {
    parsed = module.parse(p.tx, key, parseOptions(p));
  } catch (e) {
    if (e instanceof TxError) throw txError(e);
    throw e;
  }
  if (parsed.targets.length === 0 || parsed.targets.length > MAX_TX_TARGETS) {
    throw new CoordinatorError('BAD_TX', { field: 'tx', txCode: 'UNSUPPORTED_TX', message: `UNSUPPORTED_TX: tx: ${parsed.targets.length} signatures asked of the key (1 to ${MAX_TX_TARGETS})` });
  }
  return { module, parsed };
}
