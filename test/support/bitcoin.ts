/**
 * PSBTs a wallet would hand keyquorum, and a second opinion on what comes back.
 *
 * - `buildTransaction` / `buildPsbt`: a PSBT (BIP174) spending Taproot key-path outputs
 *   (BIP341/BIP86) of a `frost-secp256k1-tr` key at given paths, each input with its
 *   witnessUtxo, tapInternalKey and tapBip32Derivation (BIP371) filled in, paying given
 *   addresses, with optional change to the key at a path and optional inputs of another
 *   party. Built with @scure/btc-signer; `buildTransaction` returns the scure object so
 *   a test can bend it (a lying output) before `toPSBT()`.
 * - `checkWithBitcoinjs`: bitcoinjs-lib (with libsecp256k1 through tiny-secp256k1)
 *   parses a finalised PSBT, extracts the transaction and verifies each key-path witness
 *   signature against its own BIP341 sighash (`hashForWitnessV1`) and the prevout's
 *   output key. Independent of the code under test.
 */
import { schnorr } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import { Address, NETWORK, OutScript, TEST_NETWORK, Transaction, utils, type TxOpts } from '@scure/btc-signer';
import { initEccLib, Psbt, Transaction as JsTransaction } from 'bitcoinjs-lib';
import * as ecc from 'tiny-secp256k1';
import { deriveChild, parsePath, type PublicKeyPackage } from '@keyquorum/crypto';
import type { BitcoinNetwork } from '../../packages/protocol/src/tx/types.ts';

/** Address parameters per network (BIP173/BIP350 hrp bc, tb, bcrt), written out apart from the module's own. */
export const BTC_NETWORKS = { mainnet: NETWORK, testnet: TEST_NETWORK, regtest: { ...TEST_NETWORK, bech32: 'bcrt' } } as const;

/** The master fingerprint written into every tapBip32Derivation entry of our key (any consistent value). */
export const KEY_FINGERPRINT = 0x6b71_7275;

/** The x-only BIP341 internal key of `key` at `path` (before the TapTweak). */
export function internalKey(key: PublicKeyPackage, path = 'm'): Uint8Array {
  return deriveChild(key, path).groupKey.slice(1);
}

/**
 * The P2TR output script of `key` at `path`: key-path only (BIP86) or committing to
 * `merkleRoot`. The BIP341 tweak is scure's (`taprootTweakPubkey`), as a wallet computes
 * it, not keyquorum's `targetExternalKey`, so tests cross-check the two.
 */
export function taprootScript(key: PublicKeyPackage, path = 'm', merkleRoot?: Uint8Array): Uint8Array {
  return OutScript.encode({ type: 'tr', pubkey: utils.taprootTweakPubkey(internalKey(key, path), merkleRoot ?? new Uint8Array(0))[0] });
}

/** The bech32m address (BIP350) of `taprootScript(key, path, merkleRoot)` on `network`. */
export function taprootAddress(key: PublicKeyPackage, path = 'm', network: BitcoinNetwork = 'mainnet', merkleRoot?: Uint8Array): string {
  return Address(BTC_NETWORKS[network]).encode(OutScript.decode(taprootScript(key, path, merkleRoot)));
}

/** BIP371 fields a wallet writes for the key at `path`. */
export function taprootFields(key: PublicKeyPackage, path = 'm', fingerprint = KEY_FINGERPRINT) {
  const internal = internalKey(key, path);
  return { tapInternalKey: internal, tapBip32Derivation: [[internal, { hashes: [], der: { fingerprint, path: parsePath(path) } }]] as [Uint8Array, { hashes: Uint8Array[]; der: { fingerprint: number; path: number[] } }][] };
}

/** A single-key party that is not the threshold key (another party's inputs and destinations): its BIP86 P2TR output. */
export function otherParty(label: string) {
  const secretKey = sha256(utf8ToBytes(`keyquorum test party ${label}`));
  const internal = schnorr.getPublicKey(secretKey);
  const script = OutScript.encode({ type: 'tr', pubkey: utils.taprootTweakPubkey(internal, new Uint8Array(0))[0] });
  return { secretKey, internalKey: internal, script, address: (network: BitcoinNetwork = 'mainnet') => Address(BTC_NETWORKS[network]).encode(OutScript.decode(script)) };
}

export interface KeyInput {
  /** Derivation path of the spent output's key; default the root 'm'. */
  path?: string;
  amount: bigint;
  /** Spend an output that commits to this script tree root (BIP341); the input carries tapMerkleRoot. */
  merkleRoot?: Uint8Array;
  /** PSBT_IN_SIGHASH_TYPE; absent = SIGHASH_DEFAULT. */
  sighashType?: number;
}

