/**
 * The coordinator never returns or audits an ECDSA signature that does not verify
 * (DKLs23 Protocol 3.6 step 10, sessions/ecdsa-attempt.ts). A real coordinator and
 * three real signer daemons run in this process over real WebSockets. Signer s2 lies:
 * its daemon dials the coordinator through a relay holding s2's identity key
 * (lying-link.ts), which replaces s2's final share w_i or u_i by a wrong one and seals
 * the frame again with s2's key, so the lie arrives properly signed, as from a
 * compromised signer. The coordinator's own last check (`checkFinalSignature`) is also
 * tested directly, on a signature that does not verify: with the real crypto,
 * `ecdsa.combineSignature` refuses such shares first, so nothing else reaches it.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { ECDSA_SIGN_ROUND, decodeBody, encodeBody, type EcdsaSignShareBody } from '@keyquorum/protocol';
import { CoordinatorError } from '../src/index.ts';
import { checkFinalSignature } from '../src/sessions/ecdsa-attempt.ts';
import { isSignRound, startEcdsaCluster, type EcdsaCluster } from './ecdsa-cluster.ts';

const Fn = secp256k1.Point.Fn;
/** What s2 falsifies in its final share: nothing, w_i, or u_i (each plus one). */
const lie: { field: 'w' | 'u' | undefined } = { field: undefined };

let c: EcdsaCluster;
let publicKey: Uint8Array;

beforeAll(async () => {
  c = await startEcdsaCluster({
    name: 'verification',
    liar: 's2',
    rewrite: (e) => {
      const field = lie.field;
      if (field === undefined || !isSignRound(e, ECDSA_SIGN_ROUND.SHARE)) return undefined;
      const body = decodeBody<EcdsaSignShareBody>(e.header.kind, e.header.round, e.header.suite, e.payload);
      return encodeBody({ ...body, [field]: Fn.toBytes(Fn.add(Fn.fromBytes(body[field]), 1n)) });
    },
  });
  publicKey = c.publicKey;
}, 120_000);

afterAll(async () => c?.stop());

beforeEach(() => {
  lie.field = undefined;
});

const sign = (text: string) => c.sign(text);
const audit = () => c.coordinator.audit('k1');

describe('ecdsa-secp256k1: the coordinator verifies the combined signature before it returns or audits it', () => {
  it.each(['w', 'u'] as const)('a quorum member that sends a wrong final share %s_i (properly signed): no attempt with it returns or audits a signature, and an honest quorum signs', async (field) => {
    lie.field = field;
    const rewrittenBefore = c.link.rewritten;
    const failedBefore = (await audit()).filter((e) => e.event === 'key.sign_attempt_failed').length;
    const { message, out, signed } = await sign(`pay the attacker (${field})`);
    // The lie reached the coordinator (s2 was in a quorum) ...
    expect(c.link.rewritten).toBeGreaterThan(rewrittenBefore);
    // ... and every attempt that held the liar failed its verification and was audited as such, never as signed.
    const failed = (await audit()).filter((e) => e.event === 'key.sign_attempt_failed').slice(failedBefore);
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.every((e) => (e.data as { reason: string }).reason === 'invalid')).toBe(true);
    expect(failed.every((e) => (e.data as { quorum: string[] }).quorum.includes('s2'))).toBe(true);
    // A liar can only delay (issue 10): the quorum search serves the request without it.
    expect(out).toBeDefined();
    expect(secp256k1.verify(out!.signature, message, publicKey, { prehash: false })).toBe(true);
    expect(signed).toHaveLength(1);
    expect((signed[0]!.data as { quorum: string[] }).quorum).not.toContain('s2');
    expect((signed[0]!.data as { signature: string }).signature).toBe(bytesToHex(out!.signature));
    expect(await c.coordinator.verifyAudit()).toMatchObject({ ok: true });
  });

  it("the coordinator's own final check refuses a signature that does not verify under the key, whatever combined it (SESSION_FAILED)", async () => {
    // A real signature of this key, checked against another digest, and with its s changed: neither verifies.
    const { message, out } = await sign('pay the merchant first');
    expect(out).toBeDefined();
    expect(() => checkFinalSignature(out!.signature, message, publicKey)).not.toThrow();
    const other = sha256(utf8ToBytes('pay the attacker instead'));
    const tweaked = out!.signature.slice();
    tweaked[63]! ^= 1;
    for (const [signature, digest] of [
      [out!.signature, other],
      [tweaked, message],
    ] as const) {
      let error: unknown;
      try {
        checkFinalSignature(signature, digest, publicKey);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(CoordinatorError);
      expect(error).toMatchObject({ code: 'SESSION_FAILED', message: expect.stringMatching(/does not verify/) });
    }
  });

  it('an honest quorum signs, and what is returned and audited verifies under the key (the refusals above are the check)', async () => {
    const { message, out, signed } = await sign('pay the merchant');
    expect(out).toBeDefined();
    expect(secp256k1.verify(out!.signature, message, publicKey, { prehash: false })).toBe(true);
    expect(signed.map((e) => (e.data as { signature: string }).signature)).toEqual([bytesToHex(out!.signature)]);
  });
});
