/**
 * DKLs23 against itself as it was at 07401fc (before issue 13's in-process work): the
 * reference sources are the ones benchmarks/ecdsa.ts measures, extracted by `git
 * archive` into .bench-reference/ (git-ignored) and imported here. Parties of the two
 * implementations run one DKG and signings together, each party with its own seeded
 * randomness, and every message, key share, presignature and signature must be the same
 * bytes whichever implementation each party runs: old and new signers interoperate.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { beforeAll, describe, expect, it } from 'vitest';
import * as current from '../src/ecdsa/index.ts';

type Api = typeof current;
type KeyShare = current.EcdsaKeyShare;

const REFERENCE_COMMIT = '07401fce54eec544d8052e6010a247d295b01558';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** The reference ecdsa module; extracted the way benchmarks/ecdsa.ts does when absent (needs the commit in git history). */
async function loadReference(): Promise<Api> {
  const dir = path.join(ROOT, '.bench-reference', REFERENCE_COMMIT.slice(0, 12));
  const entry = path.join(dir, 'packages', 'crypto', 'src', 'ecdsa', 'index.ts');
  if (!fs.existsSync(entry)) {
    const tmp = `${dir}.tmp-${process.pid}`;
    fs.mkdirSync(tmp, { recursive: true });
    const tar = execFileSync('git', ['archive', '--format=tar', REFERENCE_COMMIT, 'packages/crypto/src'], { cwd: ROOT, maxBuffer: 64 << 20 });
    execFileSync('tar', ['-x', '-C', tmp], { input: tar });
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
  }
  return (await import(pathToFileURL(entry).href)) as Api;
}

/** Deterministic randomness: SHA-256 in counter mode over a label (the same stream for both implementations). */
function seeded(label: string): current.Rng {
  let counter = 0;
  return (n = 32) => {
    const out = new Uint8Array(n);
    for (let off = 0; off < n; off += 32) {
      const block = createHash('sha256').update(`${label}/${counter++}`).digest();
      out.set(block.subarray(0, Math.min(32, n - off)), off);
    }
    return out;
  };
}

const fixed = (label: string) => new Uint8Array(createHash('sha256').update(label).digest());
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

let ref: Api;
beforeAll(async () => {
  ref = await loadReference();
}, 120_000);

/** A 2-of-3 DKG where party k runs impls[k]; returns every message and output. */
function dkg(impls: Api[], label: string) {
  const participants = [1, 2, 3];
  const sessionId = fixed(`${label}/sid`);
  const rngs = participants.map((p) => seeded(`${label}/party${p}`));
  const r1 = participants.map((self, k) => impls[k]!.ecdsaDkgRound1({ sessionId, self, participants, threshold: 2 }, rngs[k]));
  const r2 = r1.map((p, k) => impls[k]!.ecdsaDkgRound2(p.secret, r1.filter((o) => o.package.from !== p.package.from).map((o) => o.package), rngs[k]));
  const r3 = r2.map((r, k) => impls[k]!.ecdsaDkgRound3(r.secret, r2.flatMap((o) => o.packages.filter((pkg) => pkg.to === participants[k])), rngs[k]));
  return {
    round1: r1.map((r) => r.package),
    round2: r2.map((r) => r.packages.map((p) => ({ ...p }))),
    shares: r3.map((r) => r.keyShare),
    encoded: r3.map((r, k) => hex(impls[k]!.encodeEcdsaKeyShare(r.keyShare))),
    transcripts: r3.map((r) => hex(r.transcriptHash)),
  };
}

/** One signing of `digest` by `quorum` (key shares), signer k on impls[k], the combine on `combiner`. */
function sign(impls: Api[], combiner: Api, quorum: KeyShare[], label: string, digest: Uint8Array, signPath?: number[]) {
  const ids = quorum.map((s) => s.frost.id);
  const sessionId = fixed(`${label}/sid`);
  const rngs = ids.map((id) => seeded(`${label}/signer${id}`));
  const r1 = quorum.map((s, k) => impls[k]!.signRound1(s, { sessionId, quorum: ids, ...(signPath ? { path: signPath } : {}) }, rngs[k]));
  const r2 = r1.map((r, k) =>
    impls[k]!.signRound2(
      r.secret,
      r1.filter((_, o) => o !== k).map((o) => o.broadcast),
      r1.flatMap((o) => o.direct.filter((d) => d.to === ids[k])),
      rngs[k],
    ),
  );
  const pre = r2.map((r, k) => impls[k]!.signPresign(r.secret, r2.flatMap((o) => o.direct.filter((d) => d.to === ids[k]))));
  const presignatures = pre.map((p) => ({ u: p.presignature.u, v: p.presignature.v, phi: p.presignature.phi }));
  const shares = pre.map((p, k) => impls[k]!.signRound3(p.presignature, digest));
  const signature = combiner.combineSignature(pre[0]!.session, digest, shares);
  return { round1: r1.map((r) => ({ broadcast: r.broadcast, direct: r.direct })), round2: r2.map((r) => r.direct), sessions: pre.map((p) => p.session), presignatures, shares, signature };
}

