/**
 * The signer's side of the FROST nonce pool (docs/cluster-protocol.md "Nonce pool"),
 * through the real protocol: real daemons with their SQLite keystores over a real
 * WebSocket, driven by a coordinator fixture that may lie. POOL makes OFFERs whose
 * nonces are journalled first; POOLED (the START fields and the quorum's OFFERs) is
 * answered by SHARE in that one round, the share computed only once the nonce is
 * durably consumed (read back through a second SQLite connection from inside the
 * share computation), and the shares aggregate to a signature a standard verifier
 * accepts. Refused, with nothing signed: the same pooled commitment twice, one pooled
 * for another key or an older epoch, one made before a restart (discarded), a peer's
 * OFFER altered in relay, and a bad request (the START's own code; the claimed nonce
 * discarded, never consumed).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { aggregate, type SigningPackage } from '@keyquorum/crypto';
import { SIGN_ROUND, decodeBody, fromWirePublicKey, type ClientRequest, type Envelope, type SignOfferBody, type SignShareBody, type WirePublicKey } from '@keyquorum/protocol';
import { honestBehaviour, type SignerBehaviour } from '../src/index.ts';
import { removeTempDirs } from './helpers/cluster.ts';
import { SessionAborted, dkgStart, gather, refreshStart, refs, runKeySession, signRequest } from './helpers/drive.ts';
import { FakeCoordinator } from './helpers/fake-coordinator.ts';
import { TestClock, patient, snapshot, startClockedCluster, type ClockedCluster } from './helpers/state.ts';

const SUITE = 'frost-ed25519';
const IDS = ['s1', 's2', 's3'];
const participants = refs(IDS);
const QUORUM = ['s1', 's2'];
const POOL_SIZE = 8;

/** The state of nonce `id` in `dataDir`'s journal, read through a second (read-only) SQLite connection. */
function nonceState(dataDir: string, id: string): string | undefined {
  return snapshot(dataDir).nonces.find((row) => row.startsWith(`${id}|`))?.split('|')[3];
}

