/**
 * Conformance suite, run for every ciphersuite (the frost-rs habit): DKG, signing with
 * attribution, refresh, reshare, repair and derivation. Every signature is checked by
 * the suite's standard verifiers (helpers.ts), never only by our own code.
 */
import { describe, expect, it } from 'vitest';
import {
  aggregate,
  commit,
  deriveChild,
  dkgRound1,
  dkgRound2,
  dkgRound3,
  getSuite,
  lagrange,
  parsePoint,
  refreshRound1,
  refreshRound2,
  refreshRound3,
  repairStep1,
  repairStep2,
  repairStep3,
  reshareDeal,
  resharePublicKey,
  reshareReceive,
  signShare,
  targetExternalKey,
  targetKeyShare,
  targetPublicKey,
  verifyShare,
  type DkgRound1Package,
  type DkgRound2Package,
  type KeyShare,
  type ParticipantId,
  type PublicKeyPackage,
  type RepairDelta,
  type SignatureShare,
  type SigningTarget,
  type SuiteId,
} from '../src/index.ts';
import {
  expectCryptoError,
  expectStandardVerify,
  newSessionId,
  pick,
  randomMessage,
  runDkg,
  runRefresh,
  runReshare,
  runSign,
  SUITES,
} from './helpers.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** All k-element subsets of `items`, in order. */
function subsets<T>(items: T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (items.length < k) return [];
  const [first, ...rest] = items;
  return [...subsets(rest, k - 1).map((s) => [first!, ...s]), ...subsets(rest, k)];
}

/** The group secret's image sum(lambda_i * s_i) * G of a set of shares, all assumed of one key. */
function interpolatedKey(suiteId: SuiteId, shares: KeyShare[]): Uint8Array {
  const suite = getSuite(suiteId);
  const ids = shares.map((s) => s.id);
  const secret = shares.reduce((acc, s) => suite.Fn.add(acc, suite.Fn.mul(lagrange(suite, ids, s.id), suite.Fn.fromBytes(s.signingShare))), 0n);
  return suite.Point.BASE.multiply(secret).toBytes(true);
}

/** Each share signs with its own key package; the coordinator then aggregates under a package of its choice. */
function signMixed(shares: KeyShare[], message: Uint8Array, target?: SigningTarget) {
  const round1 = shares.map((s) => commit(s));
  const signing = { message, commitments: round1.map((r) => r.commitments) };
  const sigShares = shares.map((s, k) => signShare(s, round1[k]!.nonces, signing, target));
  return { signing, sigShares, aggregateUnder: (pkg: PublicKeyPackage) => aggregate(pkg, signing, sigShares, target) };
}

/**
 * A mixed quorum "cannot sign": aggregation either names a culprit, or the signature it
 * returns fails every standard verifier for the key.
 */
function expectNoValidSignature(suiteId: SuiteId, pkg: PublicKeyPackage, attempt: () => Uint8Array, message: Uint8Array): void {
  let signature: Uint8Array | undefined;
  try {
    signature = attempt();
  } catch (e) {
    expectCryptoError(() => {
      throw e;
    }, 'INVALID_SIGNATURE_SHARE');
    expect((e as { culprits: number[] }).culprits.length).toBeGreaterThan(0);
    return;
  }
  expectStandardVerify(suiteId, targetExternalKey(pkg), message, signature, false);
}

function tamperScalar(suiteId: SuiteId, bytes: Uint8Array): Uint8Array {
  const suite = getSuite(suiteId);
  return suite.Fn.toBytes(suite.Fn.add(suite.Fn.fromBytes(bytes), 1n));
}

