/**
 * `crypto.<scheme>.<t>of<n>.<step>`: every round of @keyquorum/crypto in one process,
 * with the same calls the coordinator and the signers make (commit and signShare on
 * a signer; verifyShare per share, aggregate and the standard verifier on the
 * coordinator), plus whole DKG and refresh runs with all n participants in this
 * process. `fullSign` is one complete signature as the cluster computes it (t
 * commits, t shares, t share checks, aggregate, verify) without the network, the
 * figure to hold beside `baseline.noble-frost.*.fullSign`. `decodePoint` is one
 * strict point decoding (noble plus our checks); `.cached` the same call answered by
 * suite.ts' memo of validated encodings.
 */
import { randomBytes } from 'node:crypto';
import {
  aggregate,
  commit,
  dkgRound1,
  dkgRound2,
  dkgRound3,
  parsePoint,
  parsePointUncached,
  getSuite,
  refreshRound1,
  refreshRound2,
  refreshRound3,
  signShare,
  verifyShare,
  verifySignature,
  type DkgRound2Package,
  type KeyShare,
  type SigningNonces,
  type SuiteId,
} from '@keyquorum/crypto';
import type { MicroEntry } from './lib/micro.ts';

export const SCHEMES = ['frost-secp256k1-tr', 'frost-ed25519'] as const satisfies readonly SuiteId[];
export const CRYPTO_QUORUMS = [
  [2, 3],
  [3, 5],
  [7, 10],
] as const;

const bytes = (n: number) => new Uint8Array(randomBytes(n));
const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

export function runDkg(suite: SuiteId, threshold: number, n: number): KeyShare[] {
  const participants = range(n);
  const sessionId = bytes(32);
  const r1 = participants.map((self) => dkgRound1({ suite, sessionId, self, participants, threshold }));
  const r2 = r1.map((p) => dkgRound2(p.secret, r1.filter((o) => o.package.from !== p.package.from).map((o) => o.package)));
  const inbox = (to: number): DkgRound2Package[] => r2.flatMap((r) => r.packages.filter((pkg) => pkg.to === to));
  return r2.map((r, k) => dkgRound3(r.secret, inbox(participants[k]!)).keyShare);
}

export function runRefresh(shares: KeyShare[]): KeyShare[] {
  const sessionId = bytes(32);
  const r1 = shares.map((keyShare) => refreshRound1({ sessionId, keyShare }));
  const r2 = r1.map((p) => refreshRound2(p.secret, r1.filter((o) => o.package.from !== p.package.from).map((o) => o.package)));
  return r2.map((r, k) => refreshRound3(r.secret, r2.flatMap((o) => o.packages.filter((pkg) => pkg.to === shares[k]!.id))).keyShare);
}

/** One signature as the cluster computes it: signers commit and sign, the coordinator checks every share. */
export function fullSign(quorum: KeyShare[], message: Uint8Array): Uint8Array {
  const pkg = quorum[0]!.publicKey;
  const round1 = quorum.map((s) => commit(s));
  const signing = { message, commitments: round1.map((r) => r.commitments) };
  const shares = quorum.map((s, k) => signShare(s, round1[k]!.nonces, signing));
  for (const s of shares) if (!verifyShare(pkg, signing, s)) throw new Error(`share ${s.id} does not verify`);
  const signature = aggregate(pkg, signing, shares);
  if (!verifySignature(pkg, message, signature)) throw new Error('signature does not verify');
  return signature;
}

/** Fresh copies: signShare zeroes the nonces it is given, and a benchmark calls it many times. */
const copyNonces = (n: SigningNonces): SigningNonces => ({ id: n.id, hiding: n.hiding.slice(), binding: n.binding.slice() });

export function cryptoEntries(): MicroEntry[] {
  const entries: MicroEntry[] = [];
  for (const scheme of SCHEMES) {
    const suite = getSuite(scheme);
    const encodedPoint = suite.Point.BASE.multiply(7n).toBytes(true);
    entries.push(
      { name: `crypto.${scheme}.decodePoint`, fn: () => parsePointUncached(suite, encodedPoint, 'bench') },
      { name: `crypto.${scheme}.decodePoint.cached`, fn: () => parsePoint(suite, encodedPoint, 'bench') },
    );
    for (const [t, n] of CRYPTO_QUORUMS) {
      const prefix = `crypto.${scheme}.${t}of${n}`;
      const shares = runDkg(scheme, t, n);
      const quorum = shares.slice(0, t);
      const pkg = quorum[0]!.publicKey;
      const message = bytes(32);
      const round1 = quorum.map((s) => commit(s));
      const signing = { message, commitments: round1.map((r) => r.commitments) };
      const sigShares = quorum.map((s, k) => signShare(s, copyNonces(round1[k]!.nonces), signing));
      const signature = aggregate(pkg, signing, sigShares);
      const slow = t >= 7 ? 3 : undefined;
      entries.push(
        { name: `${prefix}.commit`, fn: () => commit(quorum[0]!) },
        { name: `${prefix}.signShare`, fn: () => signShare(quorum[0]!, copyNonces(round1[0]!.nonces), signing) },
        { name: `${prefix}.verifyShare`, fn: () => verifyShare(pkg, signing, sigShares[0]!) },
        { name: `${prefix}.aggregate`, fn: () => aggregate(pkg, signing, sigShares) },
        { name: `${prefix}.verify`, fn: () => verifySignature(pkg, message, signature) },
        { name: `${prefix}.fullSign`, fn: () => fullSign(quorum, message) },
        { name: `${prefix}.dkg`, fn: () => runDkg(scheme, t, n), ...(slow ? { minSamples: slow } : {}) },
        { name: `${prefix}.refresh`, fn: () => runRefresh(shares), ...(slow ? { minSamples: slow } : {}) },
      );
    }
  }
  return entries;
}
