/**
 * The checks behind "a pending share is never discarded while its session may have
 * committed" (issue 10, finding 3; docs/cluster-protocol.md "Unresolved key sessions"),
 * one by one, against real signer daemons driven by a FakeCoordinator: a bare ABORT
 * after CONFIRM keeps the pending share; a VETO that proves nothing (forged, of another
 * session, from a non-participant, "from" the holder itself, of another epoch) is
 * refused BAD_VETO and changes nothing; a signer holding a share of the session, or
 * active at or past its epoch, does not veto it; a genuine VETO ends the session
 * everywhere, and the vetoing signer never stores or activates it afterwards, even
 * after a restart.
 */
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import {
  COORDINATOR_ID,
  KEY_ROUND,
  PROTOCOL_VERSION,
  encodeBody,
  generateIdentity,
  sealEnvelope,
  type Envelope,
  type IdentityKey,
} from '@keyquorum/protocol';
import { SignerDaemon } from '../src/index.ts';
import { ENV, captureLog, optionsFor, type Cluster } from './helpers/cluster.ts';
import { dkgStart, gather, refreshStart, refs, runKeySession, type KeyRun } from './helpers/drive.ts';
import type { FakeCoordinator } from './helpers/fake-coordinator.ts';
import { useFakeCluster } from './helpers/fake-cluster.ts';
import { askResolve, nextAbort, resolve } from './helpers/resolve-drive.ts';
import { snapshot } from './helpers/state.ts';

const fake = useFakeCluster();

const SUITE = 'frost-ed25519';
const KEY = 'k1';

const sharesOf = (cl: Cluster, id: string) => snapshot(cl.signers.find((s) => s.id === id)!.dataDir).shares;
const identityOf = (cl: Cluster, id: string) => cl.signers.find((s) => s.id === id)!.identity;

function vetoBy(identity: IdentityKey, from: string, sessionId: Uint8Array, body: { keyId: string; epoch: number }, kind = 'refresh'): Envelope {
  return sealEnvelope(identity, { v: PROTOCOL_VERSION, kind, suite: SUITE, sessionId, round: KEY_ROUND.VETO, from, to: COORDINATOR_ID }, encodeBody(body));
}

/** A 2-of-n key among `keyIds` (the cluster may have more signers), refreshed to CONFIRM without COMMIT. */
async function pendingRefresh(ids: string[], keyIds: string[]): Promise<{ c: FakeCoordinator; cl: Cluster; refresh: KeyRun }> {
  const { c, cl } = await fake.start(ids);
  const participants = refs(keyIds);
  await runKeySession(c, 'dkg', SUITE, participants, dkgStart(KEY, SUITE, 2, participants));
  const refresh = await runKeySession(c, 'refresh', SUITE, participants, refreshStart(KEY, 0, participants), { noCommit: true });
  return { c, cl, refresh };
}

/** START of a new refresh to `id`: refused (ABORT) while the pending share is there, else a CONTRIBUTION; the session is then ended. */
async function startAnswer(c: FakeCoordinator, id: string, keyIds: string[]): Promise<'ABORT' | 'CONTRIBUTION'> {
  c.send(id, { kind: 'refresh', suite: SUITE, sessionId: randomBytes(32), round: KEY_ROUND.START }, refreshStart(KEY, 0, refs(keyIds)));
  const e = await c.next(id, (x) => x.header.kind === 'refresh' && (x.header.round === KEY_ROUND.ABORT || x.header.round === KEY_ROUND.CONTRIBUTION), 60_000);
  c.send(id, { kind: 'refresh', suite: SUITE, sessionId: e.header.sessionId, round: KEY_ROUND.ABORT }, { reason: 'test over' });
  return e.header.round === KEY_ROUND.ABORT ? 'ABORT' : 'CONTRIBUTION';
}

