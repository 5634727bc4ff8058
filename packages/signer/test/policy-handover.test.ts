/**
 * A key's policy travels with its reshare and repair (docs/governance.md "Handover"),
 * through the real protocol with a coordinator the test plays, which can lie:
 *   - a reshare or repair START that names another policy than the old holders'
 *     (an older version, none, or another document under their version) is refused
 *     by every old holder, POLICY_DENIED (version), writing nothing: the session
 *     cannot run and no new share becomes active anywhere;
 *   - an honest reshare leaves the new member enforcing the policy from its COMMIT
 *     (not before): a signature without its approvals is refused there (rule
 *     approvals), one with them is made; likewise the target of an honest repair.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import {
  KEY_ROUND,
  POLICY_ROUND,
  SIGN_ROUND,
  clientRequestId,
  decodeBody,
  generateIdentity,
  parsePolicy,
  policyDigest,
  policyRequestDigest,
  policyToText,
  repairDigest,
  signApproval,
  signClientRequest,
  signDigest,
  type AbortBody,
  type ClientRequest,
  type Envelope,
  type KeyPolicy,
  type ParticipantRef,
  type PolicyAckBody,
  type WirePublicKey,
} from '@keyquorum/protocol';
import { SignerDaemon } from '../src/index.ts';
import { KEYSTORE_DB_FILE, Keystore, SCRYPT_N_MIN, type StoredPolicy } from '../src/keystore/index.ts';
import { ENV, PASSPHRASE, adminClient, captureLog, initTestSigner, optionsFor, tempDir } from './helpers/cluster.ts';
import { dkgStart, gather, refs, runKeySession, runSign, type SignParams } from './helpers/drive.ts';
import type { FakeCoordinator } from './helpers/fake-coordinator.ts';
import { useFakeCluster } from './helpers/fake-cluster.ts';
import { runRepair } from './helpers/repair-drive.ts';
import { reshareStart, runReshare, type ReshareParams } from './helpers/reshare-drive.ts';
import { snapshot } from './helpers/state.ts';
import { ed25519Approver } from '../../../test/support/passkey.ts';

const SUITE = 'frost-ed25519';
const KEY = 'k1';
const alice = generateIdentity();
const one = (m: Map<string, Envelope[]>) => [...m.values()].map((l) => l[0]!);

/** Signatures need alice's approval; version `version`, `extra` to make another document. */
const governed = (version: number, extra: Record<string, unknown> = {}): KeyPolicy =>
  parsePolicy({ format: 1, version, approvers: [ed25519Approver('alice', alice)], approvals: { sign: 1 }, ...extra });

const fake = useFakeCluster();

/** Sets `policy` on `ids` through the policy session (the default policy needs no approvals to change). */
async function install(c: FakeCoordinator, ids: readonly string[], policy: KeyPolicy): Promise<void> {
  const request = signClientRequest(adminClient, { op: 'policy', keyId: KEY, digest: policyRequestDigest({ keyId: KEY, policy }) });
  const sessionId = randomBytes(32);
  for (const id of ids) c.send(id, { kind: 'policy', suite: SUITE, sessionId, round: POLICY_ROUND.START }, { keyId: KEY, policy: policyToText(policy), request });
  const acks = one(await gather(c, ids, 'policy', POLICY_ROUND.ACK)).map((e) => decodeBody<PolicyAckBody>('policy', POLICY_ROUND.ACK, SUITE, e.payload));
  expect(acks.map((a) => a.version)).toEqual(ids.map(() => policy.version));
}

function dataDir(id: string): string {
  return fake.cl.signers.find((s) => s.id === id)!.dataDir;
}

