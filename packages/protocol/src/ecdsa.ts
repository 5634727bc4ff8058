/**
 * Message bodies of the `ecdsa-secp256k1` scheme (threshold ECDSA, DKLs23, eprint
 * 2023/765; crypto in `@keyquorum/crypto` `ecdsa`). Envelopes, signatures, end-to-end
 * encryption, session ids and client requests are the cluster's (messages.ts); this
 * file adds the bodies whose shape differs from the FROST suites', with strict parsers
 * (exact byte lengths, on-curve points, canonical scalars, no unknown fields).
 *
 * Key: an ecdsa-secp256k1 key's public package is the `frost-secp256k1` package
 * (same group, same Feldman VSS: group key Y 33-byte compressed, verifying shares,
 * chain code), so CONFIRM, COMMIT, the registry and derivation are shared. The sealed
 * share additionally holds the pairwise OT-extension seeds and zero-share seeds.
 *
 * dkg (KEY_ROUND, same session shape as every key session): R1 is the FROST round-1
 * package; R2 (encrypted to its recipient) carries the Feldman share and the pair
 * setup: base OTs in both directions (endemic OT with proofs) and half a zero seed.
 * refresh (KEY_ROUND): R1 is the FROST refresh commitment; R2 the same body as the
 * dkg's (refresh share and a fresh pair setup), so the OT state is renewed with the
 * shares under the same group key. reshare is not supported yet.
 *
 * sign (ECDSA_SIGN_ROUND; session id derived like a key session's):
 *   START         C->S  SignStartBody (message = the 32-byte digest; no taproot)   (proposal id)
 *   CONTRIBUTION  S->C  32 fresh bytes                                             (proposal id)
 *   CONTRIBUTIONS C->S  the quorum's CONTRIBUTION envelopes (they define the quorum) (proposal id)
 *   -- from here sessionId = deriveSessionId(kind 'sign', quorum, contributions, request digest) --
 *   R1            S->*  {commitment} to R_i (Protocol 3.6 steps 4-6), and
 *                 S->S  {mul}: the RVOLE receiver's OT-extension message, encrypted to each peer
 *   R1_DELIVER    C->S  every R1 broadcast and the R1 messages addressed to S
 *   R2            S->S  {instancePoint, salt, publicShare, gammaU, gammaV, psi, mul} encrypted (step 7)
 *   R2_DELIVER    C->S  the R2 messages addressed to S
 *   SHARE         S->C  {w, u, instancePoint} (step 9), sent only after the signer's
 *                       nonce journal entry for the attempt is durably consumed
 *   ABORT         both  as everywhere; culprits name a peer that failed a step-8 or OT check
 * presignature pool (docs/cluster-protocol.md "Presignature pool"): the same rounds
 * from a PRESIGN {keyId, epoch} (no client request; the session id binds
 * `presignDigest`) to step 8, whose result is sealed instead of used:
 *   PRESIGNED     S->C  {keyId, epoch, instancePoint} under the presign session id (= presignature id)
 *   POOLED        C->S  {start, presignature} (proposal id) -> SHARE {w, u, instancePoint R'} (proposal id)
 * The coordinator combines (step 10) from public values only and verifies the result.
 */
import { ecdsa } from '@keyquorum/crypto';
import { WireError } from './errors.ts';
import { DIGEST_LENGTH, KEY_ID_PATTERN } from './constants.ts';
import { bytes, fieldPath, isPlainObject, point, scalar, str, strictObject, uint } from './validate.ts';

/** The scheme id (header suite and key suite). */
export const ECDSA_SUITE = 'ecdsa-secp256k1' as const;
/** The FROST suite whose public package (and DKG maths) an ecdsa-secp256k1 key uses. */
export const ECDSA_PACKAGE_SUITE = 'frost-secp256k1' as const;

export const ECDSA_SIGN_ROUND = {
  START: 0,
  CONTRIBUTION: 1,
  CONTRIBUTIONS: 2,
  R1: 3,
  R1_DELIVER: 4,
  R2: 5,
  R2_DELIVER: 6,
  SHARE: 7,
  /** Presignature pool (docs/cluster-protocol.md "Presignature pool"): a presign session's START. */
  PRESIGN: 8,
  /** S->C: one presignature made (session id = the presign session id = its presignature id). */
  PRESIGNED: 9,
  /** C->S: a START and the quorum's presignature id: SHARE in one round trip. */
  POOLED: 10,
  ABORT: 15,
} as const;

/** Every suite a key may have: the FROST suites and ecdsa-secp256k1. */
export const KEY_SUITES = ['frost-secp256k1-tr', 'frost-ed25519', 'frost-secp256k1', ECDSA_SUITE] as const;
export type KeySuiteId = (typeof KEY_SUITES)[number];

