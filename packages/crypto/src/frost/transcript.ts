/**
 * Domain-separated hashing of protocol contexts and transcripts. Each context binds a
 * round's messages to (suite, session id, threshold, participant set), so a package
 * made for another session, set or threshold fails its check.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { lengthPrefixed, u32be, utf8ToBytes } from '../bytes.ts';
import type { ParticipantId, SuiteId } from './suite.ts';

export const SESSION_ID_LENGTH = 32;

export function taggedHash(tag: string, ...parts: Uint8Array[]): Uint8Array {
  return sha256(lengthPrefixed(utf8ToBytes(tag), ...parts));
}

export function idsBytes(ids: readonly ParticipantId[]): Uint8Array {
  return lengthPrefixed(...ids.map((id) => u32be(id)));
}

/** The context every message of one protocol run is bound to. */
export function protocolContext(
  protocol: 'dkg' | 'refresh' | 'reshare' | 'repair',
  suite: SuiteId,
  sessionId: Uint8Array,
  threshold: number,
  participants: readonly ParticipantId[],
  extra: Uint8Array = new Uint8Array(0),
): Uint8Array {
  return taggedHash(`keyquorum/${protocol}/context/v1`, utf8ToBytes(suite), sessionId, u32be(threshold), idsBytes(participants), extra);
}
