/**
 * What the session drivers take and return: the engine's requests (already
 * validated and authorised by coordinator.ts) and results.
 */
import type { PublicKeyPackage } from '@keyquorum/crypto';
import type { ClientRequest, KeySuiteId, ParticipantRef, SignTxField, TaprootTarget } from '@keyquorum/protocol';
import type { RegistryKey } from '../store/types.ts';

export interface DkgRequest {
  keyId: string;
  suite: KeySuiteId;
  threshold: number;
  participants: ParticipantRef[];
  request: ClientRequest;
}

export interface SignRequest {
  key: RegistryKey;
  publicKey: PublicKeyPackage;
  message: Uint8Array;
  path?: string;
  taproot?: TaprootTarget;
  request: ClientRequest;
  /** sign-tx (docs/transactions.md): the transaction and the input this signature is for (the START's `tx`), and its id for the audit. */
  tx?: SignTxField & { id: string };
}

export interface SignResult {
  signature: Uint8Array;
  /** External key of the target (child and/or taproot output key). */
  publicKey: Uint8Array;
  quorum: string[];
  attempts: number;
  /** ecdsa-secp256k1: the recovery id (0..3) of `signature` (r || s, low s). */
  recoveryId?: number;
}

export interface RepairRequest {
  key: RegistryKey;
  /** The key's current public package (epoch `key.epoch`). */
  publicKey: PublicKeyPackage;
  /** The participant whose share is rebuilt, with its index in the key. */
  target: ParticipantRef;
  request: ClientRequest;
}

export interface ReshareRequest {
  key: RegistryKey;
  /** The key's current public package (epoch `key.epoch`). */
  publicKey: PublicKeyPackage;
  /** The new set, numbered 1..n' in this order. */
  newParticipants: ParticipantRef[];
  threshold: number;
  request: ClientRequest;
}

/** The START's `tx` of a sign-tx signing (tx/wire.ts `SignTxField`: exactly these fields). */
export function startTx(t: SignTxField): SignTxField {
  return { chain: t.chain, data: t.data, input: t.input, ...(t.network === undefined ? {} : { network: t.network }) };
}
