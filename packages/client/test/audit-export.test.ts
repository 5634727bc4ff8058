/**
 * The offline audit export: `client.exportAudit()` of a real coordinator's log (DKG,
 * signatures, refresh, retirement with attestations, a ban lifted with a reason full of
 * escapes), then `verifyAuditExport` with no coordinator: it verifies as exported, and
 * any one changed byte anywhere (property test), a cut, a removed, reordered or
 * duplicated entry, a non-canonical spelling or an inconsistent header is caught at the
 * first entry that does not verify. Then the real CLI: `keyquorum audit export` and
 * `keyquorum audit verify` with their exit codes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditHash, decodeEnvelope, encodeEnvelope, exportIdentitySecret, generateIdentity, sealEnvelope, type AuditChainRow } from '@keyquorum/protocol';
import type { SqliteStore } from '../../coordinator/src/index.ts';
import { startCluster, type Cluster } from '../../coordinator/test/helpers.ts';
import { buildAuditExport, KeyquorumClient, verifyAuditExport, type AuditExportVerification } from '../src/index.ts';
import { writeClientKeyFile } from '../src/discovery.ts';
import { cli } from './support/cli.ts';

let c: Cluster;
let client: KeyquorumClient;
let text: string;
let lines: string[];
let dir: string;
let flags: string[];

const LF = 0x0a;
const fails = (v: AuditExportVerification) => {
  if (v.ok) throw new Error('the export verified');
  return v;
};
/** The file from its lines (each ends in LF). */
const join = (ls: string[]) => `${ls.join('\n')}\n`;
const headerOf = (ls: string[]) => JSON.parse(ls[0]!) as Record<string, unknown>;
/** A header line with `change` applied and its headerSha256 recomputed as the format defines it. */
function rewrittenHeader(ls: string[], change: Record<string, unknown>): string {
  const { headerSha256: _, ...fields } = { ...headerOf(ls), ...change };
  return JSON.stringify({ ...fields, headerSha256: bytesToHex(sha256(utf8ToBytes(JSON.stringify(fields)))) });
}

beforeAll(async () => {
  // A round timeout for a loaded machine (the helper's 5 s default is shorter).
  c = await startCluster(['s1', 's2', 's3'], { options: { roundTimeoutMs: 30_000 } });
  client = new KeyquorumClient({ url: c.coordinator.url, clientKey: c.admin });
  await client.createKey({ keyId: 'ax-1', suite: 'frost-secp256k1-tr', threshold: 2 });
  await client.sign('ax-1', { message: 'ab'.repeat(32) });
  await client.sign('ax-1', { message: 'cd'.repeat(32), path: 'm/44/0/7' });
  await client.refresh('ax-1');
  await client.retire('ax-1');
  await client.createKey({ keyId: 'ax-2', suite: 'frost-ed25519', threshold: 2 });
  // A ban lifted: its reason (in the audited payload) has quotes, escapes, non-ASCII and a control character.
  const registry = (c.coordinator as unknown as { parts: { registry: SqliteStore } }).parts.registry;
  await registry.ban('ax-2', 's3', 'said "é\\u00e9" ✓ \u0001 𝄞 <&>');
  await client.clearBan('ax-2', 's3');
  const out = await client.exportAudit();
  text = out.text;
  lines = text.split('\n').slice(0, -1);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyquorum-audit-export-'));
  const keyFile = path.join(dir, 'admin-key.json');
  writeClientKeyFile(keyFile, exportIdentitySecret(c.admin), c.admin.publicKey);
  flags = ['--url', c.coordinator.url, '--key-file', keyFile];
}, 60_000);
afterAll(async () => {
  await c?.stop();
  if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
});

