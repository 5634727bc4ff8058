/**
 * Pooled DKLs23 presignatures (ecdsa/pooled.ts): a presignature made for the key
 * itself signs, from its exported 96-byte secret, for the key and for a BIP32 child
 * (the additive tweak applied in step 9), re-randomised (R' = R + delta*G) so the
 * signature's r is not the presignature's; the standard verifier accepts each. A
 * secret is read once (zeroed), a presignature is exported once, and signers that
 * disagree on the digest, the path or the presignature id make no valid signature. The
 * re-randomiser delta is bound to the presignature id, R, the signed-for key and the
 * digest (docs/mutation.md, crypto `ecdsa/sign.ts` and pooled.ts, 2026-11-28).
 */
import { describe, expect, it } from 'vitest';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { equalBytes } from '@noble/curves/utils.js';
import { randomBytes } from 'node:crypto';
import { combineSignature, exportPresignature, pooledSession, signPooled, type EcdsaKeyShare, type PooledSignParams } from '../src/ecdsa/index.ts';
import { deriveChild } from '../src/frost/derive.ts';
import { runEcdsaDkg, runPresign, sid } from './ecdsa-helpers.ts';

const { shares } = runEcdsaDkg(2, [1, 2, 3]);
const pub = shares[0]!.frost.publicKey;

function pooled(quorumShares: EcdsaKeyShare[]) {
  const { pre, quorum } = runPresign(quorumShares);
  const secrets = pre.map((p) => exportPresignature(p.presignature));
  return { secrets, quorum, instancePoint: pre[0]!.session.instancePoint, presignatureId: sid() };
}

const digest = () => new Uint8Array(randomBytes(32));

describe('pooled ecdsa presignatures', () => {
  for (const path of [undefined, 'm/0/7', 'm/44/60/0/0/3']) {
    it(`sign for ${path ?? 'the key'} from a presignature made without a path`, () => {
      const p = pooled([shares[0]!, shares[2]!]);
      const params: PooledSignParams = { presignatureId: p.presignatureId, quorum: p.quorum, instancePoint: p.instancePoint, publicKey: pub, ...(path === undefined ? {} : { path }) };
      const m = digest();
      const out = p.quorum.map((self, k) => signPooled(p.secrets[k]!, self, params, m));
      const session = pooledSession(params, m).session;
      expect(out.every((o) => equalBytes(o.session.instancePoint, session.instancePoint))).toBe(true);
      expect(equalBytes(session.instancePoint, p.instancePoint)).toBe(false);
      const expectedKey = path === undefined ? pub.groupKey : deriveChild(pub, path).groupKey;
      expect(equalBytes(session.publicKey, expectedKey)).toBe(true);
      const sig = combineSignature(session, m, out.map((o) => o.share));
      expect(secp256k1.verify(sig.signature, m, expectedKey, { prehash: false })).toBe(true);
      // Each secret was read once and zeroed.
      expect(p.secrets.every((s) => s.every((b) => b === 0))).toBe(true);
    });
  }

  it('a presignature is exported once', () => {
    const { pre } = runPresign([shares[0]!, shares[1]!]);
    exportPresignature(pre[0]!.presignature);
    expect(() => exportPresignature(pre[0]!.presignature)).toThrow(/NONCE_REUSED/);
  });

  it('signers that disagree on the digest, the path or the presignature id make no valid signature', () => {
    const variants: ((params: PooledSignParams, m: Uint8Array) => [PooledSignParams, Uint8Array])[] = [
      (params) => [params, digest()],
      (params, m) => [{ ...params, path: 'm/1' }, m],
      (params, m) => [{ ...params, presignatureId: sid() }, m],
    ];
    for (const vary of variants) {
      const p = pooled([shares[1]!, shares[2]!]);
      const params: PooledSignParams = { presignatureId: p.presignatureId, quorum: p.quorum, instancePoint: p.instancePoint, publicKey: pub };
      const m = digest();
      const [other, m2] = vary(params, m);
      const a = signPooled(p.secrets[0]!, p.quorum[0]!, params, m);
      const b = signPooled(p.secrets[1]!, p.quorum[1]!, other, m2);
      expect(() => combineSignature(a.session, m, [a.share, b.share])).toThrow(/INVALID_SIGNATURE_SHARE/);
    }
  });

  it('the re-randomiser delta (Groth-Shoup) changes with the presignature id, R, the signed-for key and the digest, so a presignature known in advance does not fix the instance point of a chosen message', () => {
    const p = pooled([shares[0]!, shares[1]!]);
    const params: PooledSignParams = { presignatureId: p.presignatureId, quorum: p.quorum, instancePoint: p.instancePoint, publicKey: pub };
    const m = digest();
    const base = pooledSession(params, m);
    const other = pooled([shares[0]!, shares[1]!]);
    const variants: [string, ReturnType<typeof pooledSession>][] = [
      ['presignature id', pooledSession({ ...params, presignatureId: sid() }, m)],
      ['instance point R', pooledSession({ ...params, instancePoint: other.instancePoint }, m)],
      ['signed-for key (a path)', pooledSession({ ...params, path: 'm/0/7' }, m)],
      ['digest', pooledSession(params, digest())],
    ];
    for (const [label, v] of variants) expect(v.delta, label).not.toBe(base.delta);
    expect(pooledSession(params, m).delta).toBe(base.delta);
  });

  it('refuses a secret of the wrong length and a signer outside the quorum', () => {
    const p = pooled([shares[0]!, shares[1]!]);
    const params: PooledSignParams = { presignatureId: p.presignatureId, quorum: p.quorum, instancePoint: p.instancePoint, publicKey: pub };
    expect(() => signPooled(new Uint8Array(64), 1, params, digest())).toThrow(/sign.presignature.secret/);
    expect(() => signPooled(p.secrets[0]!, 3, params, digest())).toThrow(/sign.self/);
  });
});
