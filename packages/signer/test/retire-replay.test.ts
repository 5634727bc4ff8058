/**
 * Retirement approvals are bound to one client request and expire with it (issue 10,
 * finding 4): a coordinator replaying the APPROVEs of an aborted retirement in a later
 * COMMIT, or attaching them to another request, wipes no share. Three real signer
 * daemons over real WebSockets, driven by a FakeCoordinator playing the lying
 * coordinator; the signers' clock is the test's, so "a minute later" needs no sleep.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import { RETIRE_ROUND, retireDigest, signClientRequest, type ClientRequest, type Envelope } from '@keyquorum/protocol';
import { DEFAULT_MAX_SKEW_MS } from '@keyquorum/protocol';
import { adminClient } from './helpers/cluster.ts';
import { SessionAborted, dkgStart, gather, refs, runKeySession, runSign } from './helpers/drive.ts';
import type { FakeCoordinator } from './helpers/fake-coordinator.ts';
import { useFakeCluster } from './helpers/fake-cluster.ts';

const fake = useFakeCluster();

const IDS = ['s1', 's2', 's3'];
const SUITE = 'frost-ed25519';
const KEY = 'k-retire';
const participants = refs(IDS);

/** The signers' clock: real time plus what the test has skipped. */
let skipped = 0;
const now = () => Date.now() + skipped;

async function setup(): Promise<FakeCoordinator> {
  skipped = 0;
  const { c } = await fake.start(IDS, { now });
  await runKeySession(c, 'dkg', SUITE, participants, dkgStart(KEY, SUITE, 2, participants));
  return c;
}

const retireRequest = (): ClientRequest => signClientRequest(adminClient, { op: 'retire', keyId: KEY, digest: retireDigest({ keyId: KEY }), timestamp: now() });

/** START of a retirement to `approvers`; their APPROVE envelopes. */
async function approvals(c: FakeCoordinator, proposal: Uint8Array, request: ClientRequest, approvers: readonly string[]): Promise<Envelope[]> {
  for (const id of approvers) c.send(id, { kind: 'retire', suite: SUITE, sessionId: proposal, round: RETIRE_ROUND.START }, { keyId: KEY, epoch: 0, request });
  return [...(await gather(c, approvers, 'retire', RETIRE_ROUND.APPROVE)).values()].map((l) => l[0]!);
}

/** Sends each of `to` the COMMIT; every one must refuse it (ABORT), none may attest. */
async function refused(c: FakeCoordinator, proposal: Uint8Array, body: { request: ClientRequest; envelopes: Envelope[] }, to: readonly string[]): Promise<string[]> {
  for (const id of to) c.send(id, { kind: 'retire', suite: SUITE, sessionId: proposal, round: RETIRE_ROUND.COMMIT }, body);
  const reasons: string[] = [];
  for (const id of to) {
    const e = await gather(c, [id], 'retire', RETIRE_ROUND.ATTEST).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e, `${id} attested a destruction`).toBeInstanceOf(SessionAborted);
    reasons.push((e as SessionAborted).body.reason);
  }
  return reasons;
}

/** Every signer still holds its share: each pair still signs. */
async function everyShareKept(c: FakeCoordinator): Promise<void> {
  for (const quorum of [['s1', 's2'], ['s2', 's3']]) {
    const signed = await runSign(c, SUITE, quorum, { keyId: KEY, epoch: 0, message: sha256(utf8ToBytes(quorum.join())) });
    expect(signed.shares).toHaveLength(2);
  }
}

describe('retirement approvals expire with their request', () => {
  it('a COMMIT replaying the APPROVEs of an aborted retirement a minute later wipes no share, not even on the signer that never saw the request', async () => {
    const c = await setup();
    const proposal = randomBytes(32);
    const request = retireRequest();
    const envelopes = await approvals(c, proposal, request, ['s1', 's2']);
    for (const id of ['s1', 's2']) c.send(id, { kind: 'retire', suite: SUITE, sessionId: proposal, round: RETIRE_ROUND.ABORT }, { reason: 'retirement failed' });
    skipped = DEFAULT_MAX_SKEW_MS + 1_000;
    const reasons = await refused(c, proposal, { request, envelopes }, IDS);
    for (const r of reasons) expect(r).toMatch(/^(STALE|WRONG_KEY_STATE)/);
    skipped = 0;
    await everyShareKept(c);
  }, 60_000);

  it('approvals older than the request freshness window are refused, even for a retirement never aborted', async () => {
    const c = await setup();
    const proposal = randomBytes(32);
    const request = retireRequest();
    const envelopes = await approvals(c, proposal, request, ['s1', 's2']);
    skipped = DEFAULT_MAX_SKEW_MS + 1_000;
    const reasons = await refused(c, proposal, { request, envelopes }, IDS);
    for (const r of reasons) expect(r).toMatch(/^STALE/);
    skipped = 0;
    await everyShareKept(c);
  }, 60_000);

  it('a retirement aborted is void: its COMMIT, sent at once, is refused by the signers that were told', async () => {
    const c = await setup();
    const proposal = randomBytes(32);
    const request = retireRequest();
    const envelopes = await approvals(c, proposal, request, ['s1', 's2']);
    for (const id of ['s1', 's2']) c.send(id, { kind: 'retire', suite: SUITE, sessionId: proposal, round: RETIRE_ROUND.ABORT }, { reason: 'retirement failed' });
    const reasons = await refused(c, proposal, { request, envelopes }, ['s1', 's2']);
    for (const r of reasons) expect(r).toMatch(/void/);
    await everyShareKept(c);
  }, 60_000);

  it('APPROVEs of one retire request do not retire the key under another request of it (approvals bound to the request), on a signer that never saw either', async () => {
    const c = await setup();
    const proposal = randomBytes(32);
    const approved = retireRequest();
    const envelopes = await approvals(c, proposal, approved, ['s1', 's2']);
    const other = retireRequest();
    const reasons = await refused(c, proposal, { request: other, envelopes }, ['s3']);
    expect(reasons[0]).toMatch(/approved another retirement/);
    await everyShareKept(c);
  }, 60_000);

  it('an honest retirement inside the window still wipes every share, with attestations', async () => {
    const c = await setup();
    const proposal = randomBytes(32);
    const request = retireRequest();
    const envelopes = await approvals(c, proposal, request, ['s1', 's2']);
    for (const id of IDS) c.send(id, { kind: 'retire', suite: SUITE, sessionId: proposal, round: RETIRE_ROUND.COMMIT }, { request, envelopes });
    const attests = await gather(c, IDS, 'retire', RETIRE_ROUND.ATTEST);
    expect([...attests.keys()].sort()).toEqual(IDS);
  }, 60_000);
});