/** The suite of a key's public package (`ecdsa-secp256k1` keys use the frost-secp256k1 package). */
export function packageSuiteOf<S extends KeySuiteId>(suite: S): Exclude<KeySuiteId, typeof ECDSA_SUITE> {
  return suite === ECDSA_SUITE ? ECDSA_PACKAGE_SUITE : (suite as Exclude<KeySuiteId, typeof ECDSA_SUITE>);
}

export const isEcdsaSuite = (suite: string): suite is typeof ECDSA_SUITE => suite === ECDSA_SUITE;

// ---- bodies ----
export interface EcdsaPairSetupBody {
  otReceiver: { seed: Uint8Array; encryptions: Uint8Array };
  otSender: { z: Uint8Array; proof: Uint8Array };
  zeroSeedContribution: Uint8Array;
}
/** dkg and refresh R2 (encrypted): the Feldman (or refresh) share and the pair setup towards the recipient. */
export interface EcdsaDkgRound2Body {
  signingShare: Uint8Array;
  pairSetup: EcdsaPairSetupBody;
}
export interface EcdsaMul1Body {
  nonce: Uint8Array;
  u: Uint8Array;
  checkX: Uint8Array;
  checkT: Uint8Array;
}
export interface EcdsaMul2Body {
  nonce: Uint8Array;
  tau: Uint8Array;
  checkHash: Uint8Array;
  mu: Uint8Array[];
  gamma: Uint8Array[];
}
/** sign R1 to '*' (plain). */
export interface EcdsaSignR1BroadcastBody { commitment: Uint8Array }
/** sign R1 to one peer (encrypted). */
export interface EcdsaSignR1DirectBody { mul: EcdsaMul1Body }
export type EcdsaSignR1Body = EcdsaSignR1BroadcastBody | EcdsaSignR1DirectBody;
/** sign R2 to one peer (encrypted). */
export interface EcdsaSignR2Body {
  instancePoint: Uint8Array;
  salt: Uint8Array;
  publicShare: Uint8Array;
  gammaU: Uint8Array;
  gammaV: Uint8Array;
  psi: Uint8Array;
  mul: EcdsaMul2Body;
}
/** PRESIGNED: a presignature of the key at `epoch` made by the presign session's quorum; R (not re-randomised). */
export interface EcdsaPresignedBody { keyId: string; epoch: number; instancePoint: Uint8Array }
/** sign SHARE: (w_i, u_i) and the instance point R this signer computed. */
export interface EcdsaSignShareBody { w: Uint8Array; u: Uint8Array; instancePoint: Uint8Array }

/** Lengths fixed by the crypto parameters (kappa = 128, s = 80, XI = 416). */
export const ECDSA_LENGTHS = {
  baseOtEncryptions: ecdsa.BASE_OT_RECEIVER_LENGTH,
  dlogProof: ecdsa.DLOG_PROOF_LENGTH,
  oteU: ecdsa.OTE_U_LENGTH,
  gf: 16,
  mulTau: ecdsa.XI * 2 * ecdsa.MUL_L * 32,
} as const;

const C = 'secp256k1' as const;
const obj = <K extends string>(v: unknown, keys: readonly K[], field = '') => strictObject(v, keys, keys, field);
const b32 = (v: unknown, f: string) => bytes(v, 32, f);

function scalars(v: unknown, n: number, field: string): Uint8Array[] {
  if (!Array.isArray(v) || v.length !== n) throw new WireError('BAD_FIELD', { field, message: `BAD_FIELD: ${field}: expected ${n} scalars` });
  return v.map((s, i) => scalar(C, s, fieldPath(field, i), { allowZero: true }));
}

function parseMul1(v: unknown, field: string): EcdsaMul1Body {
  const o = obj(v, ['nonce', 'u', 'checkX', 'checkT'], field);
  return {
    nonce: b32(o.nonce, fieldPath(field, 'nonce')),
    u: bytes(o.u, ECDSA_LENGTHS.oteU, fieldPath(field, 'u')),
    checkX: bytes(o.checkX, ECDSA_LENGTHS.gf, fieldPath(field, 'checkX')),
    checkT: bytes(o.checkT, ECDSA_LENGTHS.gf, fieldPath(field, 'checkT')),
  };
}

function parseMul2(v: unknown, field: string): EcdsaMul2Body {
  const o = obj(v, ['nonce', 'tau', 'checkHash', 'mu', 'gamma'], field);
  return {
    nonce: b32(o.nonce, fieldPath(field, 'nonce')),
    tau: bytes(o.tau, ECDSA_LENGTHS.mulTau, fieldPath(field, 'tau')),
    checkHash: b32(o.checkHash, fieldPath(field, 'checkHash')),
    mu: scalars(o.mu, ecdsa.MUL_L, fieldPath(field, 'mu')),
    gamma: scalars(o.gamma, ecdsa.MUL_L, fieldPath(field, 'gamma')),
  };
}

