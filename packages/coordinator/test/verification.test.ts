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
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { ECDSA_SIGN_ROUND, createKeyDigest, decodeBody, encodeBody, generateIdentity, identityFromSecret, signClientRequest, signDigest, type EcdsaSignShareBody } from '@keyquorum/protocol';
import { SCRYPT_N_MIN, SignerDaemon, initSigner, silentLogger } from '@keyquorum/signer';
import { Coordinator, CoordinatorError } from '../src/index.ts';
import { checkFinalSignature } from '../src/sessions/ecdsa-attempt.ts';
import { LyingLink } from './lying-link.ts';

const Fn = secp256k1.Point.Fn;
/** What s2 falsifies in its final share: nothing, w_i, or u_i (each plus one). */
const lie: { field: 'w' | 'u' | undefined } = { field: undefined };

const IDS = ['s1', 's2', 's3'];
const SUITE = 'ecdsa-secp256k1';
const PASSPHRASE = 'verification test passphrase';
const admin = generateIdentity();
const coordinatorIdentity = generateIdentity();
let root: string;
let coordinator: Coordinator;
const daemons: SignerDaemon[] = [];
let publicKey: Uint8Array;
let link: LyingLink;

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'kq-verification-'));
  const seeds = new Map(IDS.map((id, i) => [id, new Uint8Array(32).fill(0x40 + i)]));
  const keys = new Map([...seeds].map(([id, seed]) => [id, bytesToHex(identityFromSecret(seed).publicKey)]));
  coordinator = new Coordinator({
    dataDir: path.join(root, 'coordinator'),
    port: 0,
    identity: coordinatorIdentity,
    signers: Object.fromEntries(keys),
    clients: [{ publicKey: bytesToHex(admin.publicKey), roles: ['admin'] }],
    logLevel: 'silent',
    roundTimeoutMs: 20_000,
  });
  await coordinator.start();
  link = await LyingLink.start({
    coordinatorUrl: coordinator.signerUrl,
    identity: identityFromSecret(seeds.get('s2')!),
    rewrite: (e) => {
      const field = lie.field;
      if (field === undefined || e.header.kind !== 'sign' || e.header.round !== ECDSA_SIGN_ROUND.SHARE) return undefined;
      const body = decodeBody<EcdsaSignShareBody>(e.header.kind, e.header.round, e.header.suite, e.payload);
      return encodeBody({ ...body, [field]: Fn.toBytes(Fn.add(Fn.fromBytes(body[field]), 1n)) });
    },
  });
  for (const id of IDS) {
    const dataDir = path.join(root, id);
    initSigner({ dataDir, signerId: id, kek: { passphrase: PASSPHRASE }, scryptN: SCRYPT_N_MIN, rng: () => seeds.get(id)!.slice() });
    const daemon = new SignerDaemon(
      {
        signerId: id,
        dataDir,
        coordinatorUrl: id === 's2' ? link.url : coordinator.signerUrl,
        coordinatorPublicKey: bytesToHex(coordinatorIdentity.publicKey),
        peers: Object.fromEntries(keys),
        clients: [{ publicKey: bytesToHex(admin.publicKey), roles: ['admin'] }],
        // Rounds on the event loop: a crypto worker thread boots tsx and the crypto modules again (about 1 s of CPU per daemon), and the worker is not the subject here.
        cryptoWorkers: 0,
      },
      { env: { KEYQUORUM_PASSPHRASE: PASSPHRASE }, log: silentLogger },
    );
    await daemon.start();
    await daemon.waitUntilConnected();
    daemons.push(daemon);
  }
  const request = signClientRequest(admin, { op: 'createKey', keyId: 'k1', digest: createKeyDigest({ keyId: 'k1', suite: SUITE, threshold: 2, signers: IDS }) });
  const key = await coordinator.createKey({ request, keyId: 'k1', suite: SUITE, threshold: 2, signers: IDS });
  publicKey = key.publicKey!;
}, 120_000);

afterAll(async () => {
  for (const d of daemons) await d.stop();
  await link?.stop();
  await coordinator?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

beforeEach(() => {
  lie.field = undefined;
});

async function sign(text: string) {
  const message = sha256(utf8ToBytes(text));
  const request = signClientRequest(admin, { op: 'sign', keyId: 'k1', digest: signDigest({ keyId: 'k1', epoch: 0, message }) });
  const signedBefore = (await coordinator.audit('k1')).filter((e) => e.event === 'key.signed').length;
  const outcome = await coordinator.sign({ request, keyId: 'k1', message }).then(
    (out) => ({ out, error: undefined }),
    (error: unknown) => ({ out: undefined, error }),
  );
  const signed = (await coordinator.audit('k1')).filter((e) => e.event === 'key.signed').slice(signedBefore);
  return { message, ...outcome, signed };
}

describe('ecdsa-secp256k1: the coordinator verifies the combined signature before it returns or audits it', () => {
  it.each(['w', 'u'] as const)('a quorum member that sends a wrong final share %s_i (properly signed): no attempt with it returns or audits a signature, and an honest quorum signs', async (field) => {
    lie.field = field;
    const rewrittenBefore = link.rewritten;
    const failedBefore = (await coordinator.audit('k1')).filter((e) => e.event === 'key.sign_attempt_failed').length;
    const { message, out, signed } = await sign(`pay the attacker (${field})`);
    // The lie reached the coordinator (s2 was in a quorum) ...
    expect(link.rewritten).toBeGreaterThan(rewrittenBefore);
    // ... and every attempt that held the liar failed its verification and was audited as such, never as signed.
    const failed = (await coordinator.audit('k1')).filter((e) => e.event === 'key.sign_attempt_failed').slice(failedBefore);
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.every((e) => (e.data as { reason: string }).reason === 'invalid')).toBe(true);
    expect(failed.every((e) => (e.data as { quorum: string[] }).quorum.includes('s2'))).toBe(true);
    // A liar can only delay (issue 10): the quorum search serves the request without it.
    expect(out).toBeDefined();
    expect(secp256k1.verify(out!.signature, message, publicKey, { prehash: false })).toBe(true);
    expect(signed).toHaveLength(1);
    expect((signed[0]!.data as { quorum: string[] }).quorum).not.toContain('s2');
    expect((signed[0]!.data as { signature: string }).signature).toBe(bytesToHex(out!.signature));
    expect(await coordinator.verifyAudit()).toMatchObject({ ok: true });
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
