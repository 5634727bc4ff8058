/**
 * The signer's side of the ecdsa-secp256k1 presignature pool (docs/cluster-protocol.md
 * "Presignature pool"), through the real protocol: real daemons with their SQLite
 * keystores over real WebSockets, driven by a coordinator fixture that may lie.
 * PRESIGN runs rounds 1-2 and step 8 ahead of any message; each signer seals its
 * presignature in the nonce journal under the presignature id before PRESIGNED leaves.
 * POOLED (a START body and the presignature id) is answered by SHARE in that one round,
 * the share computed only once the presignature is durably consumed (read back through
 * a second SQLite connection from inside the computation); the shares combine to a
 * signature the standard verifier accepts, for the key and for a BIP32 child.
 * Refused, with nothing signed: the same presignature twice, one made for another key,
 * one made before a restart or before the link dropped (discarded), one of an older
 * epoch after a refresh, and a bad request (the START's own code; the claimed
 * presignature discarded, never consumed, the replay window untouched).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { deriveChild, ecdsa } from '@keyquorum/crypto';
import { ECDSA_SUITE, fromWirePublicKey, type ClientRequest, type WirePublicKey } from '@keyquorum/protocol';
import type { SignerBehaviour } from '../src/index.ts';
import { removeTempDirs } from './helpers/cluster.ts';
import { SessionAborted, dkgStart, refreshStart, refs, runKeySession, signRequest } from './helpers/drive.ts';
import { ecdsaPooled, ecdsaPresign } from './helpers/ecdsa-drive.ts';
import { FakeCoordinator } from './helpers/fake-coordinator.ts';
import { TestClock, patient, snapshot, startClockedCluster, type ClockedCluster } from './helpers/state.ts';

const IDS = ['s1', 's2', 's3'];
const participants = refs(IDS);
const QUORUM = ['s1', 's2'];
/** Presignatures per key at each signer (config noncePool). */
const CAP = 8;

/** The state of journal entry `id` in `dataDir`, read through a second (read-only) SQLite connection. */
function nonceState(dataDir: string, id: string): string | undefined {
  return snapshot(dataDir).nonces.find((row) => row.startsWith(`${id}|`))?.split('|')[3];
}

