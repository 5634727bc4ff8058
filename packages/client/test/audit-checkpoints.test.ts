/**
 * Signer-cosigned audit checkpoints end to end at the coordinator (issue 11 item 4): a
 * real coordinator whose signers (fixtures speaking the real protocol, cosigning as an
 * honest signer does) cosign its log as it grows; the cosignatures are stored, served
 * and exported, and `verifyAuditExport` with the signers' keys pinned says how far the
 * log is cosigned and fails a log rewritten under a checkpoint, even re-chained end to
 * end. Last, the coordinator's own log is rewritten in place: it shows the signers, who
 * refuse to cosign it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditHash, generateIdentity, signCheckpoint, verifyCheckpoint, type AuditChainRow } from '@keyquorum/protocol';
import type { SqliteStore } from '../../coordinator/src/index.ts';
import { startCluster, type Cluster } from '../../coordinator/test/helpers.ts';
import { KeyquorumClient, verifyAuditExport, type AuditExportVerification } from '../src/index.ts';
import { cli } from './support/cli.ts';

let c: Cluster;
let client: KeyquorumClient;
let registry: SqliteStore;
let text: string;
/** The export's lines: header, entries, checkpoints. */
let lines: string[];
let count: number;
let dir: string;

const IDS = ['s1', 's2', 's3'];
const fails = (v: AuditExportVerification) => {
  if (v.ok) throw new Error('the export verified');
  return v;
};
const join = (ls: string[]) => `${ls.join('\n')}\n`;
const pinned = () => Object.fromEntries([...c.signerIdentities].map(([id, k]) => [id, bytesToHex(k.publicKey)]));
const sha = (s: string) => bytesToHex(sha256(utf8ToBytes(s)));
/** The header line with `change` applied and its digests recomputed as the format defines them. */
function header(ls: string[], change: Record<string, unknown>): string {
  const { headerSha256: _, ...fields } = { ...(JSON.parse(ls[0]!) as Record<string, unknown>), ...change };
  return JSON.stringify({ ...fields, headerSha256: sha(JSON.stringify(fields)) });
}
const checkpointLines = (ls: string[]) => ls.slice(count + 1);
const checkpointsSha = (cps: string[]) => sha(cps.map((l) => `${l}\n`).join(''));

