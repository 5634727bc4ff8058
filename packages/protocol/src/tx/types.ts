/**
 * Transaction-aware signing (docs/transactions.md): what every chain module gives the
 * signers, the coordinator and the client from one unsigned transaction. A signer
 * never signs a digest it was handed: it parses the transaction itself, computes each
 * digest it signs from it, and checks the key's policy against what the transaction
 * does (`ParsedTx`).
 */
import type { PublicKeyPackage } from '@keyquorum/crypto';

export const CHAINS = ['ethereum', 'bitcoin', 'solana'] as const;
export type Chain = (typeof CHAINS)[number];

/** The suite whose keys sign each chain's transactions. */
export const CHAIN_SUITE: Readonly<Record<Chain, string>> = {
  ethereum: 'ecdsa-secp256k1',
  bitcoin: 'frost-secp256k1-tr',
  solana: 'frost-ed25519',
};

/** Bitcoin networks an address can be rendered for (BIP173/BIP350 human-readable parts bc, tb, bcrt). */
export const BITCOIN_NETWORKS = ['mainnet', 'testnet', 'regtest'] as const;
export type BitcoinNetwork = (typeof BITCOIN_NETWORKS)[number];

/** Largest unsigned transaction accepted (a PSBT with its prevouts included). */
export const MAX_TX_BYTES = 128 * 1024;
/** Most signatures one transaction may ask of a key (Bitcoin inputs). */
export const MAX_TX_TARGETS = 64;

export interface ParseOptions {
  /** ethereum, solana: the derivation path of the signing key ('m/0/7'); default the root key. Bitcoin takes each input's path from the PSBT. */
  path?: string;
  /** bitcoin only: the network its addresses are rendered for (default 'mainnet'). */
  network?: BitcoinNetwork;
}

/** One signature the key must give for the transaction. */
export interface TxSigningTarget {
  /** 0 for ethereum and solana; the PSBT input index for bitcoin. */
  input: number;
  /** What is signed: the 32-byte digest (ethereum: keccak256 of the unsigned transaction; bitcoin: the BIP341 sighash) or the message itself (solana). */
  message: Uint8Array;
  /** The derivation path ('m' for the root key). */
  path: string;
  /** bitcoin only: sign for the BIP341 output key; `{}` = key-path only (BIP86). */
  taproot?: { merkleRoot?: Uint8Array };
}

/** Value leaving the key's control. */
export interface TxTransfer {
  /** 'native' (wei, satoshi, lamport) or the token: an ERC-20 contract address (0x + 40 lowercase hex), an SPL mint (base58). */
  asset: string;
  /** The destination in its canonical form: 0x + 40 lowercase hex; a bech32/bech32m or base58 bitcoin address of the network; a base58 Solana account (for SPL: the destination token account). */
  to: string;
  amount: bigint;
}

export interface ParsedTx {
  chain: Chain;
  /** ethereum 'eip155:<chainId>' (legacy without EIP-155 is refused), bitcoin the network given, solana 'solana'. */
  network: string;
  /** An id for logs and audit: ethereum the unsigned transaction hash, bitcoin the txid, solana the message's SHA-256; hex. */
  id: string;
  /** The signatures this key gives, by input; never empty. */
  targets: TxSigningTarget[];
  /** Every transfer of value away from the key (change back to the key is not one). */
  transfers: TxTransfer[];
  /** The most the transaction can pay in fees, native base units. */
  fee: bigint;
  /** What policy cannot read (a contract call other than an ERC-20 transfer/transferFrom/approve, a contract creation, an unknown program): one description each. */
  opaque: string[];
}

/** A signature over one target, as the coordinator's signing returns it. */
export interface TxSignature {
  input: number;
  /** 64 bytes: r || s (ethereum), BIP340 (bitcoin), Ed25519 (solana). */
  signature: Uint8Array;
  /** ethereum: the recovery id the signing returned. */
  recoveryId?: number;
}

export interface EthereumOutput { chain: 'ethereum'; signedTx: string; hash: string; from: string }
export interface BitcoinOutput { chain: 'bitcoin'; tx: string; txid: string; psbt: string }
export interface SolanaOutput { chain: 'solana'; signature: string; transaction: string }
/** The broadcastable result: ethereum signed RLP hex; bitcoin raw tx hex, txid, finalised PSBT base64; solana base58 signature, base64 wire transaction. */
export type TxOutput = EthereumOutput | BitcoinOutput | SolanaOutput;

export interface ChainModule {
  readonly chain: Chain;
  /**
   * Parses the unsigned transaction against the key (its public package: group key and
   * chain code). Throws `TxError` for anything malformed, signed already, or not
   * spendable by this key; never returns a partial answer.
   */
  parse(data: Uint8Array, key: PublicKeyPackage, opts?: ParseOptions): ParsedTx;
  /** Puts the signatures in and returns the broadcastable transaction; throws TxError if one is missing or does not verify. */
  finalize(data: Uint8Array, key: PublicKeyPackage, opts: ParseOptions, signatures: readonly TxSignature[]): TxOutput;
}

export const TX_ERROR_CODES = ['MALFORMED_TX', 'UNSUPPORTED_TX', 'NOT_OUR_KEY', 'ALREADY_SIGNED', 'BAD_SIGNATURE'] as const;
export type TxErrorCode = (typeof TX_ERROR_CODES)[number];

/** A transaction the modules refuse; `field` names where ('tx.inputs[2].witnessUtxo'). */
export class TxError extends Error {
  override readonly name = 'TxError';
  constructor(readonly code: TxErrorCode, readonly field: string, message: string) {
    super(`${code}: ${field}: ${message}`);
  }
}
