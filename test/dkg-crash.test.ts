/**
 * The chaos harness's bug "a coordinator killed with kill -9 during a DKG leaves the
 * key pending forever" (docs/chaos.md), end to end with real processes. The
 * coordinator dies by SIGKILL at three moments of a DKG and is restarted on its
 * registry; the key then ends either active (every signer confirmed: resolved and
 * committed; it signs under a real verifier) or gone with `key.create_failed` (no
 * signer can hold a share, or one vetoed), never pending; no signer is left holding a
 * pending share of it; a createKey retry of a deleted key works; the audit chain
 * verifies. The crashing coordinator is test/fixtures/crashing-coordinator.ts (the
 * real coordinator, killed from its relay hook). The last block fails a DKG in a running
 * coordinator after its session id was derived (signer-3, test/fixtures/withholding-signer.ts,
 * loses its messages of one round): the key stays pending and is resolved the same way.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY_ROUND } from '@keyquorum/protocol';
import { Cluster } from './support/cluster.ts';
import { checkSignature } from './support/verify.ts';
import { snapshot } from '../packages/signer/test/helpers/state.ts';

const SUITE = 'frost-secp256k1-tr';
let cluster: Cluster;

beforeAll(async () => {
  // signer-3 can lose its messages of one DKG round (test/fixtures/withholding-signer.ts).
  cluster = await Cluster.start({ signers: 3, initInProcess: true, coordinatorScript: 'test/fixtures/crashing-coordinator.ts', signerScripts: { 'signer-3': 'test/fixtures/withholding-signer.ts' } });
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
});

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await probe();
    if (got !== undefined) return got;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Each signer's keystore rows of `keyId`: "epoch|state". */
const sharesOf = (keyId: string) => cluster.signerIds.map((id) => snapshot(cluster.dataDir(id)).shares.filter((r) => r.startsWith(`${keyId}|`)).map((r) => r.split('|').slice(1, 3).join('|')));

const createKey = (keyId: string) => cluster.client.createKey({ keyId, suite: SUITE, threshold: 2 });

async function signs(keyId: string): Promise<void> {
  const message = new Uint8Array(randomBytes(32));
  checkSignature(SUITE, await cluster.client.sign(keyId, { message }), message);
}

/** The registry's state of the key, or 'gone'. */
async function stateOf(keyId: string): Promise<string> {
  try {
    return (await cluster.client.getKey(keyId)).state;
  } catch (e) {
    if ((e as { code?: string }).code === 'UNKNOWN_KEY') return 'gone';
    throw e;
  }
}

async function auditOf(keyId: string) {
  const { entries, verification } = await cluster.client.audit(keyId);
  expect(verification.ok).toBe(true);
  return entries;
}

/** Starts a DKG of `keyId` that the coordinator dies in (by `kill`); waits for the death and restarts it. */
async function crashDuringDkg(keyId: string, kill: () => Promise<void>): Promise<void> {
  const dying = createKey(keyId).then(
    () => 'answered',
    () => 'failed',
  );
  await kill();
  await cluster.coordinator.exited;
  expect(await dying).toBe('failed');
}

/** The registry's state of `keyId` once it is no longer pending. */
const resolvedState = (keyId: string) => until('the pending key resolved', async () => ((await stateOf(keyId)) === 'pending' ? undefined : stateOf(keyId)));

/** The pending key was deleted (key.create_failed for `reason`) and no signer holds a share; createKey of the same id then works and signs. */
async function deletedThenCreatedAgain(keyId: string, reason: string): Promise<void> {
  const events = await auditOf(keyId);
  expect(events.map((e) => e.event)).toEqual(['key.pending', 'key.create_failed']);
  expect(String(events[1]!.data.reason)).toContain(reason);
  expect(sharesOf(keyId)).toEqual([[], [], []]);

  await createKey(keyId);
  await signs(keyId);
  expect(sharesOf(keyId)).toEqual([['0|active'], ['0|active'], ['0|active']]);
}

/** The pending key is resolved active (key.created, resolved), every signer activated its share, and it signs. */
async function resolvedAndActivated(keyId: string): Promise<void> {
  expect(await resolvedState(keyId)).toBe('active');
  await until('every signer activated its share', async () => (sharesOf(keyId).every((r) => r.join() === '0|active') ? true : undefined));
  await signs(keyId);
  const events = await auditOf(keyId);
  expect(events.map((e) => e.event).filter((e) => e.startsWith('key.') && e !== 'key.signed')).toEqual(['key.pending', 'key.created']);
  expect(events.find((e) => e.event === 'key.created')!.data).toMatchObject({ epoch: 0, resolved: true, signers: cluster.signerIds });
}

async function restart(): Promise<void> {
  await cluster.restartCoordinator();
  for (const id of cluster.signerIds) await cluster.waitSignerState(id, true, 60_000);
}

