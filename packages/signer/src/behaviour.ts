/**
 * What a signer computes from its secrets, as an injectable object (STYLE.md "Inject
 * what varies"). Production uses `honestBehaviour`; a fault-injection fixture passes
 * another `computeSignatureShare` (a corrupted share inside properly signed
 * envelopes) without any test-only branch in the daemon.
 */
import { signShare, type ecdsa, type RepairSigma, type KeyShare, type SignatureShare, type SigningNonces, type SigningPackage, type SigningTarget } from '@keyquorum/crypto';

export interface SignatureShareInput {
  keyId: string;
  epoch: number;
  /** Hex of the signing attempt's proposal id. */
  sessionId: string;
  keyShare: KeyShare;
  nonces: SigningNonces;
  signingPackage: SigningPackage;
  target: SigningTarget | undefined;
}

export interface SignerBehaviour {
  /** RFC 9591 §5.2 sign(): runs after the nonce is durably consumed. */
  computeSignatureShare(input: SignatureShareInput): SignatureShare;
  /**
   * ecdsa-secp256k1 only, optional: the round-2 messages (DKLs23 Protocol 3.6 step 7)
   * about to be sent, returned as sent. Absent in production; a fault fixture alters them.
   */
  ecdsaRound2?(input: { keyId: string; sessionId: string; messages: ecdsa.SignRound2Direct[] }): ecdsa.SignRound2Direct[];
  /**
   * ecdsa-secp256k1 presignature pool only, optional: the step-9 share of a pooled
   * signing (computed after the presignature was durably consumed) about to be sent,
   * returned as sent. Absent in production; a fixture alters or observes it.
   */
  ecdsaPooledShare?(input: { keyId: string; sessionId: string; presignature: string; share: ecdsa.SignatureShare }): ecdsa.SignatureShare;
  /**
   * Share repair, optional: a helper's sigma (the sum of the deltas it received) about to be
   * sent to the repaired signer, returned as sent. Absent in production; a fault fixture alters it.
   */
  repairSigma?(input: { keyId: string; sessionId: string; sigma: RepairSigma }): RepairSigma;
}

export const honestBehaviour: SignerBehaviour = {
  computeSignatureShare: ({ keyShare, nonces, signingPackage, target }) => signShare(keyShare, nonces, signingPackage, target),
};
