/**
 * One suite for every `CoordinatorStore` backend (docs/ha.md §1): `storeConformance`
 * takes a factory and is run against SqliteStore and PostgresStore (a real PostgreSQL
 * 18 server, test/support/postgres.ts). Then what only a shared database has to hold:
 * two PostgresStores (two pools: two coordinator processes) appending at once leave one
 * chain, the same nonce checked by both at once is admitted once, the same appends hash
 * identically on both backends, a newer schema is refused.
 */
import fs from 'node:fs';
import { ed25519 } from '@noble/curves/ed25519.js';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PublicKeyPackage } from '@keyquorum/crypto';
import { AUDIT_GENESIS, auditHash, DEFAULT_POLICY, generateIdentity, policyDigest, policyToText, signClientRequest, type KeyPolicy } from '@keyquorum/protocol';
import { bytesToHex } from '@noble/hashes/utils.js';
import pg from 'pg';
import { POSTGRES_UNAVAILABLE, usePostgres } from '../../../test/support/postgres.ts';
import { CoordinatorError } from '../src/errors.ts';
import { SCHEMA_VERSION } from '../src/registry/schema.ts';
import { PostgresStore } from '../src/store/postgres.ts';
import { PG_SCHEMA_VERSION } from '../src/store/postgres-schema.ts';
import { SqliteStore } from '../src/store/sqlite.ts';
import type { CoordinatorStore, StoreOptions } from '../src/store/types.ts';
import { freePort, tempDir } from './helpers.ts';

type OpenStore = (opts: StoreOptions) => Promise<CoordinatorStore>;

const participants = [
  { signer: 's1', index: 1 },
  { signer: 's2', index: 2 },
];
const point = (k: bigint) => ed25519.Point.BASE.multiply(k).toBytes();
const pkg: PublicKeyPackage = { suite: 'frost-ed25519', threshold: 2, participants: [1, 2], groupKey: point(7n), verifyingShares: { 1: point(3n), 2: point(5n) }, chainCode: new Uint8Array(32).fill(9) };
const client = generateIdentity();
const request = (keyId: string, nonce = 1) => signClientRequest(client, { op: 'sign', keyId, digest: new Uint8Array(32).fill(nonce), timestamp: 1_000_000, nonce: new Uint8Array(16).fill(nonce) });
const codeOf = async (p: Promise<unknown>) => p.then(() => 'resolved', (e: unknown) => (e instanceof CoordinatorError ? e.code : String(e)));

/** The same appends, in order, for the cross-backend hash comparison. */
async function appendFixedSequence(s: CoordinatorStore): Promise<string[]> {
  const out: string[] = [];
  out.push((await s.append('key.pending', 'k1', { suite: 'frost-ed25519', threshold: 2, signers: ['s1', 's2'] })).hash);
  out.push((await s.append('commit.acked', 'k1', { signer: 's1', kind: 'dkg', epoch: 0 })).hash);
  out.push((await s.append('signer.unbanned', null, { signer: 's2', reason: 'caught "cheating" — ünïcode', bannedAt: 123 })).hash);
  return out;
}

