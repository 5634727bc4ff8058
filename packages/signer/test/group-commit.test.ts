/**
 * Group commit of the keystore's hot durable steps (keystore/group-commit.ts; issue 13
 * lever 3), on real SQLite files, every "is it durable?" read through a SECOND
 * connection: steps of one event-loop turn commit in one transaction (counted, never
 * timed); nothing waiting on them runs before that commit is readable from outside; a
 * step that fails is rolled back alone; a COMMIT that fails (a deferred foreign key,
 * real SQLite) fails every waiter and leaves nothing; another write commits the batch
 * first; two steps racing for one nonce or one request in a batch: the second refused
 * at once. Then through real daemons (fake coordinator, real WebSocket) with a wide
 * window (200 ms, so that a frame sent too early would be seen): OFFER and SHARE leave
 * only once their journal writes are readable from outside, and a second SIGN to a
 * session waiting for its commit is refused without a second consume.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { bytesToHex } from '@noble/hashes/utils.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CONTROL_ROUND, SIGN_ROUND, decodeBody, type Envelope } from '@keyquorum/protocol';
import { honestBehaviour, type SignerBehaviour } from '../src/index.ts';
import { Keystore, SCRYPT_N_MIN } from '../src/keystore/index.ts';
import { GroupCommit } from '../src/keystore/group-commit.ts';
import { SignerError } from '../src/errors.ts';
import { removeTempDirs } from './helpers/cluster.ts';
import { dkgStart, gather, refs, runKeySession, signRequest } from './helpers/drive.ts';
import { FakeCoordinator } from './helpers/fake-coordinator.ts';
import { TestClock, patient, snapshot, startClockedCluster, type ClockedCluster } from './helpers/state.ts';

const PASSPHRASE = 'group commit passphrase';
const dirs: string[] = [];
const opened: Keystore[] = [];

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyquorum-group-'));
  dirs.push(dir);
  return dir;
}

afterEach(() => {
  for (const ks of opened.splice(0)) ks.close();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A keystore holding an active share of k1 at epoch 0, reopened with group commit. */
function groupKeystore(): Keystore {
  const dataDir = tempDir();
  const made = Keystore.create({ dataDir, kek: { passphrase: PASSPHRASE }, signerId: 'signer-1', scryptN: SCRYPT_N_MIN });
  made.putPending('k1', 0, 'frost-ed25519', new Uint8Array(randomBytes(32)), new Uint8Array(randomBytes(33)));
  made.activate('k1', 0);
  made.close();
  const ks = Keystore.open({ dataDir, kek: { passphrase: PASSPHRASE }, groupCommitMs: 0 });
  opened.push(ks);
  return ks;
}

/** The journal state of nonce `id`, read through a second connection (only what is committed). */
const stateOf = (ks: Keystore, id: string) => snapshot(ks.dataDir).nonces.find((r) => r.startsWith(`${id}|`))?.split('|')[3];
const requestsOf = (ks: Keystore) => snapshot(ks.dataDir).requests;
const secret = () => new Uint8Array(randomBytes(64));
const nonceHex = () => bytesToHex(randomBytes(16));
const CLIENT = bytesToHex(randomBytes(32));

