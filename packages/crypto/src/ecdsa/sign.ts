/**
 * DKLs23 signing (eprint 2023/765, Protocol 3.6), three rounds, the message digest
 * needed only in the last one (rounds 1-2 make a presignature ahead of time).
 *
 * Round 1 (steps 4-6): sample the instance key r_i and inversion mask phi_i, commit to
 *   R_i = r_i*G (broadcast); towards each j, start the RVOLE as Bob (multiply.ts),
 *   whose random input is chi_ij.
 * Round 2 (step 7): zeta_i (zero share), sk_i = lambda_i*(s_i + tweak) + zeta_i, pk_i = sk_i*G;
 *   towards each j, answer j's RVOLE as Alice on (r_i, sk_i), getting (c_u, c_v); send
 *   the opening of R_i, pk_i, Gamma_u = c_u*G, Gamma_v = c_v*G and psi_ij = phi_i - chi_ij.
 * Presign (step 8): open every commitment; finish each RVOLE as Bob, getting (d_u, d_v);
 *   check chi_ij*R_j == d_u*G + Gamma_u and chi_ij*pk_j == d_v*G + Gamma_v (failures name j);
 *   check sum pk_j == Y (the derived key). R = sum R_j;
 *   u_i = r_i*phi_i + sum_j (r_i*psi_ji + c_u + d_u), v_i = sk_i*phi_i + sum_j (sk_i*psi_ji + c_v + d_v),
 *   so that sum u = k*phi and sum v = x*phi.
 * Round 3 (step 9): w_i = m*phi_i + r_x*v_i; broadcast (w_i, u_i). The presignature is
 *   zeroed: it is single use.
 * Combine (step 10): s = sum w / sum u, normalised low (BIP62/EIP-2), recovery id from
 *   R's y parity (flipped with s) and x overflow; the signature is verified before release.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToNumberBE } from '@noble/curves/utils.js';
import { concatBytes } from '../bytes.ts';
import { CryptoError } from '../errors.ts';
import { collectBySender } from '../frost/dkg.ts';
import { deriveChild, type DerivationPath } from '../frost/derive.ts';
import { assertBytes, assertMember, assertParticipants, parsePoint, parseScalar, type ParticipantId } from '../frost/suite.ts';
import { redacted } from '../redact.ts';
import { lagrange } from '../vss/polynomial.ts';
import { assertObject, Fn, hash, N, Point, pointBytes, randomScalar, scalarBytes, SESSION_ID_LENGTH, suite, u32, type Pt, type Rng } from './common.ts';
import { commit, verifyCommitment } from './commit.ts';
import { linearCheck, mulBaseBytes } from './ec.ts';
import { assertEcdsaKeyShare, type EcdsaKeyShare } from './keyshare.ts';
import { gadget, mulReceiverFinish, mulReceiverStart, mulSenderRespond, type MulMessage1, type MulMessage2, type MulReceiverState } from './multiply.ts';
import { zeroShare } from './zero.ts';

export interface SignParams {
  /** 32 bytes, fresh for every session (derived by the protocol layer from every signer's contribution). */
  sessionId: Uint8Array;
  /** The signers, at least `threshold` of the key's participants, including this one. */
  quorum: ParticipantId[];
  /** Optional non-hardened BIP32 path: sign for the child key (same semantics as FROST). */
  path?: DerivationPath;
}

export interface SignRound1Broadcast {
  from: ParticipantId;
  commitment: Uint8Array;
}
export interface SignRound1Direct {
  from: ParticipantId;
  to: ParticipantId;
  mul: MulMessage1;
}
export interface SignRound2Direct {
  from: ParticipantId;
  to: ParticipantId;
  instancePoint: Uint8Array;
  salt: Uint8Array;
  publicShare: Uint8Array;
  gammaU: Uint8Array;
  gammaV: Uint8Array;
  psi: Uint8Array;
  mul: MulMessage2;
}
export interface SignatureShare {
  from: ParticipantId;
  w: Uint8Array;
  u: Uint8Array;
}

interface Session {
  sid: Uint8Array;
  self: ParticipantId;
  quorum: ParticipantId[];
  /** The key signed for: Y, or the child key for `path`. */
  publicKey: Uint8Array;
  tweak: bigint;
}

export interface SignRound1Secret {
  readonly session: Session;
  readonly keyShare: EcdsaKeyShare;
  readonly r: bigint;
  readonly phi: bigint;
  readonly salt: Uint8Array;
  readonly R: Uint8Array;
  readonly bob: Map<ParticipantId, MulReceiverState>;
  readonly broadcast: SignRound1Broadcast;
}

