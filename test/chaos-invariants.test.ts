/**
 * The chaos run's invariant checkers on crafted input (test/chaos/invariants.ts): each
 * detects its violation (a repeated R, a missing share, a broken audit chain) and
 * passes what is sound; and the seeded PRNG replays the same draws for the same seed.
 */
import { describe, expect, it } from 'vitest';
import { auditHash } from '@keyquorum/coordinator';
import type { AuditEntry, KeyJson, KeyquorumClient } from '@keyquorum/client';
import { checkAuditChain, findLostShares, findNonceReuse, nonceOf, signaturesInAudit, type HeldShareRow, type SignatureRecord } from './chaos/invariants.ts';
import { Prng } from './chaos/prng.ts';
import { OPS, chooseOp, repairTargets, type OpContext } from './chaos/ops.ts';

const hex = (byte: string, n: number) => byte.repeat(n);
const sig = (r: string, s: string): SignatureRecord['signature'] => `${hex(r, 32)}${hex(s, 32)}`;
const rec = (signature: string, messageSha256: string, source: SignatureRecord['source'] = 'client'): SignatureRecord => ({ keyId: 'k', messageSha256, signature, source });

describe('no nonce reused: findNonceReuse', () => {
  it('detects one R in signatures of two different messages', () => {
    const found = findNonceReuse([rec(sig('aa', '01'), hex('11', 32)), rec(sig('bb', '02'), hex('22', 32)), rec(sig('aa', '03'), hex('33', 32))]);
    expect(found).toHaveLength(1);
    expect(found[0]!.r).toBe(hex('aa', 32));
    expect(found[0]!.records.map((r) => r.messageSha256)).toEqual([hex('11', 32), hex('33', 32)]);
  });

  it('detects one R in two different signatures of the same message', () => {
    expect(findNonceReuse([rec(sig('aa', '01'), hex('11', 32)), rec(sig('aa', '02'), hex('11', 32))])).toHaveLength(1);
  });

  it('counts one signature seen twice (client and audit, any hex case) once', () => {
    const s = sig('aa', '01');
    expect(findNonceReuse([rec(s, hex('11', 32)), rec(s.toUpperCase(), hex('11', 32), 'audit'), rec(sig('bb', '01'), hex('22', 32))])).toEqual([]);
  });

  it('reads R as 32 bytes of a 64-byte signature and 33 of a 65-byte one', () => {
    expect(nonceOf(sig('aa', '01'))).toBe(hex('aa', 32));
    expect(nonceOf(`02${hex('aa', 32)}${hex('01', 32)}`)).toBe(`02${hex('aa', 32)}`);
    expect(() => nonceOf('00')).toThrow(/length/);
  });

  it('takes the signatures of key.signed audit rows, and only those', () => {
    const row = (event: string, data: Record<string, unknown>): AuditEntry => ({ seq: 1, ts: 0, event, keyId: 'k', data: data as AuditEntry['data'], prevHash: '', hash: '' });
    const found = signaturesInAudit([row('key.signed', { signature: sig('aa', '01'), messageSha256: hex('11', 32) }), row('key.created', { signature: 'x' })]);
    expect(found).toEqual([{ keyId: 'k', signature: sig('aa', '01'), messageSha256: hex('11', 32), source: 'audit' }]);
  });
});

describe('no share lost: findLostShares', () => {
  const key = { id: 'k1', state: 'active' as const, epoch: 2, signers: ['s1', 's2', 's3'] };
  const active = (keyId: string, epoch: number): HeldShareRow => ({ keyId, epoch, state: 'active' });
  const sound = () =>
    new Map<string, HeldShareRow[]>([
      ['s1', [active('k1', 2)]],
      ['s2', [active('k1', 2), { keyId: 'k1', epoch: 3, state: 'pending' }]],
      ['s3', [active('k1', 2), active('other', 0)]],
    ]);

  it('passes when every signer of an active key holds an active share at its epoch', () => {
    expect(findLostShares([key], sound())).toEqual([]);
  });

  it('detects a signer that holds nothing of the key', () => {
    const h = sound();
    h.set('s3', [active('other', 0)]);
    expect(findLostShares([key], h)).toEqual([{ keyId: 'k1', signer: 's3', epoch: 2, holds: 'nothing' }]);
  });

  it('detects a signer left with only a pending share, or an older epoch', () => {
    const h = sound();
    h.set('s1', [{ keyId: 'k1', epoch: 2, state: 'pending' }]);
    h.set('s2', [active('k1', 1)]);
    expect(findLostShares([key], h).map((l) => `${l.signer}: ${l.holds}`)).toEqual(['s1: pending@2', 's2: active@1']);
  });

  it('detects a signer whose keystore was not read at all', () => {
    const h = sound();
    h.delete('s2');
    expect(findLostShares([key], h).map((l) => l.signer)).toEqual(['s2']);
  });

  it('ignores retired and pending keys', () => {
    expect(findLostShares([{ ...key, state: 'retired' }, { ...key, id: 'k2', state: 'pending' }], new Map())).toEqual([]);
  });
});