describe('keystore group commit', () => {
  it('commits the steps of one event-loop turn in one transaction, readable from a second connection only then', async () => {
    const ks = groupKeystore();
    const before = ks.commits.stats!;
    const ids = Array.from({ length: 8 }, () => nonceHex());
    for (const id of ids) ks.storeNonce(id, 'k1', 0, secret());
    expect(ks.admitRequest({ clientKeyHex: CLIENT, nonces: [nonceHex()], stamp: Date.now() })).toBe(true);
    // Not committed yet: a second connection sees none of them.
    expect(ids.map((id) => stateOf(ks, id))).toEqual(ids.map(() => undefined));
    await ks.commits.whenDurable();
    expect(ids.map((id) => stateOf(ks, id))).toEqual(ids.map(() => 'fresh'));
    expect(requestsOf(ks)).toHaveLength(1);
    const after = ks.commits.stats!;
    expect(after.commits - before.commits).toBe(1);
    expect(after.steps - before.steps).toBe(9);
  });

  it('runs a waiter only once its step is committed: the consume is readable from a second connection when it runs', async () => {
    const ks = groupKeystore();
    const id = nonceHex();
    ks.storeNonce(id, 'k1', 0, secret());
    await ks.commits.whenDurable();
    const bytes = ks.consumeNonce(id);
    expect(bytes).toHaveLength(64);
    const seen: (string | undefined)[] = [];
    ks.commits.afterCommit((error) => seen.push(error === undefined ? stateOf(ks, id) : 'failed'));
    expect(seen).toEqual([]);
    expect(stateOf(ks, id)).toBe('fresh');
    await ks.commits.whenDurable();
    expect(seen).toEqual(['consumed']);
    // Nothing pending: a waiter runs at once.
    ks.commits.afterCommit(() => seen.push('now'));
    expect(seen).toEqual(['consumed', 'now']);
  });

  it('rolls a failing step back alone: the others of its batch commit, and only its caller gets the error', async () => {
    const ks = groupKeystore();
    const [a, b] = [nonceHex(), nonceHex()];
    ks.storeNonce(a, 'k1', 0, secret());
    ks.storeNonce(b, 'k1', 0, secret());
    await ks.commits.whenDurable();
    const before = ks.commits.stats!;
    const good = nonceHex();
    const failing = nonceHex();
    ks.consumeNonce(a);
    expect(() => ks.consumeNonce(nonceHex())).toThrow(expect.objectContaining({ code: 'NONCE_UNKNOWN' }));
    expect(() => ks.storeNonce(nonceHex(), 'k2', 0, secret())).toThrow(SignerError);
    // Writes its replay entry, then fails (a policy needs an active share of its key): that entry must not stay.
    const policy = { keyId: 'no-such-key', version: 1, text: '{}', digest: new Uint8Array(32), requestId: new Uint8Array(32), setAt: Date.now() };
    expect(() => ks.admitRequest({ clientKeyHex: CLIENT, nonces: [failing], stamp: Date.now(), policy })).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
    expect(ks.admitRequest({ clientKeyHex: CLIENT, nonces: [good], stamp: Date.now() })).toBe(true);
    ks.consumeNonce(b);
    await ks.commits.whenDurable();
    expect([stateOf(ks, a), stateOf(ks, b)]).toEqual(['consumed', 'consumed']);
    expect(requestsOf(ks)).toEqual([expect.stringContaining(`|${good}|`)]);
    expect(ks.commits.stats!.commits - before.commits).toBe(1);
    expect(ks.commits.stats!.steps - before.steps).toBe(3);
    // The failed admission wrote nothing: the same request is admitted later.
    expect(ks.admitRequest({ clientKeyHex: CLIENT, nonces: [failing], stamp: Date.now() })).toBe(true);
  });

  it('refuses the second of two steps racing in one batch for the same nonce or the same request, at once', async () => {
    const ks = groupKeystore();
    const id = nonceHex();
    ks.storeNonce(id, 'k1', 0, secret());
    await ks.commits.whenDurable();
    const request = nonceHex();
    ks.consumeNonce(id);
    expect(() => ks.consumeNonce(id)).toThrow(expect.objectContaining({ code: 'NONCE_CONSUMED' }));
    expect(ks.admitRequest({ clientKeyHex: CLIENT, nonces: [request], stamp: Date.now() })).toBe(true);
    expect(ks.admitRequest({ clientKeyHex: CLIENT, nonces: [request], stamp: Date.now() })).toBe(false);
    expect(ks.commits.stats!.commits).toBe(1); // both still in the open batch
    await ks.commits.whenDurable();
    expect(stateOf(ks, id)).toBe('consumed');
    expect(requestsOf(ks)).toHaveLength(1);
  });

  it('commits the open batch (and runs its waiters) before any other write, which is committed when it returns', () => {
    const ks = groupKeystore();
    const id = nonceHex();
    ks.storeNonce(id, 'k1', 0, secret());
    const ran: string[] = [];
    ks.commits.afterCommit((error) => ran.push(error === undefined ? `waiter saw ${stateOf(ks, id)}` : 'failed'));
    expect(ks.banPeer('k1', 's9', 'test')).toBe(true);
    expect(ran).toEqual(['waiter saw fresh']);
    expect(snapshot(ks.dataDir).bans).toEqual(['k1|s9']);
    expect(stateOf(ks, id)).toBe('fresh');
  });

  it('commits what is open when the keystore stops', () => {
    const ks = groupKeystore();
    const id = nonceHex();
    ks.storeNonce(id, 'k1', 0, secret());
    const dataDir = ks.dataDir;
    ks.close();
    expect(snapshot(dataDir).nonces.map((r) => r.split('|')[0])).toEqual([id]);
  });

  it('refuses a window out of range', () => {
    const dataDir = tempDir();
    Keystore.create({ dataDir, kek: { passphrase: PASSPHRASE }, signerId: 'signer-1', scryptN: SCRYPT_N_MIN }).close();
    for (const bad of [-1, 1.5, 1001]) {
      expect(() => Keystore.open({ dataDir, kek: { passphrase: PASSPHRASE }, groupCommitMs: bad })).toThrow(expect.objectContaining({ code: 'BAD_FIELD', field: 'groupCommitMs' }));
    }
  });
});

