/**
 * Between the API's JSON (hex bytes) and the values the code works with: the
 * coordinator maps its answers with these, the client its request bodies, and the
 * server decodes a signed request's JSON with `parseRequestJson`. Each mapper's type
 * comes from the contract (types.ts), so a field added there fails to compile here
 * until it is mapped.
 */
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { approvalToJson } from '../approval-wire.ts';
import type { ClientRequest } from '../auth.ts';
import { WireError } from '../errors.ts';
import type { PolicyRule } from '../policy.ts';
import type { Chain, TxErrorCode, TxOutput } from '../tx/types.ts';
import type { KeySuiteId } from '../ecdsa.ts';
import type { ParticipantRef, TaprootTarget } from '../messages.ts';
import { decodeJson } from './schema.ts';
import {
  ClientRequestSchema,
  type ApiErrorJson,
  type AttestationJson,
  type BanJson,
  type ClientRequestJson,
  type DerivedKeyJson,
  type KeyJson,
  type KeyState,
  type RetirementJson,
  type SignatureJson,
  type SignedTransactionJson,
  type SignerStatusJson,
} from './types.ts';

/** A key as the coordinator's API answers it, in values (public data only); `keyToJson` gives its JSON, `KeyJson`. */
export interface KeyView {
  id: string;
  suite: KeySuiteId;
  threshold: number;
  /** Signer ids and FROST indices, in DKG order. */
  participants: readonly ParticipantRef[];
  /** External public key (x-only for frost-secp256k1-tr); undefined while pending. */
  publicKey: Uint8Array | undefined;
  /** Group key as an encoded point (33-byte compressed on secp256k1); undefined while pending. */
  groupKey: Uint8Array | undefined;
  /** The BIP32-style chain code of non-hardened derivation; undefined while pending. */
  chainCode: Uint8Array | undefined;
  epoch: number;
  state: KeyState;
  /** ms since the Unix epoch. */
  createdAt: number;
  updatedAt: number;
}

const hexOrNull = (b: Uint8Array | undefined) => (b === undefined ? null : bytesToHex(b));

/** The fields of a `KeyView` its JSON carries. */
type KeyViewInJson = Omit<KeyView, 'chainCode' | 'createdAt' | 'updatedAt'>;

export function keyToJson(k: KeyViewInJson): KeyJson {
  return {
    id: k.id,
    suite: k.suite,
    scheme: k.suite,
    threshold: k.threshold,
    signers: k.participants.map((p) => p.signer),
    publicKey: hexOrNull(k.publicKey),
    groupKey: hexOrNull(k.groupKey),
    epoch: k.epoch,
    state: k.state,
  };
}

export function attestationToJson(a: { signer: string; epoch: number; destroyedAt: number; verifyingShare: Uint8Array; envelope: Uint8Array }): AttestationJson {
  return { signer: a.signer, epoch: a.epoch, destroyedAt: a.destroyedAt, verifyingShare: bytesToHex(a.verifyingShare), envelope: bytesToHex(a.envelope) };
}

export function retirementToJson(r: { key: KeyViewInJson; attestations: ReadonlyArray<Parameters<typeof attestationToJson>[0]> }): RetirementJson {
  return { key: keyToJson(r.key), attestations: r.attestations.map(attestationToJson) };
}

export function signatureToJson(s: { signature: Uint8Array; publicKey: Uint8Array; recoveryId?: number }): SignatureJson {
  const json: SignatureJson = { signature: bytesToHex(s.signature), publicKey: bytesToHex(s.publicKey) };
  if (s.recoveryId !== undefined) json.recoveryId = s.recoveryId;
  return json;
}

export function derivedKeyToJson(d: { publicKey: Uint8Array; chainCode: Uint8Array; path: string }): DerivedKeyJson {
  return { publicKey: bytesToHex(d.publicKey), chainCode: bytesToHex(d.chainCode), path: d.path };
}