describe('the audit chain verifies: checkAuditChain', () => {
  /** A chain of `n` rows hashed as the coordinator hashes them. */
  function chain(n: number): AuditEntry[] {
    const out: AuditEntry[] = [];
    let prev = '00'.repeat(32);
    for (let seq = 1; seq <= n; seq++) {
      const data = { signer: `s${seq}`, epoch: seq, list: ['a', 'b'] };
      const hash = auditHash(prev, { seq, ts: 1000 + seq, event: 'commit.acked', keyId: 'k', data: JSON.stringify(data) });
      out.push({ seq, ts: 1000 + seq, event: 'commit.acked', keyId: 'k', data, prevHash: prev, hash });
      prev = hash;
    }
    return out;
  }
  const ok = (entries: AuditEntry[]) => ({ ok: true as const, count: entries.length, head: entries.at(-1)!.hash });

  it('passes a sound chain', () => {
    const entries = chain(4);
    expect(checkAuditChain(entries, ok(entries))).toEqual([]);
  });

  it("reports the coordinator's failed verification", () => {
    expect(checkAuditChain(chain(2), { ok: false, seq: 2, reason: 'hash does not match the row' })).toEqual([{ seq: 2, reason: 'hash does not match the row', source: 'coordinator' }]);
  });

  it('detects a row whose data was altered', () => {
    const entries = chain(4);
    entries[2] = { ...entries[2]!, data: { ...entries[2]!.data, epoch: 99 } };
    expect(checkAuditChain(entries, ok(entries))).toEqual([{ seq: 3, reason: 'hash does not match the row', source: 'recomputed' }]);
  });

  it('detects a broken link and a missing row', () => {
    const relinked = chain(3);
    relinked[1] = { ...relinked[1]!, prevHash: 'ff'.repeat(32) };
    expect(checkAuditChain(relinked, ok(relinked))[0]).toMatchObject({ seq: 2, reason: 'prevHash is not the previous row hash' });
    const gap = chain(4);
    gap.splice(1, 1);
    expect(checkAuditChain(gap, ok(gap))[0]).toMatchObject({ seq: 3, reason: 'expected row 2' });
  });
});

describe('the seeded schedule: Prng', () => {
  const draws = (p: Prng) => Array.from({ length: 8 }, () => p.next());

  it('replays the same draws for the same seed and trial, and others for another', () => {
    expect(draws(Prng.forTrial(42, 3))).toEqual(draws(Prng.forTrial(42, 3)));
    expect(draws(Prng.forTrial(42, 3))).not.toEqual(draws(Prng.forTrial(42, 4)));
    expect(draws(Prng.forTrial(42, 3))).not.toEqual(draws(Prng.forTrial(43, 3)));
  });

  it('draws in range: int, pick, weighted, shuffle', () => {
    const p = new Prng(7);
    for (let i = 0; i < 200; i++) {
      const x = p.next();
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
      expect(p.int(2, 4)).toBeGreaterThanOrEqual(2);
      expect(['a', 'b']).toContain(p.pick(['a', 'b']));
      expect(p.weighted([{ item: 'never', weight: 0 }, { item: 'always', weight: 1 }])).toBe('always');
    }
    expect(p.shuffle([1, 2, 3, 4]).sort()).toEqual([1, 2, 3, 4]);
    expect(() => p.pick([])).toThrow();
  });
});

