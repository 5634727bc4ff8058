/**
 * Standard verifiers for the chaos run (noble only; test/support/verify.ts holds the
 * vitest-bound checks with OpenSSL and ethers): BIP340 for frost-secp256k1-tr, RFC 8032
 * for frost-ed25519, ECDSA over the 32-byte digest with low s for ecdsa-secp256k1.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { hexToBytes } from '@noble/hashes/utils.js';

export function verifySignature(suite: string, signatureHex: string, message: Uint8Array, publicKeyHex: string): boolean {
  const sig = hexToBytes(signatureHex);
  const key = hexToBytes(publicKeyHex);
  if (suite === 'frost-secp256k1-tr') return schnorr.verify(sig, message, key);
  if (suite === 'frost-ed25519') return ed25519.verify(sig, message, key);
  if (suite === 'ecdsa-secp256k1') return secp256k1.verify(sig, message, key, { prehash: false, lowS: true });
  throw new Error(`no standard verifier for ${suite}`);
}
