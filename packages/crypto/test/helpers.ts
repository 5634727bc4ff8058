/** In-process drivers for the round functions: every participant in one process. */
import { randomBytes } from 'node:crypto';
import {
  aggregate,
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
  return { shares: outputs.map((o) => o.keyShare), transcripts: outputs.map((o) => o.transcriptHash), sessionId };
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