/** `id`'s key_policies rows of the key (version, digest hex, request id hex) and its shares of it (epoch:state). */
function records(id: string): { policies: string[]; shares: string[] } {
  const db = new Database(path.join(dataDir(id), KEYSTORE_DB_FILE), { readonly: true, fileMustExist: true });
  try {
    return {
      policies: db.prepare<[string], { version: number; digest: Uint8Array; request_id: Uint8Array }>('SELECT version, digest, request_id FROM key_policies WHERE key_id = ? ORDER BY version').all(KEY)
        .map((r) => `${r.version}:${bytesToHex(r.digest)}:${bytesToHex(r.request_id)}`),
      shares: db.prepare<[string], { epoch: number; state: string }>('SELECT epoch, state FROM shares WHERE key_id = ? ORDER BY epoch').all(KEY).map((r) => `${r.epoch}:${r.state}`),
    };
  } finally {
    db.close();
  }
}

const message = sha256(utf8ToBytes('after the handover'));
const signReq = (p: SignParams, approved: boolean): ClientRequest => {
  const r = signClientRequest(adminClient, { op: 'sign', keyId: p.keyId, digest: signDigest(p) });
  return approved ? { ...r, approvals: [signApproval(alice, 'alice', r)] } : r;
};

/** A sign START of `p` to `id` alone without approvals: the ABORT it answers (its session is then over). */
async function refusedSign(c: FakeCoordinator, id: string, p: SignParams): Promise<AbortBody> {
  const sessionId = randomBytes(32);
  c.send(id, { kind: 'sign', suite: SUITE, sessionId, round: SIGN_ROUND.START }, { ...p, request: signReq(p, false) });
  const e = await c.next(id, (x) => x.header.kind === 'sign' && (x.header.round === SIGN_ROUND.ABORT || x.header.round === SIGN_ROUND.COMMITMENT), 60_000);
  if (e.header.round !== SIGN_ROUND.ABORT) {
    c.send(id, { kind: 'sign', suite: SUITE, sessionId, round: SIGN_ROUND.ABORT }, { reason: 'test: expected a refusal' });
    throw new Error(`${id} accepted a sign START without approvals`);
  }
  return decodeBody<AbortBody>('sign', SIGN_ROUND.ABORT, SUITE, e.payload);
}

/** START to `to`; every `holders` answers ABORT POLICY_DENIED (version) and writes nothing; the others are then aborted. */
async function expectHoldersRefuse(c: FakeCoordinator, kind: 'reshare' | 'repair', to: Record<string, unknown>, holders: readonly string[]): Promise<void> {
  const before = new Map(holders.map((id) => [id, snapshot(dataDir(id))]));
  const proposalId = randomBytes(32);
  for (const [id, start] of Object.entries(to)) c.send(id, { kind, suite: SUITE, sessionId: proposalId, round: KEY_ROUND.START }, start as Record<string, unknown>);
  for (const id of holders) {
    const e = await c.next(id, (x) => x.header.kind === kind && (x.header.round === KEY_ROUND.ABORT || x.header.round === KEY_ROUND.CONTRIBUTION), 60_000);
    expect(e.header.round, `${id} took part`).toBe(KEY_ROUND.ABORT);
    const reason = decodeBody<AbortBody>(kind, KEY_ROUND.ABORT, SUITE, e.payload).reason;
    expect(reason).toMatch(/^POLICY_DENIED\b/);
    expect(reason).toContain('POLICY_DENIED (version): ');
    expect(snapshot(dataDir(id))).toEqual(before.get(id));
  }
  // The new holders took part (nothing to check against): end their sessions as a coordinator would.
  for (const id of Object.keys(to).filter((x) => !holders.includes(x))) {
    await c.next(id, (x) => x.header.kind === kind && x.header.round === KEY_ROUND.CONTRIBUTION, 60_000);
    c.send(id, { kind, suite: SUITE, sessionId: proposalId, round: KEY_ROUND.ABORT }, { reason: 'test: the old holders refused' });
  }
}