function storeConformance(name: string, open: OpenStore): void {
  describe(`CoordinatorStore conformance: ${name}`, () => {
    const opened: CoordinatorStore[] = [];
    const fresh = async (now: () => number = () => 1_000_000, windowMs = 60_000) => {
      const s = await open({ now, replayWindowMs: windowMs, auditChunkRows: 2 });
      opened.push(s);
      return s;
    };
    afterEach(async () => {
      for (const s of opened.splice(0)) await s.stop();
    });

    it('keeps a key through its lifecycle: pending, session id, material, usage states, deletion; KEY_EXISTS and UNKNOWN_KEY', async () => {
      const s = await fresh();
      expect(await s.writable()).toBe(true);
      await s.insertPendingKey({ id: 'k1', suite: 'frost-ed25519', threshold: 2, participants });
      expect(await codeOf(s.insertPendingKey({ id: 'k1', suite: 'frost-ed25519', threshold: 2, participants }))).toBe('KEY_EXISTS');
      await s.setKeySession('k1', 'ab'.repeat(32));
      expect(await s.getKey('k1')).toMatchObject({ state: 'pending', epoch: 0, publicKey: undefined, participants, sessionId: 'ab'.repeat(32) });
      await s.setKeyMaterial('k1', pkg, 3, [...participants, { signer: 's3', index: 3 }]);
      const k = (await s.getKey('k1'))!;
      expect(k).toMatchObject({ state: 'active', epoch: 3, threshold: 2 });
      expect(k.participants.map((p) => p.signer)).toEqual(['s1', 's2', 's3']);
      expect(k.publicKey).toEqual(pkg);
      expect(await codeOf(s.setKeyMaterial('nope', pkg, 1))).toBe('UNKNOWN_KEY');

      await s.setKeyUsage({ keyId: 'k1', state: 'suspended', previous: 'active', schedule: undefined });
      expect((await s.getKey('k1'))!.state).toBe('suspended');
      await s.insertPendingKey({ id: 'k0', suite: 'frost-ed25519', threshold: 2, participants });
      await s.setKeyUsage({ keyId: 'k0', state: 'destroy-scheduled', previous: 'active', schedule: { afterMs: 10, destroyAt: 900, request: request('k0') } });
      await s.setKeyUsage({ keyId: 'k1', state: 'destroy-scheduled', previous: 'suspended', schedule: { afterMs: 10, destroyAt: 500, request: request('k1') } });
      const due = await s.scheduledDestructions();
      expect(due.map((u) => [u.keyId, u.schedule?.destroyAt])).toEqual([['k1', 500], ['k0', 900]]);
      expect(due[0]!.schedule!.request).toEqual(request('k1'));
      expect(await s.keyUsage('k1')).toMatchObject({ state: 'destroy-scheduled', previous: 'suspended', updatedAt: 1_000_000 });
      await s.setState('k1', 'retired');
      expect((await s.listKeys()).map((x) => [x.id, x.state])).toEqual([['k0', 'pending'], ['k1', 'retired']]);
      await s.deleteKey('k0');
      expect(await s.getKey('k0')).toBeUndefined();
    });

    it('queues commits per signer in order, re-queues a re-added one last, and tracks the epoch each signer holds', async () => {
      const s = await fresh();
      const base = { keyId: 'k1', kind: 'refresh', epoch: 1, frame: new Uint8Array([1, 2, 0, 255]) };
      await s.addPendingCommit({ ...base, signer: 's1', sessionId: 'aa' });
      await s.addPendingCommit({ ...base, signer: 's1', sessionId: 'bb', kind: 'retire' });
      await s.addPendingCommit({ ...base, signer: 's2', sessionId: 'aa', kind: 'state' });
      await s.addPendingCommit({ ...base, signer: 's1', sessionId: 'aa', epoch: 2 });
      expect((await s.pendingCommits('s1')).map((c) => [c.sessionId, c.epoch])).toEqual([['bb', 1], ['aa', 2]]);
      expect((await s.pendingCommits()).map((c) => c.signer)).toEqual(['s1', 's2', 's1']);
      expect(await s.unacknowledged('k1')).toEqual(['s1']);
      const found = (await s.findPendingCommit('s1', 'bb'))!;
      expect(found.frame).toEqual(base.frame);
      await s.removePendingCommit(found.seq);
      expect((await s.pendingCommits('s1')).map((c) => c.sessionId)).toEqual(['aa']);
      expect(await s.findPendingCommit('s9', 'aa')).toBeUndefined();

      await s.insertPendingKey({ id: 'k1', suite: 'frost-ed25519', threshold: 2, participants });
      await s.acknowledgeEpoch('k1', 's1', 0);
      await s.acknowledgeEpoch('k1', 's2', 0);
      await s.acknowledgeEpoch('k1', 's1', 1);
      expect(await s.signerEpochs()).toEqual([{ signer: 's1', keyId: 'k1', epoch: 1 }, { signer: 's2', keyId: 'k1', epoch: 0 }]);
      await s.acknowledgeEpoch('k1', 's3', 2);
      expect((await s.signerEpochs()).map((e) => e.signer)).toEqual(['s1', 's2']);
      const attestation = { keyId: 'k1', signer: 's2', epoch: 0, destroyedAt: 7, verifyingShare: point(5n), envelope: new Uint8Array([0, 1, 2]) };
      await s.addAttestation(attestation);
      expect(await s.signerEpochs()).toEqual([{ signer: 's1', keyId: 'k1', epoch: 1 }]);
      await s.addAttestation({ ...attestation, signer: 's1' });
      await s.addAttestation({ ...attestation, destroyedAt: 8 });
      expect(await s.attestations('k1')).toEqual([{ ...attestation, signer: 's1', receivedAt: 1_000_000 }, { ...attestation, destroyedAt: 8, receivedAt: 1_000_000 }]);
    });

    it('bans a signer once (its first reason kept) and lifts it, answering the lifted ban', async () => {
      const s = await fresh();
      await s.ban('k1', 's2', 'invalid share');
      await s.ban('k1', 's2', 'second reason');
      await s.ban('k1', 's1', 'other');
      await s.ban('k2', 's3', 'elsewhere');
      expect(await s.bannedSigners('k1')).toEqual(['s1', 's2']);
      expect(await s.bans('k1')).toEqual([{ signer: 's1', reason: 'other', at: 1_000_000 }, { signer: 's2', reason: 'invalid share', at: 1_000_000 }]);
      expect(await s.unban('k1', 's2')).toEqual({ signer: 's2', reason: 'invalid share', at: 1_000_000 });
      expect(await s.unban('k1', 's2')).toBeUndefined();
      expect(await s.bannedSigners('k1')).toEqual(['s1']);
    });

    it('stop waits for an open transaction, which commits, then closes', async () => {
      const s = await fresh();
      let release = () => {};
      const held = new Promise<void>((r) => (release = r));
      let inside = false;
      const order: string[] = [];
      const done = s.transaction(async (tx) => {
        await tx.ban('k1', 's1', 'first');
        inside = true;
        await held;
        await tx.ban('k1', 's2', 'second');
        return (await tx.bannedSigners('k1')).join(',');
      }).then((v) => (order.push('transaction'), v));
      while (!inside) await new Promise((r) => setTimeout(r, 5));
      const stopped = s.stop().then(() => order.push('stop'));
      release();
      expect(await done).toBe('s1,s2');
      await stopped;
      expect(order).toEqual(['transaction', 'stop']);
      await s.stop();
    });

    it("lists in SQLite's binary order of ids, whatever the database's collation", async () => {
      const s = await fresh();
      const ids = ['b', 'B', 'a', 'A1', '_x', 'a-2'];
      for (const id of ids) await s.ban('k1', id, 'r');
      for (const id of ids) await s.insertPendingKey({ id, suite: 'frost-ed25519', threshold: 2, participants });
      const binary = [...ids].sort();
      expect(await s.bannedSigners('k1')).toEqual(binary);
      expect((await s.listKeys()).map((k) => k.id)).toEqual(binary);
    });

    it('refuses a replayed client nonce and one older than the window, and forgets nonces past the window', async () => {
      let now = 1_000_000;
      const s = await fresh(() => now);
      expect(await s.checkAndRemember('ab', 'cd', now)).toBe(true);
      expect(await s.checkAndRemember('ab', 'cd', now)).toBe(false);
      expect(await s.checkAndRemember('ac', 'cd', now)).toBe(true);
      expect(await s.checkAndRemember('ab', 'ce', now - 60_001)).toBe(false);
      now += 120_000;
      expect(await s.checkAndRemember('ab', 'cd', now)).toBe(true);
    });

    it('chains audit rows: append, list, pages with their checkpoints, head, hashAt, rows, verify', async () => {
      let now = 5_000;
      const s = await fresh(() => now++);
      expect(await s.auditHead()).toEqual({ seq: 0, hash: AUDIT_GENESIS });
      expect(await s.auditHashAt(0)).toBe(AUDIT_GENESIS);
      expect(await s.verifyAudit()).toEqual({ ok: true, count: 0, head: AUDIT_GENESIS });
      const hashes = [...(await appendFixedSequence(s)), ...(await appendFixedSequence(s))];
      const rows = await s.audit();
      expect(rows.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(rows.map((r) => r.hash)).toEqual(hashes);
      expect(rows[0]).toMatchObject({ ts: 5_000, event: 'key.pending', keyId: 'k1', prevHash: AUDIT_GENESIS, data: { suite: 'frost-ed25519', threshold: 2, signers: ['s1', 's2'] } });
      rows.slice(1).forEach((r, i) => expect(r.prevHash).toBe(rows[i]!.hash));
      expect((await s.audit('k1')).map((r) => r.seq)).toEqual([1, 2, 4, 5]);
      expect(await s.auditHead()).toEqual({ seq: 6, hash: hashes[5] });
      expect(await s.auditHashAt(4)).toBe(hashes[3]);
      expect(await s.auditHashAt(7)).toBeUndefined();
      const chain = await s.auditRows(2, 2);
      expect(chain.map((r) => [r.seq, r.hash, r.prevHash])).toEqual([[3, hashes[2], hashes[1]], [4, hashes[3], hashes[2]]]);
      expect(chain[0]!.data).toBe(JSON.stringify({ signer: 's2', reason: 'caught "cheating" — ünïcode', bannedAt: 123 }));

      await s.addCheckpoint({ signer: 's1', seq: 2, hash: hashes[1]!, sig: 'aa' });
      await s.addCheckpoint({ signer: 's2', seq: 2, hash: hashes[1]!, sig: 'bb' });
      await s.addCheckpoint({ signer: 's1', seq: 5, hash: hashes[4]!, sig: 'cc' });
      await s.addCheckpoint({ signer: 's1', seq: 5, hash: hashes[4]!, sig: 'dd' });
      expect((await s.checkpoints()).map((c) => [c.seq, c.signer, c.sig])).toEqual([[2, 's1', 'aa'], [2, 's2', 'bb'], [5, 's1', 'dd']]);
      expect(await s.lastCheckpoint('s2')).toMatchObject({ seq: 2, sig: 'bb' });
      expect(await s.lastCheckpoint()).toMatchObject({ seq: 5, signer: 's1', sig: 'dd' });
      expect(await s.lastCheckpoint('s9')).toBeUndefined();

      const first = await s.auditPage({ after: 0, limit: 4 });
      expect(first.entries.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
      expect(first.next).toBe(4);
      expect(first.broken).toBeUndefined();
      expect(first.checkpoints).toEqual([{ signer: 's1', seq: 2, hash: hashes[1], sig: 'aa' }, { signer: 's2', seq: 2, hash: hashes[1], sig: 'bb' }]);
      const last = await s.auditPage({ after: 4, limit: 4 });
      expect(last.entries.map((e) => e.seq)).toEqual([5, 6]);
      expect(last.next).toBeNull();
      expect(last.checkpoints).toEqual([{ signer: 's1', seq: 5, hash: hashes[4], sig: 'dd' }]);
      const ofKey = await s.auditPage({ keyId: 'k1', after: 1, limit: 10 });
      expect(ofKey.entries.map((e) => e.seq)).toEqual([2, 4, 5]);
      expect(ofKey.checkpoints).toBeUndefined();

      expect(await s.verifyAudit()).toEqual({ ok: true, count: 6, head: hashes[5] });
      expect(await s.verifyAuditChain()).toEqual({ ok: true, count: 6, head: hashes[5] });
      await s.append('commit.acked', null, { signer: 's9', kind: 'dkg', epoch: 1 });
      expect(await s.verifyAuditChain()).toMatchObject({ ok: true, count: 7 });
    });

    it('keeps governance: policies by version, operations and their state moves, approvals admitted once, the velocity count', async () => {
      let now = 1_000_000;
      const s = await fresh(() => now);
      const policy: KeyPolicy = { ...DEFAULT_POLICY, version: 1 };
      const text = policyToText(policy);
      await s.addPolicy({ keyId: 'k1', version: 1, text, digest: bytesToHex(policyDigest(policy)), clientKey: 'cc', approvers: ['a1'] });
      now += 1;
      await s.addPolicy({ keyId: 'k1', version: 2, text, digest: 'dd', clientKey: 'cc', approvers: [] });
      expect(await s.policy('k2')).toBeUndefined();
      expect(await s.policy('k1')).toMatchObject({ version: 2, digest: 'dd', setAt: 1_000_001, approvers: [] });
      expect((await s.policyHistory('k1')).map((p) => [p.version, p.approvers])).toEqual([[1, ['a1']], [2, []]]);
      expect((await s.policyHistory('k1'))[0]!.policy).toEqual(policy);

      const op = { id: 'op1', keyId: 'k1', op: 'sign' as const, action: 'sign' as const, required: 2, request: request('k1'), params: { message: new Uint8Array([1, 2]), path: 'm/0', absent: undefined }, approvals: [], expiresAt: 2_000_000 };
      await s.addOperation(op);
      now += 1;
      await s.addOperation({ ...op, id: 'op2', request: request('k1', 2) });
      const stored = (await s.operation('op1'))!;
      expect(stored).toMatchObject({ id: 'op1', state: 'pending', required: 2, createdAt: 1_000_001, expiresAt: 2_000_000, approvals: [] });
      expect(stored.request).toEqual(request('k1'));
      expect(stored.params).toEqual({ message: new Uint8Array([1, 2]), path: 'm/0' });
      expect((await s.operations()).map((o) => o.id)).toEqual(['op2', 'op1']);
      const approval = { approver: 'a1', type: 'ed25519' as const, sig: new Uint8Array(64).fill(4) };
      await s.setApprovals('op1', [approval]);
      expect((await s.operation('op1'))!.approvals).toEqual([approval]);
      expect(await s.setOperationState('op1', 'running', 'failed')).toBe(false);
      expect(await s.setOperationState('op1', 'pending', 'running')).toBe(true);
      expect(await s.setOperationState('op1', 'pending', 'running')).toBe(false);
      expect(await s.setOperationState('op1', 'running', 'succeeded', { result: { signature: 'ab' } })).toBe(true);
      expect(await s.operation('op1')).toMatchObject({ state: 'succeeded', result: { signature: 'ab' } });
      expect(await s.setOperationState('op2', 'pending', 'failed', { error: { code: 'TIMEOUT', message: 'late' } })).toBe(true);
      expect((await s.operation('op2'))!.error).toEqual({ code: 'TIMEOUT', message: 'late' });
      expect((await s.operations('succeeded')).map((o) => o.id)).toEqual(['op1']);
      expect(await s.operation('nope')).toBeUndefined();

      expect(await s.admitApproved('cc', 'n1', now + 10)).toBe(true);
      expect(await s.admitApproved('cc', 'n1', now + 10)).toBe(false);
      now += 11;
      expect(await s.admitApproved('cc', 'n1', now + 10)).toBe(true);

      await s.recordSignUse('k1', 'r1', 'm/0', 1_000);
      await s.recordSignUse('k1', 'r1', 'm/0', 1_000);
      await s.recordSignUse('k1', 'r2', 'm/1', 1_000);
      expect(await s.signUses('k1', 0, undefined, 'x')).toBe(2);
      expect(await s.signUses('k1', 0, 'm/0', 'x')).toBe(1);
      expect(await s.signUses('k1', 0, undefined, 'r2')).toBe(1);
      now += 2_000;
      await s.recordSignUse('k1', 'r3', 'm/0', 1_000);
      expect(await s.signUses('k1', 0, undefined, 'x')).toBe(1);

      expect(await s.epochSince('k1', 42)).toBe(42);
      await s.append('key.refreshed', 'k1', { fromEpoch: 0, epoch: 1, transcriptHash: 'ab' });
      expect(await s.epochSince('k1', 42)).toBe(now);
    });

    it('commits a transaction as one and rolls all of it back when its function throws', async () => {
      const s = await fresh();
      await s.append('commit.acked', null, { signer: 's1', kind: 'dkg', epoch: 0 });
      const head = await s.auditHead();
      const err = await s
        .transaction(async (tx) => {
          await tx.insertPendingKey({ id: 'k1', suite: 'frost-ed25519', threshold: 2, participants });
          await tx.append('key.pending', 'k1', { suite: 'frost-ed25519', threshold: 2, signers: ['s1', 's2'] });
          expect(await tx.checkAndRemember('ab', 'cd', 1_000_000)).toBe(true);
          await tx.transaction(async (inner) => inner.ban('k1', 's1', 'inside'));
          expect(await tx.bannedSigners('k1')).toEqual(['s1']);
          throw new Error('abort');
        })
        .catch((e: unknown) => e);
      expect(err).toEqual(new Error('abort'));
      expect(await s.getKey('k1')).toBeUndefined();
      expect(await s.auditHead()).toEqual(head);
      expect(await s.bannedSigners('k1')).toEqual([]);
      expect(await s.checkAndRemember('ab', 'cd', 1_000_000)).toBe(true);

      let handle: CoordinatorStore | undefined;
      const out = await s.transaction(async (tx) => {
        handle = tx;
        await tx.insertPendingKey({ id: 'k2', suite: 'frost-ed25519', threshold: 2, participants });
        return (await tx.append('key.pending', 'k2', { suite: 'frost-ed25519', threshold: 2, signers: ['s1', 's2'] })).seq;
      });
      expect(out).toBe(2);
      expect((await s.getKey('k2'))?.state).toBe('pending');
      expect(await s.verifyAudit()).toMatchObject({ ok: true, count: 2 });
      await expect(handle!.getKey('k2')).rejects.toThrow(/after its transaction ended/);
      // The store itself, called from inside its own transaction, refuses (it would wait on the transaction for ever).
      const inside = await s.transaction(async (tx) => {
        await tx.ban('k2', 's1', 'r');
        return s.bannedSigners('k2').then(() => 'answered', (e: Error) => e.message);
      });
      expect(inside).toMatch(/called inside its own transaction/);
      expect(await s.bannedSigners('k2')).toEqual(['s1']);
    });
  });
}

storeConformance('SqliteStore', (opts) => SqliteStore.open(tempDir(), opts));

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(`PostgreSQL${POSTGRES_UNAVAILABLE === undefined ? '' : ` (skipped: ${POSTGRES_UNAVAILABLE})`}`, () => {
  const postgres = usePostgres();
  let started = 0;
  beforeAll(() => {
    started = postgres.server().startMs;
    process.stderr.write(`[store-conformance] PostgreSQL accepted connections ${Math.round(started)} ms after its start\n`);
  });

  // Each database's default collation is ICU en-US, where 'a' < 'B' (SQLite's binary order has 'B' < 'a').
  storeConformance('PostgresStore', async (opts) => PostgresStore.open(await postgres.freshDatabase({ icuLocale: 'en-US' }), opts));

  const stores: PostgresStore[] = [];
  const openPg = async (url: string, opts: StoreOptions = {}) => {
    const s = await PostgresStore.open(url, opts);
    stores.push(s);
    return s;
  };
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.stop();
  });

  it('the same appends with the same clock hash byte-identically on SQLite and PostgreSQL', async () => {
    const dir = tempDir();
    const sqlite = await SqliteStore.open(dir, { now: () => 77 });
    try {
      const pgStore = await openPg(await postgres.freshDatabase(), { now: () => 77 });
      const a = await appendFixedSequence(sqlite);
      const b = await appendFixedSequence(pgStore);
      expect(b).toEqual(a);
      expect(await pgStore.auditRows(0, 10)).toEqual(await sqlite.auditRows(0, 10));
    } finally {
      await sqlite.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('two coordinators (two pools) appending at once leave one unforked chain that verifies', async () => {
    const url = await postgres.freshDatabase();
    const [a, b] = await Promise.all([openPg(url), openPg(url)]);
    const writer = (s: PostgresStore, who: string) => Array.from({ length: 50 }, (_, i) => s.append('commit.acked', who, { signer: who, kind: 'refresh', epoch: i }));
    const entries = await Promise.all([...writer(a, 'a'), ...writer(b, 'b')]);
    expect(new Set(entries.map((e) => e.seq)).size).toBe(100);
    const rows = await a.audit();
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(new Set(rows.map((r) => r.prevHash)).size).toBe(100);
    expect(rows.filter((r) => r.keyId === 'a')).toHaveLength(50);
    expect(await b.verifyAudit()).toEqual({ ok: true, count: 100, head: rows[99]!.hash });
  });

  it('an edited, re-linked or deleted audit row is found by the page check and by both verifications', async () => {
    const url = await postgres.freshDatabase();
    const s = await openPg(url, { auditChunkRows: 2 });
    for (let i = 0; i < 4; i++) await s.append('commit.acked', 'k1', { signer: 's1', kind: 'refresh', epoch: i });
    expect(await s.verifyAuditChain()).toMatchObject({ ok: true, count: 4 });
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      const hashOf2 = (await s.auditHashAt(2))!;
      await admin.query(`UPDATE audit SET data = '{"signer":"s1","kind":"refresh","epoch":9}' WHERE seq = 3`);
      expect((await s.auditPage({ after: 0, limit: 10 })).broken).toEqual({ seq: 3, reason: 'hash does not match the row' });
      expect(await s.verifyAudit()).toEqual({ ok: false, seq: 3, reason: 'hash does not match the row' });
      // The chunked verifier goes on from its last verified row (4, unchanged); a coordinator starting afresh verifies from the first.
      expect(await s.verifyAuditChain()).toMatchObject({ ok: true, count: 4 });
      expect(await (await openPg(url, { auditChunkRows: 2 })).verifyAuditChain()).toEqual({ ok: false, seq: 3, reason: 'hash does not match the row' });
      // Re-hashing the edited row does not help: its successor's link breaks.
      const edited = (await s.auditRows(2, 1))[0]!;
      await admin.query('UPDATE audit SET hash = $1 WHERE seq = 3', [auditHash(hashOf2, edited)]);
      expect((await s.auditPage({ keyId: 'k1', after: 0, limit: 10 })).broken).toEqual({ seq: 4, reason: 'prev_hash does not match the previous row' });
      expect(await s.verifyAudit()).toEqual({ ok: false, seq: 4, reason: 'prev_hash does not match the previous row' });
      await admin.query('DELETE FROM audit WHERE seq >= 3');
      expect(await s.verifyAudit()).toMatchObject({ ok: true, count: 2 });
      // The head row keeps the chain's position: the next append follows the deleted rows, leaving a gap verification finds.
      expect((await s.append('commit.acked', 'k1', { signer: 's1', kind: 'refresh', epoch: 5 })).seq).toBe(5);
      expect(await s.verifyAudit()).toEqual({ ok: false, seq: 5, reason: 'expected row 3' });
    } finally {
      await admin.end();
    }
  });

  it('the same client nonce checked by two coordinators at once is admitted exactly once', async () => {
    const url = await postgres.freshDatabase();
    const now = () => 1_000_000;
    const [a, b] = await Promise.all([openPg(url, { now }), openPg(url, { now })]);
    for (let i = 0; i < 20; i++) {
      const answers = await Promise.all([a.checkAndRemember('cc', `n${i}`, 1_000_000), b.checkAndRemember('cc', `n${i}`, 1_000_000)]);
      expect(answers.filter(Boolean)).toHaveLength(1);
    }
  });

  it('two coordinators opening a new database at once migrate it once; a database with a newer schema is refused with BAD_CONFIG', async () => {
    expect(PG_SCHEMA_VERSION).toBe(SCHEMA_VERSION);
    const url = await postgres.freshDatabase();
    const [a] = await Promise.all([openPg(url), openPg(url)]);
    await a.append('commit.acked', null, { signer: 's1', kind: 'dkg', epoch: 0 });
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      expect((await admin.query('SELECT version FROM schema_version')).rows).toEqual([{ version: SCHEMA_VERSION }]);
      await admin.query('UPDATE schema_version SET version = $1', [SCHEMA_VERSION + 1]);
    } finally {
      await admin.end();
    }
    const refused = await PostgresStore.open(url).then(
      async (s) => (await s.stop(), undefined),
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(CoordinatorError);
    expect(refused).toMatchObject({ code: 'BAD_CONFIG', field: 'database' });
    expect((refused as Error).message).toContain(`schema version ${SCHEMA_VERSION + 1}; this coordinator knows versions up to ${SCHEMA_VERSION}`);
  });

  it('a database that cannot be reached or does not exist is BAD_CONFIG naming it, without the password', async () => {
    const port = await freePort();
    for (const url of [`postgresql://postgres:s3cret@127.0.0.1:${port}/kq`, postgres.server().url('no_such_db').replace('postgres@', 'postgres:s3cret@')]) {
      const e = await PostgresStore.open(url).then(async (s) => (await s.stop(), undefined), (err: unknown) => err);
      expect(e).toBeInstanceOf(CoordinatorError);
      expect(e).toMatchObject({ code: 'BAD_CONFIG', field: 'database' });
      expect((e as Error).message).toMatch(/cannot open PostgreSQL database (kq|no_such_db) at 127\.0\.0\.1:\d+/);
      expect((e as Error).message).not.toContain('s3cret');
    }
  });
});