describe.each(SUITES)('%s', (suiteId) => {
  const suite = getSuite(suiteId);
  // Non-contiguous identifiers, so that an index used in place of an id shows up.
  const IDS = [1, 3, 4, 7, 9];
  const T = 3;
  const key = runDkg(suiteId, T, IDS);
  const pkg = key.shares[0]!.publicKey;
  const shareOf = (id: ParticipantId, shares = key.shares) => shares.find((s) => s.id === id)!;

  /** Round 1 for every participant of a fresh 3-of-5 DKG; round-2 and round-3 drivers. */
  function dkgRun(sessionId = newSessionId()) {
    const r1 = IDS.map((self) => dkgRound1({ suite: suiteId, sessionId, self, participants: IDS, threshold: T }));
    const othersOf = (self: ParticipantId, packages: DkgRound1Package[] = r1.map((r) => r.package)) => packages.filter((p) => p.from !== self);
    return { sessionId, r1, othersOf };
  }

  describe('DKG', () => {
    it('DKG: every participant derives the same group key, verifying shares, chain code and transcript hash', () => {
      for (const s of key.shares) {
        expect(hex(s.publicKey.groupKey)).toBe(hex(pkg.groupKey));
        expect(hex(s.publicKey.chainCode)).toBe(hex(pkg.chainCode));
        expect(s.publicKey.participants).toEqual(IDS);
        expect(s.publicKey.threshold).toBe(T);
        for (const id of IDS) expect(hex(s.publicKey.verifyingShares[id]!)).toBe(hex(pkg.verifyingShares[id]!));
        expect(hex(suite.Point.BASE.multiply(suite.Fn.fromBytes(s.signingShare)).toBytes(true))).toBe(hex(pkg.verifyingShares[s.id]!));
      }
      for (const t of key.transcripts) expect(hex(t)).toBe(hex(key.transcripts[0]!));
      // The group key is the sum of every participant's committed constant term.
      const sum = key.round1.reduce((acc, p) => acc.add(parsePoint(suite, p.commitment[0], 'c0')), suite.Point.ZERO);
      expect(hex(sum.toBytes(true))).toBe(hex(pkg.groupKey));
    });

    it('DKG: any t shares interpolate to the group key and t-1 shares do not', () => {
      for (const quorum of subsets(key.shares, T)) expect(hex(interpolatedKey(suiteId, quorum))).toBe(hex(pkg.groupKey));
      expect(hex(interpolatedKey(suiteId, key.shares.slice(0, T - 1)))).not.toBe(hex(pkg.groupKey));
    });

    it('DKG: two runs give independent keys and chain codes', () => {
      const other = runDkg(suiteId, T, IDS);
      expect(hex(other.shares[0]!.publicKey.groupKey)).not.toBe(hex(pkg.groupKey));
      expect(hex(other.shares[0]!.publicKey.chainCode)).not.toBe(hex(pkg.chainCode));
      expect(hex(other.transcripts[0]!)).not.toBe(hex(key.transcripts[0]!));
    });

    it('DKG rejects a round-1 package whose proof of knowledge is bound to another session', () => {
      const run = dkgRun();
      const foreign = dkgRound1({ suite: suiteId, sessionId: newSessionId(), self: 4, participants: IDS, threshold: T }).package;
      const inbound = run.othersOf(1).map((p) => (p.from === 4 ? foreign : p));
      expectCryptoError(() => dkgRound2(run.r1[0]!.secret, inbound), 'INVALID_PROOF', { field: 'dkg.round1[4].proofOfKnowledge', culprits: [4] });
    });

    it('DKG rejects a round-1 package whose proof is bound to another participant set', () => {
      const run = dkgRun();
      const foreign = dkgRound1({ suite: suiteId, sessionId: run.sessionId, self: 4, participants: [1, 3, 4, 7, 10], threshold: T }).package;
      const inbound = run.othersOf(1).map((p) => (p.from === 4 ? foreign : p));
      expectCryptoError(() => dkgRound2(run.r1[0]!.secret, inbound), 'INVALID_PROOF', { culprits: [4] });
    });

    it('DKG rejects a round-1 package whose proof is bound to another threshold, even with its commitment trimmed to fit', () => {
      const run = dkgRun();
      const foreign = dkgRound1({ suite: suiteId, sessionId: run.sessionId, self: 7, participants: IDS, threshold: T + 1 }).package;
      const as = (p: DkgRound1Package) => run.othersOf(1).map((q) => (q.from === 7 ? p : q));
      // As made, its commitment has t+1 points: the length check names it first.
      expectCryptoError(() => dkgRound2(run.r1[0]!.secret, as(foreign)), 'INVALID_COMMITMENT', { culprits: [7] });
      // Trimmed to t points, only the proof's binding to the threshold remains to catch it.
      const trimmed = { ...foreign, commitment: foreign.commitment.slice(0, T) };
      expectCryptoError(() => dkgRound2(run.r1[0]!.secret, as(trimmed)), 'INVALID_PROOF', { culprits: [7] });
    });

    it("DKG rejects a round-1 package relabelled with another participant's id", () => {
      const run = dkgRun();
      const by9 = run.r1[4]!.package;
      const inbound = run.othersOf(1).map((p) => (p.from === 3 ? { ...by9, from: 3 } : p));
      expectCryptoError(() => dkgRound2(run.r1[0]!.secret, inbound), 'INVALID_PROOF', { culprits: [3] });
    });

    it('DKG names every sender whose round-1 package fails, not only the first', () => {
      const run = dkgRun();
      const s2 = newSessionId();
      const foreign = (self: number) => dkgRound1({ suite: suiteId, sessionId: s2, self, participants: IDS, threshold: T }).package;
      const inbound = run.othersOf(1).map((p) => (p.from === 3 || p.from === 9 ? foreign(p.from) : p));
      expectCryptoError(() => dkgRound2(run.r1[0]!.secret, inbound), 'INVALID_PROOF', { culprits: [3, 9] });
    });

    it('DKG rejects a commitment of the wrong length with INVALID_COMMITMENT naming its sender', () => {
      const run = dkgRun();
      const p3 = run.r1[1]!.package;
      for (const commitment of [p3.commitment.slice(0, T - 1), [...p3.commitment, p3.commitment[0]!]]) {
        const inbound = run.othersOf(1).map((p) => (p.from === 3 ? { ...p3, commitment } : p));
        expectCryptoError(() => dkgRound2(run.r1[0]!.secret, inbound), 'INVALID_COMMITMENT', { culprits: [3] });
      }
    });

    it('DKG names a sender whose secret share fails its commitment (one and two cheaters)', () => {
      const run = dkgRun();
      const r2 = run.r1.map((r) => dkgRound2(r.secret, run.othersOf(r.package.from)));
      const inboxOf = (to: number) => r2.flatMap((r) => r.packages.filter((p) => p.to === to));
      const tamper = (packages: DkgRound2Package[], cheaters: number[]) =>
        packages.map((p) => (cheaters.includes(p.from) ? { ...p, signingShare: tamperScalar(suiteId, p.signingShare) } : p));
      expectCryptoError(() => dkgRound3(r2[0]!.secret, tamper(inboxOf(1), [7])), 'INVALID_SHARE', { culprits: [7] });
      expectCryptoError(() => dkgRound3(r2[0]!.secret, tamper(inboxOf(1), [3, 9])), 'INVALID_SHARE', { culprits: [3, 9] });
      // The honest inbox still completes.
      expect(dkgRound3(r2[0]!.secret, inboxOf(1)).keyShare.id).toBe(1);
    });

    it('DKG rejects a round-2 package addressed to another participant', () => {
      const run = dkgRun();
      const r2 = run.r1.map((r) => dkgRound2(r.secret, run.othersOf(r.package.from)));
      const inbox = r2.flatMap((r) => r.packages.filter((p) => p.to === 1)).map((p) => (p.from === 4 ? { ...p, to: 3 } : p));
      expectCryptoError(() => dkgRound3(r2[0]!.secret, inbox), 'BAD_PARTICIPANT', { culprits: [4] });
    });

    it('DKG rejects duplicate, missing, unknown and self-sent round-1 packages with BAD_PARTICIPANT', () => {
      const run = dkgRun();
      const others = run.othersOf(1);
      const own = run.r1[0]!.package;
      const byId = (id: number) => run.r1.find((r) => r.package.from === id)!.package;
      const stranger = dkgRound1({ suite: suiteId, sessionId: run.sessionId, self: 11, participants: [...IDS, 11], threshold: T }).package;
      const cases: [string, DkgRound1Package[], string][] = [
        ['duplicate', [...others.filter((p) => p.from !== 9), byId(3)], 'dkg.round1[3].from'],
        ['missing', others.filter((p) => p.from !== 9), 'dkg.round1'],
        ['unknown', [...others.filter((p) => p.from !== 9), stranger], 'dkg.round1[3].from'],
        ['own', [...others.filter((p) => p.from !== 9), own], 'dkg.round1[3].from'],
      ];
      for (const [, inbound, field] of cases) expectCryptoError(() => dkgRound2(run.r1[0]!.secret, inbound), 'BAD_PARTICIPANT', { field });
    });
  });

  describe('signing', () => {
    const message = randomMessage();

    it('sign: every t-subset of a 3-of-5 key, and the whole set, produces a signature the standard verifiers accept', () => {
      for (const quorum of [...subsets(key.shares, T), key.shares]) {
        const { signature } = runSign(quorum, message);
        expect(signature.length).toBe(suite.signatureLength);
        expectStandardVerify(suiteId, targetExternalKey(pkg), message, signature, true, `quorum ${quorum.map((s) => s.id).join(',')}`);
      }
    });

    it('sign: a signature does not verify for another message or another key', () => {
      const { signature } = runSign(key.shares.slice(0, T), message);
      expectStandardVerify(suiteId, targetExternalKey(pkg), randomMessage(), signature, false);
      const otherKey = runDkg(suiteId, 2, [1, 2]).shares[0]!.publicKey;
      expectStandardVerify(suiteId, targetExternalKey(otherKey), message, signature, false);
    });

    it('sign: an invalid signature share is attributed: culprits are exactly the one cheater', () => {
      const { signing, sigShares } = runSign(key.shares.slice(0, 4), message);
      const forged = sigShares.map((s) => (s.id === 4 ? { ...s, share: tamperScalar(suiteId, s.share) } : s));
      expectCryptoError(() => aggregate(pkg, signing, forged), 'INVALID_SIGNATURE_SHARE', { culprits: [4] });
      for (const s of forged) expect(verifyShare(pkg, signing, s)).toBe(s.id !== 4);
    });

    it('sign: two cheaters are both named, and only them', () => {
      const { signing, sigShares } = runSign(key.shares, message);
      const forged = sigShares.map((s) => (s.id === 3 || s.id === 9 ? { ...s, share: tamperScalar(suiteId, s.share) } : s));
      expectCryptoError(() => aggregate(pkg, signing, forged), 'INVALID_SIGNATURE_SHARE', { culprits: [3, 9] });
    });

    it('sign: a signature share made for another message is attributed to its signer', () => {
      const quorum = key.shares.slice(0, T);
      const round1 = quorum.map((s) => commit(s));
      const signing = { message, commitments: round1.map((r) => r.commitments) };
      const sigShares = quorum.map((s, k) => signShare(s, round1[k]!.nonces, k === 1 ? { ...signing, message: randomMessage() } : signing));
      expectCryptoError(() => aggregate(pkg, signing, sigShares), 'INVALID_SIGNATURE_SHARE', { culprits: [quorum[1]!.id] });
    });

    it('sign: reusing signing nonces fails closed with NONCE_REUSED', () => {
      const quorum = key.shares.slice(0, T);
      const round1 = quorum.map((s) => commit(s));
      const signing = { message, commitments: round1.map((r) => r.commitments) };
      signShare(quorum[0]!, round1[0]!.nonces, signing);
      expectCryptoError(() => signShare(quorum[0]!, round1[0]!.nonces, signing), 'NONCE_REUSED', { field: 'nonces' });
      expectCryptoError(() => signShare(quorum[0]!, round1[0]!.nonces, { ...signing, message: randomMessage() }), 'NONCE_REUSED');
    });

    it('sign: fewer than t commitments are rejected by the signer and the coordinator', () => {
      const quorum = key.shares.slice(0, T - 1);
      const round1 = quorum.map((s) => commit(s));
      const signing = { message, commitments: round1.map((r) => r.commitments) };
      expectCryptoError(() => signShare(quorum[0]!, round1[0]!.nonces, signing), 'BAD_PARTICIPANT', { field: 'signingPackage.commitments' });
      expectCryptoError(() => aggregate(pkg, signing, []), 'BAD_PARTICIPANT', { field: 'signingPackage.commitments' });
    });

    it("sign: a signer refuses a package that assigns it another participant's commitment", () => {
      const quorum = key.shares.slice(0, T);
      const round1 = quorum.map((s) => commit(s));
      const swapped = round1.map((r, k) => (k === 0 ? { ...round1[1]!.commitments, id: r.commitments.id } : r.commitments));
      expectCryptoError(() => signShare(quorum[0]!, round1[0]!.nonces, { message, commitments: swapped }), 'BAD_FIELD', { field: 'signingPackage.commitments' });
    });

    it('sign: aggregate rejects a missing signature share, a duplicate one and one from outside the quorum', () => {
      const { signing, sigShares } = runSign(key.shares.slice(0, T), message);
      expectCryptoError(() => aggregate(pkg, signing, sigShares.slice(1)), 'BAD_PARTICIPANT', { field: 'shares' });
      expectCryptoError(() => aggregate(pkg, signing, [...sigShares, sigShares[0]!]), 'BAD_PARTICIPANT', { field: 'shares[3].id' });
      const outsider: SignatureShare = { id: 9, share: sigShares[0]!.share };
      expectCryptoError(() => aggregate(pkg, signing, [...sigShares.slice(1), outsider]), 'BAD_PARTICIPANT', { field: 'shares[2].id' });
    });
  });

  describe('refresh', () => {
    const refreshed = runRefresh(key.shares);
    const newPkg = refreshed[0]!.publicKey;

    it('refresh: group key, threshold, participants, chain code and derived child keys are unchanged', () => {
      for (const s of refreshed) {
        expect(hex(s.publicKey.groupKey)).toBe(hex(pkg.groupKey));
        expect(hex(s.publicKey.chainCode)).toBe(hex(pkg.chainCode));
        expect(s.publicKey.threshold).toBe(T);
        expect(s.publicKey.participants).toEqual(IDS);
        for (const id of IDS) expect(hex(s.publicKey.verifyingShares[id]!)).toBe(hex(newPkg.verifyingShares[id]!));
      }
      for (const path of ['m/0', 'm/44/0/7']) expect(hex(deriveChild(newPkg, path).groupKey)).toBe(hex(deriveChild(pkg, path).groupKey));
    });

    it('refresh: every signing share and every verifying share changes', () => {
      for (const id of IDS) {
        expect(hex(newPkg.verifyingShares[id]!)).not.toBe(hex(pkg.verifyingShares[id]!));
        expect(hex(shareOf(id, refreshed).signingShare)).not.toBe(hex(shareOf(id).signingShare));
      }
    });

    it('refresh: refreshed shares sign under the unchanged key, also for a child key', () => {
      const message = randomMessage();
      const quorum = pick(refreshed, T);
      expectStandardVerify(suiteId, targetExternalKey(pkg), message, runSign(quorum, message).signature);
      const target = { path: 'm/5/6' };
      expectStandardVerify(suiteId, targetExternalKey(pkg, target), message, runSign(quorum, message, target).signature);
    });

    it('refresh: a quorum mixing old and new shares cannot sign', () => {
      const message = randomMessage();
      const mixed = [shareOf(1), shareOf(3, refreshed), shareOf(4, refreshed)];
      // Algebraically: the mixed shares interpolate to another key.
      expect(hex(interpolatedKey(suiteId, mixed))).not.toBe(hex(pkg.groupKey));
      const attempt = signMixed(mixed, message);
      // The coordinator holding the new package names the stale signer.
      expectCryptoError(() => attempt.aggregateUnder(newPkg), 'INVALID_SIGNATURE_SHARE', { culprits: [1] });
      // Under the old package, the refreshed signers are the odd ones out.
      expectNoValidSignature(suiteId, pkg, () => attempt.aggregateUnder(pkg), message);
      expectCryptoError(() => attempt.aggregateUnder(pkg), 'INVALID_SIGNATURE_SHARE', { culprits: [3, 4] });
    });

    it('refresh: a refresh commitment of the wrong length is rejected naming its sender', () => {
      const sessionId = newSessionId();
      const r1 = key.shares.map((keyShare) => refreshRound1({ sessionId, keyShare }));
      const others = (self: number) => r1.map((r) => r.package).filter((p) => p.from !== self);
      for (const bad of [[], [...r1[3]!.package.commitment, r1[3]!.package.commitment[0]!]]) {
        const inbound = others(1).map((p) => (p.from === 7 ? { ...p, commitment: bad } : p));
        expectCryptoError(() => refreshRound2(r1[0]!.secret, inbound), 'INVALID_COMMITMENT', { culprits: [7] });
      }
    });

    it('refresh: a dealer that shifts every share it deals (which would move the key) is named', () => {
      const sessionId = newSessionId();
      const r1 = key.shares.map((keyShare) => refreshRound1({ sessionId, keyShare }));
      const r2 = r1.map((r) => refreshRound2(r.secret, r1.map((o) => o.package).filter((p) => p.from !== r.package.from)));
      const inbox = r2.flatMap((r) => r.packages.filter((p) => p.to === 1)).map((p) => (p.from === 9 ? { ...p, signingShare: tamperScalar(suiteId, p.signingShare) } : p));
      expectCryptoError(() => refreshRound3(r2[0]!.secret, inbox), 'INVALID_SHARE', { culprits: [9] });
    });

    it('refresh: transcripts agree across participants and differ across sessions', () => {
      const run = (sessionId: Uint8Array) => {
        const r1 = key.shares.map((keyShare) => refreshRound1({ sessionId, keyShare }));
        const r2 = r1.map((r) => refreshRound2(r.secret, r1.map((o) => o.package).filter((p) => p.from !== r.package.from)));
        return r2.map((r, k) => refreshRound3(r.secret, r2.flatMap((o) => o.packages.filter((p) => p.to === IDS[k]))).transcriptHash);
      };
      const a = run(newSessionId());
      for (const t of a) expect(hex(t)).toBe(hex(a[0]!));
      expect(hex(run(newSessionId())[0]!)).not.toBe(hex(a[0]!));
    });
    it('refresh: a participant holding a stale package (it missed a refresh) ends with another transcript hash', () => {
      const run = (shares: KeyShare[]) => {
        const sessionId = newSessionId();
        const r1 = shares.map((keyShare) => refreshRound1({ sessionId, keyShare }));
        const r2 = r1.map((r) => refreshRound2(r.secret, r1.map((o) => o.package).filter((p) => p.from !== r.package.from)));
        return r2.map((r, k) => refreshRound3(r.secret, r2.flatMap((o) => o.packages.filter((p) => p.to === shares[k]!.id))));
      };
      // Participant 1 still holds its pre-refresh share and package; the others hold refreshed ones.
      const out = run([shareOf(1), ...refreshed.filter((s) => s.id !== 1)]);
      // Its view of the new package differs from everyone else's ...
      expect(hex(out[0]!.keyShare.publicKey.verifyingShares[3]!)).not.toBe(hex(out[1]!.keyShare.publicKey.verifyingShares[3]!));
      // ... and the transcript comparison that follows every refresh shows it.
      expect(hex(out[0]!.transcriptHash)).not.toBe(hex(out[1]!.transcriptHash));
      for (const o of out.slice(2)) expect(hex(o.transcriptHash)).toBe(hex(out[1]!.transcriptHash));
    });
  });

  describe('reshare', () => {
    it('reshare: 2-of-3 -> 3-of-5 keeps the group key and chain code, and 3 new holders sign, whether old or new members', () => {
      const small = runDkg(suiteId, 2, [1, 2, 3]).shares;
      const old = small[0]!.publicKey;
      const newIds = [1, 2, 3, 4, 5];
      const next = runReshare([small[0]!, small[2]!], newIds, 3);
      const message = randomMessage();
      for (const s of next) {
        expect(hex(s.publicKey.groupKey)).toBe(hex(old.groupKey));
        expect(hex(s.publicKey.chainCode)).toBe(hex(old.chainCode));
        expect(s.publicKey.threshold).toBe(3);
        expect(s.publicKey.participants).toEqual(newIds);
      }
      // Old members only, new members only, and mixes (all ten 3-subsets would triple the cost).
      for (const ids of [[1, 2, 3], [3, 4, 5], [1, 4, 5], [2, 3, 5]]) {
        const quorum = next.filter((s) => ids.includes(s.id));
        expectStandardVerify(suiteId, targetExternalKey(old), message, runSign(quorum, message).signature, true, `quorum ${ids.join(',')}`);
      }
      // Two new shares are below the new threshold: they interpolate to another key.
      expect(hex(interpolatedKey(suiteId, next.slice(0, 2)))).not.toBe(hex(old.groupKey));
    });

    it('reshare: replacing a signer (1,2,3 -> 1,2,4) keeps the group key; the new member signs with an old member', () => {
      const old = runDkg(suiteId, 2, [1, 2, 3]).shares;
      const next = runReshare([old[0]!, old[1]!], [1, 2, 4], 2);
      const message = randomMessage();
      const newPkg = next[0]!.publicKey;
      expect(hex(newPkg.groupKey)).toBe(hex(old[0]!.publicKey.groupKey));
      expectStandardVerify(suiteId, targetExternalKey(newPkg), message, runSign([next[0]!, next[2]!], message).signature);
      expectStandardVerify(suiteId, targetExternalKey(newPkg), message, runSign([next[1]!, next[2]!], message).signature);
      // Member 1's share changed although it stayed.
      expect(hex(next[0]!.signingShare)).not.toBe(hex(old[0]!.signingShare));
    });

    it('reshare: old shares do not combine with new shares', () => {
      const old = runDkg(suiteId, 2, [1, 2, 3]).shares;
      const next = runReshare([old[1]!, old[2]!], [1, 2, 4], 2);
      const oldPkg = old[0]!.publicKey;
      const newPkg = next[0]!.publicKey;
      const message = randomMessage();
      // Algebraically: an old and a new share interpolate to another key.
      expect(hex(interpolatedKey(suiteId, [old[0]!, next[2]!]))).not.toBe(hex(oldPkg.groupKey));
      expect(hex(interpolatedKey(suiteId, [next[0]!, old[1]!]))).not.toBe(hex(oldPkg.groupKey));
      // An old share presented with the new package fails its verifying share.
      expectCryptoError(() => commit({ ...old[0]!, publicKey: newPkg }), 'SHARE_MISMATCH', { field: 'keyShare.signingShare' });
      // An old holder refuses a quorum with a member its key does not know.
      const withNewcomer = [commit(old[0]!), commit(next[2]!)];
      const signing = { message, commitments: withNewcomer.map((r) => r.commitments) };
      expectCryptoError(() => signShare(old[0]!, withNewcomer[0]!.nonces, signing), 'BAD_PARTICIPANT', { field: 'signingPackage.commitments[1].id' });
      // New member 1 with old member 2 (ids known to both packages): no valid signature either way.
      const attempt = signMixed([next[0]!, old[1]!], message);
      expectCryptoError(() => attempt.aggregateUnder(newPkg), 'INVALID_SIGNATURE_SHARE', { culprits: [2] });
      expectCryptoError(() => attempt.aggregateUnder(oldPkg), 'INVALID_SIGNATURE_SHARE', { culprits: [1] });
      expectNoValidSignature(suiteId, newPkg, () => attempt.aggregateUnder(newPkg), message);
    });

    it('reshare: a dealer that reshares a wrong value is named in INVALID_COMMITMENT culprits', () => {
      const old = runDkg(suiteId, 2, [1, 2, 3]).shares;
      const params = { sessionId: newSessionId(), oldPublicKey: old[0]!.publicKey, dealers: [1, 2, 3], newParticipants: [1, 2, 3, 4], newThreshold: 2 };
      // Dealer 3 deals from a share of its own making, consistent with a forged package of its own.
      const fakeShare = suite.Fn.add(suite.Fn.fromBytes(old[2]!.signingShare), 1n);
      const forgedPkg = { ...old[2]!.publicKey, verifyingShares: { ...old[2]!.publicKey.verifyingShares, 3: suite.Point.BASE.multiply(fakeShare).toBytes(true) } };
      const liar = { ...old[2]!, signingShare: suite.Fn.toBytes(fakeShare), publicKey: forgedPkg };
      // A cheating dealer does not run the honest local checks: it deals against its own forged view.
      const dealt = [reshareDeal(params, old[0]!), reshareDeal(params, old[1]!), reshareDeal({ ...params, oldPublicKey: forgedPkg }, liar)];
      const commitments = dealt.map((d) => d.commitment);
      expectCryptoError(() => resharePublicKey(params, commitments), 'INVALID_COMMITMENT', { culprits: [3] });
      expectCryptoError(() => reshareReceive(params, 4, commitments, dealt.flatMap((d) => d.packages.filter((p) => p.to === 4))), 'INVALID_COMMITMENT', { culprits: [3] });
    });

    it('reshare: a dealer dealing from a stale share (from before a refresh) is named', () => {
      const old = runDkg(suiteId, 2, [1, 2, 3]).shares;
      const current = runRefresh(old);
      const params = { sessionId: newSessionId(), oldPublicKey: current[0]!.publicKey, dealers: [1, 2], newParticipants: [1, 2, 3], newThreshold: 2 };
      // An honest dealer refuses locally to deal from a share of another epoch...
      expectCryptoError(() => reshareDeal(params, old[1]!), 'SHARE_MISMATCH', { field: 'reshare.keyShare' });
      // ...and a dealer that does so anyway (against its stale view) is named by every receiver.
      const dealt = [reshareDeal(params, current[0]!), reshareDeal({ ...params, oldPublicKey: old[1]!.publicKey }, old[1]!)];
      expectCryptoError(() => resharePublicKey(params, dealt.map((d) => d.commitment)), 'INVALID_COMMITMENT', { culprits: [2] });
    });

    it('reshare: a dealt share inconsistent with its commitment is named in INVALID_SHARE culprits', () => {
      const old = runDkg(suiteId, 2, [1, 2, 3]).shares;
      const params = { sessionId: newSessionId(), oldPublicKey: old[0]!.publicKey, dealers: [1, 3], newParticipants: [2, 5, 6], newThreshold: 2 };
      const dealt = [reshareDeal(params, old[0]!), reshareDeal(params, old[2]!)];
      const inbox = dealt.flatMap((d) => d.packages.filter((p) => p.to === 5)).map((p) => (p.from === 3 ? { ...p, signingShare: tamperScalar(suiteId, p.signingShare) } : p));
      expectCryptoError(() => reshareReceive(params, 5, dealt.map((d) => d.commitment), inbox), 'INVALID_SHARE', { culprits: [3] });
    });

    it('reshare: every new holder, and any observer, computes the same public package', () => {
      const old = runDkg(suiteId, 2, [1, 2, 3]).shares;
      const params = { sessionId: newSessionId(), oldPublicKey: old[0]!.publicKey, dealers: [2, 3], newParticipants: [4, 5, 6], newThreshold: 2 };
      const dealt = [reshareDeal(params, old[1]!), reshareDeal(params, old[2]!)];
      const commitments = dealt.map((d) => d.commitment);
      const observed = resharePublicKey(params, commitments);
      const outputs = [4, 5, 6].map((self) => reshareReceive(params, self, commitments, dealt.flatMap((d) => d.packages.filter((p) => p.to === self))));
      for (const o of outputs) {
        expect(o.keyShare.publicKey).toEqual(observed);
        expect(hex(o.transcriptHash)).toBe(hex(outputs[0]!.transcriptHash));
      }
    });

    it('reshare: fewer dealers than the old threshold are rejected', () => {
      const params = { sessionId: newSessionId(), oldPublicKey: pkg, dealers: [1, 3], newParticipants: [1, 2, 3], newThreshold: 2 };
      expectCryptoError(() => reshareDeal(params, shareOf(1)), 'BAD_PARTICIPANT', { field: 'reshare.dealers' });
    });
  });

  describe('repair', () => {
    const runRepair = (helpers: KeyShare[], target: ParticipantId) => {
      const ids = helpers.map((h) => h.id);
      const deltas = helpers.map((h) => repairStep1(h, ids, target));
      const inbox = (to: number): RepairDelta[] => deltas.flatMap((d) => d.filter((x) => x.to === to));
      const sigmas = helpers.map((h) => repairStep2(h, ids, target, inbox(h.id)));
      return { deltas, inbox, sigmas, repaired: () => repairStep3(pkg, ids, target, sigmas) };
    };

    it('repair: a lost share is recovered exactly, with t helpers and with more', () => {
      for (const helpers of [[shareOf(1), shareOf(4), shareOf(9)], [shareOf(1), shareOf(3), shareOf(4), shareOf(9)]]) {
        const repaired = runRepair(helpers, 7).repaired();
        expect(hex(repaired.signingShare)).toBe(hex(shareOf(7).signingShare));
        expect(repaired.id).toBe(7);
        expect(repaired.publicKey).toEqual(pkg);
      }
      const message = randomMessage();
      const repaired = runRepair([shareOf(1), shareOf(4), shareOf(9)], 7).repaired();
      expectStandardVerify(suiteId, targetExternalKey(pkg), message, runSign([repaired, shareOf(3), shareOf(9)], message).signature);
    });

    it("repair: helpers only see random deltas that differ across runs and never their own weighted share", () => {
      const helpers = [shareOf(1), shareOf(4), shareOf(9)];
      const ids = helpers.map((h) => h.id);
      const a = runRepair(helpers, 7);
      const b = runRepair(helpers, 7);
      for (const to of ids) {
        const da = a.inbox(to).map((d) => hex(d.delta)).sort();
        const db = b.inbox(to).map((d) => hex(d.delta)).sort();
        expect(da).not.toEqual(db);
      }
      // No single delta equals lambda_i(7) * s_i, the sender's whole contribution.
      for (const h of helpers) {
        const weighted = suite.Fn.toBytes(suite.Fn.mul(lagrange(suite, ids, h.id, 7n), suite.Fn.fromBytes(h.signingShare)));
        for (const d of a.deltas.flat().filter((x) => x.from === h.id)) expect(hex(d.delta)).not.toBe(hex(weighted));
      }
      // What a helper learns (its sigma) is not the lost share either.
      for (const s of a.sigmas) expect(hex(s.sigma)).not.toBe(hex(shareOf(7).signingShare));
    });

    it('repair: fewer than t helpers are rejected', () => {
      expectCryptoError(() => repairStep1(shareOf(1), [1, 4], 7), 'BAD_PARTICIPANT', { field: 'repair.helpers' });
      expectCryptoError(() => repairStep3(pkg, [1, 4], 7, []), 'BAD_PARTICIPANT', { field: 'repair.helpers' });
    });

    it('repair: a wrong sigma gives SHARE_MISMATCH', () => {
      const run = runRepair([shareOf(1), shareOf(4), shareOf(9)], 7);
      const sigmas = run.sigmas.map((s) => (s.from === 4 ? { ...s, sigma: tamperScalar(suiteId, s.sigma) } : s));
      expectCryptoError(() => repairStep3(pkg, [1, 4, 9], 7, sigmas), 'SHARE_MISMATCH', { field: 'repair.sigmas' });
    });

    it('repair: the participant being repaired cannot be its own helper', () => {
      expectCryptoError(() => repairStep1(shareOf(1), [1, 4, 7], 7), 'BAD_PARTICIPANT', { field: 'repair.target' });
    });
  });

  describe('derivation', () => {
    it('derive: m/44/0/7 equals applying its steps one at a time, and the index-array form', () => {
      const whole = deriveChild(pkg, 'm/44/0/7');
      let step = pkg;
      for (const i of [44, 0, 7]) step = targetPublicKey(step, { path: `m/${i}` });
      expect(hex(step.groupKey)).toBe(hex(whole.groupKey));
      expect(hex(step.chainCode)).toBe(hex(whole.chainCode));
      expect(hex(deriveChild(pkg, [44, 0, 7]).groupKey)).toBe(hex(whole.groupKey));
      expect(whole.path).toEqual([44, 0, 7]);
      // child = parent + tweak * G
      const expected = parsePoint(suite, pkg.groupKey, 'Y').add(suite.Point.BASE.multiply(whole.tweak));
      expect(hex(expected.toBytes(true))).toBe(hex(whole.groupKey));
    });

    it('derive: distinct indices give distinct keys and chain codes; the empty path is the key itself', () => {
      const keys = new Set([0, 1, 2, 2 ** 31 - 1].map((i) => hex(deriveChild(pkg, [i]).groupKey)));
      expect(keys.size).toBe(4);
      expect(keys.has(hex(pkg.groupKey))).toBe(false);
      expect(hex(deriveChild(pkg, 'm').groupKey)).toBe(hex(pkg.groupKey));
      expect(hex(deriveChild(pkg, [0]).chainCode)).not.toBe(hex(deriveChild(pkg, [1]).chainCode));
    });

    it('derive: hardened paths are rejected with BAD_PATH', () => {
      for (const path of ["m/44'/0", 'm/0h', 'm/1/2H', [2 ** 31], [0, 0x8000_0005]])
        expectCryptoError(() => deriveChild(pkg, path), 'BAD_PATH', { field: /^path\[\d\]$/ });
    });

    it('derive: a quorum signs for a child key, and the signature verifies under the child key only', () => {
      const message = randomMessage();
      const target = { path: 'm/44/0/7' };
      const { signature, signing, sigShares } = runSign(pick(key.shares, T), message, target);
      expectStandardVerify(suiteId, targetExternalKey(pkg, target), message, signature);
      expectStandardVerify(suiteId, targetExternalKey(pkg), message, signature, false);
      expectStandardVerify(suiteId, targetExternalKey(pkg, { path: 'm/44/0/8' }), message, signature, false);
      for (const s of sigShares) expect(verifyShare(pkg, signing, s, target)).toBe(true);
      // A share made for the child does not pass as a share for the parent key.
      expect(verifyShare(pkg, signing, sigShares[0]!)).toBe(false);
    });

    it("derive: a child key share's s_i*G is the child package's verifying share", () => {
      const target = { path: 'm/3/1/4' };
      const child = targetPublicKey(pkg, target);
      for (const s of key.shares) {
        const c = targetKeyShare(s, target);
        expect(hex(suite.Point.BASE.multiply(suite.Fn.fromBytes(c.signingShare)).toBytes(true))).toBe(hex(child.verifyingShares[s.id]!));
      }
      expect(hex(child.groupKey)).toBe(hex(deriveChild(pkg, target.path).groupKey));
    });
  });
});
