/**
 * Ethereum (any EVM chain) transactions (docs/transactions.md §1 "ethereum"). The input
 * is an unsigned EIP-1559 (`0x02 || rlp(...)`), EIP-2930 (`0x01 || rlp(...)`) or legacy
 * EIP-155 (`rlp([nonce, gasPrice, gas, to, value, data, chainId, 0, 0])`) transaction;
 * ethers v6 `Transaction` parses it, computes the digest signed (keccak256 of the
 * unsigned serialisation) and serialises the signed result. No hand-written RLP.
 *
 * What policy reads: the chain ('eip155:<chainId>'), the native value, the ERC-20
 * transfer / transferFrom / approve a call makes, and the most the gas can cost. Any
 * other calldata, and contract creation, is opaque.
 */
import { CryptoError, deriveChild, type PublicKeyPackage } from '@keyquorum/crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToNumberBE } from '@noble/curves/utils.js';
import { computeAddress, getBytes, getCreateAddress, hexlify, Interface, Signature, toBeHex, Transaction } from 'ethers';
import { ECDSA_PACKAGE_SUITE, packageSuiteOf, type KeySuiteId } from '../ecdsa.ts';
import { MAX_TX_BYTES, TxError, type ChainModule, type EthereumOutput, type ParsedTx, type ParseOptions, type TxSignature, type TxTransfer } from './types.ts';

/** EIP-2718 envelope types accepted: 1 = EIP-2930 access list, 2 = EIP-1559 fee market. */
const TYPE_EIP2930 = 0x01;
const TYPE_EIP1559 = 0x02;
/** EIP-4844 blob and EIP-7702 set-code transactions: refused (blob sidecars, delegation policy cannot read). */
const TYPE_BLOB = 0x03;
const TYPE_SET_CODE = 0x04;
/** EIP-2718: a first byte >= 0xc0 is an RLP list, i.e. a legacy transaction; below 0x80 a type. */
const LEGACY_MIN_FIRST_BYTE = 0xc0;
const MAX_TYPE_BYTE = 0x7f;

const N = secp256k1.Point.Fn.ORDER;
const HALF_N = N >> 1n;

/** The ERC-20 calls whose effect policy can read (EIP-20). */
const ERC20 = new Interface([
  'function transfer(address to, uint256 amount)',
  'function transferFrom(address from, address to, uint256 amount)',
  'function approve(address spender, uint256 amount)',
]);

const refuse = (code: TxError['code'], field: string, message: string): never => {
  throw new TxError(code, field, message);
};

/** Parses and checks the unsigned transaction: type, canonical encoding, no signature, a chain id. */
function decode(data: Uint8Array): Transaction {
  if (!(data instanceof Uint8Array) || data.length === 0 || data.length > MAX_TX_BYTES) refuse('MALFORMED_TX', 'tx.data', `not 1 to ${MAX_TX_BYTES} bytes`);
  const first = data[0]!;
  if (first === TYPE_BLOB || first === TYPE_SET_CODE) refuse('UNSUPPORTED_TX', 'tx.type', `type ${first} (${first === TYPE_BLOB ? 'EIP-4844 blob' : 'EIP-7702 set-code'}) transactions are not signed`);
  if (first < LEGACY_MIN_FIRST_BYTE && first !== TYPE_EIP2930 && first !== TYPE_EIP1559) {
    if (first <= MAX_TYPE_BYTE) refuse('UNSUPPORTED_TX', 'tx.type', `unknown transaction type ${first}`);
    refuse('MALFORMED_TX', 'tx.data', 'neither a typed envelope (EIP-2718) nor an RLP list');
  }
  const hex = hexlify(data);
  let tx: Transaction;
  try {
    tx = Transaction.from(hex);
  } catch (e) {
    return refuse('MALFORMED_TX', 'tx.data', `not an unsigned transaction: ${(e as Error).message.split(' (')[0]}`);
  }
  if (tx.signature !== null) refuse('ALREADY_SIGNED', 'tx.signature', 'the transaction already carries a signature');
  // EIP-155: without a chain id a legacy signature is valid on every chain (replayable).
  if (tx.chainId === 0n) refuse('UNSUPPORTED_TX', 'tx.chainId', 'no chain id (pre-EIP-155 legacy transactions are replayable across chains)');
  // What is signed is ethers' serialisation of the fields read; it must be the bytes the
  // client authorised (signTxDigest), so a non-canonical RLP encoding is refused.
  if (tx.unsignedSerialized !== hex) refuse('MALFORMED_TX', 'tx.data', 'not the canonical RLP encoding of the transaction');
  return tx;
}