// ---- parsers (wired into decodeBody by messages.ts for suite ecdsa-secp256k1) ----
export const parseEcdsaDkgRound2 = (v: unknown): EcdsaDkgRound2Body => {
  const o = obj(v, ['signingShare', 'pairSetup']);
  const p = obj(o.pairSetup, ['otReceiver', 'otSender', 'zeroSeedContribution'], 'pairSetup');
  const r = obj(p.otReceiver, ['seed', 'encryptions'], 'pairSetup.otReceiver');
  const s = obj(p.otSender, ['z', 'proof'], 'pairSetup.otSender');
  return {
    signingShare: scalar(C, o.signingShare, 'signingShare', { allowZero: true }),
    pairSetup: {
      otReceiver: { seed: b32(r.seed, 'pairSetup.otReceiver.seed'), encryptions: bytes(r.encryptions, ECDSA_LENGTHS.baseOtEncryptions, 'pairSetup.otReceiver.encryptions') },
      otSender: { z: point(C, s.z, 'pairSetup.otSender.z'), proof: bytes(s.proof, ECDSA_LENGTHS.dlogProof, 'pairSetup.otSender.proof') },
      zeroSeedContribution: b32(p.zeroSeedContribution, 'pairSetup.zeroSeedContribution'),
    },
  };
};

/** R1 is a broadcast {commitment} or a direct {mul}; which one a message must be follows from its `to`. */
export const parseEcdsaSignR1 = (v: unknown): EcdsaSignR1Body => {
  if (isPlainObject(v) && 'commitment' in v) return { commitment: b32(obj(v, ['commitment']).commitment, 'commitment') };
  return { mul: parseMul1(obj(v, ['mul']).mul, 'mul') };
};

export const parseEcdsaSignR2 = (v: unknown): EcdsaSignR2Body => {
  const o = obj(v, ['instancePoint', 'salt', 'publicShare', 'gammaU', 'gammaV', 'psi', 'mul']);
  return {
    instancePoint: point(C, o.instancePoint, 'instancePoint'),
    salt: b32(o.salt, 'salt'),
    publicShare: point(C, o.publicShare, 'publicShare'),
    gammaU: point(C, o.gammaU, 'gammaU'),
    gammaV: point(C, o.gammaV, 'gammaV'),
    psi: scalar(C, o.psi, 'psi', { allowZero: true }),
    mul: parseMul2(o.mul, 'mul'),
  };
};

export const parseEcdsaSignShare = (v: unknown): EcdsaSignShareBody => {
  const o = obj(v, ['w', 'u', 'instancePoint']);
  return { w: scalar(C, o.w, 'w', { allowZero: true }), u: scalar(C, o.u, 'u', { allowZero: true }), instancePoint: point(C, o.instancePoint, 'instancePoint') };
};

/** A sign START's ecdsa-secp256k1 form (after the common START parser): a 32-byte digest, no taproot. */
export function assertEcdsaStart<B extends { taproot?: unknown; message: Uint8Array }>(body: B): B {
  if (body.taproot !== undefined) throw new WireError('BAD_FIELD', { field: 'taproot', message: 'BAD_FIELD: taproot: not an ecdsa-secp256k1 target' });
  if (body.message.length !== DIGEST_LENGTH) throw new WireError('BAD_FIELD', { field: 'message', message: 'BAD_FIELD: message: ecdsa-secp256k1 signs a 32-byte digest' });
  return body;
}

export const parseEcdsaPresigned = (v: unknown): EcdsaPresignedBody => {
  const o = obj(v, ['keyId', 'epoch', 'instancePoint']);
  return { keyId: str(o.keyId, KEY_ID_PATTERN, 'keyId'), epoch: uint(o.epoch, 0, Number.MAX_SAFE_INTEGER, 'epoch'), instancePoint: point(C, o.instancePoint, 'instancePoint') };
};

/** Whether a (kind, round) body of the ecdsa suite is secret (end-to-end encrypted to `to`). */
export function isEcdsaSecretRound(kind: string, round: number, to?: string): boolean {
  if (kind === 'dkg' || kind === 'refresh') return round === 5; // KEY_ROUND.R2
  if (kind === 'sign') return round === ECDSA_SIGN_ROUND.R2 || (round === ECDSA_SIGN_ROUND.R1 && to !== undefined && to !== '*');
  return false;
}
