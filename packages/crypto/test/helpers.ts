/**
 * In-process drivers for the round functions (every participant in one process),
 * the standard verifiers every signature is checked with, and a typed-error matcher.
 */
import { createPublicKey, randomBytes, verify as nodeVerify } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { schnorr, secp256k1_FROST } from '@noble/curves/secp256k1.js';
import { expect } from 'vitest';
import {
  aggregate,
  CryptoError,
  type CryptoErrorCode,
  commit,
  dkgRound1,
  dkgRound2,
  dkgRound3,
  refreshRound1,
  refreshRound2,
  refreshRound3,
  reshareDeal,
  reshareReceive,
  signShare,
  type DkgRound2Package,
  type KeyShare,
  type ParticipantId,
  type SigningTarget,
  type SuiteId,
} from '../src/index.ts';

export const SUITES: SuiteId[] = ['frost-secp256k1-tr', 'frost-ed25519', 'frost-secp256k1'];

export const newSessionId = () => new Uint8Array(randomBytes(32));

export const range = (n: number, from = 1) => Array.from({ length: n }, (_, i) => i + from);

export function runDkg(suite: SuiteId, threshold: number, participants: ParticipantId[], sessionId = newSessionId()) {
  const r1 = participants.map((self) => dkgRound1({ suite, sessionId, self, participants, threshold }));
  const r2 = r1.map((p) => dkgRound2(p.secret, r1.filter((o) => o.package.from !== p.package.from).map((o) => o.package)));
  const inbox = (to: ParticipantId): DkgRound2Package[] => r2.flatMap((r) => r.packages.filter((pkg) => pkg.to === to));
  const outputs = r2.map((r, k) => dkgRound3(r.secret, inbox(participants[k]!)));
  return { shares: outputs.map((o) => o.keyShare), transcripts: outputs.map((o) => o.transcriptHash), sessionId, round1: r1.map((r) => r.package) };
}

export function runSign(shares: KeyShare[], message: Uint8Array, target?: SigningTarget) {
  const round1 = shares.map((s) => commit(s));
  const signing = { message, commitments: round1.map((r) => r.commitments) };
  const sigShares = shares.map((s, k) => signShare(s, round1[k]!.nonces, signing, target));
  return { signature: aggregate(shares[0]!.publicKey, signing, sigShares, target), signing, sigShares };
}

export function runRefresh(shares: KeyShare[], sessionId = newSessionId()) {
  const r1 = shares.map((keyShare) => refreshRound1({ sessionId, keyShare }));
  const r2 = r1.map((p) => refreshRound2(p.secret, r1.filter((o) => o.package.from !== p.package.from).map((o) => o.package)));
  return r2.map((r, k) => refreshRound3(r.secret, r2.flatMap((o) => o.packages.filter((pkg) => pkg.to === shares[k]!.id))).keyShare);
}

export function runReshare(dealerShares: KeyShare[], newParticipants: ParticipantId[], newThreshold: number, sessionId = newSessionId()) {
  const params = { sessionId, oldPublicKey: dealerShares[0]!.publicKey, dealers: dealerShares.map((s) => s.id), newParticipants, newThreshold };
  const dealt = dealerShares.map((s) => reshareDeal(params, s));
  const commitments = dealt.map((d) => d.commitment);
  return newParticipants.map((self) => reshareReceive(params, self, commitments, dealt.flatMap((d) => d.packages.filter((p) => p.to === self))).keyShare);
}

/** A deterministic-length random subset of `items`. */
export function pick<T>(items: T[], count: number, rand: () => number = Math.random): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy.slice(0, count);
}

export const randomMessage = (length = 32) => new Uint8Array(randomBytes(length));

/** RFC 8410 SubjectPublicKeyInfo prefix of an Ed25519 key. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/**
 * Every standard verifier of the suite, by name: BIP340 `schnorr.verify` under the 32-byte
 * x-only key; RFC 8032 noble `ed25519.verify` and node:crypto (OpenSSL); RFC 9591 noble
 * `secp256k1_FROST.verify` under the 33-byte key.
 */
export function standardVerifiers(suite: SuiteId, externalKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Record<string, boolean> {
  switch (suite) {
    case 'frost-secp256k1-tr':
      return { 'schnorr.verify': schnorr.verify(signature, message, externalKey) };
    case 'frost-ed25519': {
      const key = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, externalKey]), format: 'der', type: 'spki' });
      return { 'ed25519.verify': ed25519.verify(signature, message, externalKey), 'node:crypto': nodeVerify(null, message, key, signature) };
    }
    case 'frost-secp256k1':
      return { 'secp256k1_FROST.verify': secp256k1_FROST.verify(signature, message, externalKey) };
  }
}

/** Every standard verifier of the suite accepts (true) or every one rejects (false). */
export function expectStandardVerify(suite: SuiteId, externalKey: Uint8Array, message: Uint8Array, signature: Uint8Array, valid = true, label = ''): void {
  const results = standardVerifiers(suite, externalKey, message, signature);
  for (const [name, ok] of Object.entries(results)) expect(ok, `${suite}: ${name} ${label}`).toBe(valid);
}

/** Runs `fn`, expects a CryptoError with `code` and, if given, exactly `field` and `culprits`. */
export function expectCryptoError(fn: () => unknown, code: CryptoErrorCode, expected: { field?: string | RegExp; culprits?: number[] } = {}): CryptoError {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  if (thrown === undefined) expect.fail(`expected CryptoError ${code}, but nothing was thrown`);
  if (!(thrown instanceof CryptoError)) throw thrown;
  expect(thrown.code, thrown.message).toBe(code);
  if (expected.field instanceof RegExp) expect(thrown.field).toMatch(expected.field);
  else if (expected.field !== undefined) expect(thrown.field).toBe(expected.field);
  if (expected.culprits !== undefined) expect(thrown.culprits).toEqual(expected.culprits);
  return thrown;
}
