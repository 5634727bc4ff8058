/**
 * Input validation and secret redaction. Every exported entry point checks its
 * arguments first and throws a CryptoError naming the field (and, for a participant's
 * message, the culprit); secret-holding objects never print their material.
 */
import { inspect } from 'node:util';
import { ED25519_TORSION_SUBGROUP } from '@noble/curves/ed25519.js';
import { bytesToNumberBE } from '@noble/curves/utils.js';
import { describe, expect, it } from 'vitest';
import {
  aggregate,
  assertKeyShare,
  commit,
  CryptoError,
  deriveChild,
  dkgRound1,
  dkgRound2,
  dkgRound3,
  externalPublicKey,
  getSuite,
  isCryptoError,
  lagrange,
  MAX_MESSAGE_BYTES,
  makeKeyShare,
  parsePath,
  parsePoint,
  parseScalar,
  publicKeyHex,
  refreshRound1,
  refreshRound2,
  refreshRound3,
  repairStep1,
  repairStep2,
  repairStep3,
  reshareDeal,
  reshareReceive,
  signShare,
  sumScalars,
  targetKeyShare,
  targetPublicKey,
  verifyShare,
  verifySignature,
  type CryptoErrorCode,
  type DkgRound1Package,
  type KeyShare,
  type PublicKeyPackage,
  type SigningPackage,
  type SuiteId,
} from '../src/index.ts';
import { expectCryptoError, newSessionId, randomMessage, range, runDkg, runSign, SUITES } from './helpers.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const h = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const SECP_P = 2n ** 256n - 2n ** 32n - 977n;

function modPow(b: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  for (b %= m; e > 0n; e >>= 1n, b = (b * b) % m) if (e & 1n) r = (r * b) % m;
  return r;
}

/** Smallest x for which x^3 + 7 is a non-residue mod p: no secp256k1 point has it. */
function offCurveX(): bigint {
  for (let x = 1n; ; x++) if (modPow(x ** 3n + 7n, (SECP_P - 1n) / 2n, SECP_P) === SECP_P - 1n) return x;
}

const be32 = (n: bigint) => h(n.toString(16).padStart(64, '0'));

/** Encodings every suite must refuse as a point: [label, bytes]. */
function badPoints(suiteId: SuiteId): [string, Uint8Array][] {
  const suite = getSuite(suiteId);
  const valid = suite.Point.BASE.toBytes(true);
  const common: [string, Uint8Array][] = [
    ['too short', valid.slice(1)],
    ['too long', new Uint8Array([...valid, 0])],
  ];
  if (suite.curve === 'secp256k1')
    return [
      ...common,
      ['off the curve', new Uint8Array([2, ...be32(offCurveX())])],
      ['the identity (all zero)', new Uint8Array(33)],
      ['non-canonical (x = p)', new Uint8Array([2, ...be32(SECP_P)])],
      ['an uncompressed prefix', new Uint8Array([4, ...valid.slice(1)])],
    ];
  return [
    ...common,
    ['the identity', h(ED25519_TORSION_SUBGROUP[0]!)],
    ['a small-order point', h(ED25519_TORSION_SUBGROUP[1]!)],
    ['a point outside the prime-order subgroup', suite.Point.BASE.add(suite.Point.fromBytes(h(ED25519_TORSION_SUBGROUP[1]!))).toBytes()],
    ['non-canonical (y >= p)', h('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f')],
    ['non-canonical (negative zero x)', h('0100000000000000000000000000000000000000000000000000000000000080')],
  ];
}

/** Scalars every suite must refuse: the group order itself (non-canonical) and wrong lengths. */
function badScalars(suiteId: SuiteId): [string, Uint8Array, CryptoErrorCode][] {
  const suite = getSuite(suiteId);
  const order = suite.Fn.ORDER;
  const orderBytes = suite.curve === 'secp256k1' ? be32(order) : be32(order).reverse();
  return [
    ['the group order (non-canonical)', orderBytes, 'BAD_SCALAR'],
    ['all ones (non-canonical)', new Uint8Array(32).fill(0xff), 'BAD_SCALAR'],
    ['31 bytes', new Uint8Array(31).fill(1), 'BAD_FIELD'],
    ['not bytes', [1, 2, 3] as unknown as Uint8Array, 'BAD_FIELD'],
  ];
}

describe('CryptoError', () => {
  it('carries code, field and sorted culprits, and is recognised by isCryptoError', () => {
    const e = new CryptoError('INVALID_SHARE', { field: 'dkg.round2', culprits: [7, 3] });
    expect(e.code).toBe('INVALID_SHARE');
    expect(e.field).toBe('dkg.round2');
    expect(e.culprits).toEqual([3, 7]);
    expect(e.message).toContain('dkg.round2');
    expect(isCryptoError(e)).toBe(true);
    expect(isCryptoError(new Error('INVALID_SHARE'))).toBe(false);
  });
});

