/**
 * DKLs23 (Protocol 3.6) checks that only a lying party exercises: a wrong final share
 * (w_i, u_i) at combine (step 10), and a party whose public share pk_j is wrong but
 * consistent with everything else it sends (its multiplications and Gamma_v agree with
 * it), so only the step-8 check that the public shares add up to the key catches it;
 * final shares chosen to cancel the others (sum u = 0, sum w = 0); direct messages
 * relabelled for another party; pair set-ups (base OT) replayed from another run of the
 * same session; and a base-OT encryption of neither bit whose OR-proof simulates both branches (docs/mutation.md, crypto `ecdsa/sign.ts`, 2026-11-28).
 */
import { describe, expect, it } from 'vitest';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import { CryptoError } from '../src/errors.ts';
import { baseOtReceiverStart, baseOtSenderFinish, baseOtSenderStart, combineSignature, ecdsaDkgRound1, ecdsaDkgRound2, ecdsaDkgRound3, ecdsaRefreshRound1, ecdsaRefreshRound2, ecdsaRefreshRound3, signPresign, signRound1, signRound2, signRound3, type EcdsaKeyShare } from '../src/ecdsa/index.ts';
import { runEcdsaDkg, runPresign, sid } from './ecdsa-helpers.ts';

const Fn = secp256k1.Point.Fn;
const digest = sha256(utf8ToBytes('send 10 ETH'));

function caught(fn: () => unknown): CryptoError {
  let error: unknown;
  let returned: unknown;
  try {
    returned = fn();
  } catch (e) {
    error = e;
  }
  expect(returned).toBeUndefined();
  expect(error).toBeInstanceOf(CryptoError);
  return error as CryptoError;
}

const plusOne = (scalar: Uint8Array) => Fn.toBytes(Fn.add(Fn.fromBytes(scalar), 1n));

describe('ecdsa-secp256k1 combine (step 10) never returns a signature that does not verify', () => {
  const { shares } = runEcdsaDkg(2, [1, 2, 3]);

  it.each(['w', 'u'] as const)('a signer whose final %s is wrong makes combine return nothing (INVALID_SIGNATURE_SHARE)', (field) => {
    const { pre } = runPresign([shares[0]!, shares[2]!]);
    const sigShares = pre.map((p) => signRound3(p.presignature, digest));
    sigShares[1] = { ...sigShares[1]!, [field]: plusOne(sigShares[1]![field]) };
    const e = caught(() => combineSignature(pre[0]!.session, digest, sigShares));
    expect(e.code).toBe('INVALID_SIGNATURE_SHARE');
  });

  it('shares computed for another digest do not combine into a signature of this one', () => {
    const { pre } = runPresign([shares[0]!, shares[1]!]);
    const sigShares = pre.map((p, k) => signRound3(p.presignature, k === 0 ? digest : sha256(utf8ToBytes('send 1 ETH'))));
    expect(caught(() => combineSignature(pre[0]!.session, digest, sigShares)).code).toBe('INVALID_SIGNATURE_SHARE');
  });

  it.each(['u', 'w'] as const)('a signer whose final %s cancels the others (the sum is zero) makes combine refuse with INVALID_SIGNATURE_SHARE, not a crash', (field) => {
    const { pre } = runPresign([shares[0]!, shares[2]!]);
    const sigShares = pre.map((p) => signRound3(p.presignature, digest));
    sigShares[1] = { ...sigShares[1]!, [field]: Fn.toBytes(Fn.neg(Fn.fromBytes(sigShares[0]![field]))) };
    const e = caught(() => combineSignature(pre[0]!.session, digest, sigShares));
    expect([e.code, e.field]).toEqual(['INVALID_SIGNATURE_SHARE', 'sign.shares']);
  });

  it('a session whose public key is not a point is refused as BAD_POINT naming it, before any share is judged', () => {
    const { pre } = runPresign([shares[0]!, shares[2]!]);
    const sigShares = pre.map((p) => signRound3(p.presignature, digest));
    const e = caught(() => combineSignature({ ...pre[0]!.session, publicKey: new Uint8Array(33).fill(7) }, digest, sigShares));
    expect([e.code, e.field]).toEqual(['BAD_POINT', 'sign.session.publicKey']);
  });

  it('the honest shares of the same presignatures do combine (the refusals above are the check)', () => {
    const { pre } = runPresign([shares[0]!, shares[2]!]);
    const { signature } = combineSignature(pre[0]!.session, digest, pre.map((p) => signRound3(p.presignature, digest)));
    expect(secp256k1.verify(signature, digest, pre[0]!.session.publicKey, { prehash: false })).toBe(true);
  });
});

