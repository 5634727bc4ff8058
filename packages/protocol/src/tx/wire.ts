/** The `tx` field of a sign START (docs/cluster-protocol.md "Transactions") and the digest a client signs for a transaction. */
import { operationDigest } from '../auth.ts';
import { WireError } from '../errors.ts';
import { bytes, fieldPath, oneOf, strictObject, uint } from '../validate.ts';
import { BITCOIN_NETWORKS, CHAINS, MAX_TX_BYTES, MAX_TX_TARGETS, type BitcoinNetwork, type Chain } from './types.ts';

/** The unsigned transaction a sign session signs one input of. */
export interface SignTxField {
  chain: Chain;
  /** The unsigned transaction: ethereum RLP (typed envelope or legacy EIP-155), bitcoin PSBT, solana message (legacy or v0). */
  data: Uint8Array;
  /** Which of its signing targets this session signs (`TxSigningTarget.input`). */
  input: number;
  /** bitcoin only. */
  network?: BitcoinNetwork;
}

export function parseSignTxField(v: unknown, field = 'tx'): SignTxField {
  const o = strictObject(v, ['chain', 'data', 'input', 'network'], ['chain', 'data', 'input'], field);
  const t: SignTxField = {
    chain: oneOf(o.chain, CHAINS, fieldPath(field, 'chain')),
    data: bytes(o.data, undefined, fieldPath(field, 'data')),
    input: uint(o.input, 0, MAX_TX_TARGETS * 64, fieldPath(field, 'input')),
  };
  if (t.data.length === 0 || t.data.length > MAX_TX_BYTES) throw new WireError('BAD_FIELD', { field: fieldPath(field, 'data'), message: `BAD_FIELD: ${field}.data: 1 to ${MAX_TX_BYTES} bytes` });
  if (o.network !== undefined) {
    if (t.chain !== 'bitcoin') throw new WireError('BAD_FIELD', { field: fieldPath(field, 'network'), message: `BAD_FIELD: ${field}.network: bitcoin only` });
    t.network = oneOf(o.network, BITCOIN_NETWORKS, fieldPath(field, 'network'));
  }
  return t;
}

/**
 * What a client authorises to sign a transaction: the transaction itself, not a digest
 * of it. Its parameter names differ from a raw signature's (`signDigest`), so neither
 * request can stand for the other. `path` is the client's derivation path (ethereum,
 * solana; '' for the root key and for bitcoin, whose inputs name their own paths).
 */
export function signTxDigest(p: { keyId: string; epoch: number; chain: Chain; data: Uint8Array; path?: string; network?: BitcoinNetwork }): Uint8Array {
  return operationDigest('sign', { keyId: p.keyId, epoch: p.epoch, chain: p.chain, tx: p.data, path: p.path ?? '', network: p.network ?? '' });
}