export interface SignRound2Secret {
  readonly round1: SignRound1Secret;
  readonly commitments: Map<ParticipantId, Uint8Array>;
  readonly sk: bigint;
  readonly pk: Uint8Array;
  /** Our Alice-side outputs towards each j: (c_u, c_v), and psi_ji received from j (next round). */
  readonly alice: Map<ParticipantId, bigint[]>;
  readonly psiReceived: Map<ParticipantId, bigint>;
}

/** Public result of presigning: what a combiner needs with the signature shares. */
export interface SigningSession {
  quorum: ParticipantId[];
  /** R = k*G, 33 bytes. */
  instancePoint: Uint8Array;
  /** The key the signature verifies under (33 bytes). */
  publicKey: Uint8Array;
}

/** Secret, single use: zeroed by signRound3. */
export interface Presignature {
  readonly session: SigningSession;
  readonly self: ParticipantId;
  u: bigint;
  v: bigint;
  phi: bigint;
  consumed: boolean;
}

export interface EcdsaSignature {
  /** r || s, s low. */
  signature: Uint8Array;
  /** 0..3: bit 0 the y parity of R (after normalisation), bit 1 set if R.x >= n. */
  recovery: number;
}

const pairSid = (sid: Uint8Array, alice: ParticipantId, bob: ParticipantId) => hash('sign/pair', sid, u32(alice), u32(bob));

/** Runs `check` for every counterparty and throws one error naming all that failed. */
function forEachPeer(peers: ParticipantId[], check: (j: ParticipantId) => void): void {
  const culprits: number[] = [];
  let first: CryptoError | undefined;
  for (const j of peers) {
    try {
      check(j);
    } catch (e) {
      if (!(e instanceof CryptoError)) throw e;
      culprits.push(j);
      first ??= e;
    }
  }
  if (first) throw new CryptoError(first.code, { field: first.field, culprits, message: `${first.code}: participant(s) ${culprits.join(',')} failed ${first.field ?? 'a check'}` });
}

/** Round 1 (Protocol 3.6 steps 4-6). */
export function signRound1(keyShare: EcdsaKeyShare, params: SignParams, rng?: Rng): { secret: SignRound1Secret; broadcast: SignRound1Broadcast; direct: SignRound1Direct[] } {
  const share = assertEcdsaKeyShare(keyShare, 'sign.keyShare');
  assertObject(params, 'sign.params');
  const sessionId = assertBytes(params.sessionId, SESSION_ID_LENGTH, 'sign.sessionId');
  const pub = share.frost.publicKey;
  const self = share.frost.id;
  // Step 4: the quorum is a set of at least t of the key's parties, including us.
  const quorum = assertParticipants(params.quorum, 'sign.quorum', { min: pub.threshold, max: pub.participants.length });
  quorum.forEach((j, k) => assertMember(j, pub.participants, `sign.quorum[${k}]`));
  assertMember(self, quorum, 'sign.self');
  let publicKey = pub.groupKey;
  let tweak = 0n;
  if (params.path !== undefined) {
    const child = deriveChild(pub, params.path);
    publicKey = child.groupKey;
    tweak = child.tweak;
  }
  const sid = hash('sign/sid', sessionId, pub.groupKey, publicKey, u32(pub.threshold), ...quorum.map(u32));
  // Step 5: instance key r_i and inversion mask phi_i.
  const r = randomScalar(rng);
  const phi = randomScalar(rng);
  const R = mulBaseBytes(r);
  const { commitment, salt } = commit(sid, self, R, rng);
  // Step 6: commit, and start every RVOLE where we are Bob (input chi_ij random).
  const bob = new Map<ParticipantId, MulReceiverState>();
  const direct: SignRound1Direct[] = [];
  for (const j of quorum) {
    if (j === self) continue;
    const ps = pairSid(sid, j, self);
    const m = mulReceiverStart(share.pairs[j]!.receiver, ps, gadget(ps), rng);
    bob.set(j, m.state);
    direct.push({ from: self, to: j, mul: m.message });
  }
  const session: Session = { sid, self, quorum, publicKey, tweak };
  const broadcast = { from: self, commitment };
  return { secret: redacted({ session, keyShare: share, r, phi, salt, R, bob, broadcast }, `SignRound1Secret #${self}`), broadcast, direct };
}

