/**
 * `crypto.ecdsa-secp256k1.<t>of<n>.<step>`: DKLs23 (eprint 2023/765, Protocol 3.6) in one
 * process, with the calls the cluster makes (packages/signer/src/schemes/ecdsa-sign-rounds.ts
 * on a signer, packages/coordinator/src/sessions/ecdsa-attempt.ts on the coordinator):
 * `decodeKeyShare` (a signer loads its sealed share for every session), `round1`,
 * `round2`, `presign` and `round3` for one signer, `combine` (the coordinator: s = sum w /
 * sum u, verified before release), `verify` (the standard verifier, noble, prehash false),
 * `fullSign` (every round for the t signers, then combine and verify) and `dkg` (all n
 * parties in one process: the FROST DKG plus the base OTs of every pair).
 *
 * `baseline.dkls23-<commit>.ecdsa-secp256k1.2of3.fullSign` is the same fullSign run, in
 * this process and run, on the crypto package as it was at REFERENCE_COMMIT (main on
 * 2026-11-28, before issue 13's work): its sources are extracted with `git archive` into
 * .bench-reference/ (git-ignored) and imported from there, so the issue's "in-process DKLs23 signing
 * <= 0.25 x today's" is a ratio of two medians of the same run, not of two runs.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { ecdsa } from '@keyquorum/crypto';
import type { MicroEntry } from './lib/micro.ts';

export const ECDSA_SCHEME = 'ecdsa-secp256k1' as const;
/** main when issue 13's work started (2026-11-28): "today's" DKLs23 for the 0.25 x target. */
export const REFERENCE_COMMIT = '07401fce54eec544d8052e6010a247d295b01558';
export const REFERENCE_NAME = `baseline.dkls23-${REFERENCE_COMMIT.slice(0, 7)}.${ECDSA_SCHEME}.2of3.fullSign`;

type EcdsaApi = typeof ecdsa;
type KeyShare = ecdsa.EcdsaKeyShare;

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bytes = (n: number) => new Uint8Array(randomBytes(n));
const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

export function runEcdsaDkg(api: EcdsaApi, threshold: number, n: number): KeyShare[] {
  const participants = range(n);
  const sessionId = bytes(32);
  const r1 = participants.map((self) => api.ecdsaDkgRound1({ sessionId, self, participants, threshold }));
  const r2 = r1.map((p) => api.ecdsaDkgRound2(p.secret, r1.filter((o) => o.package.from !== p.package.from).map((o) => o.package)));
  return r2.map((r, k) => api.ecdsaDkgRound3(r.secret, r2.flatMap((o) => o.packages.filter((pkg) => pkg.to === participants[k]))).keyShare);
}

/** Rounds 1, 2 and presign for every signer of `quorum` (what happens before the digest is needed). */
function presignAll(api: EcdsaApi, quorum: KeyShare[]) {
  const ids = quorum.map((s) => s.frost.id);
  const sessionId = bytes(32);
  const r1 = quorum.map((s) => api.signRound1(s, { sessionId, quorum: ids }));
  const r2 = r1.map((r, k) =>
    api.signRound2(
      r.secret,
      r1.filter((_, o) => o !== k).map((o) => o.broadcast),
      r1.flatMap((o) => o.direct.filter((d) => d.to === ids[k])),
    ),
  );
  const inbox2 = (k: number) => r2.flatMap((o) => o.direct.filter((d) => d.to === ids[k]));
  const pre = r2.map((r, k) => api.signPresign(r.secret, inbox2(k)));
  return { r1, r2, inbox2, pre };
}

/** One signature as the cluster computes it: every round at every signer, then the coordinator combines (and verifies). */
export function ecdsaFullSign(api: EcdsaApi, quorum: KeyShare[], digest: Uint8Array): Uint8Array {
  const { pre } = presignAll(api, quorum);
  const shares = pre.map((p) => api.signRound3(p.presignature, digest));
  const { signature } = api.combineSignature(pre[0]!.session, digest, shares);
  if (!secp256k1.verify(signature, digest, pre[0]!.session.publicKey, { prehash: false, lowS: true })) throw new Error('signature does not verify');
  return signature;
}

const CRYPTO_PREFIX = `crypto.${ECDSA_SCHEME}.2of3`;
export const ECDSA_CRYPTO_STEPS = ['decodeKeyShare', 'round1', 'round2', 'presign', 'round3', 'combine', 'verify', 'fullSign', 'dkg'] as const;
/** Names of the in-process entries, known before any key exists (their setup runs a 3 s DKG). */
export const ECDSA_CRYPTO_NAMES = ECDSA_CRYPTO_STEPS.map((s) => `${CRYPTO_PREFIX}.${s}`);