describe('the op table: repair', () => {
  const SIGNERS = ['signer-1', 'signer-2', 'signer-3'];
  const key = (id: string, suite: string, threshold: number, signers: string[], epoch = 0) => ({ id, suite, threshold, signers, epoch, state: 'active' }) as unknown as KeyJson;
  const ctx = (active: KeyJson[], trial = 1): OpContext => ({
    // The draws never reach the cluster: a call would throw here.
    client: {} as KeyquorumClient,
    signerIds: SIGNERS,
    threshold: 2,
    suites: ['frost-secp256k1-tr', 'frost-ed25519', 'ecdsa-secp256k1'],
    maxKeys: 3,
    trial,
    active,
    left: new Map(),
    recordSignature: () => undefined,
    loseSigner: () => Promise.reject(new Error('not in a draw')),
  });

  it('is an entry of OPS with the smallest weight', () => {
    const repair = OPS.find((o) => o.name === 'repair');
    expect(repair).toBeDefined();
    expect(repair!.weight).toBe(Math.min(...OPS.map((o) => o.weight)));
  });

  it('targets only signers whose every active key is FROST with t other holders', () => {
    const tr = key('k-tr', 'frost-secp256k1-tr', 2, SIGNERS);
    const ed = key('k-ed', 'frost-ed25519', 2, ['signer-1', 'signer-2']);
    expect(repairTargets(ctx([tr]))).toEqual(SIGNERS);
    // k-ed is 2-of-2: a holder that loses it has one helper, fewer than t.
    expect(repairTargets(ctx([tr, ed]))).toEqual(['signer-3']);
    // an ecdsa key held by everyone: a wiped signer would lose a share repair cannot rebuild.
    expect(repairTargets(ctx([tr, key('k-ec', 'ecdsa-secp256k1', 2, SIGNERS)]))).toEqual([]);
    expect(repairTargets(ctx([tr, key('k-ec', 'ecdsa-secp256k1', 2, ['signer-1', 'signer-2'])]))).toEqual(['signer-3']);
    // signer-1 holds no key: nothing to repair (and the 2-of-2 holders have one helper each).
    expect(repairTargets(ctx([key('k-ed2', 'frost-ed25519', 2, ['signer-2', 'signer-3'])]))).toEqual([]);
    expect(repairTargets(ctx([key('k-ed3', 'frost-ed25519', 2, ['signer-2', 'signer-3']), key('k-ed4', 'frost-ed25519', 1, ['signer-1', 'signer-2'])]))).toEqual(['signer-1']);
    expect(repairTargets(ctx([]))).toEqual([]);
  });

  it('is drawn with the seed, replays the same, and plans the repair of every key the target holds', () => {
    const pool = [key('k-ed', 'frost-ed25519', 2, SIGNERS, 2), key('k-tr', 'frost-secp256k1-tr', 2, SIGNERS, 1)];
    const drawn = (seed: number) =>
      Array.from({ length: 40 }, (_, i) => {
        const rng = Prng.forTrial(seed, i + 1);
        const c = ctx(pool, i + 1);
        const op = chooseOp(c, rng);
        const plan = op.plan(c, rng);
        return `${op.name}:${plan.keyId}:${plan.detail}`;
      });
    const run = drawn(31);
    expect(drawn(31)).toEqual(run);
    expect(drawn(32)).not.toEqual(run);
    const repairs = run.filter((d) => d.startsWith('repair:'));
    expect(repairs.length).toBeGreaterThan(0);
    for (const r of repairs) expect(r).toMatch(/^repair:k-ed\+k-tr:signer-[123] wiped; repairs k-ed@2, k-tr@1$/);
    // every op of the table appears in 40 draws; repair less often than sign.
    expect(new Set(run.map((d) => d.split(':')[0]))).toEqual(new Set(OPS.map((o) => o.name)));
    expect(repairs.length).toBeLessThan(run.filter((d) => d.startsWith('sign:')).length);
    // an ecdsa key on every signer: repair never applies.
    const withEcdsa = [...pool, key('k-ec', 'ecdsa-secp256k1', 2, SIGNERS)];
    for (let t = 1; t <= 40; t++) expect(chooseOp(ctx(withEcdsa, t), Prng.forTrial(31, t)).name).not.toBe('repair');
  });
});
