/**
 * RFC 9591 signing rounds (§5.2 sign, §5.3 aggregate, §5.4 verify_signature_share)
 * for the two secp256k1 suites on the secp256k1 backend (libsecp256k1 in WebAssembly
 * where it loads): the group commitment, binding factors and challenge computed on
 * 33-byte encodings, so no point is decoded into noble's representation. Outputs are
 * bit-identical to noble's `createFROST` rounds for the same nonces (checked against
 * noble over random quorums in packages/crypto/test/backend.test.ts, and by the RFC
 * and frost-rs vectors). Hashes are noble's: H1 = hash_to_field(XMD:SHA-256) with
 * DST contextString || "rho", H4/H5 = SHA-256(contextString || "msg"/"com" || m) (RFC
 * 9591 §6.5); the challenge is H2 (§6.5) or, for `frost-secp256k1-tr`, BIP340's
 * tagged hash with the even-y adjustments of frost-rs `frost-secp256k1-tr`.
 *
 * Inputs are already validated by sign.ts (canonical points, quorum, scalars). Where
 * a value is the identity or a scalar is zero (probability ~2^-256 for honest data,
 * possible for hostile shares), a function returns `undefined` and the caller uses
 * noble's rounds, so such inputs are decided exactly as before.
 */
import { schnorr, secp256k1_hasher } from '@noble/curves/secp256k1.js';
import { bytesToNumberBE } from '@noble/curves/utils.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { secp256k1Backend as backend, type PointBytes } from '../backend/secp256k1.ts';
import { concatBytes, equalBytes, utf8ToBytes } from '../bytes.ts';
import { lagrange } from '../vss/polynomial.ts';
import type { ParticipantId, Rng, Suite } from './suite.ts';

export interface RoundCommitment {
  id: ParticipantId;
  hiding: PointBytes;
  binding: PointBytes;
}

/** The public inputs of one signing round, for the key being signed for. */
export interface RoundInput {
  groupKey: PointBytes;
  verifyingShares: Record<ParticipantId, PointBytes>;
  commitments: readonly RoundCommitment[];
  message: Uint8Array;
}

export type AggregateOutcome = { signature: Uint8Array } | { culprits: ParticipantId[] };

export interface SecpRounds {
  /** k*G as a compressed encoding (constant time in k). */
  mulBase(k: bigint): PointBytes;
  /** RFC 9591 §5.1 commit(): two nonces from nonce_generate (§4.1) and their commitments. */
  commit(signingShare: bigint, rng: Rng): { hiding: Uint8Array; binding: Uint8Array; hidingCommitment: PointBytes; bindingCommitment: PointBytes };
  signShare(input: RoundInput, id: ParticipantId, signingShare: bigint, hiding: bigint, binding: bigint): Uint8Array | undefined;
  verifyShare(input: RoundInput, id: ParticipantId, share: bigint): boolean | undefined;
  aggregate(input: RoundInput, shares: ReadonlyMap<ParticipantId, bigint>): AggregateOutcome | undefined;
}

const isOdd = (p: PointBytes) => p[0] === 0x03;
/** -P on an encoding: the same x with the other parity. */
const negate = (p: PointBytes): PointBytes => concatBytes(Uint8Array.of(p[0] === 0x02 ? 0x03 : 0x02), p.subarray(1));
const even = (p: PointBytes): PointBytes => (isOdd(p) ? negate(p) : p);

interface Round {
  /** The group key as the rounds see it (even y for taproot, RFC 9591 otherwise). */
  key: PointBytes;
  /** True when the taproot suite negated the key (and so every share) to make it even. */
  keyNegated: boolean;
  R: PointBytes;
  rho: Map<ParticipantId, bigint>;
  challenge: bigint;
  quorum: ParticipantId[];
}

