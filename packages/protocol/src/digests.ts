/**
 * What exactly a client authorises: the `digest` of its signed request, computed
 * the same way by the client that signs it, the coordinator that forwards it and
 * every signer that checks it (docs/cluster-protocol.md, "Request digests").
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { operationDigest } from './auth.ts';
import type { TaprootTarget } from './messages.ts';

const signerList = (signers: readonly string[]) => [...signers].sort().join(',');

export function createKeyDigest(p: { keyId: string; suite: string; threshold: number; signers: readonly string[] }): Uint8Array {
  return operationDigest('createKey', { keyId: p.keyId, suite: p.suite, threshold: p.threshold, signers: signerList(p.signers) });
}

/** '' for no taproot tweak, 'keypath' for BIP86 key-path only, else the merkle root's hex. */
export function taprootLabel(taproot: TaprootTarget | undefined): string {
  if (taproot === undefined) return '';
  return taproot.merkleRoot === undefined ? 'keypath' : bytesToHex(taproot.merkleRoot);
}

/**
 * A sign request is for the key at one epoch: signers at another epoch recompute
 * another digest and refuse the START (issue 10, finding 2: a coordinator telling two
 * signers different epochs for one authorised signing).
 */
export function signDigest(p: { keyId: string; epoch: number; message: Uint8Array; path?: string; taproot?: TaprootTarget }): Uint8Array {
  return operationDigest('sign', { keyId: p.keyId, epoch: p.epoch, message: p.message, path: p.path ?? '', taproot: taprootLabel(p.taproot) });
}

export function refreshDigest(p: { keyId: string }): Uint8Array {
  return operationDigest('refresh', { keyId: p.keyId });
}

/**
 * What an ecdsa-secp256k1 presign session binds in place of a client request's digest
 * (a presignature is made ahead of any request; the request is checked when it is used).
 */
export function presignDigest(p: { keyId: string }): Uint8Array {
  // Not an operation a client can request (auth.ts OPERATIONS): its own domain tag (a key id holds no NUL).
  return sha256(utf8ToBytes(`keyquorum/ecdsa-presign/v1\0${p.keyId}`));
}

/**
 * The same for every retire request of a key: what binds an approval to one request
 * is `clientRequestId` (auth.ts) of the whole signed request (its nonce and timestamp).
 */
export function retireDigest(p: { keyId: string }): Uint8Array {
  return operationDigest('retire', { keyId: p.keyId });
}

export function reshareDigest(p: { keyId: string; groupKey: Uint8Array; newThreshold: number; signers: readonly string[] }): Uint8Array {
  return operationDigest('reshare', { keyId: p.keyId, groupKey: bytesToHex(p.groupKey), newThreshold: p.newThreshold, signers: signerList(p.signers) });
}

/** Share repair of `target`'s share of the key (docs/cluster-protocol.md "Share repair"). */
export function repairDigest(p: { keyId: string; target: string }): Uint8Array {
  return operationDigest('repair', { keyId: p.keyId, target: p.target });
}
