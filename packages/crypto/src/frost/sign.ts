/**
 * Two-round threshold signing, RFC 9591 §5: commit (§5.1), sign (§5.2), verify a
 * signature share (§5.4) and aggregate (§5.3), on the curve backends' rounds
 * (secp-rounds.ts, ed-rounds.ts), with noble's implementation of the rounds for the
 * inputs those hand back (identity values, zero scalars). This module adds typed validation, derived and taproot signing targets,
 * fail-closed single-use nonces, and attribution: an invalid share is reported as
 * `CryptoError('INVALID_SIGNATURE_SHARE', { culprits })`.
 */
import { randomBytes } from '@noble/hashes/utils.js';
import { CryptoError } from '../errors.ts';
import { equalBytes } from '../bytes.ts';
import { redacted } from '../redact.ts';
import { targetKeyShare, targetPublicKey, type SigningTarget } from './derive.ts';
import { assertKeyShare, assertPublicKeyPackage, toNoblePublic, toNobleSecret, type KeyShare, type PublicKeyPackage } from './keys.ts';
import { edRounds } from './ed-rounds.ts';
import { secpRounds, type RoundInput, type SecpRounds } from './secp-rounds.ts';
import {
  assertBytes,
  assertParticipantId,
  getSuite,
  nobleId,
  parsePoint,
  parseScalar,
  type ParticipantId,
  type Rng,
  type Suite,
} from './suite.ts';
import type { NonceCommitments } from '@noble/curves/abstract/frost.js';

/** The two secret nonces of one signing attempt (RFC 9591 §5.1). Use once. */
export interface SigningNonces {
  id: ParticipantId;
  hiding: Uint8Array;
  binding: Uint8Array;
}

/** Their public commitments, sent to the coordinator (possibly ahead of time). */
export interface SigningCommitments {
  id: ParticipantId;
  hiding: Uint8Array;
  binding: Uint8Array;
}

/** What the coordinator sends every signer of the quorum (RFC 9591 §5.2 inputs). */
export interface SigningPackage {
  message: Uint8Array;
  /** One commitment per quorum member. */
  commitments: SigningCommitments[];
}

export interface SignatureShare {
  id: ParticipantId;
  share: Uint8Array;
}

/** Largest message a suite signs here (digests and small payloads; bounds memory). */
export const MAX_MESSAGE_BYTES = 64 * 1024;

/** RFC 9591 §5.1 commit(): fresh nonces from `rng` and the share (noble's nonce_generate). */
export function commit(share: KeyShare, rng?: Rng): { nonces: SigningNonces; commitments: SigningCommitments } {
  const suite = assertKeyShare(share);
  if (rng !== undefined && typeof rng !== 'function') throw new CryptoError('BAD_FIELD', { field: 'rng', message: 'BAD_FIELD: rng must be a function' });
  const rounds = backendRounds(suite);
  if (rounds) {
    const fast = rounds.commit(suite.Fn.fromBytes(share.signingShare), rng ?? randomBytes);
    const nonces = redacted({ id: share.id, hiding: fast.hiding, binding: fast.binding }, `SigningNonces #${share.id}`);
    return { nonces, commitments: { id: share.id, hiding: fast.hidingCommitment, binding: fast.bindingCommitment } };
  }
  const out = rng ? suite.frost.commit(toNobleSecret(suite, share), rng) : suite.frost.commit(toNobleSecret(suite, share));
  const nonces = redacted({ id: share.id, hiding: out.nonces.hiding, binding: out.nonces.binding }, `SigningNonces #${share.id}`);
  return { nonces, commitments: { id: share.id, hiding: out.commitments.hiding, binding: out.commitments.binding } };
}