function makeRounds(suite: Suite): SecpRounds {
  const { Fn } = suite;
  const taproot = suite.id === 'frost-secp256k1-tr';
  const context = taproot ? 'FROST-secp256k1-SHA256-TR-v1' : 'FROST-secp256k1-SHA256-v1';
  const RHO = utf8ToBytes(context + 'rho');
  const CHAL = utf8ToBytes(context + 'chal');
  const MSG = utf8ToBytes(context + 'msg');
  const COM = utf8ToBytes(context + 'com');
  const NONCE = utf8ToBytes(context + 'nonce');
  const idBytes = (id: ParticipantId) => Fn.toBytes(BigInt(id));

  const challenge = (R: PointBytes, key: PointBytes, msg: Uint8Array): bigint =>
    taproot
      ? Fn.create(bytesToNumberBE(schnorr.utils.taggedHash('BIP0340/challenge', R.subarray(1), key.subarray(1), msg)))
      : secp256k1_hasher.hashToScalar(concatBytes(R, key, msg), { DST: CHAL });

  /** RFC 9591 §4.4 binding factors, §4.5 group commitment, §4.6 challenge. */
  function round(input: RoundInput): Round | undefined {
    const keyNegated = taproot && isOdd(input.groupKey);
    const key = keyNegated ? negate(input.groupKey) : input.groupKey;
    const list = [...input.commitments].sort((a, b) => a.id - b.id);
    const encoded = sha256(concatBytes(COM, ...list.flatMap((c) => [idBytes(c.id), c.hiding, c.binding])));
    const rhoPrefix = concatBytes(key, sha256(concatBytes(MSG, input.message)), encoded);
    const rho = new Map(list.map((c) => [c.id, secp256k1_hasher.hashToScalar(concatBytes(rhoPrefix, idBytes(c.id)), { DST: RHO })]));
    // R = sum D_i + sum rho_i * E_i
    let R: PointBytes | null = backend.msm(
      list.map((c) => c.binding),
      list.map((c) => rho.get(c.id)!),
    );
    for (const c of list) R = R === null ? c.hiding : backend.add(R, c.hiding);
    if (R === null) return undefined;
    return { key, keyNegated, R, rho, challenge: challenge(R, key, input.message), quorum: list.map((c) => c.id) };
  }

  /** RFC 9591 §5.4: z_i*G == (D_i + rho_i*E_i) + (c*lambda_i)*Y_i, with the taproot parities. */
  function checkShare(input: RoundInput, r: Round, id: ParticipantId, z: bigint): boolean | undefined {
    const c = input.commitments.find((x) => x.id === id)!;
    const rho = r.rho.get(id)!;
    const weight = Fn.mul(r.challenge, lagrange(suite, r.quorum, id));
    if (z === 0n || rho === 0n || weight === 0n) return undefined;
    let share: PointBytes | null = backend.add(c.hiding, backend.mul(c.binding, rho));
    if (share === null) return undefined;
    if (taproot && isOdd(r.R)) share = negate(share);
    const Y = input.verifyingShares[id]!;
    const rhs = backend.add(share, backend.mul(r.keyNegated ? negate(Y) : Y, weight));
    if (rhs === null) return undefined;
    return equalBytes(backend.mulBase(z), rhs);
  }

  return {
    mulBase: (k) => backend.mulBase(k),

    commit(signingShare, rng) {
      // RFC 9591 §4.1 nonce_generate: H3(random_bytes(32) || SerializeScalar(secret)), hiding first.
      const secret = Fn.toBytes(signingShare);
      const hiding = secp256k1_hasher.hashToScalar(concatBytes(rng(32), secret), { DST: NONCE });
      const binding = secp256k1_hasher.hashToScalar(concatBytes(rng(32), secret), { DST: NONCE });
      return { hiding: Fn.toBytes(hiding), binding: Fn.toBytes(binding), hidingCommitment: backend.mulBase(hiding), bindingCommitment: backend.mulBase(binding) };
    },

    signShare(input, id, signingShare, hiding, binding) {
      const r = round(input);
      if (r === undefined) return undefined;
      // Taproot: an odd group key negates every share; an odd R negates the nonces (BIP340 even R).
      const s = r.keyNegated ? Fn.neg(signingShare) : signingShare;
      const [d, e] = taproot && isOdd(r.R) ? [Fn.neg(hiding), Fn.neg(binding)] : [hiding, binding];
      const lambda = lagrange(suite, r.quorum, id);
      // RFC 9591 §5.2: z_i = d_i + e_i*rho_i + lambda_i*s_i*c
      const z = Fn.add(Fn.add(d, Fn.mul(e, r.rho.get(id)!)), Fn.mul(Fn.mul(lambda, s), r.challenge));
      return Fn.toBytes(z);
    },

    verifyShare(input, id, share) {
      const r = round(input);
      return r === undefined ? undefined : checkShare(input, r, id, share);
    },

    aggregate(input, shares) {
      const r = round(input);
      if (r === undefined) return undefined;
      let z = 0n;
      for (const id of r.quorum) z = Fn.add(z, shares.get(id)!);
      // RFC 9591 §5.3, then the check noble's aggregate makes: z*G == R + c*Y (even R and Y on taproot).
      const R = taproot ? even(r.R) : r.R;
      if (z === 0n || r.challenge === 0n) return undefined;
      const rhs = backend.add(R, backend.mul(r.key, r.challenge));
      if (rhs === null) return undefined;
      if (equalBytes(backend.mulBase(z), rhs)) return { signature: concatBytes(taproot ? r.R.subarray(1) : r.R, Fn.toBytes(z)) };
      const culprits: ParticipantId[] = [];
      for (const id of r.quorum) {
        const ok = checkShare(input, r, id, shares.get(id)!);
        if (ok === undefined) return undefined;
        if (!ok) culprits.push(id);
      }
      return { culprits };
    },
  };
}

const ROUNDS = new Map<string, SecpRounds>();

/** The backend rounds for a secp256k1 suite; undefined for other curves (noble's rounds serve them). */
export function secpRounds(suite: Suite): SecpRounds | undefined {
  if (suite.curve !== 'secp256k1') return undefined;
  let r = ROUNDS.get(suite.id);
  if (r === undefined) ROUNDS.set(suite.id, (r = makeRounds(suite)));
  return r;
}
