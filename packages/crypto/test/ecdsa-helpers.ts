/** In-process drivers for the ECDSA round functions (every party in one process). */
import { randomBytes } from 'node:crypto';
import {
  combineSignature,
  ecdsaDkgRound1,
  ecdsaDkgRound2,
  ecdsaDkgRound3,
  ecdsaRefreshRound1,
  ecdsaRefreshRound2,
  ecdsaRefreshRound3,
  signPresign,
  signRound1,
  signRound2,
  signRound3,
  type EcdsaKeyShare,
  type EcdsaRefreshRound2Package,
} from '../src/ecdsa/index.ts';
import type { DerivationPath } from '../src/frost/derive.ts';

export const sid = () => new Uint8Array(randomBytes(32));

export function runEcdsaDkg(threshold: number, participants: number[]) {
  const sessionId = sid();
  const r1 = participants.map((self) => ecdsaDkgRound1({ sessionId, self, participants, threshold }));
  const r2 = r1.map((p) => ecdsaDkgRound2(p.secret, r1.filter((o) => o.package.from !== p.package.from).map((o) => o.package)));
  const out = r2.map((r, k) => ecdsaDkgRound3(r.secret, r2.flatMap((o) => o.packages.filter((pkg) => pkg.to === participants[k]))));
  return { shares: out.map((o) => o.keyShare), transcripts: out.map((o) => o.transcriptHash) };
}

/** Runs the three refresh rounds; `tamper` may rewrite the round-2 packages before delivery. */
export function runEcdsaRefresh(shares: EcdsaKeyShare[], tamper?: (pkg: EcdsaRefreshRound2Package) => EcdsaRefreshRound2Package) {
  const sessionId = sid();
  const ids = shares.map((s) => s.frost.id);
  const r1 = shares.map((keyShare) => ecdsaRefreshRound1({ sessionId, keyShare }));
  const r2 = r1.map((p) => ecdsaRefreshRound2(p.secret, r1.filter((o) => o.package.from !== p.package.from).map((o) => o.package)));
  const deliver = (k: number) => r2.flatMap((o) => o.packages.filter((pkg) => pkg.to === ids[k])).map((pkg) => (tamper ? tamper(pkg) : pkg));
  return { r2, deliver, finish: (k: number) => ecdsaRefreshRound3(r2[k]!.secret, deliver(k)) };
}

export function runPresign(shares: EcdsaKeyShare[], path?: DerivationPath) {
  const quorum = shares.map((s) => s.frost.id);
  const sessionId = sid();
  const r1 = shares.map((s) => signRound1(s, { sessionId, quorum, path }));
  const r2 = r1.map((r, k) =>
    signRound2(
      r.secret,
      r1.filter((_, o) => o !== k).map((o) => o.broadcast),
      r1.flatMap((o) => o.direct.filter((d) => d.to === quorum[k])),
    ),
  );
  const pre = r2.map((r, k) => signPresign(r.secret, r2.flatMap((o) => o.direct.filter((d) => d.to === quorum[k]))));
  return { r1, r2, pre, quorum };
}

export function runSign(shares: EcdsaKeyShare[], digest: Uint8Array, path?: DerivationPath) {
  const { pre } = runPresign(shares, path);
  const sigShares = pre.map((p) => signRound3(p.presignature, digest));
  return { ...combineSignature(pre[0]!.session, digest, sigShares), session: pre[0]!.session };
}