function checkPackage(suite: Suite, pkg: PublicKeyPackage, signing: SigningPackage): NonceCommitments[] {
  if (typeof signing !== 'object' || signing === null) throw new CryptoError('BAD_FIELD', { field: 'signingPackage' });
  assertBytes(signing.message, undefined, 'signingPackage.message');
  if (signing.message.length > MAX_MESSAGE_BYTES) throw new CryptoError('BAD_FIELD', { field: 'signingPackage.message', message: `BAD_FIELD: message longer than ${MAX_MESSAGE_BYTES} bytes` });
  if (!Array.isArray(signing.commitments)) throw new CryptoError('BAD_FIELD', { field: 'signingPackage.commitments' });
  const n = signing.commitments.length;
  if (n < pkg.threshold || n > pkg.participants.length)
    throw new CryptoError('BAD_PARTICIPANT', { field: 'signingPackage.commitments', message: `BAD_PARTICIPANT: need ${pkg.threshold}..${pkg.participants.length} commitments, got ${n}` });
  const seen = new Set<number>();
  return signing.commitments.map((c, i) => {
    const field = `signingPackage.commitments[${i}]`;
    if (typeof c !== 'object' || c === null) throw new CryptoError('BAD_FIELD', { field });
    const id = assertParticipantId(c.id, `${field}.id`);
    if (!pkg.participants.includes(id)) throw new CryptoError('BAD_PARTICIPANT', { field: `${field}.id`, message: `BAD_PARTICIPANT: ${id} is not a participant of this key` });
    if (seen.has(id)) throw new CryptoError('BAD_PARTICIPANT', { field: `${field}.id`, message: `BAD_PARTICIPANT: duplicate commitment from ${id}` });
    seen.add(id);
    parsePoint(suite, c.hiding, `${field}.hiding`);
    parsePoint(suite, c.binding, `${field}.binding`);
    return { identifier: nobleId(suite, id), hiding: c.hiding, binding: c.binding } as NonceCommitments;
  });
}

/**
 * RFC 9591 §5.2 sign(): this participant's signature share, for `target` (a derived
 * child key and/or taproot output key) or the group key itself. The nonces are zeroed
 * on success; using them again throws NONCE_REUSED.
 */
export function signShare(share: KeyShare, nonces: SigningNonces, signing: SigningPackage, target?: SigningTarget): SignatureShare {
  // targetKeyShare validates the share (s_i*G == Y_i, a full scalar multiplication): once.
  const signer = targetKeyShare(share, target);
  const suite = getSuite(share.suite);
  const commitments = checkPackage(suite, share.publicKey, signing);
  if (typeof nonces !== 'object' || nonces === null || nonces.id !== share.id) throw new CryptoError('BAD_FIELD', { field: 'nonces', message: 'BAD_FIELD: nonces belong to another participant' });
  const hiding = parseScalar(suite, nonces.hiding, 'nonces.hiding', { allowZero: true });
  const binding = parseScalar(suite, nonces.binding, 'nonces.binding', { allowZero: true });
  if (hiding === 0n || binding === 0n) throw new CryptoError('NONCE_REUSED', { field: 'nonces', message: 'NONCE_REUSED: these signing nonces were already used' });
  const own = signing.commitments.find((c) => c.id === share.id);
  if (!own) throw new CryptoError('BAD_PARTICIPANT', { field: 'signingPackage.commitments', message: `BAD_PARTICIPANT: no commitment from this participant (${share.id})` });
  // The commitment the coordinator assigned must be the one these nonces make.
  const rounds = backendRounds(suite);
  // checkPackage decoded the commitments strictly, so equal encodings are equal points.
  const makes = (k: bigint, bytes: Uint8Array, field: string) =>
    rounds ? equalBytes(rounds.mulBase(k), bytes) : suite.Point.BASE.multiply(k).equals(parsePoint(suite, bytes, field));
  if (!makes(hiding, own.hiding, 'own.hiding') || !makes(binding, own.binding, 'own.binding'))
    throw new CryptoError('BAD_FIELD', { field: 'signingPackage.commitments', message: 'BAD_FIELD: the commitment assigned to this participant is not the one its nonces make' });
  const nobleNonces = { hiding: nonces.hiding, binding: nonces.binding };
  const z =
    rounds?.signShare(roundInput(signer.publicKey, signing), share.id, suite.Fn.fromBytes(signer.signingShare), hiding, binding) ??
    suite.frost.signShare(toNobleSecret(suite, signer), toNoblePublic(suite, signer.publicKey), nobleNonces, commitments, signing.message);
  // noble zeroed its view of the nonces (the same arrays); make the fail-closed state explicit.
  nonces.hiding.fill(0);
  nonces.binding.fill(0);
  return { id: share.id, share: z };
}

