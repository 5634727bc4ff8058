/**
 * The invariants checked after every trial, against the live cluster:
 *   1. every active key is signable by t signers (a fresh signature that the suite's
 *      standard verifier accepts);
 *   2. no share lost: every signer of an active key holds an active share at the key's
 *      epoch (its keystore, read-only);
 *   3. no nonce reused: across every signature of the run (answered to the client or
 *      logged as 'key.signed'), no R twice;
 *   4. the audit chain verifies (the coordinator's verification and a recomputation).
 * A problem already reported (a repeated R, a broken audit row) is reported once.
 */
import type { Cluster } from '../support/cluster.ts';
import { checkAuditChain, findLostShares, findNonceReuse, signaturesInAudit, type HeldShareRow, type SignatureRecord } from './invariants.ts';
import { readKeystoreView, type KeystoreView } from './keystore-view.ts';
import { BadSignature, signAndCheck } from './ops.ts';
import { errorLine, sleep } from './faults.ts';

export type ViolationKind = 'unrecovered' | 'unsignable' | 'bad-signature' | 'share-lost' | 'nonce-reused' | 'audit' | 'harness';

export interface Violation {
  kind: ViolationKind;
  detail: string;
}


/** What the checks remember across trials: every signature seen, and what was reported. */
export class RunEvidence {
  readonly signatures = new Map<string, SignatureRecord>();
  private readonly reported = new Set<string>();

  record(rec: SignatureRecord): void {
    const id = `${rec.messageSha256}:${rec.signature}`;
    if (!this.signatures.has(id)) this.signatures.set(id, rec);
  }

  /** True the first time `what` is seen. */
  firstReport(what: string): boolean {
    if (this.reported.has(what)) return false;
    this.reported.add(what);
    return true;
  }
}

export function keystoreViews(cluster: Cluster): Map<string, KeystoreView> {
  return new Map(cluster.signerIds.map((id) => [id, readKeystoreView(cluster.dataDir(id))]));
}

/** Per key id, the signers whose keystore retired it (left by reshare, or retired). */
export function leftSigners(views: ReadonlyMap<string, KeystoreView>): Map<string, string[]> {
  const left = new Map<string, string[]>();
  for (const [signer, view] of views) for (const keyId of view.retired) left.set(keyId, [...(left.get(keyId) ?? []), signer]);
  return left;
}

async function checkSignable(cluster: Cluster, evidence: RunEvidence): Promise<Violation[]> {
  const out: Violation[] = [];
  const keys = (await cluster.client.listKeys()).filter((k) => k.state === 'active');
  for (const key of keys) {
    let last: unknown;
    for (let i = 0; i < 3; i++) {
      try {
        await signAndCheck({ client: cluster.client, recordSignature: (r) => evidence.record(r) }, key);
        last = undefined;
        break;
      } catch (e) {
        last = e;
        if (e instanceof BadSignature) break;
        await sleep(1000 * (i + 1));
      }
    }
    if (last instanceof BadSignature) out.push({ kind: 'bad-signature', detail: last.message });
    else if (last !== undefined) out.push({ kind: 'unsignable', detail: `${key.id} (${key.suite}, ${key.threshold}-of-[${key.signers.join(',')}], epoch ${key.epoch}): ${errorLine(last)}` });
  }
  return out;
}

async function checkShares(cluster: Cluster): Promise<Violation[]> {
  const keys = await cluster.client.listKeys();
  const holdings = new Map<string, HeldShareRow[]>([...keystoreViews(cluster)].map(([id, v]) => [id, v.shares]));
  return findLostShares(keys, holdings).map((l) => ({ kind: 'share-lost' as const, detail: `${l.signer} holds no active share of ${l.keyId} at epoch ${l.epoch} (holds ${l.holds})` }));
}

async function checkAuditAndNonces(cluster: Cluster, evidence: RunEvidence): Promise<Violation[]> {
  const out: Violation[] = [];
  const { entries, verification } = await cluster.client.audit();
  for (const rec of signaturesInAudit(entries)) evidence.record(rec);
  for (const p of checkAuditChain(entries, verification)) {
    if (evidence.firstReport(`audit:${p.source}:${p.seq}`)) out.push({ kind: 'audit', detail: `${p.source}: row ${p.seq}: ${p.reason}` });
  }
  for (const reuse of findNonceReuse([...evidence.signatures.values()])) {
    if (!evidence.firstReport(`r:${reuse.r}`)) continue;
    const where = reuse.records.map((r) => `${r.keyId} msg ${r.messageSha256.slice(0, 16)}… (${r.source})`).join('; ');
    out.push({ kind: 'nonce-reused', detail: `R ${reuse.r.slice(0, 16)}… in ${reuse.records.length} signatures: ${where}` });
  }
  return out;
}

/** Runs every invariant check; an error of a check itself is a 'harness' violation (never silently a pass). */
export async function checkInvariants(cluster: Cluster, evidence: RunEvidence): Promise<Violation[]> {
  const out: Violation[] = [];
  const checks: Array<[string, () => Promise<Violation[]>]> = [
    ['signable', () => checkSignable(cluster, evidence)],
    ['shares', () => checkShares(cluster)],
    ['audit and nonces', () => checkAuditAndNonces(cluster, evidence)],
  ];
  for (const [name, check] of checks) {
    try {
      out.push(...(await check()));
    } catch (e) {
      out.push({ kind: 'harness', detail: `the ${name} check failed to run: ${errorLine(e)}` });
    }
  }
  return out;
}
