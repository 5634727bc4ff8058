/**
 * Standard verifiers for end-to-end checks: noble for BIP340, noble and OpenSSL for
 * Ed25519, and for ecdsa-secp256k1 noble (prehash false, low s) plus ethers recovering
 * the key's Ethereum address from the recovery id.
 */
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { computeAddress, recoverAddress, Signature } from 'ethers';
import { expect } from 'vitest';

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function standardVerify(scheme: string, signatureHex: string, message: Uint8Array, publicKeyHex: string): boolean {
  const sig = hexToBytes(signatureHex);
  const key = hexToBytes(publicKeyHex);
  if (scheme === 'frost-secp256k1-tr') return schnorr.verify(sig, message, key);
  if (scheme === 'ecdsa-secp256k1') return secp256k1.verify(sig, message, key, { prehash: false, lowS: true });
  if (scheme !== 'frost-ed25519') throw new Error(`no standard verifier for ${scheme}`);
  const nobleOk = ed25519.verify(sig, message, key);
  const opensslOk = nodeVerify(null, message, createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, key]), format: 'der', type: 'spki' }), sig);
  return nobleOk && opensslOk;
}

/** What `sign` returns (SDK) or prints (`keyquorum sign --json`). */
export interface SignOutput {
  signature: string;
  publicKey: string;
  recoveryId?: number;
}

/** An ecdsa-secp256k1 signature over `digest`: 64 bytes, noble verifies (prehash false, low s), and ethers' recoverAddress(digest, sig) == computeAddress(publicKey). */
export function checkEthereum(out: SignOutput, digest: Uint8Array): void {
  const sig = hexToBytes(out.signature);
  expect(sig.length).toBe(64);
  expect(hexToBytes(out.publicKey).length).toBe(33);
  expect(secp256k1.verify(sig, digest, hexToBytes(out.publicKey), { prehash: false })).toBe(true);
  expect(secp256k1.verify(sig, digest, hexToBytes(out.publicKey), { prehash: false, lowS: true })).toBe(true);
  expect(out.recoveryId).toBeGreaterThanOrEqual(0);
  expect(out.recoveryId).toBeLessThanOrEqual(3);
  const ethSig = Signature.from({ r: `0x${out.signature.slice(0, 64)}`, s: `0x${out.signature.slice(64)}`, v: 27 + (out.recoveryId! & 1) });
  expect(recoverAddress(`0x${bytesToHex(digest)}`, ethSig)).toBe(computeAddress(`0x${out.publicKey}`));
}

/** Checks a signature of any scheme with its standard verifier (and, for ecdsa-secp256k1, its recovery id). */
export function checkSignature(scheme: string, out: SignOutput, message: Uint8Array): void {
  if (scheme === 'ecdsa-secp256k1') checkEthereum(out, message);
  else expect(standardVerify(scheme, out.signature, message, out.publicKey)).toBe(true);
}
