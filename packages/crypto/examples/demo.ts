/**
 * In-process walk through the threshold Schnorr core: for every suite, a 2-of-3 DKG,
 * a signature checked by the suite's standard verifier, a refresh (same key, new
 * shares), a signature by the refreshed quorum, a derived child key, a reshare to
 * 3-of-5, and the repair of a lost share. Every participant runs in this process;
 * the cluster (coordinator and signer daemons) runs the same round functions apart.
 */
import { randomBytes } from 'node:crypto';
import {
  aggregate,
  commit,
  deriveChild,
  dkgRound1,
  dkgRound2,
  dkgRound3,
  externalPublicKey,
  refreshRound1,
  refreshRound2,
  refreshRound3,
  repairStep1,
  repairStep2,
  repairStep3,
  reshareDeal,
  reshareReceive,
  signShare,
  SUITE_IDS,
  targetExternalKey,
  verifySignature,
  type KeyShare,
  type SigningTarget,
} from '../src/index.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const sessionId = () => new Uint8Array(randomBytes(32));
const step = (text: string) => console.log(`  ${text}`);

function sign(shares: KeyShare[], message: Uint8Array, target?: SigningTarget): Uint8Array {
  const round1 = shares.map((s) => commit(s));
  const signing = { message, commitments: round1.map((r) => r.commitments) };
  const sigShares = shares.map((s, k) => signShare(s, round1[k]!.nonces, signing, target));
  return aggregate(shares[0]!.publicKey, signing, sigShares, target);
}

const message = new TextEncoder().encode('withdraw 0.5 BTC to bc1q...');

for (const suite of SUITE_IDS) {
  console.log(`\n${suite}`);
  const participants = [1, 2, 3];
  const sid = sessionId();
  const r1 = participants.map((self) => dkgRound1({ suite, sessionId: sid, self, participants, threshold: 2 }));
  const r2 = r1.map((p) => dkgRound2(p.secret, r1.filter((o) => o !== p).map((o) => o.package)));
  const shares = r2.map((r, k) => dkgRound3(r.secret, r2.flatMap((o) => o.packages.filter((p) => p.to === participants[k]))).keyShare);
  const pub = shares[0]!.publicKey;
  step(`DKG 2-of-3: group key ${hex(externalPublicKey(pub))} (no dealer; no party holds the key)`);

  let sig = sign([shares[0]!, shares[2]!], message);
  step(`sign by {1,3}: ${hex(sig).slice(0, 32)}... standard verifier: ${verifySignature(pub, message, sig)}`);

  const rsid = sessionId();
  const f1 = shares.map((keyShare) => refreshRound1({ sessionId: rsid, keyShare }));
  const f2 = f1.map((p) => refreshRound2(p.secret, f1.filter((o) => o !== p).map((o) => o.package)));
  const refreshed = f2.map((r, k) => refreshRound3(r.secret, f2.flatMap((o) => o.packages.filter((p) => p.to === shares[k]!.id))).keyShare);
  const changed = participants.every((id) => hex(refreshed[0]!.publicKey.verifyingShares[id]!) !== hex(pub.verifyingShares[id]!));
  step(`refresh: same group key ${hex(externalPublicKey(refreshed[0]!.publicKey)) === hex(externalPublicKey(pub))}, every verifying share changed ${changed}`);
  sig = sign([refreshed[0]!, refreshed[1]!], message);
  step(`sign by refreshed {1,2}: standard verifier: ${verifySignature(pub, message, sig)}`);

  const path = 'm/44/0/7';
  const child = deriveChild(pub, path);
  sig = sign([refreshed[1]!, refreshed[2]!], message, { path });
  step(`derive ${path}: child key ${hex(targetExternalKey(pub, { path }))}; signed by {2,3}: ${verifySignature(pub, message, sig, { path })} (chain code ${hex(child.chainCode).slice(0, 16)}...)`);

  if (suite === 'frost-secp256k1-tr') {
    sig = sign([refreshed[0]!, refreshed[2]!], message, { taproot: {} });
    step(`taproot key-path output key ${hex(targetExternalKey(pub, { taproot: {} }))}: BIP340 verifier: ${verifySignature(pub, message, sig, { taproot: {} })}`);
  }

  const params = { sessionId: sessionId(), oldPublicKey: pub, dealers: [1, 2], newParticipants: [1, 2, 3, 4, 5], newThreshold: 3 };
  const dealt = [refreshed[0]!, refreshed[1]!].map((s) => reshareDeal({ ...params, oldPublicKey: s.publicKey }, s));
  const commitments = dealt.map((d) => d.commitment);
  const reshared = params.newParticipants.map((self) => reshareReceive({ ...params, oldPublicKey: refreshed[0]!.publicKey }, self, commitments, dealt.flatMap((d) => d.packages.filter((p) => p.to === self))).keyShare);
  sig = sign([reshared[0]!, reshared[2]!, reshared[4]!], message);
  step(`reshare 2-of-3 -> 3-of-5: same group key, {1,3,5} sign: ${verifySignature(pub, message, sig)}`);

  const helpers = [1, 2, 4];
  const helperShares = helpers.map((id) => reshared[id - 1]!);
  const deltas = helperShares.map((s) => repairStep1(s, helpers, 3));
  const sigmas = helperShares.map((s) => repairStep2(s, helpers, 3, deltas.flatMap((d) => d.filter((x) => x.to === s.id))));
  const repaired = repairStep3(reshared[0]!.publicKey, helpers, 3, sigmas);
  step(`repair participant 3 with helpers {1,2,4}: recovered share matches: ${hex(repaired.signingShare) === hex(reshared[2]!.signingShare)}`);
}