/** RFC 9591 §5.4: checks one participant's signature share (coordinator side). */
export function verifyShare(pkg: PublicKeyPackage, signing: SigningPackage, share: SignatureShare, target?: SigningTarget): boolean {
  const suite = assertPublicKeyPackage(pkg);
  const commitments = checkPackage(suite, pkg, signing);
  const id = assertParticipantId(share?.id, 'signatureShare.id');
  if (!signing.commitments.some((c) => c.id === id)) throw new CryptoError('BAD_PARTICIPANT', { field: 'signatureShare.id', message: `BAD_PARTICIPANT: ${id} has no commitment in this signing package` });
  const z = parseScalar(suite, share.share, 'signatureShare.share', { allowZero: true });
  const target_ = targetPublicKey(pkg, target);
  const fast = backendRounds(suite)?.verifyShare(roundInput(target_, signing), id, z);
  if (fast !== undefined) return fast;
  return suite.frost.verifyShare(toNoblePublic(suite, target_), commitments, signing.message, nobleId(suite, id), share.share);
}

/**
 * RFC 9591 §5.3 aggregate(). If the result does not verify, every share is checked and
 * the signers whose shares fail are named in INVALID_SIGNATURE_SHARE's `culprits`.
 */
export function aggregate(pkg: PublicKeyPackage, signing: SigningPackage, shares: SignatureShare[], target?: SigningTarget): Uint8Array {
  const suite = assertPublicKeyPackage(pkg);
  const commitments = checkPackage(suite, pkg, signing);
  if (!Array.isArray(shares)) throw new CryptoError('BAD_FIELD', { field: 'shares' });
  const byId: Record<string, Uint8Array> = {};
  const scalars = new Map<ParticipantId, bigint>();
  const quorum = new Set(signing.commitments.map((c) => c.id));
  shares.forEach((s, i) => {
    const id = assertParticipantId(s?.id, `shares[${i}].id`);
    if (!quorum.has(id)) throw new CryptoError('BAD_PARTICIPANT', { field: `shares[${i}].id`, message: `BAD_PARTICIPANT: ${id} is not in the signing quorum` });
    const key = nobleId(suite, id);
    if (key in byId) throw new CryptoError('BAD_PARTICIPANT', { field: `shares[${i}].id`, message: `BAD_PARTICIPANT: two shares from ${id}` });
    scalars.set(id, parseScalar(suite, s.share, `shares[${i}].share`, { allowZero: true }));
    byId[key] = s.share;
  });
  const missing = [...quorum].filter((id) => !(nobleId(suite, id) in byId));
  if (missing.length > 0) throw new CryptoError('BAD_PARTICIPANT', { field: 'shares', message: `BAD_PARTICIPANT: missing shares from ${missing.join(',')}` });
  const target_ = targetPublicKey(pkg, target);
  const fast = backendRounds(suite)?.aggregate(roundInput(target_, signing), scalars);
  if (fast !== undefined) {
    if ('signature' in fast) return fast.signature;
    throw invalidShares(fast.culprits);
  }
  try {
    return suite.frost.aggregate(toNoblePublic(suite, target_), commitments, signing.message, byId);
  } catch (e) {
    const cheaters = (e as { cheaters?: string[] }).cheaters;
    if (!Array.isArray(cheaters)) throw e;
    const hexToId = new Map([...quorum].map((id) => [nobleId(suite, id), id]));
    throw invalidShares(cheaters.map((h) => hexToId.get(h)).filter((id): id is number => id !== undefined));
  }
}

function invalidShares(culprits: ParticipantId[]): CryptoError {
  return new CryptoError('INVALID_SIGNATURE_SHARE', {
    culprits,
    message: `INVALID_SIGNATURE_SHARE: signature share(s) from ${culprits.join(',') || 'unattributable signers'} do not verify`,
  });
}

/** The rounds on the suite's curve backend (secp-rounds.ts, ed-rounds.ts). */
const backendRounds = (suite: Suite): SecpRounds | undefined => secpRounds(suite) ?? edRounds(suite);

/** The public inputs of a round for the curve backends (already validated by checkPackage). */
function roundInput(pkg: PublicKeyPackage, signing: SigningPackage): RoundInput {
  return { groupKey: pkg.groupKey, verifyingShares: pkg.verifyingShares, commitments: signing.commitments, message: signing.message };
}

/** Verifies a final signature with the suite's standard verifier, for `target`. */
export function verifySignature(pkg: PublicKeyPackage, message: Uint8Array, signature: Uint8Array, target?: SigningTarget): boolean {
  const suite = assertPublicKeyPackage(pkg);
  assertBytes(message, undefined, 'message');
  assertBytes(signature, suite.signatureLength, 'signature');
  return suite.verify(signature, message, suite.externalKey(targetPublicKey(pkg, target).groupKey));
}