describe('a COMMIT that fails (real SQLite: a deferred foreign key checked at COMMIT)', () => {
  function database(): { db: Database.Database; file: string } {
    const file = path.join(tempDir(), 'fk.db');
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.exec('CREATE TABLE parent (id INTEGER PRIMARY KEY); CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)');
    return { db, file };
  }
  const committedRows = (file: string) => {
    const peek = new Database(file, { readonly: true });
    try {
      return peek.prepare('SELECT id FROM child ORDER BY id').pluck().all();
    } finally {
      peek.close();
    }
  };

  it('fails every waiter of the batch, releases nothing, keeps no row, and the next batch commits', async () => {
    const { db, file } = database();
    try {
      const group = new GroupCommit(db, 0);
      const insert = db.prepare<[number, number]>('INSERT INTO child (id, parent) VALUES (?, ?)');
      group.run(() => insert.run(1, 1)); // no parent 1: the deferred check fails at COMMIT
      const released: string[] = [];
      group.afterCommit((error) => released.push(error === undefined ? 'released 1' : 'withheld 1'));
      group.run(() => insert.run(2, 1));
      const durable = group.whenDurable();
      await expect(durable).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_FOREIGNKEY' });
      expect(released).toEqual(['withheld 1']);
      expect(committedRows(file)).toEqual([]);
      expect(db.inTransaction).toBe(false);
      expect(group.stats).toMatchObject({ commits: 0, failures: 1 });
      db.prepare('INSERT INTO parent (id) VALUES (7)').run();
      group.run(() => insert.run(3, 7));
      await group.whenDurable();
      expect(committedRows(file)).toEqual([3]);
      expect(group.stats).toMatchObject({ commits: 1, steps: 1, failures: 1 });
    } finally {
      db.close();
    }
  });
});

const SUITE = 'frost-ed25519';
const IDS = ['s1', 's2', 's3'];
const participants = refs(IDS);
const QUORUM = ['s1', 's2'];