describe('ecdsa presignature pool at the signer', () => {
  let c: FakeCoordinator;
  let cl: ClockedCluster;
  let publicKey: WirePublicKey;
  let epoch = 0;
  /** s1's journal state of the presignature its pooled share is computed from, seen from inside the computation. */
  const seenAtShare: (string | undefined)[] = [];
  const dataDir = (id: string) => cl.signers.find((s) => s.id === id)!.dataDir;

  const spy: SignerBehaviour = {
    computeSignatureShare: () => {
      throw new Error('not a FROST key');
    },
    ecdsaPooledShare: (input) => {
      seenAtShare.push(nonceState(dataDir('s1'), input.presignature));
      return input.share;
    },
  };

  const start = (message: Uint8Array, opts: { keyId?: string; path?: string; request?: ClientRequest } = {}) => {
    const keyId = opts.keyId ?? 'k1';
    const path = opts.path === undefined ? {} : { path: opts.path };
    return { keyId, epoch, message, ...path, request: opts.request ?? signRequest({ keyId, epoch, message, ...path }) };
  };

  async function refused(p: Promise<unknown>): Promise<string> {
    const e = await p.then(() => undefined, (err: unknown) => err);
    expect(e).toBeInstanceOf(SessionAborted);
    return (e as SessionAborted).body.reason;
  }

  /** Combines the quorum's pooled shares as the coordinator does and checks them with the standard verifier. */
  function verifies(presignatureId: Uint8Array, instancePoint: Uint8Array, shares: Map<string, { w: Uint8Array; u: Uint8Array; instancePoint: Uint8Array }>, message: Uint8Array, path?: string): boolean {
    const pkg = fromWirePublicKey(publicKey);
    const params: ecdsa.PooledSignParams = { presignatureId, quorum: [1, 2], instancePoint, publicKey: pkg, ...(path === undefined ? {} : { path }) };
    const { session } = ecdsa.pooledSession(params, message);
    for (const s of shares.values()) expect(bytesToHex(s.instancePoint)).toBe(bytesToHex(session.instancePoint));
    const sig = ecdsa.combineSignature(session, message, QUORUM.map((id, i) => ({ from: i + 1, w: shares.get(id)!.w, u: shares.get(id)!.u })));
    const key = path === undefined ? pkg.groupKey : deriveChild(pkg, path).groupKey;
    return secp256k1.verify(sig.signature, message, key, { prehash: false });
  }

  beforeAll(async () => {
    c = patient(await FakeCoordinator.start(), 120_000);
    // A small cap (config noncePool): the refresh test fills it.
    cl = await startClockedCluster(c, IDS, new TestClock(), { noncePool: CAP }, { s1: spy });
    publicKey = (await runKeySession(c, 'dkg', ECDSA_SUITE, participants, dkgStart('k1', ECDSA_SUITE, 2, participants))).publicKey;
    await runKeySession(c, 'dkg', ECDSA_SUITE, participants, dkgStart('k2', ECDSA_SUITE, 2, participants));
  }, 600_000);
  afterAll(async () => {
    await cl?.stop();
    await c?.close();
    removeTempDirs();
  });

  it('PRESIGN seals each presignature before PRESIGNED leaves; POOLED is answered by SHARE only once it is durably consumed, and the signature verifies (key and BIP32 child)', async () => {
    for (const path of [undefined, 'm/0/5']) {
      const { id, bodies } = await ecdsaPresign(c, QUORUM, 'k1', epoch);
      const R = bodies.get('s1')!.instancePoint;
      for (const s of QUORUM) {
        expect(bodies.get(s)).toMatchObject({ keyId: 'k1', epoch });
        expect(bytesToHex(bodies.get(s)!.instancePoint)).toBe(bytesToHex(R));
        expect(nonceState(dataDir(s), bytesToHex(id))).toBe('fresh');
      }
      const message = new Uint8Array(randomBytes(32));
      const before = seenAtShare.length;
      const shares = await ecdsaPooled(c, QUORUM, id, () => start(message, path === undefined ? {} : { path }));
      expect(seenAtShare.slice(before)).toEqual(['consumed']);
      expect(verifies(id, R, shares, message, path)).toBe(true);
      for (const s of QUORUM) expect(nonceState(dataDir(s), bytesToHex(id))).toBe('consumed');
    }
  }, 300_000);

  it('refuses the same presignature twice, and nothing is signed', async () => {
    const { id } = await ecdsaPresign(c, QUORUM, 'k1', epoch);
    await ecdsaPooled(c, QUORUM, id, () => start(new Uint8Array(randomBytes(32))));
    const before = snapshot(dataDir('s1'));
    const count = seenAtShare.length;
    expect(await refused(ecdsaPooled(c, ['s1'], id, () => start(new Uint8Array(randomBytes(32)))))).toMatch(/^NONCE_UNKNOWN\b/);
    expect(seenAtShare.length).toBe(count);
    expect(snapshot(dataDir('s1'))).toEqual(before);
  }, 300_000);

  it('refuses a presignature made for another key: nothing signed, that presignature left unused', async () => {
    const { id } = await ecdsaPresign(c, QUORUM, 'k2', 0);
    const before = snapshot(dataDir('s1'));
    expect(await refused(ecdsaPooled(c, ['s1'], id, () => start(new Uint8Array(randomBytes(32)))))).toMatch(/^NONCE_UNKNOWN\b.*of k2/);
    expect(nonceState(dataDir('s1'), bytesToHex(id))).toBe('fresh');
    expect(snapshot(dataDir('s1'))).toEqual(before);
  }, 300_000);

  it('refuses a bad request in POOLED with the START code (forged, another message, another path), consuming nothing: the presignature is discarded', async () => {
    const message = new Uint8Array(randomBytes(32));
    const good = signRequest({ keyId: 'k1', epoch, message });
    const forged = { ...good, sig: good.sig.map((b, i) => (i === 5 ? b ^ 1 : b)) };
    const cases: [ReturnType<typeof start>, RegExp][] = [
      [start(message, { request: forged }), /^BAD_SIGNATURE\b/],
      [start(new Uint8Array(randomBytes(32)), { request: good }), /^BAD_DIGEST\b/],
      [start(message, { request: good, path: 'm/1' }), /^BAD_DIGEST\b/],
    ];
    for (const [body, code] of cases) {
      const { id } = await ecdsaPresign(c, QUORUM, 'k1', epoch);
      const before = snapshot(dataDir('s1'));
      const count = seenAtShare.length;
      expect(await refused(ecdsaPooled(c, ['s1'], id, () => body))).toMatch(code);
      expect(seenAtShare.length).toBe(count);
      expect(nonceState(dataDir('s1'), bytesToHex(id))).toBe('discarded');
      const after = snapshot(dataDir('s1'));
      expect(after.requests).toEqual(before.requests);
      expect(after.nonces.filter((row) => !row.startsWith(`${bytesToHex(id)}|`))).toEqual(before.nonces.filter((row) => !row.startsWith(`${bytesToHex(id)}|`)));
    }
  }, 600_000);

  it('refuses a presignature made before a restart (discarded at start) or before the link dropped (discarded on disconnect)', async () => {
    const restarted = await ecdsaPresign(c, QUORUM, 'k1', epoch);
    await cl.restart('s1');
    expect(nonceState(dataDir('s1'), bytesToHex(restarted.id))).toBe('discarded');
    expect(await refused(ecdsaPooled(c, ['s1'], restarted.id, () => start(new Uint8Array(randomBytes(32)))))).toMatch(/^NONCE_UNKNOWN\b/);

    const dropped = await ecdsaPresign(c, QUORUM, 'k1', epoch);
    c.drop('s1');
    await c.waitFor('s1', 60_000);
    for (let i = 0; i < 200 && nonceState(dataDir('s1'), bytesToHex(dropped.id)) === 'fresh'; i++) await new Promise((r) => setTimeout(r, 50));
    expect(nonceState(dataDir('s1'), bytesToHex(dropped.id))).toBe('discarded');
    expect(await refused(ecdsaPooled(c, ['s1'], dropped.id, () => start(new Uint8Array(randomBytes(32)))))).toMatch(/^NONCE_UNKNOWN\b/);
  }, 600_000);

  it('refuses a presignature of an older epoch after a refresh; those left unused do not hold the new epoch\'s cap', async () => {
    const stale = await ecdsaPresign(c, QUORUM, 'k1', epoch);
    // Fill the key's cap at this epoch: the next PRESIGN is refused.
    let full = false;
    for (let i = 0; i <= CAP && !full; i++) full = await ecdsaPresign(c, QUORUM, 'k1', epoch).then(() => false, (e: unknown) => e instanceof SessionAborted);
    expect(full).toBe(true);
    await runKeySession(c, 'refresh', ECDSA_SUITE, participants, refreshStart('k1', epoch, participants));
    epoch += 1;
    expect(nonceState(dataDir('s1'), bytesToHex(stale.id))).toBe('discarded');
    expect(await refused(ecdsaPooled(c, ['s1'], stale.id, () => start(new Uint8Array(randomBytes(32)))))).toMatch(/^NONCE_UNKNOWN\b.*epoch 0/);
    // The new epoch presigns and signs.
    const { id, bodies } = await ecdsaPresign(c, QUORUM, 'k1', epoch);
    const message = new Uint8Array(randomBytes(32));
    const shares = await ecdsaPooled(c, QUORUM, id, () => start(message));
    expect(verifies(id, bodies.get('s1')!.instancePoint, shares, message)).toBe(true);
  }, 600_000);
});
