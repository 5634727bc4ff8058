/**
 * Bitcoin (docs/transactions.md §1 "bitcoin"): a PSBT (BIP174, Taproot fields BIP371)
 * whose Taproot key-path inputs belong to a `frost-secp256k1-tr` key. Each input of the
 * key is recognised by deriving (never by trusting the PSBT's claims): its prevout script
 * must be P2TR of the BIP341 output key of the key at the input's path, tweaked with its
 * tapMerkleRoot or key-path only (BIP86). Each target is that input's BIP341 signature
 * message hash; each signature is BIP340, verified before it enters the witness.
 * @scure/btc-signer decodes, hashes, finalises and extracts; nothing here is a codec.
 */
import { schnorr } from '@noble/curves/secp256k1.js';
import { equalBytes } from '@noble/curves/utils.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { Address, NETWORK, OutScript, SigHash, TEST_NETWORK, Transaction } from '@scure/btc-signer';
import { CryptoError, deriveChild, HARDENED_OFFSET, targetExternalKey, type PublicKeyPackage } from '@keyquorum/crypto';
import {
  BITCOIN_NETWORKS,
  MAX_TX_BYTES,
  MAX_TX_TARGETS,
  TxError,
  type BitcoinNetwork,
  type BitcoinOutput,
  type ChainModule,
  type ParsedTx,
  type ParseOptions,
  type TxSignature,
  type TxSigningTarget,
  type TxTransfer,
} from './types.ts';

const SUITE = 'frost-secp256k1-tr';
/**
 * Derivation steps one parse may spend (each is a point multiplication, ~1 ms): the
 * PSBT names the paths, so without a budget 128 KiB of deep paths costs seconds.
 */
export const MAX_DERIVATION_STEPS = 1024;

/** BIP173/BIP350 human-readable parts; base58 version bytes of Bitcoin Core's chainparams. */
const NETWORKS = {
  mainnet: NETWORK,
  testnet: TEST_NETWORK,
  regtest: { ...TEST_NETWORK, bech32: 'bcrt' },
} as const;

/** BIP371 PSBT_{IN,OUT}_TAP_BIP32_DERIVATION, as @scure/btc-signer decodes it. */
type TapDerivation = readonly [Uint8Array, { der: { path: readonly number[] } }];
interface TaprootFields {
  tapInternalKey?: Uint8Array;
  tapBip32Derivation?: readonly TapDerivation[];
}

/** A decoded PSBT, its targets and each target's output key (what its signature verifies under). */
interface Read {
  tx: Transaction;
  parsed: ParsedTx;
  outputKeys: Map<number, Uint8Array>;
}

const pathString = (path: readonly number[]) => ['m', ...path].join('/');

/** What a parse may derive: memoised by path, within the step budget. */
class Deriver {
  private readonly cache = new Map<string, Uint8Array | undefined>();
  private readonly outputKeys = new Map<string, Uint8Array>();
  private steps = 0;
  readonly rootInternal: Uint8Array;
  constructor(readonly key: PublicKeyPackage) {
    this.rootInternal = key.groupKey.slice(1);
  }

  private charge(path: readonly number[], field: string): void {
    this.steps += path.length;
    if (this.steps > MAX_DERIVATION_STEPS) throw new TxError('UNSUPPORTED_TX', field, `derivation paths exceed ${MAX_DERIVATION_STEPS} steps in total`);
  }

  /** The x-only internal key at `path` (BIP32 CKDpub through deriveChild); undefined for a path no key has (too deep, invalid child). */
  internal(path: readonly number[], field: string): Uint8Array | undefined {
    const name = pathString(path);
    if (!this.cache.has(name)) {
      this.charge(path, field);
      try {
        this.cache.set(name, deriveChild(this.key, name).groupKey.slice(1));
      } catch (e) {
        if (!(e instanceof CryptoError)) throw e;
        this.cache.set(name, undefined);
      }
    }
    return this.cache.get(name);
  }

  /**
   * The path the fields name for this key: the tapBip32Derivation entry of
   * `tapInternalKey` whose non-hardened path derives that key, 'm' when `tapInternalKey`
   * is the root's; undefined otherwise. Entries for other keys are ignored.
   */
  ownPath(fields: TaprootFields, field: string): string | undefined {
    const internal = fields.tapInternalKey;
    if (internal === undefined) return undefined;
    for (const [xonly, { der }] of fields.tapBip32Derivation ?? []) {
      if (!equalBytes(xonly, internal) || der.path.some((i) => i >= HARDENED_OFFSET)) continue;
      const derived = this.internal(der.path, `${field}.tapBip32Derivation`);
      if (derived !== undefined && equalBytes(derived, internal)) return pathString(der.path);
    }
    return equalBytes(internal, this.rootInternal) ? 'm' : undefined;
  }