describe('group commit in the signer daemon (window 200 ms)', () => {
  let c: FakeCoordinator;
  let cl: ClockedCluster;
  const dataDir = (id: string) => cl.signers.find((s) => s.id === id)!.dataDir;
  const journal = (id: string, nonce: string) => snapshot(dataDir(id)).nonces.find((r) => r.startsWith(`${nonce}|`))?.split('|')[3];
  /** s1's journal state of `watch`'s nonce, read from inside its share computation. */
  const seenAtShare: (string | undefined)[] = [];
  let watch: string | undefined;
  const spy: SignerBehaviour = {
    computeSignatureShare: (input) => {
      if (watch !== undefined) seenAtShare.push(journal('s1', watch));
      return honestBehaviour.computeSignatureShare(input);
    },
  };

  beforeAll(async () => {
    c = patient(await FakeCoordinator.start());
    cl = await startClockedCluster(c, IDS, new TestClock(), { noncePool: 4, groupCommitMs: 200 }, { s1: spy });
    await runKeySession(c, 'dkg', SUITE, participants, dkgStart('k1', SUITE, 2, participants));
  }, 180_000);
  afterAll(async () => {
    await cl?.stop();
    await c?.close();
    removeTempDirs();
  });

  it('an OFFER leaves only once its nonce is journalled durably; a POOLED SHARE only once the consume is', async () => {
    const offers = new Map<string, Envelope>();
    for (const id of QUORUM) {
      c.send(id, { kind: 'sign', suite: SUITE, sessionId: randomBytes(32), round: SIGN_ROUND.POOL }, { keyId: 'k1', epoch: 0 });
      const offer = await c.next(id, (e) => e.header.kind === 'sign' && e.header.round === SIGN_ROUND.OFFER, 60_000);
      // Read the moment it arrives: the journal row is already committed.
      expect(journal(id, bytesToHex(offer.header.sessionId))).toBe('fresh');
      offers.set(id, offer);
    }
    const own = bytesToHex(offers.get('s1')!.header.sessionId);
    watch = own;
    const message = new Uint8Array(randomBytes(32));
    const sessionId = randomBytes(32);
    const start = { keyId: 'k1', epoch: 0, message, request: signRequest({ keyId: 'k1', epoch: 0, message }) };
    for (const id of QUORUM) c.send(id, { kind: 'sign', suite: SUITE, sessionId, round: SIGN_ROUND.POOLED }, { start, envelopes: [...offers.values()] });
    const shares = await gather(c, ['s1'], 'sign', SIGN_ROUND.SHARE);
    expect(journal('s1', own)).toBe('consumed');
    watch = undefined;
    expect(seenAtShare).toEqual(['consumed']);
    expect(shares.get('s1')).toHaveLength(1);
    const metrics = cl.daemons.get('s1')!.metrics();
    expect(metrics.keystoreCommits).toBeGreaterThan(0);
    expect(metrics.keystoreCommitSteps).toBeGreaterThanOrEqual(metrics.keystoreCommits!);
    expect(metrics.keystoreCommitFailures).toBe(0);
    await gather(c, ['s2'], 'sign', SIGN_ROUND.SHARE);
  });

  it('refuses the same POOLED twice while the first waits for its commit: one SHARE and a control ERROR, no ABORT', async () => {
    const offers: Envelope[] = [];
    for (const id of QUORUM) {
      c.send(id, { kind: 'sign', suite: SUITE, sessionId: randomBytes(32), round: SIGN_ROUND.POOL }, { keyId: 'k1', epoch: 0 });
      offers.push(await c.next(id, (e) => e.header.kind === 'sign' && e.header.round === SIGN_ROUND.OFFER, 60_000));
    }
    const message = new Uint8Array(randomBytes(32));
    const sessionId = randomBytes(32);
    const start = { keyId: 'k1', epoch: 0, message, request: signRequest({ keyId: 'k1', epoch: 0, message }) };
    c.send('s1', { kind: 'sign', suite: SUITE, sessionId, round: SIGN_ROUND.POOLED }, { start, envelopes: offers });
    c.send('s1', { kind: 'sign', suite: SUITE, sessionId, round: SIGN_ROUND.POOLED }, { start, envelopes: offers });
    // The refusal may leave before the SHARE (it waits for no computation); either order, never an ABORT.
    const answer = (e: Envelope) => e.header.kind === 'control' || (e.header.kind === 'sign' && (e.header.round === SIGN_ROUND.ABORT || e.header.round === SIGN_ROUND.SHARE));
    const got = [await c.next('s1', answer, 60_000), await c.next('s1', answer, 60_000)];
    const label = (e: Envelope) => (e.header.kind === 'control' ? `ERROR ${decodeBody<{ code: string }>('control', e.header.round, 'none', e.payload).code}` : `sign ${e.header.round}`);
    expect(got.map(label).sort()).toEqual(['ERROR WRONG_ROUND', `sign ${SIGN_ROUND.SHARE}`]);
    expect(got.every((e) => bytesToHex(e.header.sessionId) === bytesToHex(sessionId))).toBe(true);
    expect(journal('s1', bytesToHex(offers[0]!.header.sessionId))).toBe('consumed');
  });

  it('refuses a second SIGN to a session whose first waits for its commit: one SHARE, no ABORT, the nonce consumed once', async () => {
    const message = new Uint8Array(randomBytes(32));
    const proposalId = randomBytes(32);
    const p = { keyId: 'k1', epoch: 0, message };
    for (const id of QUORUM) c.send(id, { kind: 'sign', suite: SUITE, sessionId: proposalId, round: SIGN_ROUND.START }, { ...p, request: signRequest(p) });
    const commitments = [...(await gather(c, QUORUM, 'sign', SIGN_ROUND.COMMITMENT)).values()].map((l) => l[0]!);
    // Two SIGNs back to back to s1: the second arrives while the first waits for the commit (or after it is done).
    c.send('s1', { kind: 'sign', suite: SUITE, sessionId: proposalId, round: SIGN_ROUND.SIGN }, { envelopes: commitments });
    c.send('s1', { kind: 'sign', suite: SUITE, sessionId: proposalId, round: SIGN_ROUND.SIGN }, { envelopes: commitments });
    const shares = await gather(c, ['s1'], 'sign', SIGN_ROUND.SHARE);
    const refusal = await c.next('s1', (e) => e.header.kind === 'control' || (e.header.kind === 'sign' && e.header.round === SIGN_ROUND.ABORT), 60_000);
    expect(refusal.header.kind).toBe('control');
    expect(decodeBody<{ code: string }>('control', refusal.header.round, 'none', refusal.payload).code).toMatch(/^(WRONG_ROUND|UNKNOWN_SESSION)$/);
    expect(shares.get('s1')).toHaveLength(1);
    expect(journal('s1', bytesToHex(proposalId))).toBe('consumed');
  });

  it("keeps frames in order: the link's own refusal of a later frame leaves after a session frame still waiting for its commit", async () => {
    const message = new Uint8Array(randomBytes(32));
    const proposalId = randomBytes(32);
    const p = { keyId: 'k1', epoch: 0, message };
    const challenge = randomBytes(32);
    // A START (its admission and nonce wait for the 200 ms batch), then a control frame the ready link refuses itself.
    c.send('s1', { kind: 'sign', suite: SUITE, sessionId: proposalId, round: SIGN_ROUND.START }, { ...p, request: signRequest(p) });
    c.send('s1', { kind: 'control', suite: 'none', sessionId: challenge, round: CONTROL_ROUND.CHALLENGE }, { nonce: challenge });
    const answer = (e: Envelope) => e.header.kind === 'control' || (e.header.kind === 'sign' && bytesToHex(e.header.sessionId) === bytesToHex(proposalId));
    const got = [await c.next('s1', answer, 60_000), await c.next('s1', answer, 60_000)];
    expect(got.map((e) => `${e.header.kind} ${e.header.round}`)).toEqual([`sign ${SIGN_ROUND.COMMITMENT}`, `control ${CONTROL_ROUND.ERROR}`]);
    expect(decodeBody<{ code: string }>('control', CONTROL_ROUND.ERROR, 'none', got[1]!.payload).code).toBe('WRONG_ROUND');
    c.send('s1', { kind: 'sign', suite: SUITE, sessionId: proposalId, round: SIGN_ROUND.ABORT }, { reason: 'TIMEOUT: test over' });
  });
});
