/**
 * Session ids derived from a fresh contribution of every participant, so neither
 * the coordinator nor any subset of signers can steer a session onto an old
 * transcript: each honest participant's randomness enters the id. The id also binds
 * the state of the key the session starts from, as each participant sees it in its own
 * records (`keyState`: the epoch and the hash of its public key package; none for a
 * dkg), so participants at different epochs or holding different packages derive
 * different ids and find out at the first peer envelope, before any secret round
 * (issue 10, finding 2).
 *   keyState  = 0x00 (dkg) | 0x01 || i64(epoch) || publicKeyHash
 *   sessionId = SHA-256(lp(SESSION_ID_TAG) || lp(kind) || lp(suite) || lp(keyId)
 *               || requestDigest || keyState || u32(n)
 *               || for p in sorted(participants): lp(p) || contribution[p])
 *   publicKeyHash = SHA-256(lp(KEY_STATE_TAG) || lp(suite) || u32(threshold) || u32(n)
 *               || for each participant i in package order: u32(i) || lp(verifyingShare_i)
 *               || lp(groupKey) || lp(chainCode))
 */
import { bytesToHex, concatBytes } from '@noble/hashes/utils.js';
import { i64be, lp, lpString, taggedHash, u32be } from './canonical.ts';
import {
  CONTRIBUTION_LENGTH,
  DIGEST_LENGTH,
  KEY_ID_PATTERN,
  KEY_STATE_TAG,
  KINDS,
  MAX_PARTICIPANTS,
  NODE_ID_PATTERN,
  SESSION_ID_TAG,
  SUITE_PATTERN,
} from './constants.ts';
import { WireError } from './errors.ts';
import { defaultRng, drawRandom, type Rng } from './rng.ts';
import type { WirePublicKey } from './messages.ts';
import { array, bytes, fieldPath, isPlainObject, oneOf, str, strictObject, uint } from './validate.ts';

/** The key a session starts from, as one participant holds it. */
export interface SessionKeyState {
  epoch: number;
  /** `publicKeyHash` of the key's public package at that epoch. */
  publicKeyHash: Uint8Array;
}

export interface SessionIdInput {
  kind: string;
  suite: string;
  keyId: string;
  /** Node ids of every participant, in any order. */
  participants: readonly string[];
  /** Exactly one 32-byte contribution per participant. */
  contributions: Readonly<Record<string, Uint8Array>>;
  /** SHA-256 of the authorised request (`ClientRequest.digest`). */
  requestDigest: Uint8Array;
  /** The key's state in this participant's own records; null for a dkg (no key yet) and only then. */
  keyState: SessionKeyState | null;
}

/** The canonical hash of a public key package (verifying shares in package order). */
export function publicKeyHash(pk: WirePublicKey): Uint8Array {
  if (!isPlainObject(pk)) throw new WireError('BAD_FIELD', { field: 'publicKey' });
  const shares = array(pk.verifyingShares, MAX_PARTICIPANTS, 'publicKey.verifyingShares');
  const participants = array(pk.participants, MAX_PARTICIPANTS, 'publicKey.participants');
  if (shares.length !== participants.length) throw new WireError('BAD_FIELD', { field: 'publicKey.verifyingShares' });
  return taggedHash(
    KEY_STATE_TAG,
    lpString(str(pk.suite, SUITE_PATTERN, 'publicKey.suite')),
    u32be(uint(pk.threshold, 1, MAX_PARTICIPANTS, 'publicKey.threshold')),
    u32be(participants.length),
    ...participants.map((p, i) => concatBytes(u32be(uint(p, 1, 65_535, fieldPath('publicKey.participants', i))), lp(bytes(shares[i], undefined, fieldPath('publicKey.verifyingShares', i))))),
    lp(bytes(pk.groupKey, undefined, 'publicKey.groupKey')),
    lp(bytes(pk.chainCode, undefined, 'publicKey.chainCode')),
  );
}

/** The key state of a held epoch and its public package. */
export function keyStateOf(epoch: number, publicKey: WirePublicKey): SessionKeyState {
  return { epoch, publicKeyHash: publicKeyHash(publicKey) };
}

function keyStateBytes(kind: string, v: unknown): Uint8Array {
  if (kind === 'dkg') {
    if (v !== null) throw new WireError('BAD_FIELD', { field: 'keyState', message: 'BAD_FIELD: keyState: a dkg starts from no key' });
    return Uint8Array.of(0);
  }
  const o = strictObject(v, ['epoch', 'publicKeyHash'], ['epoch', 'publicKeyHash'], 'keyState');
  const epoch = uint(o.epoch, 0, Number.MAX_SAFE_INTEGER, 'keyState.epoch');
  return concatBytes(Uint8Array.of(1), i64be(epoch), bytes(o.publicKeyHash, DIGEST_LENGTH, 'keyState.publicKeyHash'));
}

/** A participant's fresh 32-byte contribution. */
export function sessionContribution(rng: Rng = defaultRng): Uint8Array {
  return drawRandom(rng, CONTRIBUTION_LENGTH);
}

export function deriveSessionId(input: SessionIdInput): Uint8Array {
  if (!isPlainObject(input)) throw new WireError('BAD_FIELD', { field: 'input' });
  const kind = oneOf(input.kind, KINDS, 'kind');
  const suite = str(input.suite, SUITE_PATTERN, 'suite');
  const keyId = str(input.keyId, KEY_ID_PATTERN, 'keyId');
  const requestDigest = bytes(input.requestDigest, DIGEST_LENGTH, 'requestDigest');
  const keyState = keyStateBytes(kind, input.keyState);
  const list = array(input.participants, MAX_PARTICIPANTS, 'participants');
  if (list.length === 0) throw new WireError('BAD_FIELD', { field: 'participants', message: 'BAD_FIELD: participants: empty' });
  const participants = list.map((p, i) => str(p, NODE_ID_PATTERN, fieldPath('participants', i)));
  const contributions = input.contributions;
  if (!isPlainObject(contributions)) throw new WireError('BAD_FIELD', { field: 'contributions' });

  const seenIds = new Set<string>();
  const seenValues = new Set<string>();
  participants.forEach((p, i) => {
    if (seenIds.has(p)) throw new WireError('BAD_FIELD', { field: fieldPath('participants', i), message: `BAD_FIELD: duplicate participant ${p}` });
    seenIds.add(p);
    const field = fieldPath('contributions', p);
    if (!Object.hasOwn(contributions, p)) throw new WireError('BAD_FIELD', { field, message: `BAD_FIELD: ${field}: missing` });
    const hex = bytesToHex(bytes(contributions[p], CONTRIBUTION_LENGTH, field));
    // Equal contributions mean a copied value or a broken RNG: fail closed.
    if (seenValues.has(hex)) throw new WireError('BAD_FIELD', { field, message: `BAD_FIELD: ${field}: duplicate contribution` });
    seenValues.add(hex);
  });
  for (const key of Object.keys(contributions)) {
    if (!seenIds.has(key)) throw new WireError('UNKNOWN_FIELD', { field: fieldPath('contributions', key) });
  }

  const sorted = [...participants].sort();
  return taggedHash(
    SESSION_ID_TAG,
    lpString(kind),
    lpString(suite),
    lpString(keyId),
    requestDigest,
    keyState,
    u32be(sorted.length),
    ...sorted.map((p) => concatBytes(lpString(p), contributions[p]!)),
  );
}