  /** BIP341 output key Q of the key at `path`, tweaked with `merkleRoot` (none: BIP86). */
  outputKey(path: string, merkleRoot: Uint8Array | undefined, field: string): Uint8Array {
    const name = merkleRoot === undefined ? path : `${path}#${bytesToHex(merkleRoot)}`;
    let q = this.outputKeys.get(name);
    if (q === undefined) {
      this.charge(path.split('/').slice(1).map(Number), field);
      q = targetExternalKey(this.key, { path, taproot: merkleRoot === undefined ? {} : { merkleRoot } });
      this.outputKeys.set(name, q);
    }
    return q;
  }
}

/** P2TR output script of x-only key `q` (BIP341: OP_1 <32 bytes>). */
const p2trScript = (q: Uint8Array) => OutScript.encode({ type: 'tr', pubkey: q });
/** Whether `script` has the P2TR shape (read without decoding: another party's script may be any bytes). */
const isP2tr = (script: Uint8Array) => script.length === 34 && script[0] === 0x51 && script[1] === 0x20;

function decode(data: Uint8Array): Transaction {
  if (!(data instanceof Uint8Array) || data.length > MAX_TX_BYTES) throw new TxError('MALFORMED_TX', 'tx.data', `a PSBT of at most ${MAX_TX_BYTES} bytes`);
  try {
    // Unknown output scripts (OP_RETURN, non-standard) are still outputs to account for;
    // unknown PSBT records are kept so the returned PSBT loses nothing of another party's.
    // The library's script checks would recompute every input's Taproot tweak: the key's
    // inputs are checked here by deriving, the others are not ours to judge.
    return Transaction.fromPSBT(data, { allowUnknownOutputs: true, unknown: 'ignore', disableScriptCheck: true });
  } catch (e) {
    throw new TxError('MALFORMED_TX', 'tx.data', `not a valid PSBT: ${(e as Error).message}`);
  }
}

/** The address of `script` on `network`, or 'script:<hex>' when it has none (OP_RETURN). */
function destination(script: Uint8Array, network: BitcoinNetwork): string {
  try {
    const decoded = OutScript.decode(script);
    if (decoded.type !== 'unknown') return Address(NETWORKS[network]).encode(decoded);
  } catch {
    // not a standard template: no address
  }
  return `script:${bytesToHex(script)}`;
}

function read(data: Uint8Array, key: PublicKeyPackage, opts: ParseOptions = {}): Read {
  if (key?.suite !== SUITE) throw new TxError('UNSUPPORTED_TX', 'key.suite', `bitcoin transactions are signed by ${SUITE} keys`);
  const network = opts.network ?? 'mainnet';
  if (!(BITCOIN_NETWORKS as readonly string[]).includes(network)) throw new TxError('UNSUPPORTED_TX', 'tx.network', `one of ${BITCOIN_NETWORKS.join(', ')}`);
  const tx = decode(data);
  const deriver = new Deriver(key);

  // BIP341 signature messages commit to every input's amount and script (sha_amounts,
  // sha_scriptpubkeys), so every prevout must be known.
  const prevouts = Array.from({ length: tx.inputsLength }, (_, i) => {
    const utxo = tx.getInput(i).witnessUtxo;
    if (utxo === undefined) throw new TxError('MALFORMED_TX', `tx.inputs[${i}].witnessUtxo`, 'every input needs its witnessUtxo (BIP341 signs all prevouts)');
    return utxo;
  });
  const scripts = prevouts.map((u) => u.script);
  const amounts = prevouts.map((u) => u.amount);

  const targets: TxSigningTarget[] = [];
  const outputKeys = new Map<number, Uint8Array>();
  for (let i = 0; i < tx.inputsLength; i++) {
    const field = `tx.inputs[${i}]`;
    const input = tx.getInput(i);
    if (!isP2tr(scripts[i]!)) continue;
    const path = deriver.ownPath(input, field) ?? 'm';
    const merkleRoot = input.tapMerkleRoot;
    const q = deriver.outputKey(path, merkleRoot, field);
    if (!equalBytes(scripts[i]!, p2trScript(q))) continue; // another party's input
    if (input.tapKeySig !== undefined || input.finalScriptWitness !== undefined || input.finalScriptSig !== undefined) {
      throw new TxError('ALREADY_SIGNED', field, 'the input of the key carries a signature already');
    }
    // BIP341 hash types: NONE, SINGLE and ANYONECANPAY leave outputs or inputs open to change.
    const hashType = input.sighashType ?? SigHash.DEFAULT;
    if (hashType !== SigHash.DEFAULT && hashType !== SigHash.ALL) {
      throw new TxError('UNSUPPORTED_TX', `${field}.sighashType`, `sighash type ${hashType}: only SIGHASH_DEFAULT and SIGHASH_ALL commit to the whole transaction`);
    }
    if (targets.length === MAX_TX_TARGETS) throw new TxError('UNSUPPORTED_TX', field, `more than ${MAX_TX_TARGETS} inputs of the key`);
    targets.push({
      input: i,
      message: tx.preimageWitnessV1(i, scripts, hashType, amounts),
      path,
      taproot: merkleRoot === undefined ? {} : { merkleRoot },
    });
    outputKeys.set(i, q);
  }
  if (targets.length === 0) throw new TxError('NOT_OUR_KEY', 'tx.inputs', 'no input spends a Taproot output of this key');

  const transfers: TxTransfer[] = [];
  let spent = 0n;
  for (let k = 0; k < tx.outputsLength; k++) {
    const output = tx.getOutput(k);
    const script = output.script;
    const amount = output.amount;
    if (script === undefined || amount === undefined) throw new TxError('MALFORMED_TX', `tx.outputs[${k}]`, 'an output without script or amount');
    spent += amount;
    if (isChange(deriver, output, script, `tx.outputs[${k}]`)) continue;
    transfers.push({ asset: 'native', to: destination(script, network), amount });
  }
  const fee = amounts.reduce((a, b) => a + b, 0n) - spent;
  if (fee < 0n) throw new TxError('MALFORMED_TX', 'tx.outputs', 'the outputs spend more than the inputs');
  return { tx, outputKeys, parsed: { chain: 'bitcoin', network, id: tx.id, targets, transfers, fee, opaque: [] } };
}