describe('DKLs23 against the reference implementation (07401fc)', () => {
  let shares: KeyShare[];

  it('a DKG with old and new parties mixed gives the same messages and key shares as the reference alone', () => {
    const all = dkg([ref, ref, ref], 'compat/dkg');
    const mixed = dkg([current, ref, current], 'compat/dkg');
    const fresh = dkg([current, current, current], 'compat/dkg');
    for (const run of [mixed, fresh]) {
      expect(run.round1).toEqual(all.round1);
      expect(run.round2).toEqual(all.round2);
      expect(run.encoded).toEqual(all.encoded);
      expect(run.transcripts).toEqual(all.transcripts);
    }
    shares = fresh.shares;
    // The outputs are a working key: both implementations decode each other's encodings.
    expect(hex(ref.encodeEcdsaKeyShare(current.decodeEcdsaKeyShare(Buffer.from(all.encoded[0]!, 'hex'))))).toBe(all.encoded[0]);
  }, 600_000);

  it('old and new signers sign together: every message, the presignatures and the signature are the same bytes', () => {
    const digest = fixed('compat/digest');
    const quorum = [shares[0]!, shares[2]!];
    const reference = sign([ref, ref], ref, quorum, 'compat/sign', digest);
    for (const [impls, combiner] of [
      [[current, ref], current],
      [[ref, current], ref],
      [[current, current], current],
    ] as const) {
      const run = sign([...impls], combiner, quorum, 'compat/sign', digest);
      expect(run.round1).toEqual(reference.round1);
      expect(run.round2).toEqual(reference.round2);
      expect(run.sessions).toEqual(reference.sessions);
      expect(run.presignatures).toEqual(reference.presignatures);
      expect(run.shares).toEqual(reference.shares);
      expect(run.signature).toEqual(reference.signature);
    }
    const publicKey = reference.sessions[0]!.publicKey;
    expect(secp256k1.verify(reference.signature.signature, digest, publicKey, { prehash: false, lowS: true })).toBe(true);
  }, 300_000);

  it('the same with a BIP32 path, and a different quorum and digest', () => {
    const digest = fixed('compat/digest2');
    const quorum = [shares[1]!, shares[2]!];
    const reference = sign([ref, ref], ref, quorum, 'compat/sign-path', digest, [7, 42]);
    const mixed = sign([ref, current], current, quorum, 'compat/sign-path', digest, [7, 42]);
    expect(mixed).toEqual(reference);
    expect(secp256k1.verify(mixed.signature.signature, digest, mixed.sessions[1]!.publicKey, { prehash: false, lowS: true })).toBe(true);
  }, 300_000);

  it('the OT-extension and multiplication building blocks agree on equal inputs', () => {
    const sid = fixed('compat/gadget');
    expect(current.gadget(sid)).toEqual(ref.gadget(sid));
    // A multiplication between a reference Alice and a current Bob and the reverse, on the DKG's pair setups.
    const [a, b] = [shares[0]!, shares[1]!];
    for (const [alice, bob] of [
      [ref, current],
      [current, ref],
    ] as const) {
      const g = alice.gadget(sid);
      const start = bob.mulReceiverStart(b.pairs[1]!.receiver, sid, g, seeded('compat/mul/bob'));
      const x = [3n, 5n];
      const resp = alice.mulSenderRespond(a.pairs[2]!.sender, sid, g, x, start.message, 'mul', 2, seeded('compat/mul/alice'));
      const d = bob.mulReceiverFinish(start.state, g, resp.message, 'mul', 1);
      const N = secp256k1.Point.Fn.ORDER;
      expect(d.map((dl, l) => (dl + resp.c[l]!) % N)).toEqual(x.map((xl) => (xl * start.state.b) % N));
      const again = current.mulSenderRespond(a.pairs[2]!.sender, sid, g, x, start.message, 'mul', 2, seeded('compat/mul/alice'));
      expect(again).toEqual(resp);
    }
  }, 120_000);
});
