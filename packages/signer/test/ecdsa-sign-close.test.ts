/**
 * An ecdsa-secp256k1 signing's rounds run on the signer's crypto worker
 * (`schemes/ecdsa-sign-rounds.ts`), which holds the session's secret round state. Here
 * real signer daemons over real WebSockets (the FakeCoordinator plays the coordinator)
 * show that the worker never keeps a session the signer has closed: after a signature,
 * and after an ABORT sent while round 2 may still run on the worker, every signer's
 * `cryptoJobsOpen` and `cryptoCallsRunning` gauges fall back to 0; the ABORT discards
 * the journalled nonce; and the pair then signs again. A frame that arrives while the
 * previous round still runs on the worker waits its turn instead of being refused.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from '@noble/hashes/utils.js';
import { BROADCAST, ECDSA_SIGN_ROUND, ECDSA_SUITE } from '@keyquorum/protocol';
import type { Cluster } from './helpers/cluster.ts';
import type { FakeCoordinator } from './helpers/fake-coordinator.ts';
import { dkgStart, gather, refs, runKeySession, signRequest } from './helpers/drive.ts';
import { ecdsaSign, ecdsaToRound1 } from './helpers/ecdsa-drive.ts';
import { useFakeCluster } from './helpers/fake-cluster.ts';

// One pair and one DKG for the file (an ecdsa-secp256k1 DKG is seconds of CPU): each test
// signs with the same key, and looks only at what its own sessions logged.
const fake = useFakeCluster({ scope: 'file' });

const IDS = ['s1', 's2'];
const KEY = 'eth-close';
const participants = refs(IDS);
const R = ECDSA_SIGN_ROUND;

/** Waits until every daemon's crypto gauges read 0 (the session close runs right after its last frame). */
async function workersHoldNothing(cl: Cluster): Promise<void> {
  const idle = () => [...cl.daemons.values()].every((d) => d.metrics().cryptoJobsOpen === 0 && d.metrics().cryptoCallsRunning === 0);
  for (let i = 0; i < 600 && !idle(); i++) await new Promise((r) => setTimeout(r, 50));
  for (const d of cl.daemons.values()) expect(d.metrics()).toMatchObject({ cryptoJobsOpen: 0, cryptoCallsRunning: 0 });
}

const start = (message: Uint8Array) => ({ keyId: KEY, epoch: 0, message, request: signRequest({ keyId: KEY, epoch: 0, message }) });

describe('ecdsa-secp256k1 signing sessions on the crypto worker', () => {
  let c: FakeCoordinator;
  let cl: Cluster;
  let groupKey: Uint8Array;
  beforeAll(async () => {
    ({ c, cl } = await fake.start(IDS, { extra: { cryptoWorkers: 1 } }));
    groupKey = (await runKeySession(c, 'dkg', ECDSA_SUITE, participants, dkgStart(KEY, ECDSA_SUITE, 2, participants))).publicKey.groupKey;
  }, 300_000);
  /** Each signer's log lines from now on (what this test's sessions logged). */
  const logsFromNow = () => {
    const from = new Map(IDS.map((id) => [id, cl.logs.get(id)!.length]));
    return (id: string) => cl.logs.get(id)!.slice(from.get(id));
  };

  it('a finished and an aborted signing leave nothing open on the workers; the ABORT discards the nonce; the pair signs again', async () => {
    const logs = logsFromNow();
    await workersHoldNothing(cl);

    await expect(ecdsaSign(c, participants, groupKey, start(randomBytes(32)))).resolves.toHaveLength(64);
    await workersHoldNothing(cl);

    // Round 1 done (nonces journalled), R1_DELIVER sent, and at once an ABORT: round 2 may still run on the worker.
    const aborted = start(randomBytes(32));
    const { r1 } = await ecdsaToRound1(c, IDS, () => aborted);
    const all = [...r1.values()].flat();
    const sessionId = all[0]!.header.sessionId;
    for (const id of IDS) {
      c.send(id, { kind: 'sign', suite: ECDSA_SUITE, sessionId, round: R.R1_DELIVER }, { envelopes: all.filter((e) => e.header.from !== id && (e.header.to === BROADCAST || e.header.to === id)) });
      c.send(id, { kind: 'sign', suite: ECDSA_SUITE, sessionId, round: R.ABORT }, { reason: 'aborted by the test' });
    }
    for (const id of IDS) {
      for (let i = 0; i < 600 && !logs(id).some((l) => l.msg === 'nonce discarded'); i++) await new Promise((r) => setTimeout(r, 50));
      expect(logs(id).filter((l) => l.msg === 'nonce discarded')).toEqual([expect.objectContaining({ keyId: KEY, reason: 'aborted' })]);
    }
    await workersHoldNothing(cl);

    await expect(ecdsaSign(c, participants, groupKey, start(randomBytes(32)))).resolves.toHaveLength(64);
    await workersHoldNothing(cl);
  }, 300_000);

  it('R2_DELIVER arriving while this signer\'s round 2 still runs on the worker waits its turn: the signer answers with its SHARE', async () => {
    const logs = logsFromNow();
    const message = randomBytes(32);
    const body = start(message);
    const { r1 } = await ecdsaToRound1(c, IDS, () => body);
    const all = [...r1.values()].flat();
    const sessionId = all[0]!.header.sessionId;
    const deliver1 = (id: string) => ({ envelopes: all.filter((e) => e.header.from !== id && (e.header.to === BROADCAST || e.header.to === id)) });
    // s2 goes first; once its R2 is in, s1 gets R1_DELIVER and R2_DELIVER back to back (one socket read).
    c.send('s2', { kind: 'sign', suite: ECDSA_SUITE, sessionId, round: R.R1_DELIVER }, deliver1('s2'));
    const fromS2 = (await gather(c, ['s2'], 'sign', R.R2)).get('s2')!;
    c.send('s1', { kind: 'sign', suite: ECDSA_SUITE, sessionId, round: R.R1_DELIVER }, deliver1('s1'));
    c.send('s1', { kind: 'sign', suite: ECDSA_SUITE, sessionId, round: R.R2_DELIVER }, { envelopes: fromS2 });
    const fromS1 = (await gather(c, ['s1'], 'sign', R.R2)).get('s1')!;
    c.send('s2', { kind: 'sign', suite: ECDSA_SUITE, sessionId, round: R.R2_DELIVER }, { envelopes: fromS1 });
    const shares = await gather(c, IDS, 'sign', R.SHARE);
    expect([...shares.keys()].sort()).toEqual(IDS);
    expect(logs('s1').filter((l) => l.msg === 'frame refused')).toEqual([]);
    await workersHoldNothing(cl);
    // The pair signs again (nothing of the session lingers).
    await expect(ecdsaSign(c, participants, groupKey, start(randomBytes(32)))).resolves.toHaveLength(64);
  }, 300_000);
});
