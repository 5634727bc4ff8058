/** Standard verifiers for end-to-end checks: noble for BIP340, noble and OpenSSL for Ed25519. */
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { schnorr } from '@noble/curves/secp256k1.js';
import { hexToBytes } from '@noble/hashes/utils.js';

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function standardVerify(scheme: string, signatureHex: string, message: Uint8Array, publicKeyHex: string): boolean {
  const sig = hexToBytes(signatureHex);
  const key = hexToBytes(publicKeyHex);
  if (scheme === 'frost-secp256k1-tr') return schnorr.verify(sig, message, key);
  if (scheme !== 'frost-ed25519') throw new Error(`no standard verifier for ${scheme}`);
  const nobleOk = ed25519.verify(sig, message, key);
  const opensslOk = nodeVerify(null, message, createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, key]), format: 'der', type: 'spki' }), sig);
  return nobleOk && opensslOk;
}