/** Waits until every signer cosigned the log's head (the coordinator asks them on its own). */
async function cosignedHead(): Promise<void> {
  const deadline = Date.now() + 60_000;
  const cosigned = async () => {
    const head = (await registry.auditHead()).seq;
    for (const s of IDS) if ((await registry.lastCheckpoint(s))?.seq !== head) return false;
    return true;
  };
  while (!(await cosigned())) {
    if (Date.now() > deadline) throw new Error('the signers did not cosign the head');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Entry `at` (its seq) given another payload and every hash from there recomputed, header to match: a consistent rewrite. */
function rechained(ls: string[], at: number): string[] {
  const out = [...ls];
  let prev = at === 1 ? '00'.repeat(32) : (JSON.parse(ls[at - 1]!) as AuditChainRow).hash;
  for (let seq = at; seq <= count; seq++) {
    const e = JSON.parse(ls[seq]!) as AuditChainRow;
    const data = seq === at ? JSON.stringify({ ...(JSON.parse(e.data) as object), rewritten: true }) : e.data;
    const row = { seq, ts: e.ts, event: e.event, keyId: e.keyId, data };
    const hash = auditHash(prev, row);
    out[seq] = JSON.stringify({ ...row, prevHash: prev, hash });
    prev = hash;
  }
  out[0] = header(out, { head: prev });
  return out;
}

beforeAll(async () => {
  c = await startCluster(IDS, { cosign: true, options: { roundTimeoutMs: 30_000, checkpointIntervalMs: 100 } });
  registry = (c.coordinator as unknown as { parts: { registry: SqliteStore } }).parts.registry;
  client = new KeyquorumClient({ url: c.coordinator.url, clientKey: c.admin });
  await client.createKey({ keyId: 'cp-1', suite: 'frost-ed25519', threshold: 2 });
  await cosignedHead();
  await client.sign('cp-1', { message: 'ab'.repeat(32) });
  await client.sign('cp-1', { message: 'cd'.repeat(32) });
  await client.refresh('cp-1');
  await cosignedHead();
  const out = await client.exportAudit();
  text = out.text;
  lines = text.split('\n').slice(0, -1);
  count = out.entries;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyquorum-audit-checkpoints-'));
}, 120_000);
afterAll(async () => {
  await c?.stop();
  if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
});

describe('the coordinator has its signers cosign the audit log', () => {
  it("stores each signer's cosignatures, each verifying under its key at the hash the log has at that seq", async () => {
    const stored = await registry.checkpoints();
    expect(new Set(stored.map((k) => k.signer))).toEqual(new Set(IDS));
    // Consecutive checkpoints as the log grew: more than one seq per signer.
    expect(new Set(stored.filter((k) => k.signer === 's1').map((k) => k.seq)).size).toBeGreaterThan(1);
    for (const k of stored) {
      expect(verifyCheckpoint(c.signerIdentities.get(k.signer)!.publicKey, k)).toBe(true);
      expect(k.hash).toBe(await registry.auditHashAt(k.seq));
    }
  });

  it('exports them; with the keys pinned the export is cosigned up to its last entry by every signer', async () => {
    expect(checkpointLines(lines)).toHaveLength((await registry.checkpoints()).length);
    expect(verifyAuditExport(text, { signerKeys: pinned() })).toMatchObject({
      ok: true, count, cosigned: { checkpoints: (await registry.checkpoints()).length, verified: (await registry.checkpoints()).length, seq: count, signers: IDS, bySigner: { s1: count, s2: count, s3: count } },
    });
    // Without keys the file still verifies, its checkpoints unverified.
    expect(verifyAuditExport(text)).toMatchObject({ ok: true, cosigned: { verified: 0, seq: 0 } });
  });

  it('fails a log rewritten before its last checkpoint and re-chained end to end, at the first cosigned entry after the change', async () => {
    const changed = 3;
    const cosignedSeqs = [...new Set((await registry.checkpoints()).map((k) => k.seq))].sort((a, b) => a - b);
    const first = cosignedSeqs.find((s) => s >= changed)!;
    const previous = Math.max(0, ...cosignedSeqs.filter((s) => s < changed));
    const rewritten = join(rechained(lines, changed));
    // The chain alone is consistent: only the signers' word catches it.
    const v = fails(verifyAuditExport(rewritten, { signerKeys: pinned() }));
    expect(v).toMatchObject({ seq: first, line: first + 1, fault: 'rewritten', reason: expect.stringContaining(`an entry in ${previous + 1}..${first} was changed`) });
    expect(previous + 1).toBeLessThanOrEqual(changed);
    expect(fails(verifyAuditExport(rewritten))).toMatchObject({ seq: first, fault: 'rewritten' });
    expect(verifyAuditExport(text, { signerKeys: pinned() })).toMatchObject({ ok: true });
  });

  it('fails checkpoints re-signed by the rewriter once the keys are pinned; dropping them leaves the log not cosigned', () => {
    const rewritten = rechained(lines, 3);
    const forger = generateIdentity();
    const hashOf = (seq: number) => (JSON.parse(rewritten[seq]!) as AuditChainRow).hash;
    const forged = checkpointLines(lines).map((l) => {
      const k = JSON.parse(l) as { signer: string; seq: number };
      return JSON.stringify({ signer: k.signer, seq: k.seq, hash: hashOf(k.seq), sig: bytesToHex(signCheckpoint(forger, k.signer, k.seq, hashOf(k.seq))) });
    });
    const withForged = [header(rewritten, { checkpointsSha256: checkpointsSha(forged) }), ...rewritten.slice(1, count + 1), ...forged];
    expect(verifyAuditExport(join(withForged))).toMatchObject({ ok: true, cosigned: { verified: 0 } });
    expect(fails(verifyAuditExport(join(withForged), { signerKeys: pinned() }))).toMatchObject({ fault: 'bad-checkpoint', line: count + 2, reason: expect.stringMatching(/signature/) });
    const dropped = [header(rewritten, { checkpoints: 0, checkpointsSha256: checkpointsSha([]) }), ...rewritten.slice(1, count + 1)];
    expect(verifyAuditExport(join(dropped), { signerKeys: pinned() })).toMatchObject({ ok: true, cosigned: { checkpoints: 0, seq: 0, signers: [] } });
  });

  it('catches a changed byte in a checkpoint line even without keys, and a checkpoint of an entry past the chain', () => {
    const cps = checkpointLines(lines);
    const flipped = cps[0]!.replace(/"sig":"(.)/, (_, d: string) => `"sig":"${d === 'a' ? 'b' : 'a'}`);
    expect(fails(verifyAuditExport(join([...lines.slice(0, count + 1), flipped, ...cps.slice(1)])))).toMatchObject({ fault: 'bad-checkpoint', line: count + 2 });
    const past = JSON.stringify({ ...(JSON.parse(cps[0]!) as object), seq: count + 1 });
    const ls = [...lines.slice(0, count + 1), past, ...cps.slice(1)];
    expect(fails(verifyAuditExport(join([header(ls, { checkpointsSha256: checkpointsSha(ls.slice(count + 1)) }), ...ls.slice(1)])))).toMatchObject({ fault: 'bad-checkpoint', reason: expect.stringMatching(/chain has/) });
  });

  it('still verifies an export from before checkpoints (version 1): not cosigned', () => {
    const { checkpoints: _, checkpointsSha256: __, headerSha256: ___, ...fields } = JSON.parse(lines[0]!) as Record<string, unknown>;
    const v1 = { ...fields, version: 1 };
    const old = join([JSON.stringify({ ...v1, headerSha256: sha(JSON.stringify(v1)) }), ...lines.slice(1, count + 1)]);
    expect(verifyAuditExport(old, { signerKeys: pinned() })).toMatchObject({ ok: true, version: 1, count, cosigned: null });
  });

  it('keyquorum audit verify --signer-keys prints the cosigned range', async () => {
    const file = path.join(dir, 'audit.jsonl');
    fs.writeFileSync(file, text);
    const keys = path.join(dir, 'signer-keys.json');
    fs.writeFileSync(keys, JSON.stringify(pinned()));
    const [withKeys, without] = await Promise.all([cli(['audit', 'verify', file, '--signer-keys', keys], { cwd: dir }), cli(['audit', 'verify', file], { cwd: dir })]);
    expect(withKeys.code, withKeys.stderr).toBe(0);
    expect(withKeys.stdout).toContain(`\ncosigned up to entry ${count} of ${count} by 3 signers (s1, s2, s3)\n`);
    expect(without.code, without.stderr).toBe(0);
    expect(without.stdout).toMatch(/\n\d+ signer checkpoints, not verified \(pin the signers' keys with --signer-keys\)\n/);
  }, 60_000);
});

describe('a cosignature that is not the signer\'s', () => {
  it('is not stored: the coordinator checks each ACK under the pinned key (a connection signing with another key)', async () => {
    const head = await registry.auditHead();
    const kept = (await registry.checkpoints()).filter((k) => k.signer === 's3');
    const metric = /keyquorum_audit_checkpoints_total\{outcome="other"\} (\d+)/;
    const refusedBefore = Number(metric.exec(await (await fetch(`${c.coordinator.url}/metrics`)).text())?.[1] ?? 0);
    // s3 reconnects with its own identity (the handshake holds) but signs checkpoints with another key.
    const liar = c.newSigner('s3', { checkpointSignedBy: generateIdentity() });
    liar.lastCheckpoint = { ...head };
    await liar.connect();
    const deadline = Date.now() + 60_000;
    while (Number(metric.exec(await (await fetch(`${c.coordinator.url}/metrics`)).text())?.[1] ?? 0) === refusedBefore) {
      if (Date.now() > deadline) throw new Error('the forged cosignature was not answered');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await registry.checkpoints()).filter((k) => k.signer === 's3')).toEqual(kept);
    for (const k of await registry.checkpoints()) expect(verifyCheckpoint(c.signerIdentities.get(k.signer)!.publicKey, k)).toBe(true);
    await liar.close();
    const honest = c.newSigner('s3');
    honest.lastCheckpoint = { ...head };
    await honest.connect();
  }, 120_000);
});

describe('a coordinator whose log is rewritten under a cosigned checkpoint (last: it breaks the log)', () => {
  it('shows its signers the rewritten rows; they refuse to cosign it', async () => {
    const db = (registry as unknown as { db: import('better-sqlite3').Database }).db;
    const before = Math.max(...(await Promise.all(IDS.map(async (s) => (await registry.lastCheckpoint(s))!.seq))));
    // Row 2 rewritten in place and every later hash recomputed: the chain verifies.
    const rows = db.prepare<[], { seq: number; ts: number; event: string; key_id: string | null; data: string }>('SELECT seq, ts, event, key_id, data FROM audit ORDER BY seq').all();
    let prev = '00'.repeat(32);
    for (const r of rows) {
      const data = r.seq === 2 ? JSON.stringify({ ...(JSON.parse(r.data) as object), rewritten: true }) : r.data;
      const hash = auditHash(prev, { seq: r.seq, ts: r.ts, event: r.event, keyId: r.key_id, data });
      db.prepare('UPDATE audit SET data = ?, prev_hash = ?, hash = ? WHERE seq = ?').run(data, prev, hash, r.seq);
      prev = hash;
    }
    expect(await registry.verifyAudit()).toMatchObject({ ok: true });
    await client.sign('cp-1', { message: 'ef'.repeat(32) });
    const metric = /keyquorum_audit_checkpoints_total\{outcome="AUDIT_INCONSISTENT"\} (\d+)/;
    const deadline = Date.now() + 60_000;
    let refused = 0;
    while (refused < IDS.length) {
      if (Date.now() > deadline) throw new Error('no signer refused the rewritten log');
      await new Promise((r) => setTimeout(r, 100));
      refused = Number(metric.exec(await (await fetch(`${c.coordinator.url}/metrics`)).text())?.[1] ?? 0);
    }
    // No signer cosigned anything past what it cosigned before the rewrite.
    for (const s of IDS) expect((await registry.lastCheckpoint(s))!.seq).toBe(before);
    expect(c.signers.every((s) => s.lastCheckpoint!.seq === before)).toBe(true);
  }, 120_000);
});