export interface PsbtSpec {
  key: PublicKeyPackage;
  /** Outputs of the key spent, in order (input indices 0..n-1). */
  inputs: KeyInput[];
  /** Inputs of another party, appended after the key's (P2TR of `otherParty(label)`). */
  foreign?: { label: string; amount: bigint }[];
  /** Outputs paid: an address of `network`, or a raw script (OP_RETURN). */
  pay: ({ address: string; amount: bigint } | { script: Uint8Array; amount: bigint })[];
  /** Change back to the key at `path` (BIP86 P2TR with its BIP371 fields), appended last. */
  change?: { path: string; amount: bigint };
  network?: BitcoinNetwork;
  /** A seed for the prevout txids, so two specs spend different coins. */
  label?: string;
}

const SCURE_OPTS: TxOpts = { allowUnknownOutputs: true };

/** The PSBT as a @scure/btc-signer Transaction (mutable: add or bend fields, then `toPSBT()`). */
export function buildTransaction(spec: PsbtSpec): Transaction {
  const network = spec.network ?? 'mainnet';
  const tx = new Transaction(SCURE_OPTS);
  const txid = (i: number) => sha256(utf8ToBytes(`${spec.label ?? 'keyquorum'}/prevout/${i}`));
  spec.inputs.forEach((input, i) => {
    const path = input.path ?? 'm';
    tx.addInput({
      txid: txid(i),
      index: i % 3,
      witnessUtxo: { script: taprootScript(spec.key, path, input.merkleRoot), amount: input.amount },
      ...taprootFields(spec.key, path),
      ...(input.merkleRoot === undefined ? {} : { tapMerkleRoot: input.merkleRoot }),
      ...(input.sighashType === undefined ? {} : { sighashType: input.sighashType }),
    });
  });
  (spec.foreign ?? []).forEach((f, k) => {
    const other = otherParty(f.label);
    tx.addInput({
      txid: txid(spec.inputs.length + k),
      index: 0,
      witnessUtxo: { script: other.script, amount: f.amount },
      tapInternalKey: other.internalKey,
      tapBip32Derivation: [[other.internalKey, { hashes: [], der: { fingerprint: 0x0f0f0f0f, path: [1, k] } }]],
    });
  });
  for (const out of spec.pay) {
    if ('address' in out) tx.addOutputAddress(out.address, out.amount, BTC_NETWORKS[network]);
    else tx.addOutput({ script: out.script, amount: out.amount });
  }
  if (spec.change !== undefined) {
    tx.addOutput({ script: taprootScript(spec.key, spec.change.path), amount: spec.change.amount, ...taprootFields(spec.key, spec.change.path) });
  }
  return tx;
}

/** The PSBT bytes (base64 for the HTTP API and CLI: `Buffer.from(buildPsbt(spec)).toString('base64')`). */
export function buildPsbt(spec: PsbtSpec): Uint8Array {
  return buildTransaction(spec).toPSBT();
}

let eccReady = false;

/** What bitcoinjs-lib makes of a finalised PSBT. */
export interface BitcoinjsCheck {
  /** The extracted transaction, raw hex, and its txid. */
  tx: string;
  txid: string;
  /** Inputs whose witness is one BIP340 signature over bitcoinjs' own BIP341 sighash, valid under the prevout's output key. */
  verified: number[];
}

/** Parses `psbtBase64` with bitcoinjs-lib, extracts the transaction and checks every key-path witness with libsecp256k1. */
export function checkWithBitcoinjs(psbtBase64: string): BitcoinjsCheck {
  if (!eccReady) {
    initEccLib(ecc);
    eccReady = true;
  }
  const psbt = Psbt.fromBase64(psbtBase64);
  const tx = psbt.extractTransaction();
  const prevouts = psbt.data.inputs.map((input, i) => {
    if (input.witnessUtxo === undefined) throw new Error(`input ${i} has no witnessUtxo`);
    return input.witnessUtxo;
  });
  const scripts = prevouts.map((p) => p.script);
  const values = prevouts.map((p) => p.value);
  const verified: number[] = [];
  tx.ins.forEach((input, i) => {
    const script = scripts[i]!;
    if (input.witness.length !== 1 || script.length !== 34 || script[0] !== 0x51 || script[1] !== 0x20) return;
    const witness = input.witness[0]!;
    if (witness.length !== 64 && witness.length !== 65) return;
    const hashType = witness.length === 65 ? witness[64]! : JsTransaction.SIGHASH_DEFAULT;
    const sighash = tx.hashForWitnessV1(i, scripts, values, hashType);
    if (ecc.verifySchnorr(sighash, script.subarray(2), witness.subarray(0, 64))) verified.push(i);
  });
  return { tx: tx.toHex(), txid: tx.getId(), verified };
}
