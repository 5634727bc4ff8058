/**
 * Solana transaction messages (docs/transactions.md §1 "solana"). The signer is handed a
 * message (legacy or v0, decoded with @solana/kit), never a digest: Ed25519 signs the
 * message bytes themselves (RFC 8032), so what policy reads is exactly what is signed.
 *
 * The key at the path must be the fee payer (static account 0) and the only required
 * signer: then the one signature makes the transaction complete and broadcastable, and
 * "the key" inside an instruction is account index 0 (a duplicate static account, or an
 * address-table entry equal to it, is refused by the runtime: AccountLoadedTwice).
 * Read: System Program transfer / transferWithSeed (lamports), SPL Token and Token-2022
 * Transfer / TransferChecked with the key as authority, Compute Budget limit and price
 * (the fee, https://solana.com/docs/core/fees). Anything else is `opaque`.
 */
import { CryptoError, deriveChild, type PublicKeyPackage } from '@keyquorum/crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import {
  getBase58Decoder,
  getBase64Decoder,
  getCompiledTransactionMessageDecoder,
  getTransactionEncoder,
  type CompiledTransactionMessage,
  type ReadonlyUint8Array,
  type SignatureBytes,
  type TransactionMessageBytes,
} from '@solana/kit';
import { TxError, type ChainModule, type ParsedTx, type ParseOptions, type SolanaOutput, type TxSignature, type TxTransfer } from './types.ts';

const SYSTEM_PROGRAM = '11111111111111111111111111111111';
const TOKEN_PROGRAMS = new Set(['TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA', 'TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb']);
const COMPUTE_BUDGET_PROGRAM = 'ComputeBudget111111111111111111111111111111';
/** Signature-verification precompiles: each signature they check costs a signature fee (data[0] = count). */
const PRECOMPILES = new Set(['Ed25519SigVerify111111111111111111111111111', 'KeccakSecp256k11111111111111111111111111111', 'Secp256r1SigVerify1111111111111111111111111']);
const LAMPORTS_PER_SIGNATURE = 5000n;
const DEFAULT_UNITS_PER_INSTRUCTION = 200_000n;
const MAX_COMPUTE_UNITS = 1_400_000n;
const MICRO_LAMPORTS_PER_LAMPORT = 1_000_000n;
/** A transaction fits one 1232-byte packet (IPv6 MTU less headers): the message plus a shortvec count and one signature. */
const MAX_MESSAGE_BYTES = 1232 - 1 - 64;

const base58 = getBase58Decoder();
const messageDecoder = getCompiledTransactionMessageDecoder();

type Bytes = ReadonlyUint8Array;
type Message = Extract<CompiledTransactionMessage, { version: 'legacy' | 0 }>;

interface Decoded {
  message: Message;
  /** The key at the path, 32 bytes, and its address (base58). */
  publicKey: Uint8Array;
  payer: string;
  path: string;
}

/** Decodes `data` and checks it is a message the key alone pays for and signs. */
function decode(data: Uint8Array, key: PublicKeyPackage, opts: ParseOptions | undefined): Decoded {
  if (!(data instanceof Uint8Array) || data.length === 0) throw new TxError('MALFORMED_TX', 'message', 'expected the message bytes');
  if (data.length > MAX_MESSAGE_BYTES) throw new TxError('MALFORMED_TX', 'message', `${data.length} bytes: larger than a transaction packet allows (${MAX_MESSAGE_BYTES})`);
  if (key?.suite !== 'frost-ed25519') throw new TxError('UNSUPPORTED_TX', 'key.suite', `solana is signed by frost-ed25519 keys, not ${String(key?.suite)}`);
  const path = opts?.path ?? 'm';
  let publicKey: Uint8Array;
  try {
    publicKey = deriveChild(key, path).groupKey;
  } catch (e) {
    if (e instanceof CryptoError && e.code === 'BAD_PATH') throw new TxError('MALFORMED_TX', 'path', e.message);
    throw e;
  }
  // The first byte is a legacy header's signer count (< 0x80) or 0x80 | version.
  if (data[0]! > 0x80) throw new TxError('UNSUPPORTED_TX', 'message.version', `message version ${data[0]! & 0x7f}: only legacy and v0`);
  let decoded: CompiledTransactionMessage;
  let end: number;
  try {
    [decoded, end] = messageDecoder.read(data, 0);
  } catch (e) {
    throw new TxError('MALFORMED_TX', 'message', `not a Solana transaction message: ${(e as Error).message}`);
  }
  if (end !== data.length) throw new TxError('MALFORMED_TX', 'message', `${data.length - end} bytes after the message`);
  if (decoded.version !== 'legacy' && decoded.version !== 0) throw new TxError('UNSUPPORTED_TX', 'message.version', `message version ${decoded.version}: only legacy and v0`);
  const message = decoded;
  const { header, staticAccounts } = message;
  if (header.numSignerAccounts + header.numReadonlyNonSignerAccounts > staticAccounts.length) throw new TxError('MALFORMED_TX', 'message.header', 'more signer and read-only accounts than static accounts');
  if (new Set(staticAccounts).size !== staticAccounts.length) throw new TxError('MALFORMED_TX', 'message.staticAccounts', 'an account is listed twice');
  const payer = base58.decode(publicKey);
  if (header.numSignerAccounts < 1 || staticAccounts[0] !== payer) throw new TxError('NOT_OUR_KEY', 'message.staticAccounts[0]', `the fee payer is not the key at ${path} (${payer})`);
  if (header.numSignerAccounts > 1) throw new TxError('UNSUPPORTED_TX', 'message.header.numSignerAccounts', `the message needs ${header.numSignerAccounts} signatures; only the key's own can be given`);
  if (header.numReadonlySignerAccounts > 0) throw new TxError('MALFORMED_TX', 'message.header.numReadonlySignerAccounts', 'the fee payer must be writable');
  return { message, publicKey, payer, path };
}

