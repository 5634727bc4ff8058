/**
 * SqliteStore's transactions (store/sqlite.ts): one connection, so a call from outside
 * an open transaction must wait for it (the gate), never see its uncommitted writes nor
 * slip its own write into it; a transaction that throws rolls back every write it made;
 * what a transaction wrote is read back once it committed. Each test is ordered by
 * promises, not by time: the transaction body waits on a latch the test opens.
 */
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore, type CoordinatorStore } from '../src/index.ts';
import { tempDir } from './helpers.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function open(): Promise<SqliteStore> {
  const dir = tempDir();
  dirs.push(dir);
  let now = 1_000_000;
  return SqliteStore.open(dir, { now: () => now++ });
}

const participants = [
  { signer: 's1', index: 1 },
  { signer: 's2', index: 2 },
];

/** A promise the test resolves when it chooses. */
function latch(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

/** Lets every queued microtask and one macrotask run (so a call not held back has settled). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('SqliteStore transactions', () => {
  it('a call from outside waits while a transaction is open, and a throw inside rolls back every write of it', async () => {
    const s = await open();
    await s.insertPendingKey({ id: 'k0', suite: 'frost-ed25519', threshold: 2, participants });
    const gate = latch();
    const wrote = latch();
    const tx = s.transaction(async (t) => {
      await t.ban('k0', 's1', 'inside');
      await t.append('key.pending', 'k1', { suite: 'frost-ed25519', threshold: 2, signers: ['s1', 's2'] });
      await t.insertPendingKey({ id: 'k1', suite: 'frost-ed25519', threshold: 2, participants });
      wrote.open();
      await gate.wait;
      throw new Error('crash before commit');
    });
    await wrote.wait;
    // Outside reads and a write issued while the transaction is open: none settles until it does.
    const outcomes: string[] = [];
    const seenBans = s.bannedSigners('k0').then((b) => (outcomes.push('read'), b));
    const seenAudit = s.audit().then((a) => (outcomes.push('audit'), a));
    const outsideBan = s.ban('k0', 's2', 'outside').then(() => outcomes.push('write'));
    await settle();
    await settle();
    expect(outcomes).toEqual([]);
    gate.open();
    await expect(tx).rejects.toThrow('crash before commit');
    // Read after the rollback: nothing of the transaction, and the outside write landed on its own.
    expect(await seenBans).toEqual([]);
    expect(await seenAudit).toEqual([]);
    await outsideBan;
    expect(outcomes).toEqual(['read', 'audit', 'write']);
    expect(await s.bannedSigners('k0')).toEqual(['s2']);
    expect(await s.getKey('k1')).toBeUndefined();
    expect(await s.audit()).toEqual([]);
    expect(await s.verifyAudit()).toMatchObject({ ok: true, count: 0 });
    await s.stop();
  });

  it("a transaction's writes are read back after it commits, in one piece, and an outside write queued meanwhile comes after them", async () => {
    const s = await open();
    const gate = latch();
    const started = latch();
    const tx = s.transaction(async (t) => {
      await t.insertPendingKey({ id: 'k1', suite: 'frost-ed25519', threshold: 2, participants });
      started.open();
      await gate.wait;
      await t.append('key.pending', 'k1', { suite: 'frost-ed25519', threshold: 2, signers: ['s1', 's2'] });
      // Nested on the handle: inline, the same transaction.
      await t.transaction(async (inner) => inner.ban('k1', 's2', 'nested'));
      return (await t.getKey('k1'))!.state;
    });
    await started.wait;
    // Issued while the transaction is open: it must wait, then chain after the transaction's row.
    const outside = s.append('key.create_failed', 'k1', { code: 'TIMEOUT', reason: 'outside', culprits: [] });
    await settle();
    gate.open();
    expect(await tx).toBe('pending');
    const row = await outside;
    const rows = await s.audit('k1');
    expect(rows.map((e) => e.event)).toEqual(['key.pending', 'key.create_failed']);
    expect(row.seq).toBe(2);
    expect(await s.getKey('k1')).toMatchObject({ id: 'k1', state: 'pending' });
    expect(await s.bannedSigners('k1')).toEqual(['s2']);
    expect(await s.verifyAudit()).toMatchObject({ ok: true, count: 2 });
    await s.stop();
  });

  it('refuses a call on the store from inside its own transaction (it would wait for ever) and a handle used after its transaction', async () => {
    const s = await open();
    let handle: CoordinatorStore | undefined;
    await expect(
      s.transaction(async (t) => {
        handle = t;
        await t.ban('k1', 's1', 'inside');
        await s.bannedSigners('k1');
      }),
    ).rejects.toThrow(/inside its own transaction/);
    expect(await s.bannedSigners('k1')).toEqual([]);
    await expect(handle!.bannedSigners('k1')).rejects.toThrow(/after its transaction ended/);
    await s.stop();
  });
});