describe('ecdsa-secp256k1 step 8: the public shares must add up to the key', () => {
  it('a party that lies consistently about its public share (its multiplications agree with the lie) is caught by every honest party', () => {
    const { shares } = runEcdsaDkg(2, [1, 2, 3]);
    const quorum = [1, 2, 3];
    const sessionId = sid();
    const liar = 1;
    // The liar signs with s_2 + 1 instead of s_2: its sk, pk, Gamma_v and multiplications all follow from that one wrong value.
    const lying: EcdsaKeyShare = { ...shares[liar]!, frost: { ...shares[liar]!.frost, signingShare: shares[liar]!.frost.signingShare.slice() } };
    const parties = shares.map((s, k) => (k === liar ? lying : s));
    const r1 = parties.map((s) => signRound1(s, { sessionId, quorum }));
    lying.frost.signingShare.set(plusOne(lying.frost.signingShare));
    const r2 = r1.map((r, k) =>
      signRound2(
        r.secret,
        r1.filter((_, o) => o !== k).map((o) => o.broadcast),
        r1.flatMap((o) => o.direct.filter((d) => d.to === quorum[k])),
      ),
    );
    for (const k of [0, 2]) {
      const e = caught(() => signPresign(r2[k]!.secret, r2.flatMap((o) => o.direct.filter((d) => d.to === quorum[k]))));
      expect([e.code, e.field]).toEqual(['INVALID_COMMITMENT', 'sign.round2.publicShare']);
    }
  }, 180_000); // a DKG and three signing runs in process: 123 s at load 20 on 2 cores
});

describe('ecdsa-secp256k1: a direct message relabelled for another party is refused, not used', () => {
  const { shares } = runEcdsaDkg(2, [1, 2, 3]);

  it('a round-1 direct message from 2 that says it is for 3, delivered to 1, is refused naming its sender (BAD_PARTICIPANT .to)', () => {
    const { r1 } = runPresign([shares[0]!, shares[1]!]);
    const relabelled = r1[1]!.direct.filter((d) => d.to === 1).map((d) => ({ ...d, to: 3 }));
    const e = caught(() => signRound2(r1[0]!.secret, [r1[1]!.broadcast], relabelled));
    expect([e.code, e.field, e.culprits]).toEqual(['BAD_PARTICIPANT', 'sign.round1.direct[2].to', [2]]);
  });

  it('a round-2 direct message from 2 that says it is for 3, delivered to 1, is refused naming its sender (BAD_PARTICIPANT .to)', () => {
    const { r2 } = runPresign([shares[0]!, shares[1]!]);
    const relabelled = r2[1]!.direct.filter((d) => d.to === 1).map((d) => ({ ...d, to: 3 }));
    const e = caught(() => signPresign(r2[0]!.secret, relabelled));
    expect([e.code, e.field, e.culprits]).toEqual(['BAD_PARTICIPANT', 'sign.round2[2].to', [2]]);
  });
});