export function signerStatusToJson(s: SignerStatusJson): SignerStatusJson {
  return { id: s.id, connected: s.connected, lastSeen: s.lastSeen, epochs: s.epochs };
}

export function banToJson(b: BanJson): BanJson {
  return { signer: b.signer, reason: b.reason, at: b.at };
}

/** An error as an error answer and a failed operation carry it: `field` and `culprits` only when named. */
export function apiErrorToJson(e: { code: string; message: string; field?: string | undefined; culprits: readonly string[]; rule?: PolicyRule | undefined; txCode?: TxErrorCode | undefined }): ApiErrorJson {
  const json: ApiErrorJson = { code: e.code, message: e.message };
  if (e.field !== undefined) json.field = e.field;
  if (e.culprits.length > 0) json.culprits = [...e.culprits];
  if (e.rule !== undefined) json.rule = e.rule;
  if (e.txCode !== undefined) json.txCode = e.txCode;
  return json;
}

/** A signed transaction as POST /v1/keys/{id}/sign-tx answers it. */
export function signedTxToJson(s: { output: TxOutput; txId: string; signatures: ReadonlyArray<{ input: number; signature: Uint8Array }> }): SignedTransactionJson {
  return { ...s.output, txId: s.txId, signatures: s.signatures.map((x) => ({ input: x.input, signature: bytesToHex(x.signature) })) };
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** An unsigned transaction as the sign-tx body carries it: ethereum 0x hex, bitcoin (PSBT) and solana (message) base64. */
export function txToText(chain: Chain, data: Uint8Array): string {
  return chain === 'ethereum' ? `0x${bytesToHex(data)}` : Buffer.from(data).toString('base64');
}

/**
 * The transaction bytes of a sign-tx body's `tx` (`txToText`'s form; ethereum also
 * without '0x'); WireError BAD_FIELD naming `field` for anything else, non-canonical
 * base64 included.
 */
export function txFromText(chain: Chain, text: unknown, field = 'tx'): Uint8Array {
  const bad = (what: string) => new WireError('BAD_FIELD', { field, message: `BAD_FIELD: ${field}: expected ${what}` });
  if (typeof text !== 'string' || text.length === 0) throw bad(chain === 'ethereum' ? '0x hex' : 'base64');
  if (chain === 'ethereum') {
    const h = text.startsWith('0x') || text.startsWith('0X') ? text.slice(2) : text;
    if (h.length === 0 || h.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(h)) throw bad('the transaction as 0x hex');
    return hexToBytes(h.toLowerCase());
  }
  const data = new Uint8Array(Buffer.from(text, 'base64'));
  if (text.length % 4 !== 0 || !BASE64.test(text) || Buffer.from(data).toString('base64') !== text) throw bad(`the ${chain === 'bitcoin' ? 'PSBT' : 'message'} as base64`);
  return data;
}

/** A taproot target as the sign body carries it: `{}` for key-path only. */
export function taprootToJson(t: TaprootTarget): { merkleRoot?: string } {
  return t.merkleRoot === undefined ? {} : { merkleRoot: bytesToHex(t.merkleRoot) };
}

/** A ClientRequest as the API's JSON (hex bytes). */
export function requestToJson(r: ClientRequest): ClientRequestJson {
  return {
    v: r.v,
    op: r.op,
    keyId: r.keyId,
    digest: bytesToHex(r.digest),
    timestamp: r.timestamp,
    nonce: bytesToHex(r.nonce),
    clientKey: bytesToHex(r.clientKey),
    sig: bytesToHex(r.sig),
    ...(r.approvals === undefined ? {} : { approvals: r.approvals.map(approvalToJson) }),
  };
}

/**
 * ClientRequest JSON (hex bytes) to bytes: fields present and known, hex decoded;
 * WireError BAD_FIELD naming 'request.<field>' otherwise. Lengths, ranges and the
 * signature are the verifier's to check (`verifyClientRequest`).
 */
export function parseRequestJson(v: unknown): ClientRequest {
  return decodeJson(ClientRequestSchema, v, 'request');
}
