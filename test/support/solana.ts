/**
 * Solana transaction messages built with @solana/web3.js 1.x (a second implementation,
 * not our module's @solana/kit), for tests of `sign-tx --chain solana`: the message a
 * client would hand the cluster, and a check of the broadcastable result.
 */
import { createPublicKey, verify } from 'node:crypto';
import {
  ComputeBudgetProgram,
  Keypair,
  PublicKey,
  SystemProgram,
  Transaction,
  TransactionInstruction,
  TransactionMessage,
  VersionedTransaction,
  type AddressLookupTableAccount,
} from '@solana/web3.js';

export const TOKEN_PROGRAM = new PublicKey('TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA');
export const TOKEN_2022_PROGRAM = new PublicKey('TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb');

/** A fresh random address (an account nobody in the test signs for). */
export const randomAddress = (): PublicKey => Keypair.generate().publicKey;

/** SPL Token `Transfer` (tag 3, u64 LE amount): [source (w), destination (w), authority (signer)]. */
export function splTransfer(source: PublicKey, destination: PublicKey, authority: PublicKey, amount: bigint, program = TOKEN_PROGRAM): TransactionInstruction {
  const data = Buffer.alloc(9);
  data.writeUInt8(3, 0);
  data.writeBigUInt64LE(amount, 1);
  return new TransactionInstruction({
    programId: program,
    keys: [
      { pubkey: source, isSigner: false, isWritable: true },
      { pubkey: destination, isSigner: false, isWritable: true },
      { pubkey: authority, isSigner: true, isWritable: false },
    ],
    data,
  });
}

/** SPL Token `TransferChecked` (tag 12, u64 LE amount, u8 decimals): [source (w), mint, destination (w), authority (signer)]. */
export function splTransferChecked(source: PublicKey, mint: PublicKey, destination: PublicKey, authority: PublicKey, amount: bigint, decimals: number, program = TOKEN_PROGRAM): TransactionInstruction {
  const data = Buffer.alloc(10);
  data.writeUInt8(12, 0);
  data.writeBigUInt64LE(amount, 1);
  data.writeUInt8(decimals, 9);
  return new TransactionInstruction({
    programId: program,
    keys: [
      { pubkey: source, isSigner: false, isWritable: true },
      { pubkey: mint, isSigner: false, isWritable: false },
      { pubkey: destination, isSigner: false, isWritable: true },
      { pubkey: authority, isSigner: true, isWritable: false },
    ],
    data,
  });
}

export interface MessageOptions {
  /** 'legacy' (Transaction.compileMessage) or 0 (TransactionMessage.compileToV0Message). */
  version?: 'legacy' | 0;
  /** v0 only: tables the compiler may load accounts from. */
  lookupTables?: AddressLookupTableAccount[];
  recentBlockhash?: string;
}

/** The serialised message of `instructions` paid by `feePayer`. */
export function solanaMessage(feePayer: PublicKey | Uint8Array, instructions: TransactionInstruction[], opts: MessageOptions = {}): Uint8Array {
  const payerKey = feePayer instanceof PublicKey ? feePayer : new PublicKey(feePayer);
  const recentBlockhash = opts.recentBlockhash ?? randomAddress().toBase58();
  if ((opts.version ?? 'legacy') === 'legacy') {
    const tx = new Transaction({ feePayer: payerKey, recentBlockhash }).add(...instructions);
    return new Uint8Array(tx.compileMessage().serialize());
  }
  return new TransactionMessage({ payerKey, recentBlockhash, instructions }).compileToV0Message(opts.lookupTables).serialize();
}

export interface TransferOptions extends MessageOptions {
  /** Compute Budget SetComputeUnitPrice (micro-lamports) and SetComputeUnitLimit. */
  computeUnitPrice?: bigint;
  computeUnitLimit?: number;
}

/** A message paying `lamports` from the 32-byte Ed25519 key `from` (fee payer and sole signer) to `to`. */
export function solanaTransferMessage(from: Uint8Array, to: PublicKey, lamports: bigint, opts: TransferOptions = {}): Uint8Array {
  const payer = new PublicKey(from);
  const instructions: TransactionInstruction[] = [];
  if (opts.computeUnitLimit !== undefined) instructions.push(ComputeBudgetProgram.setComputeUnitLimit({ units: opts.computeUnitLimit }));
  if (opts.computeUnitPrice !== undefined) instructions.push(ComputeBudgetProgram.setComputeUnitPrice({ microLamports: opts.computeUnitPrice }));
  instructions.push(SystemProgram.transfer({ fromPubkey: payer, toPubkey: to, lamports }));
  return solanaMessage(payer, instructions, opts);
}

/** RFC 8410 SubjectPublicKeyInfo prefix of an Ed25519 key. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** Ed25519 verification by node:crypto (OpenSSL): web3.js 1.x has no verifier for v0 transactions. */
export function ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  const key = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
  return verify(null, message, key, signature);
}

/**
 * Whether a `sign-tx` result is a broadcastable transaction of `message` by its fee payer,
 * judged by @solana/web3.js: the wire form deserialises to the same message and its one
 * signature verifies (legacy: `Transaction.verifySignatures`; v0: node:crypto).
 */
export function solanaTransactionVerifies(transactionBase64: string, message: Uint8Array): boolean {
  const wire = Buffer.from(transactionBase64, 'base64');
  if (message[0]! & 0x80) {
    const tx = VersionedTransaction.deserialize(wire);
    if (!Buffer.from(tx.message.serialize()).equals(Buffer.from(message)) || tx.signatures.length !== 1) return false;
    return ed25519Verify(tx.signatures[0]!, message, tx.message.staticAccountKeys[0]!.toBytes());
  }
  const tx = Transaction.from(wire);
  return Buffer.from(tx.serializeMessage()).equals(Buffer.from(message)) && tx.verifySignatures();
}