describe('ecdsa-secp256k1 DKG and refresh: the pair set-ups are bound to the round-1 transcript', () => {
  it("a pair set-up taken from another run with the same session id and parties is refused naming its sender, not kept as this key's OT state", () => {
    const sessionId = sid();
    const participants = [1, 2];
    const run = () => {
      const r1 = participants.map((self) => ecdsaDkgRound1({ sessionId, self, participants, threshold: 2 }));
      return r1.map((p) => ecdsaDkgRound2(p.secret, r1.filter((o) => o !== p).map((o) => o.package)));
    };
    const [a, b] = [run(), run()];
    const fromA = a[1]!.packages[0]!;
    const fromB = b[1]!.packages[0]!;
    const e = caught(() => ecdsaDkgRound3(a[0]!.secret, [{ ...fromA, pairSetup: fromB.pairSetup }]));
    expect([e.code, e.field, e.culprits]).toEqual(['INVALID_PROOF', 'dkg.round2[2].pairSetup.otSender.proof', [2]]);
    expect(ecdsaDkgRound3(a[0]!.secret, [fromA]).keyShare.frost.id).toBe(1);
  }, 120_000);

  it("a refresh pair set-up taken from another refresh with the same session id is refused naming its sender, not kept as the new OT state", () => {
    const { shares } = runEcdsaDkg(2, [1, 2]);
    const sessionId = sid();
    const run = () => {
      const r1 = shares.map((keyShare) => ecdsaRefreshRound1({ sessionId, keyShare }));
      return r1.map((p) => ecdsaRefreshRound2(p.secret, r1.filter((o) => o !== p).map((o) => o.package)));
    };
    const [a, b] = [run(), run()];
    const fromA = a[1]!.packages[0]!;
    const e = caught(() => ecdsaRefreshRound3(a[0]!.secret, [{ ...fromA, pairSetup: b[1]!.packages[0]!.pairSetup }]));
    expect([e.code, e.culprits]).toEqual(['INVALID_PROOF', [2]]);
    expect(ecdsaRefreshRound3(a[0]!.secret, [fromA]).keyShare.frost.id).toBe(1);
  }, 120_000);
});

describe('ecdsa base OT: the OR-proof of each encryption is bound to its Fiat-Shamir challenge', () => {
  it('a receiver whose encryption encrypts neither 0 nor 1, with both OR branches simulated (c0 + c1 not the hash), is named', () => {
    const s = sid();
    const S = baseOtSenderStart(s);
    const R = baseOtReceiverStart(s, new Uint8Array(16));
    const P = secp256k1.Point;
    const enc = R.message.encryptions.slice();
    // Choice bit 0 for OT 0, so u = r*h: h = u / r.
    const r = R.secret.r[0]!;
    const h = P.fromBytes(enc.subarray(0, 33)).multiply(Fn.inv(r));
    const u = h.multiply(r);
    const v = P.BASE.multiply(r).add(h.multiply(2n)); // encrypts 2: the receiver would learn a combination of both messages
    const [c0, c1, z0, z1] = [7n, 11n, 13n, 17n];
    // Each branch b claims u = r*h and v - b*h = r*G; simulated: z_b*h = A_b + c_b*u, z_b*G = B_b + c_b*(v - b*h).
    const A = (z: bigint, c: bigint) => h.multiply(z).subtract(u.multiply(c));
    const B = (z: bigint, c: bigint, b: bigint) => P.BASE.multiply(z).subtract((b === 0n ? v : v.subtract(h)).multiply(c));
    const points = [u, v, A(z0, c0), B(z0, c0, 0n), A(z1, c1), B(z1, c1, 1n)].map((p) => p.toBytes(true));
    points.forEach((bytes, i) => enc.set(bytes, i * 33));
    [c0, c1, z0, z1].forEach((x, i) => enc.set(Fn.toBytes(x), 198 + i * 32));
    const e = caught(() => baseOtSenderFinish(s, S.secret, { ...R.message, encryptions: enc }, 'r', 7));
    expect([e.code, e.culprits]).toEqual(['INVALID_PROOF', [7]]);
  });
});
