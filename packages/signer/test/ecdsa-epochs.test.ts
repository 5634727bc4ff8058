/**
 * A coordinator telling two ECDSA signers different epochs for one authorised signing
 * (issue 10, finding 2): it withholds one refresh COMMIT, then starts a signing telling
 * s1 the new epoch and s2 the old one (1 and 0 in the first case, 2 and 1 in the second,
 * on the same key). The sign digest binds the epoch and the session id
 * binds the key state each signer holds (epoch, public package hash), so the mismatch
 * shows before any OT message is processed, names no culprit and bans no one; an
 * honest coordinator afterwards signs with the same pair. Real signer daemons over
 * real WebSockets; the FakeCoordinator plays the lying coordinator.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import { BROADCAST, ECDSA_SIGN_ROUND, ECDSA_SUITE, KEY_ROUND, decodeBody, type AbortBody, type ClientRequest, type Envelope } from '@keyquorum/protocol';
import type { Cluster } from './helpers/cluster.ts';
import { dkgStart, gather, refreshStart, refs, runKeySession, signRequest } from './helpers/drive.ts';
import { ecdsaSign, ecdsaToRound1 } from './helpers/ecdsa-drive.ts';
import type { FakeCoordinator } from './helpers/fake-coordinator.ts';
import { useFakeCluster } from './helpers/fake-cluster.ts';

// One cluster and one DKG for the file (an ecdsa-secp256k1 DKG is seconds of CPU); each case
// splits the key's current epoch itself with a refresh whose COMMIT it withholds.
const fake = useFakeCluster({ scope: 'file' });

const IDS = ['s1', 's2', 's3'];
const KEY = 'eth-split';
const participants = refs(IDS);
const R = ECDSA_SIGN_ROUND;

/** The 2-of-3 ecdsa key, at `epoch` on every signer, refreshed to epoch + 1 on s1 only: the COMMIT to s2 and s3 is withheld. */
async function splitEpochs(c: FakeCoordinator, epoch: number) {
  const refresh = await runKeySession(c, 'refresh', ECDSA_SUITE, participants, refreshStart(KEY, epoch, participants), { noCommit: true });
  c.send('s1', { kind: 'refresh', suite: ECDSA_SUITE, sessionId: refresh.sessionId, round: KEY_ROUND.COMMIT }, { envelopes: refresh.confirms });
  await gather(c, ['s1'], 'refresh', KEY_ROUND.ACK);
  return refresh;
}

/** Each signer's next frame of the signing: its R2 (an OT message processed) or its ABORT. */
async function r2OrAbort(c: FakeCoordinator, id: string): Promise<Envelope> {
  return c.next(id, (e) => e.header.kind === 'sign' && (e.header.round === R.R2 || e.header.round === R.ABORT), 30_000);
}

function banned(cl: Cluster): unknown[] {
  return [...cl.logs.values()].flatMap((lines) => lines.filter((l) => l.msg === 'peer banned for key'));
}

/**
 * The lying signing: s1 is told its epoch (`epoch` + 1), s2 its own (`epoch`), each with a
 * genuine client request for what it is told. Each gets the other's round-1 messages under its own session id.
 */
async function lyingSigning(c: FakeCoordinator, epoch: number, requests: Record<string, ClientRequest>, message: Uint8Array): Promise<Map<string, Envelope>> {
  const epochOf: Record<string, number> = { s1: epoch + 1, s2: epoch };
  const quorum = ['s1', 's2'];
  const started = ecdsaToRound1(c, quorum, (id) => ({ keyId: KEY, epoch: epochOf[id], message, request: requests[id] }));
  const outcome = new Map<string, Envelope>();
  let r1: Map<string, Envelope[]>;
  try {
    ({ r1 } = await started);
  } catch {
    // A signer refused before round 1 (the digest binds the epoch): nothing of the session left it.
    return outcome;
  }
  for (const id of quorum) {
    const own = r1.get(id)!;
    const other = [...r1.entries()].filter(([s]) => s !== id).flatMap(([, l]) => l).filter((e) => e.header.to === BROADCAST || e.header.to === id);
    c.send(id, { kind: 'sign', suite: ECDSA_SUITE, sessionId: own[0]!.header.sessionId, round: R.R1_DELIVER }, { envelopes: other });
  }
  for (const id of quorum) outcome.set(id, await r2OrAbort(c, id));
  const r2 = [...outcome.values()].filter((e) => e.header.round === R.R2);
  if (r2.length === quorum.length) {
    // Today's code: the pair went on to the OT rounds; finish them so the mismatch shows.
    for (const id of quorum) {
      c.send(id, { kind: 'sign', suite: ECDSA_SUITE, sessionId: outcome.get(id)!.header.sessionId, round: R.R2_DELIVER }, { envelopes: r2.filter((e) => e.header.to === id) });
    }
    for (const id of quorum) await c.next(id, (e) => e.header.kind === 'sign' && e.header.round === R.ABORT, 30_000);
  }
  return outcome;
}

describe('a coordinator telling two ECDSA signers different epochs', () => {
  let c: FakeCoordinator;
  let cl: Cluster;
  let groupKey: Uint8Array;
  /** The epoch every signer holds when a case starts (each case moves it on by one). */
  let epoch = 0;
  beforeAll(async () => {
    ({ c, cl } = await fake.start(IDS));
    groupKey = (await runKeySession(c, 'dkg', ECDSA_SUITE, participants, dkgStart(KEY, ECDSA_SUITE, 2, participants))).publicKey.groupKey;
  }, 300_000);

  it.each([
    ['one authorised request for the newer epoch (the signer at the older one recomputes another digest)', 'one'],
    ['two genuine requests, one per epoch (the session ids differ)', 'two'],
  ])('with %s: no OT message is processed, nobody is banned, and an honest coordinator then signs with the pair', async (_name, variant) => {
    const refresh = await splitEpochs(c, epoch);
    const bannedBefore = banned(cl).length;
    const message = sha256(utf8ToBytes('pay 1 ETH'));
    const forNewer = signRequest({ keyId: KEY, epoch: epoch + 1, message });
    const requests = { s1: forNewer, s2: variant === 'one' ? forNewer : signRequest({ keyId: KEY, epoch, message }) };

    const outcome = await lyingSigning(c, epoch, requests, message);
    // Neither signer sent a round-2 message (it would be an OT message computed from the other's).
    for (const e of outcome.values()) {
      expect(e.header.round).toBe(R.ABORT);
      const body = decodeBody<AbortBody>('sign', R.ABORT, ECDSA_SUITE, e.payload);
      expect(body.culprits ?? []).toEqual([]);
    }
    expect(IDS.flatMap((id) => c.pending(id)).filter((e) => e.header.kind === 'sign' && e.header.round === R.R2)).toEqual([]);
    expect(banned(cl).slice(bannedBefore)).toEqual([]);

    // The honest coordinator delivers the withheld COMMIT; the same pair signs at the new epoch.
    for (const id of ['s2', 's3']) c.send(id, { kind: 'refresh', suite: ECDSA_SUITE, sessionId: refresh.sessionId, round: KEY_ROUND.COMMIT }, { envelopes: refresh.confirms });
    await gather(c, ['s2', 's3'], 'refresh', KEY_ROUND.ACK);
    const honest = sha256(utf8ToBytes('pay 2 ETH'));
    epoch += 1;
    const start = { keyId: KEY, epoch, message: honest, request: signRequest({ keyId: KEY, epoch, message: honest }) };
    await expect(ecdsaSign(c, participants.filter((p) => p.signer !== 's3'), groupKey, start)).resolves.toHaveLength(64);
  }, 180_000);
});