describe('policy handover on reshare', () => {
  it('old holders refuse a START naming an older policy, none, or another document; an honest one leaves the new member enforcing it from COMMIT', async () => {
    const { c } = await fake.start(['s1', 's2', 's3', 's4']);
    const oldRefs = refs(['s1', 's2', 's3']);
    const dkg = await runKeySession(c, 'dkg', SUITE, oldRefs, dkgStart(KEY, SUITE, 2, oldRefs));
    const v1 = governed(1);
    const v2 = governed(2);
    await install(c, ['s1', 's2', 's3'], v1);
    await install(c, ['s1', 's2', 's3'], v2);
    const params: ReshareParams = { keyId: KEY, suite: SUITE, epoch: 0, oldPublicKey: dkg.publicKey, oldParticipants: oldRefs, dealers: oldRefs.slice(0, 2), newParticipants: refs(['s2', 's3', 's4']), newThreshold: 2 };
    const all = ['s1', 's2', 's3', 's4'];

    for (const policy of [policyToText(v1), undefined, policyToText(governed(2, { approvalTtlSeconds: 60 }))]) {
      const start = reshareStart({ ...params, ...(policy === undefined ? {} : { policy }) });
      await expectHoldersRefuse(c, 'reshare', Object.fromEntries(all.map((id) => [id, start])), ['s1', 's2', 's3']);
    }
    // Nothing moved: the old holders still hold epoch 0, the would-be new member nothing, and it has no policy.
    for (const id of ['s1', 's2', 's3']) expect(records(id).shares).toEqual(['0:active']);
    expect(records('s4')).toEqual({ policies: [], shares: [] });

    const honest = { ...params, policy: policyToText(v2) };
    const run = await runReshare(c, honest);
    // Before COMMIT the new member's share is pending and it enforces nothing yet.
    expect(records('s4')).toEqual({ policies: [], shares: ['1:pending'] });
    for (const id of all) c.send(id, { kind: 'reshare', suite: SUITE, sessionId: run.sessionId, round: KEY_ROUND.COMMIT }, { envelopes: run.confirms });
    await gather(c, all, 'reshare', KEY_ROUND.ACK);
    const s4 = records('s4');
    expect(s4.shares).toEqual(['1:active']);
    expect(s4.policies).toHaveLength(1);
    const [version, digest] = s4.policies[0]!.split(':');
    expect(Number(version)).toBe(2);
    expect(digest).toBe(bytesToHex(policyDigest(v2)));

    const p: SignParams = { keyId: KEY, epoch: 1, message };
    const refusal = await refusedSign(c, 's4', p);
    expect(refusal.reason.startsWith('POLICY_DENIED (approvals): ')).toBe(true);
    // With alice's approval the new set signs.
    const signed = await runSign(c, SUITE, ['s3', 's4'], p, signReq(p, true));
    expect(signed.shares).toHaveLength(2);
  });
});

