/**
 * The coordinator never returns or audits an ECDSA signature that does not verify
 * (DKLs23 Protocol 3.6 step 10, sessions/ecdsa-attempt.ts). A real coordinator and
 * three real signer daemons run in this process over real WebSockets; the fixture
 * below makes one signer send a wrong final share w_i (its envelopes stay properly
 * signed: the signer itself lies), and, separately, stands in for a combine step that
 * lost its own verification, so the coordinator's verification under the standard
 * verifier is the only check left.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { createKeyDigest, generateIdentity, identityFromSecret, signClientRequest, signDigest } from '@keyquorum/protocol';
import { SCRYPT_N_MIN, SignerDaemon, initSigner, silentLogger } from '@keyquorum/signer';
import { Coordinator, CoordinatorError } from '../src/index.ts';

/** What the fixture falsifies: the final w of these quorum indices, and whether combine skips its own check. */
const lie = vi.hoisted(() => ({ wrongW: new Set<number>(), combineUnverified: false }));

vi.mock('@keyquorum/crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('@keyquorum/crypto')>();
  const Fn = (await import('@noble/curves/secp256k1.js')).secp256k1.Point.Fn;
  const ecdsa: typeof real.ecdsa = {
    ...real.ecdsa,
    signRound3: (presignature, digest) => {
      const share = real.ecdsa.signRound3(presignature, digest);
      return lie.wrongW.has(presignature.self) ? { ...share, w: Fn.toBytes(Fn.add(Fn.fromBytes(share.w), 1n)) } : share;
    },
    combineSignature: (session, digest, shares) => {
      if (!lie.combineUnverified) return real.ecdsa.combineSignature(session, digest, shares);
      // A combine without its final check: whatever the shares make, returned as is.
      return { signature: new Uint8Array(64).fill(7), recovery: 0 };
    },
  };
  return { ...real, ecdsa };
});

const IDS = ['s1', 's2', 's3'];
const SUITE = 'ecdsa-secp256k1';
const PASSPHRASE = 'verification test passphrase';
const admin = generateIdentity();
const coordinatorIdentity = generateIdentity();
let root: string;
let coordinator: Coordinator;
const daemons: SignerDaemon[] = [];
let publicKey: Uint8Array;

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
  for (const id of IDS) {
    const dataDir = path.join(root, id);
    initSigner({ dataDir, signerId: id, kek: { passphrase: PASSPHRASE }, scryptN: SCRYPT_N_MIN, rng: () => seeds.get(id)!.slice() });
    const daemon = new SignerDaemon(
      {
        signerId: id,
        dataDir,
        coordinatorUrl: coordinator.signerUrl,
        coordinatorPublicKey: bytesToHex(coordinatorIdentity.publicKey),
        peers: Object.fromEntries(keys),
        clients: [{ publicKey: bytesToHex(admin.publicKey), roles: ['admin'] }],
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
  await coordinator?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

beforeEach(() => {
  lie.wrongW.clear();
  lie.combineUnverified = false;
});

async function sign(text: string) {
  const message = sha256(utf8ToBytes(text));
  const request = signClientRequest(admin, { op: 'sign', keyId: 'k1', digest: signDigest({ keyId: 'k1', epoch: 0, message }) });
  const signedBefore = coordinator.audit('k1').filter((e) => e.event === 'key.signed').length;
  const outcome = await coordinator.sign({ request, keyId: 'k1', message }).then(
    (out) => ({ out, error: undefined }),
    (error: unknown) => ({ out: undefined, error }),
  );
  const signed = coordinator.audit('k1').filter((e) => e.event === 'key.signed').slice(signedBefore);
  return { message, ...outcome, signed };
}

describe('ecdsa-secp256k1: the coordinator verifies the combined signature before it returns or audits it', () => {
  it('a quorum member that sends a wrong final share w_i (properly signed): no attempt with it returns or audits a signature, and an honest quorum signs', async () => {
    lie.wrongW.add(2);
    const { message, out, signed } = await sign('pay the attacker');
    // Every attempt that held the liar failed its verification and was audited as such, never as signed.
    const failed = coordinator.audit('k1').filter((e) => e.event === 'key.sign_attempt_failed');
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.every((e) => (e.data as { reason: string }).reason === 'invalid')).toBe(true);
    expect(failed.every((e) => (e.data as { quorum: string[] }).quorum.includes('s2'))).toBe(true);
    // A liar can only delay (issue 10): the quorum search serves the request without it.
    expect(out).toBeDefined();
    expect(secp256k1.verify(out!.signature, message, publicKey, { prehash: false })).toBe(true);
    expect(signed).toHaveLength(1);
    expect((signed[0]!.data as { quorum: string[] }).quorum).not.toContain('s2');
    expect((signed[0]!.data as { signature: string }).signature).toBe(bytesToHex(out!.signature));
    expect(coordinator.verifyAudit()).toMatchObject({ ok: true });
  });

  it('a combine that returned a signature without verifying it is caught by the coordinator: nothing returned, nothing audited', async () => {
    lie.combineUnverified = true;
    const { out, error, signed } = await sign('pay the attacker again');
    expect(out).toBeUndefined();
    expect(error).toBeInstanceOf(CoordinatorError);
    expect((error as CoordinatorError).message).toMatch(/does not verify/);
    expect(signed).toEqual([]);
  });

  it('an honest quorum signs, and what is returned and audited verifies under the key (the refusals above are the check)', async () => {
    const { message, out, signed } = await sign('pay the merchant');
    expect(out).toBeDefined();
    expect(secp256k1.verify(out!.signature, message, publicKey, { prehash: false })).toBe(true);
    expect(signed.map((e) => (e.data as { signature: string }).signature)).toEqual([bytesToHex(out!.signature)]);
  });
});