export function ecdsaCryptoEntries(): MicroEntry[] {
  const entries: MicroEntry[] = [];
  const [t, n] = [2, 3];
  const prefix = CRYPTO_PREFIX;
  const shares = runEcdsaDkg(ecdsa, t, n);
  const quorum = shares.slice(0, t);
  const sealed = ecdsa.encodeEcdsaKeyShare(quorum[0]!);
  const digest = bytes(32);
  const ids = quorum.map((s) => s.frost.id);
  // One session's messages, to time each step of signer 1 on them (every step is a pure function of its inputs).
  const { r1, r2, inbox2, pre } = presignAll(ecdsa, quorum);
  const peerBroadcasts = r1.slice(1).map((o) => o.broadcast);
  const peerDirect = r1.slice(1).flatMap((o) => o.direct.filter((d) => d.to === ids[0]));
  const presignature = () => ({ ...pre[0]!.presignature, consumed: false });
  const shares3 = pre.map((p) => ecdsa.signRound3({ ...p.presignature }, digest));
  const { signature } = ecdsa.combineSignature(pre[0]!.session, digest, shares3);
  const publicKey = pre[0]!.session.publicKey;
  entries.push(
    { name: `${prefix}.decodeKeyShare`, fn: () => ecdsa.decodeEcdsaKeyShare(sealed) },
    { name: `${prefix}.round1`, fn: () => ecdsa.signRound1(quorum[0]!, { sessionId: bytes(32), quorum: ids }) },
    { name: `${prefix}.round2`, fn: () => ecdsa.signRound2(r1[0]!.secret, peerBroadcasts, peerDirect) },
    { name: `${prefix}.presign`, fn: () => ecdsa.signPresign(r2[0]!.secret, inbox2(0)) },
    // signRound3 zeroes the presignature it is given: each call gets a fresh copy.
    { name: `${prefix}.round3`, fn: () => ecdsa.signRound3(presignature(), digest) },
    { name: `${prefix}.combine`, fn: () => ecdsa.combineSignature(pre[0]!.session, digest, shares3) },
    { name: `${prefix}.verify`, fn: () => secp256k1.verify(signature, digest, publicKey, { prehash: false, lowS: true }) },
    { name: `${prefix}.fullSign`, fn: () => ecdsaFullSign(ecdsa, quorum, digest) },
    { name: `${prefix}.dkg`, fn: () => runEcdsaDkg(ecdsa, t, n), minSamples: 3 },
  );
  return entries;
}

/**
 * The crypto package at REFERENCE_COMMIT, extracted once into .bench-reference/ (its
 * only dependencies are @noble/*, resolved from the repository's node_modules).
 * Undefined, with the reason logged, when git cannot produce it (e.g. no history).
 */
async function loadReference(log: (line: string) => void): Promise<EcdsaApi | undefined> {
  // Not under node_modules: tsx compiles TypeScript found there differently, and the
  // same DKLs23 source ran 3 x slower from node_modules/.cache (measured: 550 vs 160 ms CPU).
  const dir = path.join(REPO_ROOT, '.bench-reference', REFERENCE_COMMIT.slice(0, 12));
  const entry = path.join(dir, 'packages', 'crypto', 'src', 'index.ts');
  try {
    if (!fs.existsSync(entry)) {
      const tmp = `${dir}.tmp-${process.pid}`;
      fs.mkdirSync(tmp, { recursive: true });
      const tar = execFileSync('git', ['archive', '--format=tar', REFERENCE_COMMIT, 'packages/crypto/src'], { cwd: REPO_ROOT, maxBuffer: 64 << 20 });
      execFileSync('tar', ['-x', '-C', tmp], { input: tar });
      fs.rmSync(dir, { recursive: true, force: true });
      fs.renameSync(tmp, dir);
    }
    const mod = (await import(pathToFileURL(entry).href)) as { ecdsa: EcdsaApi };
    return mod.ecdsa;
  } catch (e) {
    log(`${REFERENCE_NAME}: cannot load the crypto package at ${REFERENCE_COMMIT} (${(e as Error).message.split('\n')[0]}); the DKLs23 target is not measured`);
    return undefined;
  }
}

/** The reference DKLs23 fullSign (2-of-3), on its own key from its own DKG. */
export async function ecdsaReferenceEntry(log: (line: string) => void): Promise<MicroEntry | undefined> {
  const api = await loadReference(log);
  if (api === undefined) return undefined;
  const quorum = runEcdsaDkg(api, 2, 3).slice(0, 2);
  const digest = bytes(32);
  return { name: REFERENCE_NAME, fn: () => ecdsaFullSign(api, quorum, digest) };
}
