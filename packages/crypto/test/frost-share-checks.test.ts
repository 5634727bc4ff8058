/**
 * The coordinator-side FROST share checks (RFC 9591 §5.3 aggregate, §5.4
 * verify_signature_share) against shares a cheater chooses on purpose, for every
 * suite: a zero share, a share that cancels the others so the aggregate z is zero, a
 * share replayed under another participant's id, and a share made for another key.
 * The curve backends' rounds (secp-rounds.ts, ed-rounds.ts) hand zero scalars back to
 * noble's rounds; these tests pin that such a cheater is still named, never a crash
 * and never a signature (docs/mutation.md, crypto `frost/sign.ts` and the rounds).
 * One DKG per suite for the whole file.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { aggregate, commit, getSuite, signShare, verifyShare, type KeyShare, type SignatureShare, type SigningPackage } from '../src/index.ts';
import { expectCryptoError, expectStandardVerify, randomMessage, runDkg, SUITES } from './helpers.ts';
import { targetExternalKey } from '../src/index.ts';

describe.each(SUITES)('%s', (suiteId) => {
  const suite = getSuite(suiteId);
  const Fn = suite.Fn;
  let shares: KeyShare[];
  let other: KeyShare[];

  beforeAll(() => {
    shares = runDkg(suiteId, 2, [1, 2, 3]).shares;
    other = runDkg(suiteId, 2, [1, 2, 3]).shares;
  });

  /** An honest round by participants 1 and 2 of `key`; the shares are returned, not aggregated. */
  function honestRound(key: KeyShare[] = shares, message = randomMessage()): { signing: SigningPackage; sigShares: SignatureShare[] } {
    const quorum = [key[0]!, key[1]!];
    const round1 = quorum.map((s) => commit(s));
    const signing = { message, commitments: round1.map((r) => r.commitments) };
    return { signing, sigShares: quorum.map((s, k) => signShare(s, round1[k]!.nonces, signing)) };
  }

  const scalar = (share: SignatureShare) => Fn.fromBytes(share.share);
  const withShare = (share: SignatureShare, z: bigint): SignatureShare => ({ id: share.id, share: Fn.toBytes(z) });

  it('an honest round aggregates to a signature every standard verifier accepts, and each share verifies (the set-up of the refusals below)', () => {
    const { signing, sigShares } = honestRound();
    for (const s of sigShares) expect(verifyShare(shares[0]!.publicKey, signing, s)).toBe(true);
    const signature = aggregate(shares[0]!.publicKey, signing, sigShares);
    expectStandardVerify(suiteId, targetExternalKey(shares[0]!.publicKey), signing.message, signature);
  });

  it('a cheater sending a zero share is refused by verifyShare and named by aggregate, not a crash', () => {
    const { signing, sigShares } = honestRound();
    const zero = withShare(sigShares[1]!, 0n);
    expect(verifyShare(shares[0]!.publicKey, signing, zero)).toBe(false);
    expect(verifyShare(shares[0]!.publicKey, signing, sigShares[0]!)).toBe(true);
    expectCryptoError(() => aggregate(shares[0]!.publicKey, signing, [sigShares[0]!, zero]), 'INVALID_SIGNATURE_SHARE', { culprits: [2] });
  });

  it('a cheater whose share cancels the honest one (aggregate z = 0) is named, and no signature is made', () => {
    const { signing, sigShares } = honestRound();
    const cancel = withShare(sigShares[1]!, Fn.neg(scalar(sigShares[0]!)));
    expect(verifyShare(shares[0]!.publicKey, signing, cancel)).toBe(false);
    expectCryptoError(() => aggregate(shares[0]!.publicKey, signing, [sigShares[0]!, cancel]), 'INVALID_SIGNATURE_SHARE', { culprits: [2] });
  });

  it("a cheater replaying another member's valid share under its own id is refused and named", () => {
    const { signing, sigShares } = honestRound();
    const replayed = { id: 2, share: sigShares[0]!.share };
    expect(verifyShare(shares[0]!.publicKey, signing, replayed)).toBe(false);
    expectCryptoError(() => aggregate(shares[0]!.publicKey, signing, [sigShares[0]!, replayed]), 'INVALID_SIGNATURE_SHARE', { culprits: [2] });
  });

  it('a share made with a share of another key (same ids, same commitments) is refused and named', () => {
    const message = randomMessage();
    const quorum = [shares[0]!, other[1]!];
    const round1 = quorum.map((s) => commit(s));
    const signing = { message, commitments: round1.map((r) => r.commitments) };
    // Participant 2 signs honestly, but for the other key: its nonces match its commitment.
    const theirs = signShare(other[1]!, round1[1]!.nonces, { message, commitments: signing.commitments });
    const mine = signShare(shares[0]!, round1[0]!.nonces, signing);
    expect(verifyShare(shares[0]!.publicKey, signing, mine)).toBe(true);
    expect(verifyShare(shares[0]!.publicKey, signing, theirs)).toBe(false);
    expectCryptoError(() => aggregate(shares[0]!.publicKey, signing, [mine, theirs]), 'INVALID_SIGNATURE_SHARE', { culprits: [2] });
  });

  it('both cheaters of a round are named when neither share verifies', () => {
    const { signing, sigShares } = honestRound();
    const bad = sigShares.map((s) => withShare(s, Fn.add(scalar(s), 1n)));
    expectCryptoError(() => aggregate(shares[0]!.publicKey, signing, bad), 'INVALID_SIGNATURE_SHARE', { culprits: [1, 2] });
  });

  it('a share checked against a signing package with another message does not verify', () => {
    const { signing, sigShares } = honestRound();
    const moved = { ...signing, message: randomMessage() };
    expect(verifyShare(shares[0]!.publicKey, moved, sigShares[0]!)).toBe(false);
    expectCryptoError(() => aggregate(shares[0]!.publicKey, moved, sigShares), 'INVALID_SIGNATURE_SHARE', { culprits: [1, 2] });
  });

  it("a signer refuses a package whose binding commitment for it is not its own (hiding kept), so a coordinator cannot swap half of it", () => {
    const message = randomMessage();
    const quorum = [shares[0]!, shares[1]!];
    const round1 = quorum.map((s) => commit(s));
    const stranger = commit(shares[0]!).commitments;
    const own = round1[0]!.commitments;
    for (const forged of [{ ...own, binding: stranger.binding }, { ...own, hiding: stranger.hiding }]) {
      const signing = { message, commitments: [forged, round1[1]!.commitments] };
      expectCryptoError(() => signShare(shares[0]!, round1[0]!.nonces, signing), 'BAD_FIELD', { field: 'signingPackage.commitments' });
    }
    // The nonces were not used: they still sign the honest package.
    const honest = { message, commitments: round1.map((r) => r.commitments) };
    expect(verifyShare(shares[0]!.publicKey, honest, signShare(shares[0]!, round1[0]!.nonces, honest))).toBe(true);
  });

  it('a nonce pair with only its binding nonce wiped is refused as used (NONCE_REUSED), never signed with', () => {
    const quorum = [shares[0]!, shares[1]!];
    const round1 = quorum.map((s) => commit(s));
    const signing = { message: randomMessage(), commitments: round1.map((r) => r.commitments) };
    round1[0]!.nonces.binding.fill(0);
    expectCryptoError(() => signShare(shares[0]!, round1[0]!.nonces, signing), 'NONCE_REUSED', { field: 'nonces' });
  });

  it('a commitment from a participant of the key but outside the shares given, or a duplicate commitment, is refused', () => {
    const { signing, sigShares } = honestRound();
    const third = commit(shares[2]!).commitments;
    expectCryptoError(() => aggregate(shares[0]!.publicKey, { ...signing, commitments: [...signing.commitments, third] }, sigShares), 'BAD_PARTICIPANT', { field: 'shares' });
    expectCryptoError(() => verifyShare(shares[0]!.publicKey, { ...signing, commitments: [signing.commitments[0]!, signing.commitments[0]!] }, sigShares[0]!), 'BAD_PARTICIPANT', {
      field: 'signingPackage.commitments[1].id',
    });
  });
});