describe('exportAudit and verifyAuditExport of a real log', () => {
  it("exports the coordinator's whole chain, and it verifies offline: same count, same head", async () => {
    const rows = await c.coordinator.audit();
    expect(rows.length).toBeGreaterThan(15);
    expect(rows.map((r) => r.event)).toEqual(expect.arrayContaining(['key.created', 'key.signed', 'key.refreshed', 'key.retired', 'key.attested', 'signer.unbanned']));
    const coordinatorView = await c.coordinator.verifyAudit();
    expect(coordinatorView.ok).toBe(true);
    const v = verifyAuditExport(text);
    // The three signers' destruction attestations of ax-1, each with its signed ATTEST (no keys pinned: none signature-checked).
    const attestations = { attested: 3, signed: 3, verified: 0 };
    // Its signers leave audit checkpoints unanswered (audit-checkpoints.test.ts has cosigning ones): not cosigned.
    const cosigned = { checkpoints: 0, verified: 0, seq: 0, signers: [], bySigner: {} };
    expect(v).toEqual({ ok: true, version: 2, coordinator: { url: c.coordinator.url }, exportedAt: expect.any(Number), count: rows.length, head: rows.at(-1)!.hash, attestations, cosigned });
    expect(coordinatorView).toMatchObject({ count: rows.length, head: rows.at(-1)!.hash });
    // The bytes verified: each entry's data is the payload JSON the coordinator hashed.
    expect(lines).toHaveLength(rows.length + 1);
    const unbanned = JSON.parse(lines.find((l) => l.includes('signer.unbanned'))!) as { data: string };
    expect(JSON.parse(unbanned.data)).toMatchObject({ reason: 'said "é\\u00e9" ✓ \u0001 𝄞 <&>' });
  });

  it('pages through the log: small pages give the same entries, with progress after each page', async () => {
    const progress: number[] = [];
    const out = await client.exportAudit({ pageSize: 4, onProgress: (n) => progress.push(n) });
    expect(out.verification.ok).toBe(true);
    expect(out.entries).toBe(lines.length - 1);
    expect(out.text.split('\n').slice(1)).toEqual(text.split('\n').slice(1));
    expect(progress.length).toBe(Math.ceil(out.entries / 4));
    expect(progress.at(-1)).toBe(out.entries);
  });

  it('catches any one changed byte, naming the line it is on (the entry at that position, or the header)', () => {
    const bytes = utf8ToBytes(text);
    // Each byte's line: the number of LFs before it, plus one (an LF belongs to the line it ends).
    const lineOf: number[] = [];
    let line = 1;
    for (const b of bytes) {
      lineOf.push(line);
      if (b === LF) line++;
    }
    fc.assert(
      fc.property(fc.nat({ max: bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, delta) => {
        const changed = bytes.slice();
        changed[at] = (changed[at]! + delta) & 0xff;
        const v = fails(verifyAuditExport(changed));
        expect(v.line).toBe(lineOf[at]);
        expect(v.seq).toBe(lineOf[at] === 1 ? null : lineOf[at]! - 1);
      }),
      { numRuns: 600 },
    );
  });

  it('catches a cut file: a missing tail, a line cut short, entries gone after the header', () => {
    const n = lines.length - 1;
    expect(fails(verifyAuditExport(join(lines.slice(0, -1))))).toMatchObject({ seq: n, line: n + 1, fault: 'truncated' });
    expect(fails(verifyAuditExport(join(lines.slice(0, 1))))).toMatchObject({ seq: 1, line: 2, fault: 'truncated' });
    expect(fails(verifyAuditExport(text.slice(0, -30)))).toMatchObject({ seq: n, line: n + 1, fault: 'malformed' });
    expect(fails(verifyAuditExport(text.slice(0, -1)))).toMatchObject({ seq: n, line: n + 1, fault: 'malformed' });
    expect(fails(verifyAuditExport(''))).toMatchObject({ seq: null, line: 1, fault: 'header' });
  });

  it('catches a removed, reordered or duplicated entry at the first one out of place', () => {
    const removed = [...lines.slice(0, 5), ...lines.slice(6)];
    expect(fails(verifyAuditExport(join(removed)))).toMatchObject({ seq: 5, line: 6, fault: 'sequence' });
    const swapped = [...lines];
    [swapped[7], swapped[8]] = [swapped[8]!, swapped[7]!];
    expect(fails(verifyAuditExport(join(swapped)))).toMatchObject({ seq: 7, line: 8, fault: 'sequence' });
    const duplicated = [...lines.slice(0, 4), lines[3]!, ...lines.slice(4)];
    expect(fails(verifyAuditExport(join(duplicated)))).toMatchObject({ seq: 4, line: 5, fault: 'sequence' });
    expect(fails(verifyAuditExport(join([...lines, lines.at(-1)!])))).toMatchObject({ seq: lines.length, line: lines.length + 1, fault: 'extra' });
  });

  it('refuses another spelling of the same values (the same entry, not in the canonical form)', () => {
    const entry = JSON.parse(lines[2]!) as Record<string, unknown>;
    const respelled = [
      JSON.stringify(entry, null, 1).replace(/\n/g, ''),
      JSON.stringify({ ts: entry.ts, ...entry }),
      lines[2]!.replace(/"event":"key\./, '"event":"key\\u002e'),
    ];
    for (const l of respelled) {
      expect(JSON.parse(l)).toEqual(entry);
      expect(fails(verifyAuditExport(join([lines[0]!, lines[1]!, l, ...lines.slice(3)])))).toMatchObject({ seq: 2, line: 3, fault: 'malformed' });
    }
    const header = headerOf(lines);
    expect(fails(verifyAuditExport(join([JSON.stringify(header, null, 2).replace(/\n/g, ''), ...lines.slice(1)])))).toMatchObject({ seq: null, fault: 'header' });
  });

  it("catches a header rewritten with a matching headerSha256 whose count or head is not the chain's", () => {
    expect(fails(verifyAuditExport(join([rewrittenHeader(lines, { head: 'ab'.repeat(32) }), ...lines.slice(1)])))).toMatchObject({ seq: null, line: 1, fault: 'header' });
    expect(fails(verifyAuditExport(join([rewrittenHeader(lines, { count: lines.length }), ...lines.slice(1)])))).toMatchObject({ seq: lines.length, fault: 'truncated' });
    // The same rewrite of what is not bound to the chain verifies: headerSha256 is as the format defines it.
    expect(verifyAuditExport(join([rewrittenHeader(lines, { exportedAt: 7 }), ...lines.slice(1)]))).toMatchObject({ ok: true, exportedAt: 7 });
  });

  it("refuses an entry whose hashes are right but whose data is not an object's JSON", () => {
    const rows: AuditChainRow[] = [];
    let prev = '00'.repeat(32);
    for (const [seq, data] of [[1, '{"a":1}'], [2, '[1]'], [3, '{}']] as const) {
      const row = { seq, ts: 1000 + seq, event: 'commit.acked', keyId: 'k', data };
      prev = auditHash(prev, row);
      rows.push({ ...row, prevHash: rows.at(-1)?.hash ?? '00'.repeat(32), hash: prev });
    }
    expect(fails(verifyAuditExport(buildAuditExport({ coordinatorUrl: 'http://x', exportedAt: 1, entries: rows })))).toMatchObject({ seq: 2, fault: 'malformed', reason: expect.stringMatching(/data/) });
    expect(verifyAuditExport(buildAuditExport({ coordinatorUrl: 'http://x', exportedAt: 1, entries: [] }))).toMatchObject({ ok: true, count: 0, head: '00'.repeat(32) });
  });
});

/** `ls` with entry line `at` (index in `ls`) replaced by `change` of its data, every hash from there re-chained and the header rewritten to match: what a coordinator that rewrites its log can produce. */
function rechained(ls: string[], at: number, change: (data: Record<string, unknown>) => Record<string, unknown>): string[] {
  const out = [...ls];
  let prev = (JSON.parse(ls[at - 1]!) as { hash?: string }).hash ?? '00'.repeat(32);
  for (let i = at; i < ls.length; i++) {
    const e = JSON.parse(ls[i]!) as AuditChainRow;
    const data = i === at ? JSON.stringify(change(JSON.parse(e.data) as Record<string, unknown>)) : e.data;
    const row = { seq: e.seq, ts: e.ts, event: e.event, keyId: e.keyId, data };
    const hash = auditHash(prev, row);
    out[i] = JSON.stringify({ ...row, prevHash: prev, hash });
    prev = hash;
  }
  out[0] = rewrittenHeader(out, { head: prev });
  return out;
}

describe("the signers' word: retirement attestations checked under pinned signer keys", () => {
  const pinned = () => Object.fromEntries([...c.signerIdentities].map(([id, k]) => [id, bytesToHex(k.publicKey)]));
  /** The index in `lines` of `signer`'s key.attested row. */
  const attestedLine = (signer: string) => lines.findIndex((l) => l.includes('"event":"key.attested"') && l.includes(`\\"signer\\":\\"${signer}\\"`));

  it("verifies every attestation's signature under its signer's key", () => {
    expect(attestedLine('s2')).toBeGreaterThan(0);
    expect(verifyAuditExport(text, { signerKeys: pinned() })).toMatchObject({ ok: true, attestations: { attested: 3, signed: 3, verified: 3 } });
  });

  it('names the attestation whose signer is pinned to another key, or not pinned', () => {
    const at = attestedLine('s2');
    const wrong = { ...pinned(), s2: bytesToHex(generateIdentity().publicKey) };
    expect(fails(verifyAuditExport(text, { signerKeys: wrong }))).toMatchObject({ seq: at, line: at + 1, fault: 'bad-attestation', reason: expect.stringMatching(/signature/) });
    const { s3: _, ...partial } = pinned();
    const s3 = attestedLine('s3');
    expect(fails(verifyAuditExport(text, { signerKeys: partial }))).toMatchObject({ seq: s3, fault: 'bad-attestation', reason: expect.stringMatching(/no pinned key/) });
  });

  it('catches a re-chained log whose attested row says what the signature does not', () => {
    const at = attestedLine('s1');
    const moved = rechained(lines, at, (d) => ({ ...d, destroyedAt: (d.destroyedAt as number) + 1 }));
    expect(fails(verifyAuditExport(join(moved)))).toMatchObject({ seq: at, fault: 'bad-attestation', reason: expect.stringMatching(/does not say what the row says/) });
    const stolen = rechained(lines, at, (d) => ({ ...d, signer: 's2' }));
    expect(fails(verifyAuditExport(join(stolen)))).toMatchObject({ seq: at, fault: 'bad-attestation', reason: expect.stringMatching(/sender/) });
  });

  it('catches, with the keys pinned only, an attestation re-signed by the rewriter under another key', () => {
    const at = attestedLine('s1');
    const forged = rechained(lines, at, (d) => {
      const real = decodeEnvelope(hexToBytes(d.envelope as string));
      return { ...d, envelope: bytesToHex(encodeEnvelope(sealEnvelope(generateIdentity(), real.header, real.payload))) };
    });
    // The file alone cannot tell (the chain and the signed body are consistent): a signer key pinned elsewhere can.
    expect(verifyAuditExport(join(forged))).toMatchObject({ ok: true, attestations: { signed: 3, verified: 0 } });
    expect(fails(verifyAuditExport(join(forged), { signerKeys: pinned() }))).toMatchObject({ seq: at, fault: 'bad-attestation', reason: expect.stringMatching(/signature/) });
  });
});

describe('keyquorum audit export / audit verify (the real CLI against the coordinator)', () => {
  const file = () => path.join(dir, 'audit.jsonl');

  it('exports (exit 0), then verifies with no coordinator flags (exit 0), human and --json', async () => {
    const exported = await cli(['audit', 'export', '--out', file(), '--json', ...flags], { cwd: dir });
    expect(exported.code, exported.stderr).toBe(0);
    const out = JSON.parse(exported.stdout) as { file: string; entries: number; verification: AuditExportVerification };
    expect(out).toMatchObject({ file: file(), entries: (await c.coordinator.audit()).length, verification: { ok: true, count: (await c.coordinator.audit()).length } });

    const keysFile = path.join(dir, 'signer-keys.json');
    fs.writeFileSync(keysFile, JSON.stringify(Object.fromEntries([...c.signerIdentities].map(([id, k]) => [id, bytesToHex(k.publicKey)]))));
    const [human, asJson, pinned] = await Promise.all([
      cli(['audit', 'verify', file()], { cwd: dir }),
      cli(['audit', 'verify', file(), '--json'], { cwd: dir }),
      cli(['audit', 'verify', file(), '--signer-keys', keysFile], { cwd: dir }),
    ]);
    expect(pinned.code, pinned.stderr).toBe(0);
    expect(pinned.stdout).toMatch(/; 3 destruction attestations, 3 signed, 3 signatures verified under pinned signer keys\n/);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(new RegExp(`^audit export verified: ${out.entries} entries, head [0-9a-f]{64}; 3 destruction attestations, 3 signed, 0 signatures verified under pinned signer keys\\nnot cosigned \\(no signer checkpoints in the file\\)\\nexported from http://127\\.0\\.0\\.1:\\d+ at `));
    expect(asJson.code).toBe(0);
    expect(JSON.parse(asJson.stdout)).toEqual(out.verification);
  }, 120_000);

  it('verify of a tampered export exits 1 and names the entry; a missing file or a bad call exits 2', async () => {
    const exported = fs.readFileSync(file(), 'utf8').split('\n');
    // Entry 3 (line 4): one digit of its timestamp changed.
    exported[3] = exported[3]!.replace(/"ts":(\d+)/, (_, ts: string) => `"ts":${ts.slice(0, -1)}${(Number(ts.at(-1)) + 1) % 10}`);
    const tampered = path.join(dir, 'tampered.jsonl');
    fs.writeFileSync(tampered, exported.join('\n'));
    const [human, asJson, missing, noFile, again] = await Promise.all([
      cli(['audit', 'verify', tampered], { cwd: dir }),
      cli(['audit', 'verify', tampered, '--json'], { cwd: dir }),
      cli(['audit', 'verify', path.join(dir, 'nope.jsonl'), '--json'], { cwd: dir }),
      cli(['audit', 'verify'], { cwd: dir }),
      cli(['audit', 'export', '--out', file(), ...flags], { cwd: dir }),
    ]);
    expect(human.code).toBe(1);
    expect(human.stdout).toBe('AUDIT EXPORT DOES NOT VERIFY at entry 3 (line 4): hash-mismatch: hash does not match the row\n');
    expect(asJson.code).toBe(1);
    expect(JSON.parse(asJson.stdout)).toEqual({ ok: false, seq: 3, line: 4, fault: 'hash-mismatch', reason: 'hash does not match the row' });
    expect(missing.code).toBe(2);
    expect(JSON.parse(missing.stderr)).toMatchObject({ error: { code: 'IO' } });
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toMatch(/missing export FILE/);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/exists; not overwriting/);
  }, 120_000);
});

describe('the export of a log the coordinator altered (last: it breaks the log)', () => {
  it('is written whole and names the altered entry; the CLI still writes the file and exits 1', async () => {
    const registry = (c.coordinator as unknown as { parts: { registry: SqliteStore } }).parts.registry;
    const db = (registry as unknown as { db: import('better-sqlite3').Database }).db;
    // Row 6's payload rewritten in the coordinator's store, its hash left as it was.
    const row = db.prepare<[], { data: string }>('SELECT data FROM audit WHERE seq = 6').get()!;
    db.prepare('UPDATE audit SET data = ? WHERE seq = 6').run(JSON.stringify({ ...(JSON.parse(row.data) as object), altered: true }));
    const out = await client.exportAudit();
    expect(out.entries).toBe((await c.coordinator.audit()).length);
    expect(out.verification).toEqual({ ok: false, seq: 6, line: 7, fault: 'hash-mismatch', reason: 'hash does not match the row' });

    const file = path.join(dir, 'altered.jsonl');
    const r = await cli(['audit', 'export', '--out', file, '--json', ...flags], { cwd: dir });
    expect(r.code, r.stderr).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ file, verification: { ok: false, seq: 6, fault: 'hash-mismatch' } });
    expect(verifyAuditExport(fs.readFileSync(file))).toMatchObject({ ok: false, seq: 6 });
  }, 120_000);
});
