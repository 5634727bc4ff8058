/**
 * A coordinator killed with kill -9 in the middle of a share repair (docs/cluster-protocol.md
 * "Share repair"), end to end with real processes. One 2-of-3 FROST key; signer-3 loses
 * its data directory and is re-initialised under a new identity that every node pins.
 * The repair of its share runs until every CONFIRM is in (the target stored its
 * repaired share pending and confirmed) and the coordinator dies by SIGKILL while it
 * builds the COMMIT, before its commit point (test/fixtures/crashing-coordinator.ts,
 * `repair:8`). After the restart: the helpers' shares are byte for byte what they were
 * (a repair never touches them), the audit log has no repair, and running the repair
 * again succeeds (the target drops its pending leftover at the new START); with
 * signer-1 down, signer-2 and the repaired signer-3 sign under a standard verifier; the
 * audit chain verifies.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY_ROUND } from '@keyquorum/protocol';
import { Cluster } from './support/cluster.ts';
import { checkSignature } from './support/verify.ts';
import { snapshot } from '../packages/signer/test/helpers/state.ts';

const SUITE = 'frost-ed25519';
const KEY = 'crash-repair';
const TARGET = 'signer-3';
let cluster: Cluster;

beforeAll(async () => {
  cluster = await Cluster.start({ signers: 3, initInProcess: true, coordinatorScript: 'test/fixtures/crashing-coordinator.ts' });
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
});

/** A signer's keystore rows of KEY: "epoch|state|suite|sealed bytes". */
const sharesOf = (id: string) => snapshot(cluster.dataDir(id)).shares.filter((r) => r.startsWith(`${KEY}|`)).map((r) => r.split('|').slice(1).join('|'));
const states = (id: string) => sharesOf(id).map((r) => r.split('|').slice(0, 2).join('|'));

describe('a coordinator killed with kill -9 during a share repair', () => {
  it('loses no helper share; the repair runs again and succeeds; the repaired share signs; the audit chain verifies', async () => {
    const created = await cluster.client.createKey({ keyId: KEY, suite: SUITE, threshold: 2, signers: cluster.signerIds });
    await cluster.killSigner(TARGET, 'SIGKILL');
    await cluster.repin(TARGET, await cluster.reinitSigner(TARGET));
    const helpers = { 'signer-1': sharesOf('signer-1'), 'signer-2': sharesOf('signer-2') };
    expect(Object.values(helpers).map((rows) => rows.length)).toEqual([1, 1]);
    expect(states(TARGET)).toEqual([]);

    // Dies once the target's CONFIRM is in, while building the COMMIT (before the commit point).
    fs.writeFileSync(path.join(cluster.dataDir('coordinator'), 'crash-at-round'), `repair:${KEY_ROUND.COMMIT}`);
    const dying = cluster.client.repair(KEY, TARGET).then(
      () => 'answered',
      () => 'failed',
    );
    await cluster.coordinator.exited;
    expect(await dying).toBe('failed');
    expect(states(TARGET)).toEqual(['0|pending']);

    await cluster.restartCoordinator();
    for (const id of cluster.signerIds) await cluster.waitSignerState(id, true, 60_000);
    expect({ 'signer-1': sharesOf('signer-1'), 'signer-2': sharesOf('signer-2') }).toEqual(helpers);
    expect((await cluster.client.audit(KEY)).entries.map((e) => e.event).filter((e) => e.startsWith('key.repair'))).toEqual([]);

    // Again, to the end.
    expect(await cluster.client.repair(KEY, TARGET)).toMatchObject({ id: KEY, epoch: 0, state: 'active', publicKey: created.publicKey });
    expect(states(TARGET)).toEqual(['0|active']);
    expect({ 'signer-1': sharesOf('signer-1'), 'signer-2': sharesOf('signer-2') }).toEqual(helpers);

    // signer-1 down: the signature needs signer-3's repaired share.
    await cluster.killSigner('signer-1', 'SIGTERM');
    await cluster.waitSignerState('signer-1', false);
    const message = new Uint8Array(randomBytes(32));
    const signed = await cluster.client.sign(KEY, { message });
    expect(signed.publicKey).toBe(created.publicKey);
    checkSignature(SUITE, signed, message);

    const { entries, verification } = await cluster.client.audit(KEY);
    expect(verification.ok).toBe(true);
    expect(entries.filter((e) => e.event.startsWith('key.repair')).map((e) => [e.event, e.data.signer])).toEqual([['key.repaired', TARGET]]);
    expect(entries.some((e) => e.event === 'commit.acked' && e.data.signer === TARGET && e.data.kind === 'repair')).toBe(true);
  }, 300_000);
});
