/**
 * `keyquorum audit`:
 *   audit [--key ID]           the log (or one key's rows) and the coordinator's check of the chain
 *   audit export --out FILE    the whole log into a self-describing file (@keyquorum/protocol
 *                              audit-export.ts), verified locally as written; progress on stderr
 *   audit verify FILE [--signer-keys KEYS.json]
 *                              checks an export with no coordinator and names the first entry
 *                              that does not verify; with --signer-keys ({ signerId: Ed25519
 *                              public key hex }, the shape of the coordinator config's `signers`),
 *                              also each retirement attestation's and audit checkpoint's signature
 *                              under its signer's key, and prints how far the signers cosigned the log
 * Exit codes: 0 ok / verified, 1 refused or does not verify (an export whose log does not
 * verify is still written: it is the evidence), 2 usage error or a file that cannot be
 * read or written.
 */
import fs from 'node:fs';
import path from 'node:path';
import { AUDIT_PAGE_MAX, verifyAuditExport, type AuditExportVerification } from '@keyquorum/protocol';
import type { AuditEntry } from './client.ts';
import { IoError, UsageError, connect, keyId, need, parse, printable, table, time, type CliIo } from './cli-support.ts';

function auditView(entries: AuditEntry[]): string {
  return table(
    ['SEQ', 'TIME', 'EVENT', 'KEY', 'DETAIL'],
    entries.map((e) => {
      const detail = Object.entries(e.data)
        .filter(([, v]) => typeof v === 'number' || (typeof v === 'string' && v.length <= 24))
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(' ');
      return [String(e.seq), time(e.ts), e.event, e.keyId ?? '-', detail];
    }),
  );
}

/** How far the signers cosigned the log (audit checkpoints), as far as the pinned keys tell. */
function cosignedRange(v: Extract<AuditExportVerification, { ok: true }>): string {
  const c = v.cosigned;
  if (c === null || c.checkpoints === 0) return 'not cosigned (no signer checkpoints in the file)';
  if (c.verified === 0) return `${c.checkpoints} signer checkpoints, not verified (pin the signers' keys with --signer-keys)`;
  const others = Object.entries(c.bySigner).filter(([s]) => !c.signers.includes(s)).map(([s, seq]) => `${s} up to entry ${seq}`);
  const uncovered = v.count - c.seq;
  return `cosigned up to entry ${c.seq} of ${v.count} by ${c.signers.length} signer${c.signers.length === 1 ? '' : 's'} (${c.signers.join(', ')})${others.length > 0 ? `; ${others.join(', ')}` : ''}${uncovered > 0 ? `; the last ${uncovered} entries not cosigned yet` : ''}`;
}

/** One line saying whether an export verifies, and if not where and why. */
function verdict(v: AuditExportVerification): string {
  if (v.ok) {
    const a = v.attestations;
    const signed = a.attested === 0 ? '' : `; ${a.attested} destruction attestations, ${a.signed} signed, ${a.verified} signatures verified under pinned signer keys`;
    return `audit export verified: ${v.count} entries, head ${v.head}${signed}\n${cosignedRange(v)}`;
  }
  const where = v.seq === null ? 'the header' : `entry ${v.seq}`;
  return `AUDIT EXPORT DOES NOT VERIFY at ${where} (line ${v.line}): ${v.fault}: ${v.reason}`;
}

/** `{ signerId: 64 hex digits }` from a JSON file. */
function readSignerKeys(file: string): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new IoError(`cannot read ${file} as JSON: ${errorMessage(e)}`);
  }
  const entries = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? Object.entries(parsed) : [];
  if (entries.length === 0 || entries.some(([, k]) => typeof k !== 'string' || !/^[0-9a-fA-F]{64}$/.test(k))) {
    throw new UsageError('--signer-keys: expected a JSON object { "signer-id": "<Ed25519 public key, 64 hex digits>", ... }');
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export async function audit(args: string[], io: CliIo): Promise<number> {
  const json = args.includes('--json');
  const print = (data: unknown, human: string) => io.out(json ? `${JSON.stringify(data, null, 2)}\n` : `${human}\n`);
  switch (args[0]) {
    case 'export': {
      const { values: v } = parse(args.slice(1), { out: { type: 'string' } }, 0);
      const file = path.resolve(io.cwd, need(v, 'out'));
      if (fs.existsSync(file)) throw new UsageError(`--out: ${file} exists; not overwriting it`);
      const { client } = connect(v, io);
      // A long log: a line per full page read (AUDIT_PAGE_MAX entries each).
      const onProgress = (n: number) => {
        if (n > 0 && n % AUDIT_PAGE_MAX === 0) io.err(`audit export: ${n} entries read…\n`);
      };
      const out = await client.exportAudit({ onProgress });
      try {
        fs.writeFileSync(file, out.text, { flag: 'wx', mode: 0o644 });
      } catch (e) {
        throw new IoError(`cannot write ${file}: ${errorMessage(e)}`);
      }
      print({ file, entries: out.entries, verification: out.verification }, `wrote ${out.entries} entries to ${printable(file)}\n${verdict(out.verification)}`);
      return out.verification.ok ? 0 : 1;
    }
    case 'verify': {
      const { values: v, positionals } = parse(args.slice(1), { 'signer-keys': { type: 'string' } }, 1, 'export FILE');
      if (v.url !== undefined || v['key-file'] !== undefined) throw new UsageError('audit verify reads a file only: no --url or --key-file');
      const file = path.resolve(io.cwd, positionals[0]!);
      let bytes: Uint8Array;
      try {
        bytes = fs.readFileSync(file);
      } catch (e) {
        throw new IoError(`cannot read ${file}: ${errorMessage(e)}`);
      }
      const signerKeys = v['signer-keys'] === undefined ? {} : { signerKeys: readSignerKeys(path.resolve(io.cwd, v['signer-keys'] as string)) };
      const result = verifyAuditExport(bytes, signerKeys);
      const from = result.ok ? `\nexported from ${printable(result.coordinator.url)} at ${time(result.exportedAt)}; entries past the cosigned range are signed by no one: compare the head with one kept elsewhere (an earlier export, 'keyquorum audit')` : '';
      print(result, `${verdict(result)}${from}`);
      return result.ok ? 0 : 1;
    }
    default: {
      const { values: v } = parse(args, { key: { type: 'string' } }, 0);
      const out = await connect(v, io).client.audit(v.key === undefined ? undefined : keyId(v.key as string));
      const chain = out.verification.ok ? `audit chain verified: ${out.verification.count} entries, head ${out.verification.head.slice(0, 16)}…` : `AUDIT CHAIN BROKEN at seq ${out.verification.seq}: ${printable(out.verification.reason)}`;
      print(out, `${out.entries.length === 0 ? 'no entries' : auditView(out.entries)}\n${chain}`);
      return 0;
    }
  }
}