/** A refresh run to CONFIRM on s1 and s2; s3 never gets its R2_DELIVER (returned), so it stores nothing and stays live in round 2. */
async function refreshWithoutS3(c: FakeCoordinator, ids: string[]) {
  const participants = refs(ids);
  const proposal = randomBytes(32);
  const start = refreshStart(KEY, 0, participants);
  for (const id of ids) c.send(id, { kind: 'refresh', suite: SUITE, sessionId: proposal, round: KEY_ROUND.START }, start);
  const contributions = [...(await gather(c, ids, 'refresh', KEY_ROUND.CONTRIBUTION)).values()].map((l) => l[0]!);
  for (const id of ids) c.send(id, { kind: 'refresh', suite: SUITE, sessionId: proposal, round: KEY_ROUND.CONTRIBUTIONS }, { envelopes: contributions });
  const r1 = [...(await gather(c, ids, 'refresh', KEY_ROUND.R1)).values()].map((l) => l[0]!);
  const sessionId = r1[0]!.header.sessionId;
  for (const id of ids) c.send(id, { kind: 'refresh', suite: SUITE, sessionId, round: KEY_ROUND.R1_DELIVER }, { envelopes: r1 });
  const r2 = [...(await gather(c, ids, 'refresh', KEY_ROUND.R2, ids.length - 1)).values()].flat();
  for (const id of ['s1', 's2']) c.send(id, { kind: 'refresh', suite: SUITE, sessionId, round: KEY_ROUND.R2_DELIVER }, { envelopes: r2.filter((e) => e.header.to === id) });
  const confirms = [...(await gather(c, ['s1', 's2'], 'refresh', KEY_ROUND.CONFIRM)).values()].map((l) => l[0]!);
  return { sessionId, confirms, heldBack: r2.filter((e) => e.header.to === 's3') };
}

