/**
 * The coordinator schedules the refreshes a key's policy asks for (docs/governance.md
 * "Scheduled refresh"; src/refresh-schedule.ts): with its clock moved past the current
 * epoch's time + periodSeconds it starts one refresh START `scheduled: true` with the
 * key's participants, and none before; the refresh is audited with `scheduled: true`.
 * A missing signer makes it fail (audited) and back off until the clock passes the
 * backoff. Fake signers (fake-signer.ts) run the refresh without judging whether it
 * is due: that is the real signer's check (packages/signer/test/scheduled-refresh.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyDigest, policyRequestDigest, parsePolicy, signClientRequest } from '@keyquorum/protocol';
import { SCHEDULED_REFRESH_BACKOFF_MS } from '../src/constants.ts';
import { eventually, startCluster, type Cluster } from './helpers.ts';

const KEY = 'k-scheduled';
const IDS = ['s1', 's2', 's3'];
const CHECK_MS = 50;
const PERIOD_S = 60;
/** The coordinator's clock runs `skew` ms ahead of the test's. */
let skew = 0;
let c: Cluster;

const audit = async (event: string) => (await c.coordinator.audit(KEY)).filter((e) => e.event === event);
const scheduledStarts = () => c.signers.map((s) => s.scheduledRefreshStarts);
/** Lets the engine run many refresh checks (it checks every CHECK_MS). */
const severalChecks = () => new Promise((resolve) => setTimeout(resolve, 20 * CHECK_MS));

beforeAll(async () => {
  c = await startCluster(IDS, { options: { now: () => Date.now() + skew, refreshCheckMs: CHECK_MS } });
  const request = c.request('createKey', KEY, createKeyDigest({ keyId: KEY, suite: 'frost-ed25519', threshold: 2, signers: IDS }));
  await c.coordinator.createKey({ request, keyId: KEY, suite: 'frost-ed25519', threshold: 2, signers: IDS });
  await eventually(async () => (await audit('commit.acked')).length === 3, 30_000);
}, 60_000);
afterAll(async () => c?.stop());

describe('scheduled refresh at the coordinator', () => {
  it('starts nothing for a key without a refresh rule, however old', async () => {
    skew = 10 * PERIOD_S * 1000;
    try {
      await severalChecks();
      expect(scheduledStarts()).toEqual([0, 0, 0]);
      expect((await c.coordinator.getKey(KEY)).epoch).toBe(0);
    } finally {
      skew = 0;
    }
  });

  it('with a refresh rule: nothing before the period, one scheduled refresh once due (audited scheduled: true), then nothing until due again', async () => {
    const policy = { format: 1, version: 1, refresh: { periodSeconds: PERIOD_S, graceSeconds: 0 } };
    const request = signClientRequest(c.admin, { op: 'policy', keyId: KEY, digest: policyRequestDigest({ keyId: KEY, policy: parsePolicy(policy) }) });
    await c.coordinator.setPolicy({ keyId: KEY, policy, request });
    skew = (PERIOD_S - 5) * 1000;
    await severalChecks();
    expect(scheduledStarts()).toEqual([0, 0, 0]);
    expect((await c.coordinator.getKey(KEY)).epoch).toBe(0);

    skew = (PERIOD_S + 1) * 1000;
    await eventually(async () => (await audit('key.refreshed')).length === 1, 30_000);
    expect((await audit('key.refreshed'))[0]!.data).toMatchObject({ fromEpoch: 0, epoch: 1, scheduled: true });
    expect((await c.coordinator.getKey(KEY)).epoch).toBe(1);
    expect(scheduledStarts()).toEqual([1, 1, 1]);
    await eventually(() => c.signers.every((s) => s.keys.get(KEY)?.epoch === 1), 30_000);

    // The new epoch is due a period after it was made (coordinator's clock): not yet.
    await severalChecks();
    expect(scheduledStarts()).toEqual([1, 1, 1]);
    expect(await audit('key.refresh_failed')).toEqual([]);
  });

  it('a missing signer: the attempt fails (audited scheduled: true) and is retried only after the backoff', async () => {
    const s3 = c.signers.find((s) => s.id === 's3')!;
    await s3.close();
    await eventually(async () => !(await c.coordinator.listSigners()).find((s) => s.id === 's3')!.connected, 10_000);
    skew = (2 * PERIOD_S + 2) * 1000;
    await eventually(async () => (await audit('key.refresh_failed')).length === 1, 30_000);
    expect((await audit('key.refresh_failed'))[0]!.data).toMatchObject({ epoch: 1, code: 'NOT_ENOUGH_SIGNERS', scheduled: true });
    await severalChecks();
    expect(await audit('key.refresh_failed')).toHaveLength(1);

    await s3.connect();
    await eventually(async () => (await c.coordinator.listSigners()).find((s) => s.id === 's3')!.connected, 10_000);
    await severalChecks();
    // Still inside the backoff: no new attempt although every signer is back.
    expect(await audit('key.refresh_failed')).toHaveLength(1);
    expect(await audit('key.refreshed')).toHaveLength(1);

    skew += SCHEDULED_REFRESH_BACKOFF_MS.first + 1000;
    await eventually(async () => (await audit('key.refreshed')).length === 2, 30_000);
    expect((await audit('key.refreshed'))[1]!.data).toMatchObject({ fromEpoch: 1, epoch: 2, scheduled: true });
    expect((await c.coordinator.getKey(KEY)).epoch).toBe(2);
  });
});