describe('a coordinator killed with kill -9 during a DKG leaves the key pending forever (fixed)', () => {
  it('killed before the session id is derived: at restart the pending key is deleted (key.create_failed), no signer holds anything, and createKey with the same id works', async () => {
    const keyId = 'crash-before-id';
    const stalled = cluster.signers.get('signer-3')!;
    // signer-3 never contributes, so the session id is never derived.
    stalled.child.kill('SIGSTOP');
    try {
      await crashDuringDkg(keyId, async () => {
        await cluster.coordinator.waitFor((l) => l.msg === 'key session started' && l.keyId === keyId, 60_000, 'DKG start');
        await cluster.coordinator.kill('SIGKILL');
      });
    } finally {
      stalled.child.kill('SIGCONT');
    }
    await restart();
    expect(await stateOf(keyId)).toBe('gone');
    await deletedThenCreatedAgain(keyId, 'restarted before the DKG derived its session id');
  }, 300_000);

  it('killed after the session id is derived but before any signer stored a share: at restart every signer vetoes, the key is deleted (key.create_failed), and createKey with the same id works', async () => {
    const keyId = 'crash-before-shares';
    fs.writeFileSync(path.join(cluster.dataDir('coordinator'), 'crash-at-round'), String(KEY_ROUND.R1_DELIVER));
    await crashDuringDkg(keyId, async () => undefined);
    await restart();
    expect(await resolvedState(keyId)).toBe('gone');
    await deletedThenCreatedAgain(keyId, 'vetoed by');
  }, 300_000);

  it('killed after every signer stored its pending share: createKey answers WRONG_STATE while a participant is offline, then every CONFIRM commits the key (key.created, resolved), which signs; no share stays pending', async () => {
    const keyId = 'crash-after-shares';
    fs.writeFileSync(path.join(cluster.dataDir('coordinator'), 'crash-at-round'), String(KEY_ROUND.COMMIT));
    await crashDuringDkg(keyId, async () => undefined);
    expect(sharesOf(keyId)).toEqual([['0|pending'], ['0|pending'], ['0|pending']]);
    // signer-3 stays away, so the session cannot be resolved yet.
    await cluster.killSigner('signer-3', 'SIGTERM');
    await cluster.restartCoordinator();
    for (const id of ['signer-1', 'signer-2']) await cluster.waitSignerState(id, true, 60_000);
    expect(await stateOf(keyId)).toBe('pending');
    await expect(createKey(keyId)).rejects.toMatchObject({ code: 'WRONG_STATE', status: 409, message: expect.stringContaining('being resolved') });

    await cluster.startSigner('signer-3');
    await resolvedAndActivated(keyId);
    await expect(createKey(keyId)).rejects.toMatchObject({ code: 'KEY_EXISTS' });
  }, 300_000);

  it('does not activate a resolved DKG whose confirmed package does not match the pending record (here its threshold): the key stays pending', async () => {
    const keyId = 'crash-mismatch';
    fs.writeFileSync(path.join(cluster.dataDir('coordinator'), 'crash-at-round'), String(KEY_ROUND.COMMIT));
    await crashDuringDkg(keyId, async () => undefined);
    expect(sharesOf(keyId)).toEqual([['0|pending'], ['0|pending'], ['0|pending']]);
    // The registry's record of the pending key says threshold 3; the signers' DKG ran with 2.
    const db = new Database(path.join(cluster.dataDir('coordinator'), 'registry.db'));
    try {
      expect(db.prepare("UPDATE keys SET threshold = 3 WHERE id = ? AND state = 'pending'").run(keyId).changes).toBe(1);
    } finally {
      db.close();
    }
    await restart();
    await cluster.coordinator.waitFor((l) => l.msg === 'unresolved DKG: the confirmed package does not fit the pending key' && l.keyId === keyId, 60_000, 'mismatch refused');
    expect(await stateOf(keyId)).toBe('pending');
    expect((await auditOf(keyId)).map((e) => e.event)).toEqual(['key.pending']);
  }, 300_000);
});

describe('a DKG that fails in a running coordinator after its session id was derived is resolved, not dropped', () => {
  const withhold = (round: number) => fs.writeFileSync(path.join(cluster.dataDir('signer-3'), 'withhold-round'), String(round));
  const release = () => fs.rmSync(path.join(cluster.dataDir('signer-3'), 'withhold-round'), { force: true });

  it("a CONFIRM that never arrives (every signer stored its share): the key stays pending (a retry answers WRONG_STATE), and once the CONFIRM comes, it is activated (key.created, resolved) and signs; no share stays pending", async () => {
    const keyId = 'late-confirm';
    withhold(KEY_ROUND.CONFIRM);
    try {
      await expect(createKey(keyId)).rejects.toMatchObject({ code: 'TIMEOUT' });
      expect(sharesOf(keyId)).toEqual([['0|pending'], ['0|pending'], ['0|pending']]);
      expect(await stateOf(keyId)).toBe('pending');
      await expect(createKey(keyId)).rejects.toMatchObject({ code: 'WRONG_STATE', status: 409, message: expect.stringContaining('being resolved') });
      expect((await auditOf(keyId)).map((e) => e.event)).toEqual(['key.pending']);
    } finally {
      release();
    }
    // signer-3 reconnects: it is asked again and answers its stored CONFIRM.
    await cluster.killSigner('signer-3', 'SIGTERM');
    await cluster.startSigner('signer-3');
    await resolvedAndActivated(keyId);
  }, 300_000);

  it('an R2 that never arrives (no signer stored a share): every signer vetoes, the key is deleted (key.create_failed, vetoed), and a retry works', async () => {
    const keyId = 'lost-r2';
    withhold(KEY_ROUND.R2);
    try {
      // The coordinator's R2 round and the other signers' wait for R2 run out after the same
      // round timeout: whichever fires first names the failure (TIMEOUT, or SESSION_FAILED
      // from a signer's ABORT; seen under CI load). Either way no signer stored a share.
      await expect(createKey(keyId)).rejects.toMatchObject({ code: expect.stringMatching(/^(TIMEOUT|SESSION_FAILED)$/) });
      expect(await resolvedState(keyId)).toBe('gone');
    } finally {
      release();
    }
    await deletedThenCreatedAgain(keyId, 'vetoed by');
  }, 300_000);
});