/** Every account index of the message to its address; `lookup:<table>:<index>` for one loaded from an address lookup table (writable ones first, as the runtime orders them). */
function accountList(message: Message): { accounts: string[]; staticCount: number } {
  const accounts: string[] = [...message.staticAccounts];
  const lookups = message.version === 0 ? (message.addressTableLookups ?? []) : [];
  for (const l of lookups) for (const i of l.writableIndexes ?? []) accounts.push(`lookup:${l.lookupTableAddress}:${i}`);
  for (const l of lookups) for (const i of l.readonlyIndexes ?? []) accounts.push(`lookup:${l.lookupTableAddress}:${i}`);
  return { accounts, staticCount: message.staticAccounts.length };
}

const view = (d: Bytes) => new DataView(d.buffer, d.byteOffset, d.byteLength);
const u32 = (d: Bytes, at: number): number | undefined => (d.length >= at + 4 ? view(d).getUint32(at, true) : undefined);
const u64 = (d: Bytes, at: number): bigint | undefined => (d.length >= at + 8 ? view(d).getBigUint64(at, true) : undefined);

/** One instruction's accounts by position, and whether the one at a position is the key (account index 0). */
interface Operands {
  data: Bytes;
  at(position: number): string | undefined;
  isKey(position: number): boolean;
}

/** What a read instruction moves: transfers ([] for none); undefined when policy cannot read it. */
type Reading = TxTransfer[] | undefined;

/** System Program (bincode: u32 LE tag; trailing bytes are ignored by the runtime, as here). */
function readSystem(ix: Operands): Reading {
  const tag = u32(ix.data, 0);
  const lamports = u64(ix.data, 4);
  // Transfer { lamports }: [from (signer), to].
  if (tag === 2 && lamports !== undefined && ix.isKey(0) && ix.at(1) !== undefined) return [{ asset: 'native', to: ix.at(1)!, amount: lamports }];
  // TransferWithSeed { lamports, from_seed, from_owner }: [from (derived from base), base (signer), to].
  if (tag === 11 && lamports !== undefined && ix.isKey(1) && ix.at(0) !== undefined && ix.at(2) !== undefined) return [{ asset: 'native', to: ix.at(2)!, amount: lamports }];
  // AdvanceNonceAccount: [nonce, recent blockhashes sysvar, authority]; moves no value (durable-nonce transactions).
  if (tag === 4 && ix.data.length === 4) return [];
  return undefined;
}

/** SPL Token / Token-2022: Transfer (3) [source, destination, authority], TransferChecked (12) [source, mint, destination, authority]; u8 tag, u64 LE amount. */
function readToken(ix: Operands): Reading {
  const amount = u64(ix.data, 1);
  if (amount === undefined) return undefined;
  if (ix.data[0] === 3 && ix.isKey(2) && ix.at(0) !== undefined && ix.at(1) !== undefined) return [{ asset: `spl:${ix.at(0)!}`, to: ix.at(1)!, amount }];
  if (ix.data[0] === 12 && ix.data.length >= 10 && ix.isKey(3) && ix.at(1) !== undefined && ix.at(2) !== undefined) return [{ asset: ix.at(1)!, to: ix.at(2)!, amount }];
  return undefined;
}

interface Budget {
  limit?: bigint;
  price?: bigint;
  seen: Set<number>;
}

