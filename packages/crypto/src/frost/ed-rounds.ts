/**
 * RFC 9591 signing rounds (§5.1 commit, §5.2 sign, §5.3 aggregate, §5.4
 * verify_signature_share) for `frost-ed25519` (§6.1, FROST(Ed25519, SHA-512)) on the
 * Ed25519 backend (libsodium in WebAssembly once loaded, else noble). noble's rounds
 * decode every point of the package again in every call with two torsion checks each
 * (~80 ms of a 2-of-3 signature's ~140 ms here); these take the points through
 * `parsePoint` once (cached) and keep them as backend handles.
 *
 * Outputs are bit-identical to noble's `ed25519_FROST` rounds for the same nonces
 * (checked against noble over random quorums, derived targets and bad shares in
 * packages/crypto/test/ed25519-backend.test.ts, and by the RFC 9591 vectors). Hashes
 * (§6.1): H1/H3 = SHA-512(contextString || "rho"/"nonce" || m), H2 = SHA-512(m), each
 * read little-endian mod L; H4/H5 = SHA-512(contextString || "msg"/"com" || m).
 *
 * Inputs are validated by sign.ts before (and by the backend's `decode`, which is
 * `parsePoint`). Where a value is the identity or a scalar is zero (probability
 * ~2^-252 for honest data, possible for hostile shares), a function returns `undefined`
 * and the caller uses noble's rounds, so such inputs are decided exactly as before.
 */
import { bytesToNumberLE } from '@noble/curves/utils.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { ed25519Backend, type Ed25519Backend, type EdPoint } from '../backend/ed25519.ts';
import { concatBytes, utf8ToBytes } from '../bytes.ts';
import { lagrange } from '../vss/polynomial.ts';
import type { RoundInput, SecpRounds } from './secp-rounds.ts';
import type { ParticipantId, Suite } from './suite.ts';

interface Round {
  key: EdPoint;
  R: EdPoint;
  rho: Map<ParticipantId, bigint>;
  challenge: bigint;
  quorum: ParticipantId[];
}

function makeRounds(suite: Suite, backend: () => Ed25519Backend): SecpRounds {
  const { Fn } = suite;
  const context = 'FROST-ED25519-SHA512-v1';
  const [RHO, MSG, COM, NONCE] = ['rho', 'msg', 'com', 'nonce'].map((t) => utf8ToBytes(context + t)) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  const toScalar = (...parts: Uint8Array[]) => Fn.create(bytesToNumberLE(sha512(concatBytes(...parts))));
  const idBytes = (id: ParticipantId) => Fn.toBytes(BigInt(id));

  /** RFC 9591 §4.4 binding factors, §4.5 group commitment, §4.6 challenge. */
  function round(input: RoundInput): Round | undefined {
    const b = backend();
    const key = b.decode(input.groupKey, 'groupKey');
    const list = [...input.commitments].sort((a, c) => a.id - c.id);
    const encoded = sha512(concatBytes(COM, ...list.flatMap((c) => [idBytes(c.id), c.hiding, c.binding])));
    const rhoPrefix = concatBytes(input.groupKey, sha512(concatBytes(MSG, input.message)), encoded);
    const rho = new Map(list.map((c) => [c.id, toScalar(RHO, rhoPrefix, idBytes(c.id))]));
    // R = sum D_i + sum rho_i * E_i
    let R: EdPoint | null = null;
    for (const c of list) {
      const r = rho.get(c.id)!;
      if (r === 0n) return undefined;
      const terms = [b.decode(c.hiding, 'hiding'), b.mul(b.decode(c.binding, 'binding'), r)];
      for (const t of terms) R = R === null ? t : b.add(R, t);
      if (R === null) return undefined;
    }
    if (R === null) return undefined;
    const challenge = toScalar(R.toBytes(), input.groupKey, input.message);
    return { key, R, rho, challenge, quorum: list.map((c) => c.id) };
  }

  /** RFC 9591 §5.4: z_i*G == (D_i + rho_i*E_i) + (c*lambda_i)*Y_i. */
  function checkShare(input: RoundInput, r: Round, id: ParticipantId, z: bigint): boolean | undefined {
    const b = backend();
    const c = input.commitments.find((x) => x.id === id)!;
    const weight = Fn.mul(r.challenge, lagrange(suite, r.quorum, id));
    if (z === 0n || weight === 0n) return undefined;
    const share = b.add(b.decode(c.hiding, 'hiding'), b.mul(b.decode(c.binding, 'binding'), r.rho.get(id)!));
    if (share === null) return undefined;
    const rhs = b.add(share, b.mul(b.decode(input.verifyingShares[id], 'verifyingShare'), weight));
    if (rhs === null) return undefined;
    return b.mulBase(z).equals(rhs);
  }

  return {
    mulBase: (k) => backend().mulBase(k).toBytes(),

    commit(signingShare, rng) {
      // RFC 9591 §4.1 nonce_generate: H3(random_bytes(32) || SerializeScalar(secret)), hiding first.
      const secret = Fn.toBytes(signingShare);
      const hiding = toScalar(NONCE, rng(32), secret);
      const binding = toScalar(NONCE, rng(32), secret);
      const b = backend();
      return { hiding: Fn.toBytes(hiding), binding: Fn.toBytes(binding), hidingCommitment: b.mulBase(hiding).toBytes(), bindingCommitment: b.mulBase(binding).toBytes() };
    },

    signShare(input, id, signingShare, hiding, binding) {
      const r = round(input);
      if (r === undefined) return undefined;
      const lambda = lagrange(suite, r.quorum, id);
      // RFC 9591 §5.2: z_i = d_i + e_i*rho_i + lambda_i*s_i*c
      const z = Fn.add(Fn.add(hiding, Fn.mul(binding, r.rho.get(id)!)), Fn.mul(Fn.mul(lambda, signingShare), r.challenge));
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
      // RFC 9591 §5.3, then the check noble's aggregate makes: z*G == R + c*Y (all of
      // prime order, so noble's cofactored check is this one).
      if (z === 0n || r.challenge === 0n) return undefined;
      const b = backend();
      const rhs = b.add(r.R, b.mul(r.key, r.challenge));
      if (rhs === null) return undefined;
      if (b.mulBase(z).equals(rhs)) return { signature: concatBytes(r.R.toBytes(), Fn.toBytes(z)) };
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

let ROUNDS: SecpRounds | undefined;

/** The backend rounds for `frost-ed25519`; undefined for other suites. */
export function edRounds(suite: Suite): SecpRounds | undefined {
  if (suite.curve !== 'ed25519') return undefined;
  return (ROUNDS ??= makeRounds(suite, ed25519Backend));
}

/** The same rounds on one given backend (differential tests, benchmarks). */
export function edRoundsOn(suite: Suite, backend: Ed25519Backend): SecpRounds {
  return makeRounds(suite, () => backend);
}
