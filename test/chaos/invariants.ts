/**
 * The chaos run's invariant checkers, as pure functions over what the run collected
 * (so each one is unit-tested on crafted bad input in test/chaos-invariants.test.ts):
 *   - no nonce reused: no R (FROST R, ECDSA r) in two different signatures;
 *   - no share lost: every signer of an active key holds an active share at its epoch;
 *   - the audit chain verifies: the coordinator's own verification, and the chain
 *     recomputed here from the rows it answers (seq, prevHash links, row hashes).
 * "Every active key signable by t signers" needs the cluster; the runner checks it.
 */
import { auditHash } from '@keyquorum/coordinator';
import type { AuditEntry, AuditVerification, KeyJson } from '@keyquorum/client';

/** One signature the run saw: answered to the client, or logged in the audit chain ('key.signed'). */
export interface SignatureRecord {
  keyId: string;
  /** Hex SHA-256 of the signed message. */
  messageSha256: string;
  signature: string;
  source: 'client' | 'audit';
}

export interface NonceReuse {
  /** The repeated nonce commitment (hex). */
  r: string;
  records: SignatureRecord[];
}

/**
 * The nonce commitment of a signature: R's encoding for FROST (32-byte x-only R of
 * BIP340, 32-byte R of Ed25519, 33-byte compressed R of RFC 9591's 65-byte
 * secp256k1 signature), r for ECDSA (r || s).
 */
export function nonceOf(signatureHex: string): string {
  const bytes = signatureHex.length / 2;
  if (bytes === 65) return signatureHex.slice(0, 66);
  if (bytes === 64) return signatureHex.slice(0, 64);
  throw new Error(`nonceOf: unexpected signature length ${bytes}`);
}

/** Every R shared by two different signatures (a signature seen twice, e.g. by the client and in the audit, counts once). */
export function findNonceReuse(records: readonly SignatureRecord[]): NonceReuse[] {
  const byR = new Map<string, Map<string, SignatureRecord>>();
  for (const rec of records) {
    const r = nonceOf(rec.signature.toLowerCase());
    const distinct = byR.get(r) ?? new Map<string, SignatureRecord>();
    const id = `${rec.messageSha256.toLowerCase()}:${rec.signature.toLowerCase()}`;
    if (!distinct.has(id)) distinct.set(id, rec);
    byR.set(r, distinct);
  }
  return [...byR].filter(([, distinct]) => distinct.size > 1).map(([r, distinct]) => ({ r, records: [...distinct.values()] }));
}

/** The signatures the audit chain logged (event 'key.signed'). */
export function signaturesInAudit(entries: readonly AuditEntry[]): SignatureRecord[] {
  return entries
    .filter((e) => e.event === 'key.signed' && typeof e.data.signature === 'string' && typeof e.data.messageSha256 === 'string')
    .map((e) => ({ keyId: e.keyId ?? '', messageSha256: e.data.messageSha256 as string, signature: e.data.signature as string, source: 'audit' as const }));
}

/** One share row of a signer's keystore (no secret: key id, epoch, state). */
export interface HeldShareRow {
  keyId: string;
  epoch: number;
  state: 'pending' | 'active' | 'retired';
}

export interface LostShare {
  keyId: string;
  signer: string;
  epoch: number;
  /** What the signer holds of the key instead, e.g. 'pending@3' or 'nothing'. */
  holds: string;
}

/** Every (active key, signer of it) where the signer holds no active share at the key's epoch. */
export function findLostShares(keys: readonly Pick<KeyJson, 'id' | 'state' | 'epoch' | 'signers'>[], holdings: ReadonlyMap<string, readonly HeldShareRow[]>): LostShare[] {
  const lost: LostShare[] = [];
  for (const key of keys.filter((k) => k.state === 'active')) {
    for (const signer of key.signers) {
      const rows = (holdings.get(signer) ?? []).filter((r) => r.keyId === key.id);
      if (rows.some((r) => r.state === 'active' && r.epoch === key.epoch)) continue;
      const holds = rows.length === 0 ? 'nothing' : rows.map((r) => `${r.state}@${r.epoch}`).join(', ');
      lost.push({ keyId: key.id, signer, epoch: key.epoch, holds });
    }
  }
  return lost;
}

export interface AuditProblem {
  seq: number;
  reason: string;
  /** 'coordinator': its GET /v1/audit verification failed; 'recomputed': the chain recomputed here breaks. */
  source: 'coordinator' | 'recomputed';
}

const GENESIS = '00'.repeat(32);

/**
 * The audit chain's problems: the coordinator's verification when it fails, and the
 * first row where the chain recomputed from `entries` (the whole log, oldest first)
 * breaks: a gap in seq, a prevHash that is not the previous row's hash, or a hash
 * that does not match the row (data re-serialised as the coordinator stores it).
 */
export function checkAuditChain(entries: readonly AuditEntry[], verification: AuditVerification): AuditProblem[] {
  const problems: AuditProblem[] = [];
  if (!verification.ok) problems.push({ seq: verification.seq, reason: verification.reason, source: 'coordinator' });
  let prev = { seq: 0, hash: GENESIS };
  for (const e of entries) {
    const reason =
      e.seq !== prev.seq + 1
        ? `expected row ${prev.seq + 1}`
        : e.prevHash !== prev.hash
          ? 'prevHash is not the previous row hash'
          : auditHash(prev.hash, { seq: e.seq, ts: e.ts, event: e.event, keyId: e.keyId, data: JSON.stringify(e.data) }) !== e.hash
            ? 'hash does not match the row'
            : undefined;
    if (reason !== undefined) {
      problems.push({ seq: e.seq, reason, source: 'recomputed' });
      break;
    }
    prev = { seq: e.seq, hash: e.hash };
  }
  return problems;
}