/** Round 2 (Protocol 3.6 step 7). */
export function signRound2(secret: SignRound1Secret, broadcasts: SignRound1Broadcast[], direct: SignRound1Direct[], rng?: Rng): { secret: SignRound2Secret; direct: SignRound2Direct[] } {
  assertObject(secret, 'sign.secret');
  const { session, keyShare } = secret;
  const { self, quorum, sid } = session;
  const peers = quorum.filter((j) => j !== self);
  const bc = collectBySender(broadcasts, peers, 'sign.round1.broadcast');
  const dm = collectBySender(direct, peers, 'sign.round1.direct');
  const commitments = new Map<ParticipantId, Uint8Array>();
  forEachPeer(peers, (j) => {
    commitments.set(j, assertBytes(bc.get(j)!.commitment, 32, `sign.round1.broadcast[${j}].commitment`));
    if (dm.get(j)!.to !== self) throw new CryptoError('BAD_PARTICIPANT', { field: `sign.round1.direct[${j}].to` });
  });
  // sk_i = lambda_i * (s_i + tweak) + zeta_i: sum over the quorum is x + tweak.
  const s = Fn.add(Fn.fromBytes(keyShare.frost.signingShare), session.tweak);
  const seeds = new Map(peers.map((j) => [j, keyShare.pairs[j]!.zeroSeed]));
  const sk = Fn.add(Fn.mul(lagrange(suite, quorum, self), s), zeroShare(self, quorum, seeds, sid));
  const pk = mulBaseBytes(sk);
  const alice = new Map<ParticipantId, bigint[]>();
  const out: SignRound2Direct[] = [];
  forEachPeer(peers, (j) => {
    const ps = pairSid(sid, self, j);
    const { c, message } = mulSenderRespond(keyShare.pairs[j]!.sender, ps, gadget(ps), [secret.r, sk], dm.get(j)!.mul, `sign.round1.direct[${j}].mul`, j, rng);
    alice.set(j, c);
    const chi = secret.bob.get(j)!.b;
    out.push({
      from: self,
      to: j,
      instancePoint: secret.R,
      salt: secret.salt,
      publicShare: pk,
      gammaU: mulBaseBytes(c[0]!),
      gammaV: mulBaseBytes(c[1]!),
      psi: scalarBytes(Fn.sub(secret.phi, chi)),
      mul: message,
    });
  });
  const next = redacted({ round1: secret, commitments, sk, pk, alice, psiReceived: new Map<ParticipantId, bigint>() }, `SignRound2Secret #${self}`);
  return { secret: next, direct: out };
}

/** Presign (Protocol 3.6 step 8): every consistency check, then the presignature. */
export function signPresign(secret: SignRound2Secret, direct: SignRound2Direct[]): { presignature: Presignature; session: SigningSession } {
  assertObject(secret, 'sign.secret');
  const r1 = secret.round1;
  const { self, quorum, sid } = r1.session;
  const peers = quorum.filter((j) => j !== self);
  const dm = collectBySender(direct, peers, 'sign.round2');
  let R = Point.fromBytes(r1.R) as Pt; // r*G, encoded in round 1
  let pkSum = Point.fromBytes(secret.pk) as Pt;
  let u = Fn.mul(r1.r, r1.phi);
  let v = Fn.mul(secret.sk, r1.phi);
  forEachPeer(peers, (j) => {
    const m = dm.get(j)!;
    const f = `sign.round2[${j}]`;
    if (m.to !== self) throw new CryptoError('BAD_PARTICIPANT', { field: `${f}.to` });
    const Rj = parsePoint(suite, m.instancePoint, `${f}.instancePoint`) as unknown as Pt;
    verifyCommitment(sid, j, m.instancePoint, m.salt, secret.commitments.get(j)!, `${f}.instancePoint`);
    const pkj = parsePoint(suite, m.publicShare, `${f}.publicShare`) as unknown as Pt;
    parsePoint(suite, m.gammaU, `${f}.gammaU`);
    parsePoint(suite, m.gammaV, `${f}.gammaV`);
    const psi = parseScalar(suite, m.psi, `${f}.psi`, { allowZero: true });
    const state = r1.bob.get(j)!;
    const d = mulReceiverFinish(state, state.g, m.mul, `${f}.mul`, j);
    const chi = state.b;
    // Step 8 consistency checks (public values: variable time is fine).
    if (!linearCheck(m.instancePoint, chi, d[0]!, m.gammaU))
      throw new CryptoError('INVALID_SHARE', { field: `${f}.gammaU`, message: `INVALID_SHARE: chi*R_${j} != d_u*G + Gamma_u` });
    if (!linearCheck(m.publicShare, chi, d[1]!, m.gammaV))
      throw new CryptoError('INVALID_SHARE', { field: `${f}.gammaV`, message: `INVALID_SHARE: chi*pk_${j} != d_v*G + Gamma_v` });
    const c = secret.alice.get(j)!;
    R = R.add(Rj);
    pkSum = pkSum.add(pkj);
    u = Fn.add(u, Fn.add(Fn.mul(r1.r, psi), Fn.add(c[0]!, d[0]!)));
    v = Fn.add(v, Fn.add(Fn.mul(secret.sk, psi), Fn.add(c[1]!, d[1]!)));
  });
  // Step 8: the public shares must add up to the key we sign for (nobody can be blamed alone).
  const Y = Point.fromBytes(r1.session.publicKey) as Pt;
  if (!pkSum.equals(Y)) throw new CryptoError('INVALID_COMMITMENT', { field: 'sign.round2.publicShare', message: 'INVALID_COMMITMENT: the public shares do not add up to the public key' });
  if (R.is0()) throw new CryptoError('BAD_POINT', { field: 'sign.instancePoint', message: 'BAD_POINT: R is the identity' });
  const session: SigningSession = { quorum: [...quorum], instancePoint: pointBytes(R), publicKey: r1.session.publicKey.slice() };
  const presignature = redacted({ session, self, u, v, phi: r1.phi, consumed: false }, `Presignature #${self}`);
  return { presignature, session };
}