describe('pending shares and vetoes', () => {
  it('a bare ABORT after CONFIRM keeps the pending share, and the next START is refused PENDING_UNRESOLVED', async () => {
    const ids = ['s1', 's2', 's3'];
    const { c, cl, refresh } = await pendingRefresh(ids, ids);
    const before = ids.map((id) => sharesOf(cl, id));
    for (const id of ids) c.send(id, { kind: 'refresh', suite: SUITE, sessionId: refresh.sessionId, round: KEY_ROUND.ABORT }, { reason: 'coordinator says so' });
    for (const id of ids) {
      c.send(id, { kind: 'refresh', suite: SUITE, sessionId: randomBytes(32), round: KEY_ROUND.START }, refreshStart(KEY, 0, refs(ids)));
      expect((await nextAbort(c, id, 'refresh', SUITE)).reason).toMatch(/^PENDING_UNRESOLVED/);
    }
    expect(ids.map((id) => sharesOf(cl, id))).toEqual(before);
    expect(before[0]!.map((r) => r.split('|')[2])).toEqual(['active', 'pending']);
  }, 300_000);

  it('a VETO that proves nothing is refused BAD_VETO and changes nothing; a holder does not veto its session', async () => {
    // s4 is pinned by every signer but is no participant of the key.
    const ids = ['s1', 's2', 's3', 's4'];
    const keyIds = ['s1', 's2', 's3'];
    const { c, cl, refresh } = await pendingRefresh(ids, keyIds);
    const x = { kind: 'refresh', suite: SUITE, sessionId: refresh.sessionId, keyId: KEY, epoch: 1 };

    // A holder of the pending share answers RESOLVE with its CONFIRM, never a VETO.
    expect((await askResolve(c, ['s2'], x)).get('s2')!.header.round).toBe(KEY_ROUND.CONFIRM);
    // A signer active at or past the session's epoch does not veto (it may have committed it).
    const stale = { ...x, sessionId: randomBytes(32), epoch: 0 };
    await expect(askResolve(c, ['s3'], stale)).rejects.toMatchObject({ body: { reason: expect.stringMatching(/^WRONG_KEY_STATE/) } });
    // A non-participant holds no share of the session: it vetoes (harmless, as shown below).
    const outsider = (await askResolve(c, ['s4'], x)).get('s4')!;
    expect(outsider.header.round).toBe(KEY_ROUND.VETO);
    // A genuine VETO, by a participant, of another session.
    const other = (await askResolve(c, ['s3'], { ...x, sessionId: randomBytes(32) })).get('s3')!;
    expect(other.header.round).toBe(KEY_ROUND.VETO);

    const forged: [string, Envelope][] = [
      ['signed by another key', vetoBy(generateIdentity(), 's2', refresh.sessionId, { keyId: KEY, epoch: 1 })],
      ['of another session', other],
      ['from a non-participant', outsider],
      ['"from" the holder itself', vetoBy(identityOf(cl, 's1'), 's1', refresh.sessionId, { keyId: KEY, epoch: 1 })],
      ['of another epoch', vetoBy(identityOf(cl, 's2'), 's2', refresh.sessionId, { keyId: KEY, epoch: 2 })],
      ['of another key', vetoBy(identityOf(cl, 's2'), 's2', refresh.sessionId, { keyId: 'k2', epoch: 1 })],
      ['not a VETO round', sealEnvelope(identityOf(cl, 's2'), { v: PROTOCOL_VERSION, kind: 'refresh', suite: SUITE, sessionId: refresh.sessionId, round: KEY_ROUND.ACK, from: 's2', to: COORDINATOR_ID }, encodeBody({ keyId: KEY, epoch: 1 }))],
    ];
    const before = sharesOf(cl, 's1');
    for (const [what, veto] of forged) {
      c.send('s1', { kind: 'refresh', suite: SUITE, sessionId: refresh.sessionId, round: KEY_ROUND.ABORT }, { reason: what, envelopes: [veto] });
      const body = await nextAbort(c, 's1', 'refresh', SUITE);
      expect({ what, reason: body.reason }).toEqual({ what, reason: expect.stringMatching(/^BAD_VETO/) });
      expect(sharesOf(cl, 's1')).toEqual(before);
    }
    // Still unresolved: the session commits with every participant's CONFIRM.
    expect(await startAnswer(c, 's1', keyIds)).toBe('ABORT');
    expect(await resolve(c, keyIds, x)).toBe('committed');
    expect(sharesOf(cl, 's1').map((r) => r.split('|').slice(1, 3).join('|'))).toEqual(['1|active']);
  }, 300_000);

  it('a participant that never stored its share vetoes: the others discard theirs, and it never stores or activates the session, even after a restart', async () => {
    const ids = ['s1', 's2', 's3'];
    const { c, cl } = await fake.start(ids, { extra: { roundTimeoutMs: 600_000 } });
    const participants = refs(ids);
    await runKeySession(c, 'dkg', SUITE, participants, dkgStart(KEY, SUITE, 2, participants));
    const { sessionId, confirms, heldBack } = await refreshWithoutS3(c, ids);
    const x = { kind: 'refresh', suite: SUITE, sessionId, keyId: KEY, epoch: 1 };
    const s3Before = sharesOf(cl, 's3');
    expect(s3Before.map((r) => r.split('|')[2])).toEqual(['active']);

    const answers = await askResolve(c, ids, x);
    expect(ids.map((id) => answers.get(id)!.header.round)).toEqual([KEY_ROUND.CONFIRM, KEY_ROUND.CONFIRM, KEY_ROUND.VETO]);
    // s3's session is still live: its shares arrive now, but it vetoed the session and stores nothing.
    c.send('s3', { kind: 'refresh', suite: SUITE, sessionId, round: KEY_ROUND.R2_DELIVER }, { envelopes: heldBack });
    expect((await nextAbort(c, 's3', 'refresh', SUITE)).reason).toMatch(/^VETOED/);
    expect(c.pending('s3').filter((e) => e.header.round === KEY_ROUND.CONFIRM)).toEqual([]);
    expect(sharesOf(cl, 's3')).toEqual(s3Before);

    // s3 restarts: its veto is durable. Asked again it gives the same VETO; a COMMIT of the session is refused.
    await cl.daemons.get('s3')!.stop();
    const s3 = cl.signers.find((s) => s.id === 's3')!;
    const restarted = new SignerDaemon(optionsFor(s3, cl.signers, c), { env: ENV, log: captureLog().log });
    fake.extra.push(restarted);
    await restarted.start();
    await c.waitFor('s3');
    const again = (await askResolve(c, ['s3'], x)).get('s3')!;
    expect(again.header.round).toBe(KEY_ROUND.VETO);
    expect(again.sig).toEqual(answers.get('s3')!.sig);
    c.send('s3', { kind: 'refresh', suite: SUITE, sessionId, round: KEY_ROUND.COMMIT }, { envelopes: confirms });
    expect((await nextAbort(c, 's3', 'refresh', SUITE)).reason).toMatch(/^VETOED/);
    expect(sharesOf(cl, 's3')).toEqual(s3Before);

    // The honest coordinator aborts with the VETO: s1 and s2 discard their pending share; the next refresh runs.
    expect(await resolve(c, ids, x)).toBe('vetoed');
    for (const id of ['s1', 's2']) expect(await startAnswer(c, id, ids)).toBe('CONTRIBUTION');
    const next = await runKeySession(c, 'refresh', SUITE, participants, refreshStart(KEY, 0, participants));
    expect(next.epoch).toBe(1);
    for (const id of ids) expect(sharesOf(cl, id).map((r) => r.split('|').slice(1, 3).join('|'))).toEqual(['1|active']);
  }, 300_000);
});