/** Compute Budget (u8 tag): the runtime refuses a transaction with an unreadable or repeated one, so do we. */
function readBudget(budget: Budget, data: Bytes, field: string): void {
  const tag = data[0];
  const value = tag === 3 ? u64(data, 1) : u32(data, 1);
  if (tag === undefined || tag < 1 || tag > 4 || value === undefined) throw new TxError('MALFORMED_TX', field, 'not a compute budget instruction this runtime accepts');
  if (budget.seen.has(tag)) throw new TxError('MALFORMED_TX', field, `compute budget instruction ${tag} repeated`);
  budget.seen.add(tag);
  if (tag === 2) budget.limit = BigInt(value);
  if (tag === 3) budget.price = BigInt(value);
}

function parse(data: Uint8Array, key: PublicKeyPackage, opts?: ParseOptions): ParsedTx {
  const { message, payer, path } = decode(data, key, opts);
  const { accounts, staticCount } = accountList(message);
  const transfers: TxTransfer[] = [];
  const opaque: string[] = [];
  const budget: Budget = { seen: new Set() };
  let signatures = BigInt(message.header.numSignerAccounts);
  let instructions = 0n;
  message.instructions.forEach((ix, k) => {
    const field = `message.instructions[${k}]`;
    const indices = ix.accountIndices ?? [];
    const program = accounts[ix.programAddressIndex];
    if (program === undefined) throw new TxError('MALFORMED_TX', `${field}.programAddressIndex`, `account ${ix.programAddressIndex} does not exist`);
    indices.forEach((i, j) => {
      if (accounts[i] === undefined) throw new TxError('MALFORMED_TX', `${field}.accountIndices[${j}]`, `account ${i} does not exist`);
    });
    const data = ix.data ?? new Uint8Array(0);
    if (ix.programAddressIndex >= staticCount) {
      opaque.push(`${field}: a program loaded through an address lookup table`);
      instructions++;
      return;
    }
    if (program === COMPUTE_BUDGET_PROGRAM) return readBudget(budget, data, `${field}.data`);
    instructions++;
    if (PRECOMPILES.has(program)) signatures += BigInt(data[0] ?? 0);
    const operands: Operands = { data, at: (p) => (indices[p] === undefined ? undefined : accounts[indices[p]!]), isKey: (p) => indices[p] === 0 };
    const reading = program === SYSTEM_PROGRAM ? readSystem(operands) : TOKEN_PROGRAMS.has(program) ? readToken(operands) : undefined;
    if (reading === undefined) {
      opaque.push(`${field}: program ${program}${data.length > 0 ? ` instruction ${data[0]}` : ''}`);
      return;
    }
    for (const t of reading) {
      if (t.asset === 'native' && t.to === payer) continue; // back to the key itself
      if (t.to.startsWith('lookup:') || t.asset.includes('lookup:')) opaque.push(`${field}: a transfer whose accounts are loaded through an address lookup table`);
      transfers.push(t);
    }
  });
  const defaultUnits = DEFAULT_UNITS_PER_INSTRUCTION * instructions;
  const units = [budget.limit ?? defaultUnits, MAX_COMPUTE_UNITS].reduce((a, b) => (a < b ? a : b));
  const priority = ((budget.price ?? 0n) * units + MICRO_LAMPORTS_PER_LAMPORT - 1n) / MICRO_LAMPORTS_PER_LAMPORT;
  return {
    chain: 'solana',
    network: 'solana',
    id: bytesToHex(sha256(data)),
    targets: [{ input: 0, message: data.slice(), path }],
    transfers,
    fee: LAMPORTS_PER_SIGNATURE * signatures + priority,
    opaque,
  };
}

function finalize(data: Uint8Array, key: PublicKeyPackage, opts: ParseOptions, signatures: readonly TxSignature[]): SolanaOutput {
  const { publicKey, payer } = decode(data, key, opts);
  const given = signatures.find((s) => s.input === 0);
  if (given === undefined) throw new TxError('BAD_SIGNATURE', 'signatures[0]', 'no signature for input 0');
  const signature = given.signature;
  let valid = false;
  try {
    // RFC 8032 §5.1.7 with canonical encodings (zip215: false), as the runtime's verify_strict.
    valid = signature instanceof Uint8Array && signature.length === 64 && ed25519.verify(signature, data, publicKey, { zip215: false });
  } catch {
    valid = false;
  }
  if (!valid) throw new TxError('BAD_SIGNATURE', 'signatures[0].signature', `not a valid Ed25519 signature of the message by ${payer}`);
  // Wire form: shortvec signature count, the signatures in signer order (the payer's only), the message.
  const wire = getTransactionEncoder().encode({ messageBytes: data as unknown as TransactionMessageBytes, signatures: { [payer]: signature as SignatureBytes } });
  return { chain: 'solana', signature: base58.decode(signature), transaction: getBase64Decoder().decode(wire) };
}

export const solana: ChainModule = { chain: 'solana', parse, finalize };