describe('policy handover on repair', () => {
  /** A 2-of-3 key on s1..s3 under `policy`; then s3's data directory wiped and initialised again. */
  async function setup(policy: KeyPolicy): Promise<{ c: FakeCoordinator; publicKey: WirePublicKey; participants: ParticipantRef[] }> {
    const { c, cl } = await fake.start(['s1', 's2', 's3']);
    const participants = refs(['s1', 's2', 's3']);
    const dkg = await runKeySession(c, 'dkg', SUITE, participants, dkgStart(KEY, SUITE, 2, participants));
    await install(c, ['s1', 's2', 's3'], policy);
    const s3 = cl.signers.find((s) => s.id === 's3')!;
    await cl.daemons.get('s3')!.stop();
    cl.daemons.delete('s3');
    for (let i = 0; i < 200 && c.connected('s3'); i++) await new Promise((r) => setTimeout(r, 50));
    fs.rmSync(s3.dataDir, { recursive: true, force: true });
    initTestSigner('s3', path.dirname(s3.dataDir));
    const daemon = new SignerDaemon(optionsFor(s3, cl.signers, c), { env: ENV, log: captureLog().log });
    await daemon.start();
    fake.extra.push(daemon);
    await c.waitFor('s3');
    return { c, publicKey: dkg.publicKey, participants };
  }

  const repairStart = (publicKey: WirePublicKey, participants: ParticipantRef[], policy: string | undefined) => ({
    keyId: KEY, epoch: 0, publicKey, participants, target: participants[2]!, helpers: participants.slice(0, 2),
    request: signClientRequest(adminClient, { op: 'repair', keyId: KEY, digest: repairDigest({ keyId: KEY, target: 's3' }) }),
    ...(policy === undefined ? {} : { policy }),
  });

  it('helpers refuse a START without the policy; an honest repair leaves the target enforcing it from COMMIT', async () => {
    const v1 = governed(1);
    const { c, publicKey, participants } = await setup(v1);
    for (const policy of [undefined, policyToText(governed(1, { approvalTtlSeconds: 60 }))]) {
      const start = repairStart(publicKey, participants, policy);
      await expectHoldersRefuse(c, 'repair', { s1: start, s2: start, s3: start }, ['s1', 's2']);
    }
    expect(records('s3')).toEqual({ policies: [], shares: [] });

    const start = repairStart(publicKey, participants, policyToText(v1));
    const { sessionId, confirm } = await runRepair(c, SUITE, { s1: start, s2: start, s3: start });
    expect(records('s3')).toEqual({ policies: [], shares: ['0:pending'] });
    c.send('s3', { kind: 'repair', suite: SUITE, sessionId, round: KEY_ROUND.COMMIT }, { envelopes: [confirm] });
    await gather(c, ['s3'], 'repair', KEY_ROUND.ACK);
    expect(records('s3')).toEqual({ policies: [`1:${bytesToHex(policyDigest(v1))}:${bytesToHex(clientRequestId(start.request))}`], shares: ['0:active'] });

    const p: SignParams = { keyId: KEY, epoch: 0, message };
    expect((await refusedSign(c, 's3', p)).reason.startsWith('POLICY_DENIED (approvals): ')).toBe(true);
    const signed = await runSign(c, SUITE, ['s1', 's3'], p, signReq(p, true));
    expect(signed.shares).toHaveLength(2);
  });
});


describe('policy handover in the keystore', () => {
  const stored = (p: KeyPolicy, requestId: Uint8Array): StoredPolicy => ({ keyId: KEY, version: p.version, text: policyToText(p), digest: policyDigest(p), requestId, setAt: 1 });
  const versions = (ks: Keystore) => ks.keyPolicyHistory(KEY).map((r) => `${r.version}:${bytesToHex(r.digest)}`);

  it('an activation with a handover replaces every stale record of the key in its transaction; one without leaves them', () => {
    const ks = Keystore.create({ dataDir: tempDir(), kek: { passphrase: PASSPHRASE }, signerId: 's1', scryptN: SCRYPT_N_MIN });
    try {
      ks.putPending(KEY, 0, SUITE, randomBytes(32), randomBytes(33));
      ks.activate(KEY, 0);
      // Stale records: versions 1..3 of a policy this signer enforced before.
      for (const v of [1, 2, 3]) expect(ks.admitRequest({ clientKeyHex: 'aa', nonces: [`0${v}`], stamp: 1, policy: stored(governed(v), randomBytes(32)) })).toBe(true);
      ks.putPending(KEY, 1, SUITE, randomBytes(32), randomBytes(33));
      ks.activate(KEY, 1);
      expect(versions(ks)).toHaveLength(3);
      // The handover of an older version: it replaces the stale ones (the old holders checked it).
      const v2 = governed(2, { approvalTtlSeconds: 60 });
      ks.putPending(KEY, 2, SUITE, randomBytes(32), randomBytes(33));
      ks.activate(KEY, 2, { policy: stored(v2, randomBytes(32)) });
      expect(versions(ks)).toEqual([`2:${bytesToHex(policyDigest(v2))}`]);
      expect(ks.keyPolicy(KEY)?.version).toBe(2);
      // The handover of the default policy: no record at all.
      ks.putPending(KEY, 3, SUITE, randomBytes(32), randomBytes(33));
      ks.activate(KEY, 3, { policy: undefined });
      expect(versions(ks)).toEqual([]);
      expect(ks.keyPolicy(KEY)).toBeUndefined();
    } finally {
      ks.close();
    }
  });
});
