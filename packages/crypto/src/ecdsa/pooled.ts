/**
 * Pooled DKLs23 presignatures (docs/cluster-protocol.md "Presignature pool"): rounds
 * 1-2 and step 8 run ahead of the message for the key itself (no path), and the
 * presignature is kept sealed until one signing uses it. Two things differ from
 * signing in one go (sign.ts):
 *
 * - Additive tweak (BIP32 path) applied in the last step. The presignature holds
 *   sum u = k*phi and sum v = x*phi for the untweaked x; for the child key x + t,
 *   s = (m + r*(x + t)) / k, so each signer uses m' = m + r*t in step 9:
 *   w_i = m'*phi_i + r*v_i, and sum w = (m + r*(x + t))*phi (sum phi_i = phi).
 * - Re-randomisation (Groth and Shoup, "On the Security of ECDSA with Additive Key
 *   Derivation and Presignatures", Eurocrypt 2022, eprint 2021/1330: presignatures
 *   known before the message and the tweak weaken ECDSA, re-randomised ones do not):
 *   delta = H(presignature id, R, the signed-for key, digest); the instance key
 *   becomes k' = k + delta, R' = R + delta*G, and each signer adds delta*phi_i to its
 *   u_i (sum u' = k'*phi). r is R'.x; delta is public and every signer derives the same.
 *
 * The presignature's secret (u_i, v_i, phi_i) leaves `signPresign`'s state only as the
 * 96 bytes the signer seals (`exportPresignature`); `signPooled` reads them back once.
 */
import { bytesToNumberBE } from '@noble/curves/utils.js';
import { concatBytes } from '../bytes.ts';
import { CryptoError } from '../errors.ts';
import { deriveChild, type DerivationPath } from '../frost/derive.ts';
import type { PublicKeyPackage } from '../frost/keys.ts';
import { assertBytes, assertMember, parsePoint, type ParticipantId } from '../frost/suite.ts';
import { Fn, hashToScalar, N, Point, pointBytes, scalarBytes, suite, type Pt } from './common.ts';
import type { Presignature, SignatureShare, SigningSession } from './sign.ts';

/** u_i || v_i || phi_i, 32 bytes each. */
export const PRESIGNATURE_SECRET_LENGTH = 96;

/** The presignature's secret as the signer seals it; the presignature is zeroed (it is used once, from the sealed copy). */
export function exportPresignature(presignature: Presignature): Uint8Array {
  if (presignature.consumed) throw new CryptoError('NONCE_REUSED', { field: 'sign.presignature', message: 'NONCE_REUSED: this presignature was already used' });
  const out = concatBytes(scalarBytes(presignature.u), scalarBytes(presignature.v), scalarBytes(presignature.phi));
  presignature.u = presignature.v = presignature.phi = 0n;
  presignature.consumed = true;
  return out;
}

export interface PooledSignParams {
  /** The presignature's id (32 bytes: its presign session id), bound into delta. */
  presignatureId: Uint8Array;
  /** The quorum that made it (participant indices). */
  quorum: ParticipantId[];
  /** R of the presignature (33 bytes). */
  instancePoint: Uint8Array;
  /** The key's public package (the presignature was made for its group key, no path). */
  publicKey: PublicKeyPackage;
  /** Non-hardened BIP32 path of this signing, if any. */
  path?: DerivationPath;
}

/** The public side of a pooled signing: what the combiner needs (R', the signed-for key) and the values step 9 uses (r = R'.x mod n). */
export function pooledSession(params: PooledSignParams, digest: Uint8Array): { session: SigningSession; tweak: bigint; delta: bigint; r: bigint } {
  const id = assertBytes(params.presignatureId, 32, 'sign.presignatureId');
  const d = assertBytes(digest, 32, 'sign.digest');
  const R = parsePoint(suite, params.instancePoint, 'sign.presignature.instancePoint') as unknown as Pt;
  let publicKey = params.publicKey.groupKey;
  let tweak = 0n;
  if (params.path !== undefined) {
    const child = deriveChild(params.publicKey, params.path);
    publicKey = child.groupKey;
    tweak = child.tweak;
  }
  const delta = hashToScalar('sign/rerandomise', id, params.instancePoint, publicKey, d);
  // delta is public: variable time is fine.
  const R2 = R.add(Point.BASE.multiplyUnsafe(delta));
  if (R2.is0()) throw new CryptoError('BAD_POINT', { field: 'sign.instancePoint', message: 'BAD_POINT: R + delta*G is the identity' });
  return { session: { quorum: [...params.quorum], instancePoint: pointBytes(R2), publicKey }, tweak, delta, r: Fn.create(R2.toAffine().x) };
}

/**
 * Step 9 of a pooled signing from the sealed secret (read once; zeroed here): the
 * share for the re-randomised instance R' and the signed-for (possibly derived) key.
 */
export function signPooled(secret: Uint8Array, self: ParticipantId, params: PooledSignParams, digest: Uint8Array): { share: SignatureShare; session: SigningSession } {
  try {
    assertBytes(secret, PRESIGNATURE_SECRET_LENGTH, 'sign.presignature.secret');
    assertMember(self, params.quorum, 'sign.self');
    const { session, tweak, delta, r } = pooledSession(params, digest);
    const u = Fn.fromBytes(secret.subarray(0, 32));
    const v = Fn.fromBytes(secret.subarray(32, 64));
    const phi = Fn.fromBytes(secret.subarray(64, 96));
    const m = Fn.add(bytesToNumberBE(digest) % N, Fn.mul(r, tweak));
    const w = Fn.add(Fn.mul(m, phi), Fn.mul(r, v));
    const u2 = Fn.add(u, Fn.mul(delta, phi));
    return { share: { from: self, w: scalarBytes(w), u: scalarBytes(u2) }, session };
  } finally {
    secret.fill(0);
  }
}