const rOf = (R: Pt) => Fn.create(R.toAffine().x);

/** Round 3 (Protocol 3.6 step 9): the only step that needs the 32-byte digest. Consumes the presignature. */
export function signRound3(presignature: Presignature, digest: Uint8Array): SignatureShare {
  assertObject(presignature, 'sign.presignature');
  if (presignature.consumed) throw new CryptoError('NONCE_REUSED', { field: 'sign.presignature', message: 'NONCE_REUSED: this presignature was already used' });
  const m = bytesToNumberBE(assertBytes(digest, 32, 'sign.digest')) % N;
  const R = parsePoint(suite, presignature.session.instancePoint, 'sign.presignature.instancePoint') as unknown as Pt;
  const w = Fn.add(Fn.mul(m, presignature.phi), Fn.mul(rOf(R), presignature.v));
  const share = { from: presignature.self, w: scalarBytes(w), u: scalarBytes(presignature.u) };
  presignature.u = 0n;
  presignature.v = 0n;
  presignature.phi = 0n;
  presignature.consumed = true;
  return share;
}

/** Combine (Protocol 3.6 step 10): s = sum w / sum u, low s, recovery id; verified before release. */
export function combineSignature(session: SigningSession, digest: Uint8Array, shares: SignatureShare[]): EcdsaSignature {
  assertObject(session, 'sign.session');
  const quorum = assertParticipants(session.quorum, 'sign.session.quorum', { min: 2 });
  const d = assertBytes(digest, 32, 'sign.digest');
  const R = parsePoint(suite, session.instancePoint, 'sign.session.instancePoint') as unknown as Pt;
  parsePoint(suite, session.publicKey, 'sign.session.publicKey');
  const by = collectBySender(shares, quorum, 'sign.shares');
  let w = 0n;
  let u = 0n;
  for (const j of quorum) {
    const sh = by.get(j)!;
    w = Fn.add(w, parseScalar(suite, sh.w, `sign.shares[${j}].w`, { allowZero: true }));
    u = Fn.add(u, parseScalar(suite, sh.u, `sign.shares[${j}].u`, { allowZero: true }));
  }
  if (u === 0n) throw new CryptoError('INVALID_SIGNATURE_SHARE', { field: 'sign.shares', message: 'INVALID_SIGNATURE_SHARE: sum of u is zero' });
  const r = rOf(R);
  let s = Fn.div(w, u);
  const affine = R.toAffine();
  let recovery = (affine.y & 1n ? 1 : 0) | (affine.x >= N ? 2 : 0);
  if (s > N >> 1n) {
    s = Fn.neg(s);
    recovery ^= 1;
  }
  const signature = concatBytes(scalarBytes(r), scalarBytes(s));
  if (r === 0n || s === 0n || !secp256k1.verify(signature, d, session.publicKey, { prehash: false }))
    throw new CryptoError('INVALID_SIGNATURE_SHARE', { field: 'sign.shares', message: 'INVALID_SIGNATURE_SHARE: the combined signature does not verify' });
  return { signature, recovery };
}
