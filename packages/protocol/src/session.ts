/**
 * Session ids derived from a fresh contribution of every participant, so neither
 * the coordinator nor any subset of signers can steer a session onto an old
 * transcript: each honest participant's randomness enters the id.
 *   sessionId = SHA-256(lp(SESSION_ID_TAG) || lp(kind) || lp(suite) || lp(keyId)
 *               || requestDigest || u32(n) || for p in sorted(participants): lp(p) || contribution[p])
 */
import { bytesToHex, concatBytes } from '@noble/hashes/utils.js';
import { lpString, taggedHash, u32be } from './canonical.ts';
import {
  CONTRIBUTION_LENGTH,
  DIGEST_LENGTH,
  KEY_ID_PATTERN,
  KINDS,
  MAX_PARTICIPANTS,
  NODE_ID_PATTERN,
  SESSION_ID_TAG,
  SUITE_PATTERN,
} from './constants.ts';
import { WireError } from './errors.ts';
import { defaultRng, drawRandom, type Rng } from './rng.ts';
import { array, bytes, fieldPath, isPlainObject, oneOf, str } from './validate.ts';

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
    u32be(sorted.length),
    ...sorted.map((p) => concatBytes(lpString(p), contributions[p]!)),
  );
}