describe.each(SUITES)('%s input validation', (suiteId) => {
  const suite = getSuite(suiteId);
  const key = runDkg(suiteId, 2, [1, 2, 3]);
  const [s1, s2, s3] = key.shares as [KeyShare, KeyShare, KeyShare];
  const pkg = s1.publicKey;
  const params = (over: object = {}) => ({ suite: suiteId, sessionId: newSessionId(), self: 1, participants: [1, 2, 3], threshold: 2, ...over });

  it('parsePoint refuses wrong lengths, off-curve, identity, small-order and non-canonical encodings', () => {
    for (const [label, bytes] of badPoints(suiteId)) {
      const e = expectCryptoError(() => parsePoint(suite, bytes, 'p'), label.startsWith('too') ? 'BAD_FIELD' : 'BAD_POINT', { field: 'p' });
      expect(e.message, label).toBeTruthy();
    }
    expect(hex(parsePoint(suite, pkg.groupKey, 'p').toBytes(true))).toBe(hex(pkg.groupKey));
  });

  it('parseScalar refuses non-canonical scalars, zero unless allowed, and wrong lengths', () => {
    for (const [, bytes, code] of badScalars(suiteId)) expectCryptoError(() => parseScalar(suite, bytes, 's'), code, { field: 's' });
    expectCryptoError(() => parseScalar(suite, new Uint8Array(32), 's'), 'BAD_SCALAR', { field: 's' });
    expect(parseScalar(suite, new Uint8Array(32), 's', { allowZero: true })).toBe(0n);
  });

  it('an unknown suite is rejected with UNKNOWN_SUITE naming the field', () => {
    expectCryptoError(() => getSuite('frost-p256'), 'UNKNOWN_SUITE', { field: 'suite' });
    expectCryptoError(() => dkgRound1(params({ suite: 'frost-secp256k1-TR' })), 'UNKNOWN_SUITE', { field: 'dkg.suite' });
    expectCryptoError(() => commit({ ...s1, publicKey: { ...pkg, suite: 'nope' as SuiteId } }), 'UNKNOWN_SUITE', { field: 'keyShare.publicKey.suite' });
  });

  it('dkgRound1 rejects t > n, t < 2, a non-integer t and n > 255 with BAD_THRESHOLD', () => {
    for (const threshold of [4, 1, 0, -2, 2.5, '2', undefined]) expectCryptoError(() => dkgRound1(params({ threshold })), 'BAD_THRESHOLD', { field: 'dkg.threshold' });
    expectCryptoError(() => dkgRound1(params({ participants: range(256), threshold: 2 })), 'BAD_THRESHOLD', { field: 'dkg.participants' });
    // n = 255 is the largest key set: accepted (round 1 only, to stay fast).
    expect(dkgRound1(params({ participants: range(255), threshold: 2 })).package.commitment).toHaveLength(2);
  });

  it('dkgRound1 rejects duplicate, out-of-range and non-member participant ids with BAD_PARTICIPANT', () => {
    expectCryptoError(() => dkgRound1(params({ participants: [1, 2, 2] })), 'BAD_PARTICIPANT', { field: 'dkg.participants[2]' });
    expectCryptoError(() => dkgRound1(params({ participants: [0, 1, 2] })), 'BAD_PARTICIPANT', { field: 'dkg.participants[0]' });
    expectCryptoError(() => dkgRound1(params({ participants: [1, 2, 65_536] })), 'BAD_PARTICIPANT', { field: 'dkg.participants[2]' });
    expectCryptoError(() => dkgRound1(params({ participants: [1, 2, 2.5] })), 'BAD_PARTICIPANT', { field: 'dkg.participants[2]' });
    expectCryptoError(() => dkgRound1(params({ participants: [1] })), 'BAD_PARTICIPANT', { field: 'dkg.participants' });
    expectCryptoError(() => dkgRound1(params({ participants: 'all' })), 'BAD_PARTICIPANT', { field: 'dkg.participants' });
    expectCryptoError(() => dkgRound1(params({ self: 4 })), 'BAD_PARTICIPANT', { field: 'dkg.self' });
    expectCryptoError(() => dkgRound1(null as never), 'BAD_FIELD', { field: 'dkg.params' });
  });

  it('dkgRound1 rejects a session id of the wrong length or type', () => {
    for (const sessionId of [new Uint8Array(31), new Uint8Array(33), 'abc', undefined])
      expectCryptoError(() => dkgRound1(params({ sessionId })), 'BAD_FIELD', { field: 'dkg.sessionId' });
  });

  describe('DKG rounds 2 and 3', () => {
    const sessionId = newSessionId();
    const r1 = [1, 2, 3].map((self) => dkgRound1(params({ sessionId, self })));
    const inbound = (replace: (p: DkgRound1Package) => DkgRound1Package) => r1.slice(1).map((r) => (r.package.from === 3 ? replace(r.package) : r.package));

    it('dkgRound2 names the sender of a commitment point that is malformed, off-curve, the identity or non-canonical', () => {
      for (const [label, bytes] of badPoints(suiteId)) {
        const e = expectCryptoError(
          () => dkgRound2(r1[0]!.secret, inbound((p) => ({ ...p, commitment: [p.commitment[0]!, bytes] }))),
          label.startsWith('too') ? 'BAD_FIELD' : 'BAD_POINT',
          { field: 'dkg.round1[3].commitment[1]', culprits: [3] },
        );
        expect(e.culprits, label).toEqual([3]);
      }
    });

    it('dkgRound2 names the sender of a malformed proof of knowledge or chain code contribution', () => {
      const pok = r1[2]!.package.proofOfKnowledge;
      const R = pok.slice(0, suite.pointLength);
      for (const [, mu, code] of badScalars(suiteId).slice(0, 2))
        expectCryptoError(() => dkgRound2(r1[0]!.secret, inbound((p) => ({ ...p, proofOfKnowledge: new Uint8Array([...R, ...mu]) }))), code, { field: 'dkg.round1[3].proofOfKnowledge.mu', culprits: [3] });
      expectCryptoError(() => dkgRound2(r1[0]!.secret, inbound((p) => ({ ...p, proofOfKnowledge: pok.slice(1) }))), 'BAD_FIELD', { field: 'dkg.round1[3].proofOfKnowledge', culprits: [3] });
      const [, offCurve] = badPoints(suiteId)[2]!;
      expectCryptoError(() => dkgRound2(r1[0]!.secret, inbound((p) => ({ ...p, proofOfKnowledge: new Uint8Array([...offCurve, ...pok.slice(suite.pointLength)]) }))), 'BAD_POINT', {
        field: 'dkg.round1[3].proofOfKnowledge.R',
        culprits: [3],
      });
      expectCryptoError(() => dkgRound2(r1[0]!.secret, inbound((p) => ({ ...p, chainCodeContribution: new Uint8Array(31) }))), 'BAD_FIELD', { field: 'dkg.round1[3].chainCodeContribution', culprits: [3] });
      expectCryptoError(() => dkgRound2(r1[0]!.secret, inbound((p) => ({ ...p, commitment: 'x' as never }))), 'INVALID_COMMITMENT', { culprits: [3] });
      expectCryptoError(() => dkgRound2(r1[0]!.secret, 'x' as never), 'BAD_FIELD', { field: 'dkg.round1' });
    });

    it('dkgRound3 names the sender of a non-canonical or wrong-length secret share', () => {
      const r2 = r1.map((r) => dkgRound2(r.secret, r1.filter((o) => o !== r).map((o) => o.package)));
      const inbox = r2.flatMap((r) => r.packages.filter((p) => p.to === 1));
      for (const [label, bad] of badScalars(suiteId)) {
        const e = expectCryptoError(() => dkgRound3(r2[0]!.secret, inbox.map((p) => (p.from === 2 ? { ...p, signingShare: bad } : p))), 'INVALID_SHARE', { culprits: [2] });
        expect(e.culprits, label).toEqual([2]);
      }
    });
  });

  it('key shares: a share that does not match its verifying share, or a malformed package, is refused before use', () => {
    const cases: [string, unknown, CryptoErrorCode, string][] = [
      ['share of another participant', { ...s1, signingShare: s2.signingShare }, 'SHARE_MISMATCH', 'keyShare.signingShare'],
      ['zero share', { ...s1, signingShare: new Uint8Array(32) }, 'BAD_SCALAR', 'keyShare.signingShare'],
      ['non-canonical share', { ...s1, signingShare: badScalars(suiteId)[0]![1] }, 'BAD_SCALAR', 'keyShare.signingShare'],
      ['short share', { ...s1, signingShare: new Uint8Array(31) }, 'BAD_FIELD', 'keyShare.signingShare'],
      ['id not in the key set', { ...s1, id: 4 }, 'BAD_PARTICIPANT', 'keyShare.id'],
      ['suite differs from its package', { ...s1, suite: suiteId === 'frost-ed25519' ? 'frost-secp256k1' : 'frost-ed25519' }, 'BAD_FIELD', 'keyShare.suite'],
      ['group key off the curve', { ...s1, publicKey: { ...pkg, groupKey: badPoints(suiteId)[2]![1] } }, 'BAD_POINT', 'keyShare.publicKey.groupKey'],
      ['chain code of 31 bytes', { ...s1, publicKey: { ...pkg, chainCode: new Uint8Array(31) } }, 'BAD_FIELD', 'keyShare.publicKey.chainCode'],
      ['t > n', { ...s1, publicKey: { ...pkg, threshold: 4 } }, 'BAD_THRESHOLD', 'keyShare.publicKey.threshold'],
      ['t < 2', { ...s1, publicKey: { ...pkg, threshold: 1 } }, 'BAD_THRESHOLD', 'keyShare.publicKey.threshold'],
      ['duplicate participants', { ...s1, publicKey: { ...pkg, participants: [1, 2, 2] } }, 'BAD_PARTICIPANT', 'keyShare.publicKey.participants[2]'],
      ['a verifying share missing', { ...s1, publicKey: { ...pkg, verifyingShares: { 1: pkg.verifyingShares[1]!, 2: pkg.verifyingShares[2]! } } }, 'BAD_PARTICIPANT', 'keyShare.publicKey.verifyingShares'],
      ['a verifying share that is the identity', { ...s1, publicKey: { ...pkg, verifyingShares: { ...pkg.verifyingShares, 3: badPoints(suiteId)[3]![1] } } }, 'BAD_POINT', 'keyShare.publicKey.verifyingShares[3]'],
      ['not an object', null, 'BAD_FIELD', 'keyShare'],
    ];
    for (const [label, share, code, field] of cases) {
      const e = expectCryptoError(() => commit(share as KeyShare), code, { field });
      expect(e.field, label).toBe(field);
    }
    expect(assertKeyShare(s1)).toBe(suite);
  });

  describe('signing', () => {
    const message = randomMessage();
    const fresh = () => {
      const round1 = [s1, s2].map((s) => commit(s));
      return { round1, signing: { message, commitments: round1.map((r) => r.commitments) } as SigningPackage };
    };

    it('signShare rejects a malformed signing package, naming the field', () => {
      const { round1, signing } = fresh();
      const c = signing.commitments;
      const [, offCurve] = badPoints(suiteId)[2]!;
      const cases: [SigningPackage, CryptoErrorCode, string][] = [
        [{ ...signing, message: 'hi' as never }, 'BAD_FIELD', 'signingPackage.message'],
        [{ ...signing, message: new Uint8Array(MAX_MESSAGE_BYTES + 1) }, 'BAD_FIELD', 'signingPackage.message'],
        [{ ...signing, commitments: 'x' as never }, 'BAD_FIELD', 'signingPackage.commitments'],
        [{ ...signing, commitments: [c[0]!, { ...c[1]!, hiding: c[1]!.hiding.slice(1) }] }, 'BAD_FIELD', 'signingPackage.commitments[1].hiding'],
        [{ ...signing, commitments: [c[0]!, { ...c[1]!, binding: offCurve }] }, 'BAD_POINT', 'signingPackage.commitments[1].binding'],
        [{ ...signing, commitments: [c[0]!, { ...c[1]!, id: 1 }] }, 'BAD_PARTICIPANT', 'signingPackage.commitments[1].id'],
        [{ ...signing, commitments: [c[0]!, { ...c[1]!, id: 5 }] }, 'BAD_PARTICIPANT', 'signingPackage.commitments[1].id'],
        [{ ...signing, commitments: [c[0]!, { ...c[1]!, id: 0 }] }, 'BAD_PARTICIPANT', 'signingPackage.commitments[1].id'],
        [{ ...signing, commitments: [c[1]!, fresh().signing.commitments[1]!] }, 'BAD_PARTICIPANT', 'signingPackage.commitments[1].id'],
        [{ ...signing, commitments: [c[1]!, commit(s3).commitments] }, 'BAD_PARTICIPANT', 'signingPackage.commitments'],
      ];
      for (const [pkgIn, code, field] of cases) expectCryptoError(() => signShare(s1, round1[0]!.nonces, pkgIn), code, { field });
      // Validation happens before the nonces are touched: they still sign.
      expect(signShare(s1, round1[0]!.nonces, signing).id).toBe(1);
    });

    it('signShare rejects nonces of another participant or non-canonical nonces', () => {
      const { round1, signing } = fresh();
      expectCryptoError(() => signShare(s1, round1[1]!.nonces, signing), 'BAD_FIELD', { field: 'nonces' });
      const order = badScalars(suiteId)[0]![1];
      expectCryptoError(() => signShare(s1, { ...round1[0]!.nonces, hiding: order }, signing), 'BAD_SCALAR', { field: 'nonces.hiding' });
      expectCryptoError(() => signShare(s1, { ...round1[0]!.nonces, binding: new Uint8Array(31) }, signing), 'BAD_FIELD', { field: 'nonces.binding' });
      expectCryptoError(() => signShare(s1, null as never, signing), 'BAD_FIELD', { field: 'nonces' });
    });

    it('verifyShare and aggregate reject malformed signature shares, naming the field', () => {
      const { signing, sigShares } = runSign([s1, s2], message);
      const order = badScalars(suiteId)[0]![1];
      expectCryptoError(() => verifyShare(pkg, signing, { id: 1, share: order }), 'BAD_SCALAR', { field: 'signatureShare.share' });
      expectCryptoError(() => verifyShare(pkg, signing, { id: 3, share: sigShares[0]!.share }), 'BAD_PARTICIPANT', { field: 'signatureShare.id' });
      expectCryptoError(() => verifyShare(pkg, signing, { id: 0.5, share: sigShares[0]!.share }), 'BAD_PARTICIPANT', { field: 'signatureShare.id' });
      expectCryptoError(() => aggregate(pkg, signing, 'x' as never), 'BAD_FIELD', { field: 'shares' });
      expectCryptoError(() => aggregate(pkg, signing, [sigShares[0]!, { ...sigShares[1]!, share: order }]), 'BAD_SCALAR', { field: 'shares[1].share' });
      expectCryptoError(() => aggregate(pkg, signing, [sigShares[0]!, { ...sigShares[1]!, share: new Uint8Array(33) }]), 'BAD_FIELD', { field: 'shares[1].share' });
      expectCryptoError(() => aggregate({ ...pkg, groupKey: badPoints(suiteId)[2]![1] }, signing, sigShares), 'BAD_POINT', { field: 'publicKey.groupKey' });
    });

    it('verifySignature rejects a signature of the wrong length and returns false for a wrong signature', () => {
      const { signature } = runSign([s1, s3], message);
      expect(verifySignature(pkg, message, signature)).toBe(true);
      expectCryptoError(() => verifySignature(pkg, message, signature.slice(1)), 'BAD_FIELD', { field: 'signature' });
      expectCryptoError(() => verifySignature(pkg, 'm' as never, signature), 'BAD_FIELD', { field: 'message' });
      const flipped = signature.slice();
      flipped[flipped.length - 1]! ^= 1;
      expect(verifySignature(pkg, message, flipped)).toBe(false);
    });
  });

  it('refresh rejects a bad session id, a bad key share and malformed inbound packages', () => {
    expectCryptoError(() => refreshRound1({ sessionId: new Uint8Array(31), keyShare: s1 }), 'BAD_FIELD', { field: 'refresh.sessionId' });
    expectCryptoError(() => refreshRound1({ sessionId: newSessionId(), keyShare: { ...s1, signingShare: s2.signingShare } }), 'SHARE_MISMATCH', { field: 'refresh.keyShare.signingShare' });
    expectCryptoError(() => refreshRound1(null as never), 'BAD_FIELD', { field: 'refresh.params' });
    const sessionId = newSessionId();
    const r1 = key.shares.map((keyShare) => refreshRound1({ sessionId, keyShare }));
    const [, offCurve] = badPoints(suiteId)[2]!;
    const inbound = [r1[1]!.package, { ...r1[2]!.package, commitment: [offCurve] }];
    expectCryptoError(() => refreshRound2(r1[0]!.secret, inbound), 'INVALID_COMMITMENT', { culprits: [3] });
    expectCryptoError(() => refreshRound2(r1[0]!.secret, [r1[1]!.package]), 'BAD_PARTICIPANT', { field: 'refresh.round1' });
    const r2 = r1.map((r) => refreshRound2(r.secret, r1.filter((o) => o !== r).map((o) => o.package)));
    const inbox = r2.flatMap((r) => r.packages.filter((p) => p.to === 1));
    expectCryptoError(() => refreshRound3(r2[0]!.secret, inbox.map((p) => (p.from === 3 ? { ...p, signingShare: badScalars(suiteId)[0]![1] } : p))), 'INVALID_SHARE', { culprits: [3] });
    expectCryptoError(() => refreshRound3(r2[0]!.secret, inbox.map((p) => (p.from === 3 ? { ...p, to: 2 } : p))), 'INVALID_SHARE', { culprits: [3] });
  });

  it('reshare rejects bad parameters, naming the field', () => {
    const base = { sessionId: newSessionId(), oldPublicKey: pkg, dealers: [1, 2], newParticipants: [1, 2, 3, 4], newThreshold: 3 };
    const cases: [object, CryptoErrorCode, string][] = [
      [{ sessionId: new Uint8Array(16) }, 'BAD_FIELD', 'reshare.sessionId'],
      [{ newThreshold: 5 }, 'BAD_THRESHOLD', 'reshare.newThreshold'],
      [{ newThreshold: 1 }, 'BAD_THRESHOLD', 'reshare.newThreshold'],
      [{ newParticipants: [1, 2, 2, 4] }, 'BAD_PARTICIPANT', 'reshare.newParticipants[2]'],
      [{ newParticipants: range(256) }, 'BAD_THRESHOLD', 'reshare.newParticipants'],
      [{ dealers: [1] }, 'BAD_PARTICIPANT', 'reshare.dealers'],
      [{ dealers: [1, 4] }, 'BAD_PARTICIPANT', 'reshare.dealers[1]'],
      [{ dealers: [2, 3] }, 'BAD_PARTICIPANT', 'reshare.keyShare.id'],
      [{ oldPublicKey: { ...pkg, threshold: 7 } }, 'BAD_THRESHOLD', 'reshare.oldPublicKey.threshold'],
    ];
    for (const [over, code, field] of cases) expectCryptoError(() => reshareDeal({ ...base, ...over }, s1), code, { field });
    expectCryptoError(() => reshareDeal(base, { ...s1, signingShare: s2.signingShare }), 'SHARE_MISMATCH', { field: 'reshare.keyShare.signingShare' });
    const dealt = [reshareDeal(base, s1), reshareDeal(base, s2)];
    const commitments = dealt.map((d) => d.commitment);
    expectCryptoError(() => reshareReceive(base, 5, commitments, []), 'BAD_PARTICIPANT', { field: 'reshare.self' });
    expectCryptoError(() => reshareReceive(base, 4, [commitments[0]!], []), 'BAD_PARTICIPANT', { field: 'reshare.commitments' });
    expectCryptoError(() => reshareReceive(base, 4, [commitments[0]!, { ...commitments[1]!, commitment: commitments[1]!.commitment.slice(1) }], []), 'INVALID_COMMITMENT', { culprits: [2] });
  });

  it('repair rejects bad helper sets and non-canonical deltas, naming the field', () => {
    expectCryptoError(() => repairStep1(s1, [1, 2, 2], 3), 'BAD_PARTICIPANT', { field: 'repair.helpers[2]' });
    expectCryptoError(() => repairStep1(s1, [1, 4], 3), 'BAD_PARTICIPANT', { field: 'repair.helpers[1]' });
    expectCryptoError(() => repairStep1(s1, [1, 2], 4), 'BAD_PARTICIPANT', { field: 'repair.target' });
    expectCryptoError(() => repairStep1(s3, [1, 2], 4), 'BAD_PARTICIPANT', { field: 'repair.target' });
    expectCryptoError(() => repairStep1(s1, [2, 3], 1), 'BAD_PARTICIPANT', { field: 'repair.keyShare.id' });
    const d1 = repairStep1(s1, [1, 2], 3);
    const d2 = repairStep1(s2, [1, 2], 3);
    const to1 = [d1[0]!, d2[0]!];
    expectCryptoError(() => repairStep2(s1, [1, 2], 3, [d1[0]!, { ...d2[0]!, delta: badScalars(suiteId)[0]![1] }]), 'BAD_SCALAR', { field: 'repair.deltas[1]' });
    expectCryptoError(() => repairStep2(s1, [1, 2], 3, [d1[0]!, d2[1]!]), 'BAD_PARTICIPANT', { field: 'repair.deltas[2].to', culprits: [2] });
    expectCryptoError(() => repairStep2(s1, [1, 2], 3, [to1[0]!]), 'BAD_PARTICIPANT', { field: 'repair.deltas' });
    const sigma1 = repairStep2(s1, [1, 2], 3, to1);
    expectCryptoError(() => repairStep3(pkg, [1, 2], 3, [sigma1, { from: 2, sigma: new Uint8Array(31) }]), 'BAD_FIELD', { field: 'repair.sigmas[1]' });
    expectCryptoError(() => sumScalars(suite, [new Uint8Array(32), badScalars(suiteId)[0]![1]], 'x'), 'BAD_SCALAR', { field: 'x[1]' });
  });

  it('derivation rejects malformed paths with BAD_PATH naming the step', () => {
    const cases: [unknown, string][] = [
      ['44/0', 'path'],
      ['M/1', 'path'],
      ['m/', 'path[0]'],
      ['m/01', 'path[0]'],
      ['m/-1', 'path[0]'],
      ['m/1.5', 'path[0]'],
      ['m/1/x', 'path[1]'],
      ['m/2147483648', 'path[0]'],
      ["m/1/2'", 'path[1]'],
      [[1, -1], 'path[1]'],
      [[1.5], 'path[0]'],
      [[2 ** 31], 'path[0]'],
      [[Number.NaN], 'path[0]'],
      [Array(256).fill(0), 'path'],
      [42, 'path'],
    ];
    for (const [path, field] of cases) expectCryptoError(() => parsePath(path as never), 'BAD_PATH', { field });
    expect(parsePath(Array(255).fill(0))).toHaveLength(255);
    expectCryptoError(() => deriveChild(pkg, 'm/1/x'), 'BAD_PATH', { field: 'path[1]' });
    expectCryptoError(() => targetPublicKey(pkg, 'm/1' as never), 'BAD_FIELD', { field: 'target' });
    expectCryptoError(() => targetKeyShare(s1, { path: "m/0'" }), 'BAD_PATH', { field: 'path[0]' });
  });

  it('public-key helpers and lagrange reject bad input', () => {
    expectCryptoError(() => externalPublicKey({ ...pkg, chainCode: new Uint8Array(0) }), 'BAD_FIELD', { field: 'publicKey.chainCode' });
    expectCryptoError(() => publicKeyHex(null as never), 'BAD_FIELD', { field: 'publicKey' });
    expectCryptoError(() => publicKeyHex({ ...pkg, verifyingShares: null } as never), 'BAD_FIELD', { field: 'publicKey.verifyingShares' });
    expectCryptoError(() => lagrange(suite, [1, 2], 3), 'BAD_PARTICIPANT', { field: 'lagrange.id' });
    expect(publicKeyHex(pkg)).toBe(hex(externalPublicKey(pkg)));
  });
});