/**
 * Change: the script is the key-path-only (BIP86) P2TR output of the key at the path the
 * output's own BIP371 fields name. A field naming the key over someone else's script is
 * a transfer.
 */
function isChange(deriver: Deriver, fields: TaprootFields, script: Uint8Array, field: string): boolean {
  if (!isP2tr(script)) return false;
  const path = deriver.ownPath(fields, field);
  return path !== undefined && equalBytes(script, p2trScript(deriver.outputKey(path, undefined, field)));
}

function finalize(data: Uint8Array, key: PublicKeyPackage, opts: ParseOptions, signatures: readonly TxSignature[]): BitcoinOutput {
  const { tx, parsed, outputKeys } = read(data, key, opts);
  if (!Array.isArray(signatures)) throw new TxError('BAD_SIGNATURE', 'signatures', 'a list of signatures');
  for (const s of signatures) {
    if (!outputKeys.has(s.input)) throw new TxError('BAD_SIGNATURE', `signatures[${s.input}]`, `input ${s.input} is not one of the key's`);
  }
  for (const target of parsed.targets) {
    const field = `signatures[${target.input}]`;
    const given = signatures.filter((s) => s.input === target.input);
    if (given.length !== 1) throw new TxError('BAD_SIGNATURE', field, `expected one signature for input ${target.input}, got ${given.length}`);
    const sig = given[0]!.signature;
    // BIP340 verification under the BIP341 output key the prevout pays to.
    if (!(sig instanceof Uint8Array) || sig.length !== 64 || !schnorr.verify(sig, target.message, outputKeys.get(target.input)!)) {
      throw new TxError('BAD_SIGNATURE', field, `the signature does not verify under the output key of input ${target.input}`);
    }
    // BIP341: a 64-byte signature means SIGHASH_DEFAULT; any other type is appended.
    const hashType = tx.getInput(target.input).sighashType ?? SigHash.DEFAULT;
    const tapKeySig = hashType === SigHash.DEFAULT ? sig : Uint8Array.of(...sig, hashType);
    try {
      tx.updateInput(target.input, { tapKeySig }, true);
      tx.finalizeIdx(target.input);
    } catch (e) {
      throw new TxError('MALFORMED_TX', `tx.inputs[${target.input}]`, `cannot finalise: ${(e as Error).message}`);
    }
  }
  // Inputs of other parties not finalised yet: no broadcastable transaction, only the PSBT.
  let raw = '';
  try {
    if (tx.isFinal) raw = bytesToHex(tx.extract());
  } catch (e) {
    throw new TxError('MALFORMED_TX', 'tx.data', `cannot extract the transaction: ${(e as Error).message}`);
  }
  return { chain: 'bitcoin', tx: raw, txid: tx.id, psbt: Buffer.from(tx.toPSBT()).toString('base64') };
}

export const bitcoin: ChainModule = {
  chain: 'bitcoin',
  parse: (data, key, opts) => read(data, key, opts).parsed,
  finalize,
};