describe('FROST nonce pool at the signer', () => {
  let c: FakeCoordinator;
  let cl: ClockedCluster;
  let publicKey: WirePublicKey;
  let epoch = 0;
  /** s1's journal state of the nonce its share is computed from, seen from inside the computation. */
  const seenAtShare: (string | undefined)[] = [];
  let pendingNonce: string | undefined;
  const dataDir = (id: string) => cl.signers.find((s) => s.id === id)!.dataDir;

  const spy: SignerBehaviour = {
    computeSignatureShare: (input) => {
      if (pendingNonce !== undefined) seenAtShare.push(nonceState(dataDir('s1'), pendingNonce));
      return honestBehaviour.computeSignatureShare(input);
    },
  };

  /** OFFERs received and not yet used by a test, by signer. */
  const stash = new Map<string, Envelope[]>();
  const offerBody = (e: Envelope) => decodeBody<SignOfferBody>('sign', SIGN_ROUND.OFFER, SUITE, e.payload);

  /** One unused OFFER of `id` for `keyId` at `at`: from those received, else after a POOL asking for a top-up. */
  async function offerOf(id: string, keyId = 'k1', at = epoch): Promise<Envelope> {
    const mine = stash.get(id) ?? [];
    stash.set(id, mine);
    let asked = false;
    for (;;) {
      const i = mine.findIndex((e) => offerBody(e).keyId === keyId && offerBody(e).epoch === at);
      if (i >= 0) return mine.splice(i, 1)[0]!;
      if (!asked) c.send(id, { kind: 'sign', suite: SUITE, sessionId: randomBytes(32), round: SIGN_ROUND.POOL }, { keyId, epoch: at });
      asked = true;
      mine.push(await c.next(id, (e) => e.header.kind === 'sign' && e.header.round === SIGN_ROUND.OFFER));
    }
  }

  const quorumOffers = async (keyId = 'k1') => Promise.all(QUORUM.map((id) => offerOf(id, keyId)));

  /** POOLED to `to` with `offers`; the SHARE envelopes, or throws SessionAborted. */
  async function pooledSign(to: readonly string[], offers: Envelope[], message: Uint8Array, request?: ClientRequest, keyId = 'k1'): Promise<Map<string, Envelope[]>> {
    const sessionId = randomBytes(32);
    const start = { keyId, epoch, message, request: request ?? signRequest({ keyId, epoch, message }) };
    for (const id of to) c.send(id, { kind: 'sign', suite: SUITE, sessionId, round: SIGN_ROUND.POOLED }, { start, envelopes: offers });
    return gather(c, to, 'sign', SIGN_ROUND.SHARE);
  }

  async function refused(p: Promise<unknown>): Promise<string> {
    const e = await p.then(() => undefined, (err: unknown) => err);
    expect(e).toBeInstanceOf(SessionAborted);
    return (e as SessionAborted).body.reason;
  }

  beforeAll(async () => {
    c = patient(await FakeCoordinator.start());
    cl = await startClockedCluster(c, IDS, new TestClock(), { noncePool: POOL_SIZE }, { s1: spy });
    publicKey = (await runKeySession(c, 'dkg', SUITE, participants, dkgStart('k1', SUITE, 2, participants))).publicKey;
    await runKeySession(c, 'dkg', SUITE, participants, dkgStart('k2', SUITE, 2, participants));
  }, 180_000);
  afterAll(async () => {
    await cl?.stop();
    await c?.close();
    removeTempDirs();
  });

  it('POOL journals each nonce before its OFFER leaves; POOLED is answered by SHARE only once the nonce is durably consumed, and the signature verifies', async () => {
    const chosen = await quorumOffers();
    for (const [i, o] of chosen.entries()) {
      expect(offerBody(o)).toMatchObject({ keyId: 'k1', epoch });
      expect(nonceState(dataDir(QUORUM[i]!), bytesToHex(o.header.sessionId))).toBe('fresh');
    }
    pendingNonce = bytesToHex(chosen[0]!.header.sessionId);
    const message = new Uint8Array(randomBytes(48));
    const shares = await pooledSign(QUORUM, chosen, message);
    expect(seenAtShare).toEqual(['consumed']);
    pendingNonce = undefined;
    const pkg = fromWirePublicKey(publicKey);
    const signing: SigningPackage = {
      message,
      commitments: chosen.map((o, i) => ({ id: participants[i]!.index, ...decodeBody<SignOfferBody>('sign', SIGN_ROUND.OFFER, SUITE, o.payload) })),
    };
    const signature = aggregate(pkg, signing, QUORUM.map((id, i) => ({ id: participants[i]!.index, share: decodeBody<SignShareBody>('sign', SIGN_ROUND.SHARE, SUITE, shares.get(id)![0]!.payload).share })));
    expect(ed25519.verify(signature, message, publicKey.groupKey)).toBe(true);
  });

  it('refuses the same pooled commitment twice, and nothing is signed', async () => {
    const chosen = await quorumOffers();
    await pooledSign(QUORUM, chosen, new Uint8Array(randomBytes(32)));
    const before = snapshot(dataDir('s1'));
    expect(await refused(pooledSign(['s1'], chosen, new Uint8Array(randomBytes(32))))).toMatch(/^NONCE_(UNKNOWN|CONSUMED)\b/);
    expect(snapshot(dataDir('s1')).nonces).toEqual(before.nonces);
  });

  it('refuses a commitment pooled for another key: nothing signed, that nonce left unconsumed', async () => {
    const foreign = await offerOf('s1', 'k2');
    expect(await refused(pooledSign(['s1'], [foreign, await offerOf('s2')], new Uint8Array(randomBytes(32))))).toMatch(/^NONCE_UNKNOWN\b.*pooled for k2/);
    expect(nonceState(dataDir('s1'), bytesToHex(foreign.header.sessionId))).toBe('fresh');
  });

  it('refuses a bad request in POOLED with the START code, consuming no nonce (the claimed one is discarded)', async () => {
    const chosen = await quorumOffers();
    const message = new Uint8Array(randomBytes(32));
    const good = signRequest({ keyId: 'k1', epoch, message });
    const forged = { ...good, sig: good.sig.map((b, i) => (i === 5 ? b ^ 1 : b)) };
    const before = snapshot(dataDir('s1'));
    const atStart = await refused((async () => {
      c.send('s1', { kind: 'sign', suite: SUITE, sessionId: randomBytes(32), round: SIGN_ROUND.START }, { keyId: 'k1', epoch, message, request: forged });
      return gather(c, ['s1'], 'sign', SIGN_ROUND.COMMITMENT);
    })());
    const pooled = await refused(pooledSign(['s1'], chosen, message, forged));
    expect(atStart).toMatch(/^BAD_SIGNATURE\b/);
    expect(pooled.split(':')[0]).toBe(atStart.split(':')[0]);
    const id = bytesToHex(chosen[0]!.header.sessionId);
    expect(nonceState(dataDir('s1'), id)).toBe('discarded');
    const after = snapshot(dataDir('s1'));
    expect(after.requests).toEqual(before.requests);
    expect(after.nonces.filter((row) => !row.startsWith(`${id}|`))).toEqual(before.nonces.filter((row) => !row.startsWith(`${id}|`)));
  });

  it("refuses a POOLED whose peer OFFER was altered in relay, before consuming its own nonce", async () => {
    const [mine, peer] = await quorumOffers();
    const altered = { ...peer!, payload: (await offerOf('s2')).payload };
    expect(await refused(pooledSign(['s1'], [mine!, altered], new Uint8Array(randomBytes(32))))).toMatch(/^BAD_ENVELOPE\b/);
    expect(nonceState(dataDir('s1'), bytesToHex(mine!.header.sessionId))).toBe('discarded');
  });

  it('refuses a commitment pooled before a restart: its nonce was discarded at start', async () => {
    const chosen = await quorumOffers();
    await cl.restart('s1');
    stash.delete('s1');
    const id = bytesToHex(chosen[0]!.header.sessionId);
    expect(nonceState(dataDir('s1'), id)).toBe('discarded');
    expect(await refused(pooledSign(['s1'], chosen, new Uint8Array(randomBytes(32))))).toMatch(/^NONCE_UNKNOWN\b/);
    expect(nonceState(dataDir('s1'), id)).toBe('discarded');
  });

  it('refuses a commitment of an older epoch after a refresh (its nonce discarded at activation)', async () => {
    const stale = await offerOf('s1');
    await runKeySession(c, 'refresh', SUITE, participants, refreshStart('k1', epoch, participants));
    epoch += 1;
    const fresh = await offerOf('s2');
    expect(nonceState(dataDir('s1'), bytesToHex(stale.header.sessionId))).toBe('discarded');
    expect(await refused(pooledSign(['s1'], [stale, fresh], new Uint8Array(randomBytes(32))))).toMatch(/^NONCE_UNKNOWN\b.*epoch 0/);
  });
});