describe.each(SUITES)('%s secret redaction', (suiteId) => {
  const suite = getSuite(suiteId);
  const key = runDkg(suiteId, 2, [1, 2, 3]);
  const share = key.shares[0]!;

  /** The object and a structure holding it print '<redacted' and none of the secret strings. */
  function expectRedacted(value: object, secrets: string[]): void {
    for (const printed of [JSON.stringify(value), JSON.stringify({ nested: [value] }), inspect(value, { depth: 10 }), inspect({ nested: [value] }, { depth: 10 }), String(inspect(value, { showHidden: false }))]) {
      expect(printed).toContain('<redacted');
      for (const secret of secrets) expect(printed.toLowerCase()).not.toContain(secret.toLowerCase());
    }
  }
  const shareSecrets = (s: KeyShare) => [hex(s.signingShare), suite.Fn.fromBytes(s.signingShare).toString(), Buffer.from(s.signingShare).toString('base64')];

  it('KeyShare (from DKG, refresh, reshare, repair and derivation) never prints its share', () => {
    expectRedacted(share, shareSecrets(share));
    expectRedacted({ keyShare: share, transcriptHash: key.transcripts[0] }, shareSecrets(share));
    const derived = targetKeyShare(share, { path: 'm/1' });
    expectRedacted(derived, shareSecrets(derived));
    expectRedacted(makeKeyShare({ ...share }), shareSecrets(share));
    const sessionId = newSessionId();
    const r1 = key.shares.map((keyShare) => refreshRound1({ sessionId, keyShare }));
    const r2 = r1.map((r) => refreshRound2(r.secret, r1.filter((o) => o !== r).map((o) => o.package)));
    const refreshed = refreshRound3(r2[0]!.secret, r2.flatMap((r) => r.packages.filter((p) => p.to === 1)));
    expectRedacted(refreshed.keyShare, shareSecrets(refreshed.keyShare));
    for (const r of [...r1.map((x) => x.secret), ...r2.map((x) => x.secret)]) expectRedacted(r, shareSecrets(share));
    const params = { sessionId, oldPublicKey: share.publicKey, dealers: [1, 2], newParticipants: [1, 2, 3], newThreshold: 2 };
    const dealt = key.shares.slice(0, 2).map((s) => reshareDeal(params, s));
    const reshared = reshareReceive(params, 3, dealt.map((d) => d.commitment), dealt.flatMap((d) => d.packages.filter((p) => p.to === 3))).keyShare;
    expectRedacted(reshared, shareSecrets(reshared));
    const deltas = [key.shares[1]!, key.shares[2]!].map((s) => repairStep1(s, [2, 3], 1));
    const sigmas = [key.shares[1]!, key.shares[2]!].map((s) => repairStep2(s, [2, 3], 1, deltas.flat().filter((d) => d.to === s.id)));
    const repaired = repairStep3(share.publicKey, [2, 3], 1, sigmas);
    expect(hex(repaired.signingShare)).toBe(hex(share.signingShare));
    expectRedacted(repaired, shareSecrets(share));
  });

  it('SigningNonces never print the nonces', () => {
    const { nonces, commitments } = commit(share);
    const secrets = [hex(nonces.hiding), hex(nonces.binding)];
    expectRedacted(nonces, secrets);
    expectRedacted({ nonces, commitments }, secrets);
  });

  it('DKG round secrets never print the polynomial or the share', () => {
    const sessionId = newSessionId();
    const r1 = [1, 2, 3].map((self) => dkgRound1({ suite: suiteId, sessionId, self, participants: [1, 2, 3], threshold: 2 }));
    const r2 = r1.map((r) => dkgRound2(r.secret, r1.filter((o) => o !== r).map((o) => o.package)));
    const out = dkgRound3(r2[0]!.secret, r2.flatMap((r) => r.packages.filter((p) => p.to === 1)));
    const coefficientSecrets = r1[0]!.secret.coefficients.flatMap((c) => [hex(suite.Fn.toBytes(c)), c.toString()]);
    const ownShare = r2[0]!.secret.ownShare;
    expectRedacted(r1[0]!.secret, coefficientSecrets);
    expectRedacted(r2[0]!.secret, [...shareSecrets(out.keyShare), hex(suite.Fn.toBytes(ownShare)), ownShare.toString()]);
    expectRedacted(out, shareSecrets(out.keyShare));
  });

  it('secret messages in transit (DKG, refresh and reshare shares; repair deltas and sigmas) never print their scalar', () => {
    const { shares } = runDkg(suiteId, 2, [1, 2, 3]);
    const sessionId = newSessionId();
    const r1 = [1, 2, 3].map((self) => dkgRound1({ suite: suiteId, sessionId, self, participants: [1, 2, 3], threshold: 2 }));
    const dkgShare = dkgRound2(r1[0]!.secret, r1.slice(1).map((o) => o.package)).packages[0]!;
    const refreshShare = refreshRound2(...(() => {
      const f1 = shares.map((keyShare) => refreshRound1({ sessionId, keyShare }));
      return [f1[0]!.secret, f1.slice(1).map((o) => o.package)] as const;
    })()).packages[0]!;
    const params = { sessionId, oldPublicKey: shares[0]!.publicKey, dealers: [1, 2], newParticipants: [1, 2, 3], newThreshold: 2 };
    const reshareShare = reshareDeal(params, shares[0]!).packages[0]!;
    const delta = repairStep1(shares[0]!, [1, 2], 3)[0]!;
    const sigma = repairStep2(shares[0]!, [1, 2], 3, [delta, repairStep1(shares[1]!, [1, 2], 3).find((d) => d.to === 1)!]);
    for (const [value, secret] of [[dkgShare, dkgShare.signingShare], [refreshShare, refreshShare.signingShare], [reshareShare, reshareShare.signingShare], [delta, delta.delta], [sigma, sigma.sigma]] as const) {
      expectRedacted(value, [hex(secret)]);
      // the fields themselves stay readable for the transport that encrypts them
      expect(secret).toHaveLength(32);
    }
  });

  it('errors about a secret never carry it', () => {
    const wrong = { ...share, signingShare: key.shares[1]!.signingShare };
    const e = expectCryptoError(() => commit(wrong), 'SHARE_MISMATCH');
    for (const secret of shareSecrets(key.shares[1]!)) {
      expect(e.message).not.toContain(secret);
      expect(inspect(e)).not.toContain(secret);
    }
  });

  it('a deliberate structured copy still carries the real fields (for sealing at rest)', () => {
    const copy = structuredClone({ ...share });
    expect(hex(copy.signingShare)).toBe(hex(share.signingShare));
    expect(JSON.stringify(share)).not.toContain(hex(share.signingShare));
  });
});

// The PublicKeyPackage is public: it must stay printable (no accidental redaction).
it('a public key package prints its group key', () => {
  const pkg: PublicKeyPackage = runDkg('frost-secp256k1', 2, [1, 2]).shares[0]!.publicKey;
  expect(inspect(pkg)).not.toContain('<redacted');
  expect(bytesToNumberBE(pkg.groupKey)).toBeGreaterThan(0n);
});
