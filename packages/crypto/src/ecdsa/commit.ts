/**
 * Commitments in the random-oracle model (DKLs23 F_Com): com = H(sid, sender, salt, value)
 * with a 32-byte random salt; opened by revealing (value, salt).
 */
import { equalBytes } from '../bytes.ts';
import { CryptoError } from '../errors.ts';
import { assertBytes } from '../frost/suite.ts';
import { hash, randomBytes, u32, type Rng } from './common.ts';

export function commit(sid: Uint8Array, sender: number, value: Uint8Array, rng?: Rng): { commitment: Uint8Array; salt: Uint8Array } {
  const salt = randomBytes(rng, 32);
  return { commitment: hash('commit', sid, u32(sender), salt, value), salt };
}

/** Throws INVALID_COMMITMENT naming `sender` unless (value, salt) opens `commitment`. */
export function verifyCommitment(sid: Uint8Array, sender: number, value: Uint8Array, salt: unknown, commitment: Uint8Array, field: string): void {
  assertBytes(salt, 32, `${field}.salt`);
  if (!equalBytes(hash('commit', sid, u32(sender), salt as Uint8Array, value), commitment))
    throw new CryptoError('INVALID_COMMITMENT', { field, culprits: [sender], message: `INVALID_COMMITMENT: participant ${sender}'s opening does not match its commitment` });
}