/** The key's address at `path`: keccak256 of the uncompressed child key, last 20 bytes (checksummed). */
function keyAddress(key: PublicKeyPackage, path: string): string {
  if (typeof key !== 'object' || key === null || packageSuiteOf(key.suite as KeySuiteId) !== ECDSA_PACKAGE_SUITE) {
    return refuse('NOT_OUR_KEY', 'key.suite', 'an Ethereum transaction needs a secp256k1 ECDSA key');
  }
  try {
    return computeAddress(hexlify(deriveChild({ ...key, suite: ECDSA_PACKAGE_SUITE }, path).groupKey));
  } catch (e) {
    if (!(e instanceof CryptoError)) throw e;
    return e.code === 'BAD_PATH' ? refuse('MALFORMED_TX', 'path', e.message) : refuse('NOT_OUR_KEY', 'key', e.message);
  }
}

/** An ERC-20 transfer, transferFrom or approve with exactly its ABI length (selector + one word per argument); else undefined. */
function erc20Transfer(contract: string, calldata: string, length: number): TxTransfer | undefined {
  const fn = ERC20.getFunction(calldata.slice(0, 10));
  if (fn === null || length !== 4 + 32 * fn.inputs.length) return undefined;
  try {
    const args = ERC20.decodeFunctionData(fn, calldata);
    return { asset: contract, to: String(args[args.length - 2]).toLowerCase(), amount: args[args.length - 1] as bigint };
  } catch {
    // An address word with its upper 12 bytes set is not a valid ABI encoding: opaque.
    return undefined;
  }
}

/** Transfers and opaque effects: the native value, an ERC-20 call, any other calldata, contract creation. */
function effects(tx: Transaction, from: string): Pick<ParsedTx, 'transfers' | 'opaque'> {
  const transfers: TxTransfer[] = [];
  const opaque: string[] = [];
  const length = (tx.data.length - 2) / 2;
  // Contract creation: the value goes to the new contract's address (from, nonce).
  const to = (tx.to ?? getCreateAddress({ from, nonce: tx.nonce })).toLowerCase();
  if (tx.value > 0n) transfers.push({ asset: 'native', to, amount: tx.value });
  if (tx.to === null) {
    opaque.push(`contract creation at ${to} with ${length} bytes of init code`);
  } else if (length > 0) {
    const token = erc20Transfer(to, tx.data, length);
    if (token !== undefined) transfers.push(token);
    else opaque.push(`call to ${to}: selector ${tx.data.slice(0, 10)}, ${length} bytes of calldata`);
  }
  return { transfers, opaque };
}

function parse(data: Uint8Array, key: PublicKeyPackage, opts?: ParseOptions): ParsedTx {
  const tx = decode(data);
  const path = opts?.path ?? 'm';
  const from = keyAddress(key, path);
    return {
    chain: 'ethereum',
    network: `eip155:${tx.chainId}`,
    id: tx.unsignedHash,
    targets: [{ input: 0, message: getBytes(tx.unsignedHash), path }],
    ...effects(tx, from),
    // EIP-1559: at most gasLimit * maxFeePerGas; legacy and EIP-2930: gasLimit * gasPrice.
    fee: tx.gasLimit * (tx.maxFeePerGas ?? tx.gasPrice ?? 0n),
  };
}

function finalize(data: Uint8Array, key: PublicKeyPackage, opts: ParseOptions, signatures: readonly TxSignature[]): EthereumOutput {
  const tx = decode(data);
  const address = keyAddress(key, opts?.path ?? 'm');
  const field = 'signatures[0]';
  const sig = Array.isArray(signatures) ? signatures.find((s) => s?.input === 0) : undefined;
  if (sig === undefined) return refuse('BAD_SIGNATURE', field, 'no signature for input 0');
  if (!(sig.signature instanceof Uint8Array) || sig.signature.length !== 64) refuse('BAD_SIGNATURE', field, 'a signature is r || s, 64 bytes');
  // Ethereum's y parity cannot express a recovery id with R.x >= n (2 or 3).
  if (sig.recoveryId !== 0 && sig.recoveryId !== 1) refuse('BAD_SIGNATURE', `${field}.recoveryId`, 'recovery id must be 0 or 1');
  const r = bytesToNumberBE(sig.signature.subarray(0, 32));
  let s = bytesToNumberBE(sig.signature.subarray(32));
  let yParity = sig.recoveryId as 0 | 1;
  if (r === 0n || r >= N || s === 0n || s >= N) refuse('BAD_SIGNATURE', field, 'r and s must be in [1, n-1]');
  // EIP-2: s above n/2 is invalid; (r, n - s) is the same signature with R's parity flipped.
  if (s > HALF_N) {
    s = N - s;
    yParity = (yParity ^ 1) as 0 | 1;
  }
  let from: string | null;
  try {
    tx.signature = Signature.from({ r: toBeHex(r, 32), s: toBeHex(s, 32), yParity });
    from = tx.from;
  } catch (e) {
    return refuse('BAD_SIGNATURE', field, `does not recover a key: ${(e as Error).message.split(' (')[0]}`);
  }
  if (from !== address) refuse('BAD_SIGNATURE', field, `recovers ${from}, not the key's address ${address}`);
  return { chain: 'ethereum', signedTx: tx.serialized, hash: tx.hash!, from: address };
}

export const ethereum: ChainModule = { chain: 'ethereum', parse, finalize };
