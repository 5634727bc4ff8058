/**
 * DKG (frost/dkg.ts) checks that the mutation run of 2026-11-28 found untested
 * (docs/mutation.md, crypto `frost/dkg.ts`): a sender of two packages named as the
 * culprit, a null package refused rather than crashing, the fields that say which part
 * of a package failed, a proof of knowledge with mu = 0, a dealer whose polynomial
 * vanishes at a participant (a zero share that matches its commitment) not blamed,
 * and a run whose constant terms cancel refused. The dealers with chosen polynomials
 * are fixtures built from the library's own commitment and proof functions.
 */
import { describe, expect, it } from 'vitest';
import { concatBytes } from '../src/bytes.ts';
import {
  dkgRound1,
  dkgRound2,
  dkgRound3,
  getSuite,
  pointToBytes,
  proofOfKnowledgeChallenge,
  randomScalar,
  scalarToBytes,
  vssCommit,
  type DkgRound1Package,
  type DkgRound1Secret,
  type DkgRound2Package,
  type ParticipantId,
} from '../src/index.ts';
import { expectCryptoError, expectStandardVerify, newSessionId, randomMessage, runSign, SUITES } from './helpers.ts';
import { targetExternalKey } from '../src/index.ts';

const IDS = [1, 2, 3];

describe.each(SUITES)('%s', (suiteId) => {
  const suite = getSuite(suiteId);
  const Fn = suite.Fn;

  function honestRun() {
    const sessionId = newSessionId();
    const r1 = IDS.map((self) => dkgRound1({ suite: suiteId, sessionId, self, participants: IDS, threshold: 2 }));
    const othersOf = (self: ParticipantId) => r1.filter((r) => r.package.from !== self).map((r) => r.package);
    return { sessionId, r1, othersOf };
  }

  /** A dealer that picks its own polynomial: commitments and a valid proof of knowledge of its constant term, as dkgRound1 makes them. */
  function dealerWith(sessionId: Uint8Array, self: ParticipantId, coefficients: bigint[]): { secret: DkgRound1Secret; package: DkgRound1Package } {
    const base = dkgRound1({ suite: suiteId, sessionId, self, participants: IDS, threshold: coefficients.length });
    const commitment = vssCommit(suite, coefficients);
    const k = randomScalar(suite);
    const R = suite.Point.BASE.multiply(k);
    const c = proofOfKnowledgeChallenge(suite, base.secret.params.context, self, commitment[0]!, R);
    const mu = Fn.add(k, Fn.mul(coefficients[0]!, c));
    const pkg: DkgRound1Package = {
      from: self,
      commitment: commitment.map(pointToBytes),
      proofOfKnowledge: concatBytes(pointToBytes(R), scalarToBytes(suite, mu)),
      chainCodeContribution: base.package.chainCodeContribution,
    };
    return { secret: { params: base.secret.params, coefficients, package: pkg }, package: pkg };
  }

  /** Round 2 for every participant of `r1`, and each one's round-2 inbox for round 3. */
  function finish(r1: { secret: DkgRound1Secret; package: DkgRound1Package }[]) {
    const r2 = r1.map((r) => dkgRound2(r.secret, r1.filter((o) => o !== r).map((o) => o.package)));
    const inboxOf = (to: ParticipantId): DkgRound2Package[] => r2.flatMap((r) => r.packages.filter((p) => p.to === to));
    return { r2, inboxOf };
  }

  it('dkgRound1 refuses parameters that are not an object (a string, a number, a function) as BAD_FIELD dkg.params', () => {
    for (const bad of ['x', 7, () => ({ suite: suiteId })]) expectCryptoError(() => dkgRound1(bad as never), 'BAD_FIELD', { field: 'dkg.params' });
  });

  it('a participant that sends two round-1 packages (equivocation) is named as the culprit', () => {
    const run = honestRun();
    const other = dkgRound1({ suite: suiteId, sessionId: run.sessionId, self: 3, participants: IDS, threshold: 2 }).package;
    expectCryptoError(() => dkgRound2(run.r1[0]!.secret, [...run.othersOf(1), other]), 'BAD_PARTICIPANT', { field: 'dkg.round1[2].from', culprits: [3] });
  });

  it('a participant that sends two round-2 packages is named as the culprit; a missing one is refused naming dkg.round2', () => {
    const run = honestRun();
    const { r2, inboxOf } = finish(run.r1);
    const inbox = inboxOf(1);
    const twice = [...inbox, inbox.find((p) => p.from === 2)!];
    expectCryptoError(() => dkgRound3(r2[0]!.secret, twice), 'BAD_PARTICIPANT', { field: 'dkg.round2[2].from', culprits: [2] });
    expectCryptoError(() => dkgRound3(r2[0]!.secret, inbox.filter((p) => p.from === 2)), 'BAD_PARTICIPANT', { field: 'dkg.round2' });
  });

  it('a null in place of a round-1 package is refused as BAD_PARTICIPANT naming its place, not a crash', () => {
    const run = honestRun();
    expectCryptoError(() => dkgRound2(run.r1[0]!.secret, [run.othersOf(1)[0]!, null as never]), 'BAD_PARTICIPANT', { field: 'dkg.round1[1].from' });
  });

  it('a commitment of the wrong length is refused naming the commitment field and its sender', () => {
    const run = honestRun();
    const inbound = run.othersOf(1).map((p) => (p.from === 3 ? { ...p, commitment: p.commitment.slice(0, 1) } : p));
    expectCryptoError(() => dkgRound2(run.r1[0]!.secret, inbound), 'INVALID_COMMITMENT', { field: 'dkg.round1[3].commitment', culprits: [3] });
  });

  it('a proof of knowledge whose mu is zero is refused as INVALID_PROOF naming its sender (it cannot verify without knowing the hash first)', () => {
    const run = honestRun();
    const inbound = run.othersOf(1).map((p) =>
      p.from === 3 ? { ...p, proofOfKnowledge: concatBytes(p.proofOfKnowledge.slice(0, suite.pointLength), new Uint8Array(suite.scalarLength)) } : p,
    );
    expectCryptoError(() => dkgRound2(run.r1[0]!.secret, inbound), 'INVALID_PROOF', { field: 'dkg.round1[3].proofOfKnowledge', culprits: [3] });
  });

  it('round-2 refusals name what failed: a share addressed to another participant (.to) and shares failing their commitment (dkg.round2)', () => {
    const run = honestRun();
    const { r2, inboxOf } = finish(run.r1);
    const misaddressed = inboxOf(1).map((p) => (p.from === 3 ? { ...p, to: 2 } : p));
    expectCryptoError(() => dkgRound3(r2[0]!.secret, misaddressed), 'BAD_PARTICIPANT', { field: 'dkg.round2[3].to', culprits: [3] });
    const wrong = inboxOf(1).map((p) => (p.from === 2 ? { ...p, signingShare: scalarToBytes(suite, Fn.add(Fn.fromBytes(p.signingShare), 1n)) } : p));
    expectCryptoError(() => dkgRound3(r2[0]!.secret, wrong), 'INVALID_SHARE', { field: 'dkg.round2', culprits: [2] });
  });

  it('a dealer whose polynomial vanishes at a participant (a zero share that matches its commitment) is not blamed: the run completes and the key signs', () => {
    const sessionId = newSessionId();
    const a0 = randomScalar(suite);
    // f_3(x) = a0 - a0*x: f_3(1) = 0.
    const r1 = [
      dkgRound1({ suite: suiteId, sessionId, self: 1, participants: IDS, threshold: 2 }),
      dkgRound1({ suite: suiteId, sessionId, self: 2, participants: IDS, threshold: 2 }),
      dealerWith(sessionId, 3, [a0, Fn.neg(a0)]),
    ];
    const { r2, inboxOf } = finish(r1);
    expect(Fn.fromBytes(inboxOf(1).find((p) => p.from === 3)!.signingShare)).toBe(0n);
    const shares = [0, 1].map((k) => dkgRound3(r2[k]!.secret, inboxOf(IDS[k]!)).keyShare);
    const message = randomMessage();
    const { signature } = runSign(shares, message);
    expectStandardVerify(suiteId, targetExternalKey(shares[0]!.publicKey), message, signature);
  });

  it('a run whose constant terms cancel (group key = identity) gives no key share (INVALID_COMMITMENT dkg.groupKey)', () => {
    const sessionId = newSessionId();
    const [x, y] = [randomScalar(suite), randomScalar(suite)];
    const r1 = [dealerWith(sessionId, 1, [x, randomScalar(suite)]), dealerWith(sessionId, 2, [y, randomScalar(suite)]), dealerWith(sessionId, 3, [Fn.neg(Fn.add(x, y)), randomScalar(suite)])];
    const { r2, inboxOf } = finish(r1);
    for (const k of [0, 1, 2]) expectCryptoError(() => dkgRound3(r2[k]!.secret, inboxOf(IDS[k]!)), 'INVALID_COMMITMENT', { field: 'dkg.groupKey' });
  });
});
