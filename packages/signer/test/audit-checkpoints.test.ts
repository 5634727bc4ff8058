/**
 * Audit checkpoints at the signer (issue 11 item 4; docs/cluster-protocol.md "Audit
 * checkpoints"): real signer daemons driven through the real protocol by a coordinator
 * fixture that shows them an audit log, honest or rewritten. A signer cosigns only a
 * log that extends what it cosigned before (storing it first), refuses every operation
 * once it is shown a log rewritten under its checkpoint, until a consistent checkpoint
 * arrives, refuses operations past its limit without a checkpoint ("no audit, no
 * operation"), and keeps all of it across a restart.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AUDIT_GENESIS,
  CHECKPOINT_ROUND,
  CHECKPOINT_SUITE,
  auditHash,
  decodeBody,
  verifyCheckpoint,
  type AuditChainRow,
  type AuditPosition,
  type CheckpointAbortBody,
  type CheckpointAckBody,
  type Envelope,
} from '@keyquorum/protocol';
import { SignerDaemon } from '../src/index.ts';
import { KEYSTORE_DB_FILE } from '../src/keystore/index.ts';
import { ENV, captureLog, optionsFor, removeTempDirs, startCluster, type Cluster } from './helpers/cluster.ts';
import { SessionAborted, dkgStart, refs, runKeySession, runSign, signRequest } from './helpers/drive.ts';
import { FakeCoordinator } from './helpers/fake-coordinator.ts';

const SUITE = 'frost-ed25519';
const IDS = ['s1', 's2', 's3'];
const participants = refs(IDS);

/** An audit log of `n` rows; `rewrite(seq)` gives another payload for that row (then every later hash follows). */
function auditLog(n: number, rewrite: (seq: number) => string | undefined = () => undefined): AuditChainRow[] {
  const rows: AuditChainRow[] = [];
  let prev = AUDIT_GENESIS;
  for (let seq = 1; seq <= n; seq++) {
    const row = { seq, ts: 1_700_000_000_000 + seq, event: seq % 2 === 0 ? 'key.signed' : 'commit.acked', keyId: 'k', data: rewrite(seq) ?? JSON.stringify({ n: seq }) };
    const hash = auditHash(prev, row);
    rows.push({ ...row, prevHash: prev, hash });
    prev = hash;
  }
  return rows;
}
const at = (log: AuditChainRow[], seq: number): AuditPosition => ({ seq, hash: seq === 0 ? AUDIT_GENESIS : log[seq - 1]!.hash });
const honest = auditLog(60);
/** The same log with row 7 rewritten and every hash after it recomputed: consistent end to end. */
const forked = auditLog(60, (seq) => (seq === 7 ? JSON.stringify({ n: 7, rewritten: true }) : undefined));

type Answer = { ack: CheckpointAckBody } | { abort: CheckpointAbortBody };

/** Sends `signer` a checkpoint START of `log` from `from` to `to`; its answer. */
async function checkpoint(c: FakeCoordinator, signer: string, log: AuditChainRow[], from: number, to: number, fromHash?: string): Promise<Answer> {
  const sessionId = randomBytes(32);
  const rows = log.slice(from, to);
  c.send(signer, { kind: 'checkpoint', suite: CHECKPOINT_SUITE, sessionId, round: CHECKPOINT_ROUND.START }, { from: { seq: from, hash: fromHash ?? at(log, from).hash }, rows, to: at(log, to) });
  const e = await c.next(signer, (x) => x.header.kind === 'checkpoint' && Buffer.from(x.header.sessionId).equals(sessionId), 30_000);
  const body = decodeBody<CheckpointAckBody | CheckpointAbortBody>('checkpoint', e.header.round, e.header.suite, e.payload);
  return e.header.round === CHECKPOINT_ROUND.ACK ? { ack: body as CheckpointAckBody } : { abort: body as CheckpointAbortBody };
}

/** The signer's audit_checkpoint row, read from its keystore file. */
function stored(cl: Cluster, signer: string): { seq: number | null; hash: string | null; inconsistent_reason: string | null; ops_reserved: number } | undefined {
  const db = new Database(path.join(cl.signers.find((s) => s.id === signer)!.dataDir, KEYSTORE_DB_FILE), { readonly: true });
  try {
    return db.prepare('SELECT seq, hash, inconsistent_reason, ops_reserved FROM audit_checkpoint WHERE id = 1').get() as never;
  } finally {
    db.close();
  }
}

/** A sign START for `keyId` to `signer`; the reason of its ABORT (or 'COMMITMENT' when it goes ahead). */
async function signStartOutcome(c: FakeCoordinator, signer: string, keyId: string): Promise<string> {
  const sessionId = randomBytes(32);
  const message = randomBytes(32);
  c.send(signer, { kind: 'sign', suite: SUITE, sessionId, round: 0 }, { keyId, epoch: 0, message, request: signRequest({ keyId, epoch: 0, message }) });
  const e: Envelope = await c.next(signer, (x) => x.header.kind === 'sign' && Buffer.from(x.header.sessionId).equals(sessionId), 30_000);
  if (e.header.round === 15) return decodeBody<{ reason: string }>('sign', 15, SUITE, e.payload).reason;
  // Not to leave a nonce hanging: the session is aborted by the coordinator.
  c.send(signer, { kind: 'sign', suite: SUITE, sessionId, round: 15 }, { reason: 'test done' });
  return 'COMMITMENT';
}

describe('a signer cosigns the audit log only as an extension of what it cosigned', () => {
  let c: FakeCoordinator;
  let cl: Cluster;
  const pub = (id: string) => cl.signers.find((s) => s.id === id)!.identity.publicKey;

  beforeAll(async () => {
    c = await FakeCoordinator.start();
    cl = await startCluster(c, IDS);
    // A key, created while the signers have no checkpoint yet (trust on first use: they work).
    await runKeySession(c, 'dkg', SUITE, participants, dkgStart('ck-1', SUITE, 2, participants));
  }, 120_000);
  afterAll(async () => {
    await cl?.stop();
    await c?.close();
    removeTempDirs();
  });

  it('cosigns a consistent extension with its identity key, after storing it', async () => {
    // Before its first checkpoint it only reserved the DKG's START (the count it keeps durable).
    expect(stored(cl, 's1')).toMatchObject({ seq: null, hash: null, ops_reserved: expect.any(Number) });
    const first = await checkpoint(c, 's1', honest, 0, 10);
    expect(first).toEqual({ ack: { seq: 10, hash: honest[9]!.hash, sig: expect.any(Uint8Array) } });
    const ack = (first as { ack: CheckpointAckBody }).ack;
    expect(verifyCheckpoint(pub('s1'), { signer: 's1', seq: 10, hash: ack.hash, sig: Buffer.from(ack.sig).toString('hex') })).toBe(true);
    expect(verifyCheckpoint(pub('s2'), { signer: 's1', seq: 10, hash: ack.hash, sig: Buffer.from(ack.sig).toString('hex') })).toBe(false);
    expect(stored(cl, 's1')).toMatchObject({ seq: 10, hash: honest[9]!.hash, inconsistent_reason: null });
    expect(await checkpoint(c, 's1', honest, 10, 20)).toMatchObject({ ack: { seq: 20, hash: honest[19]!.hash } });
    expect(stored(cl, 's1')).toMatchObject({ seq: 20, hash: honest[19]!.hash });
    // Started before its checkpoint but reaching past it with the hash it cosigned there: an extension too.
    expect(await checkpoint(c, 's1', honest, 15, 25)).toMatchObject({ ack: { seq: 25 } });
    expect(stored(cl, 's1')).toMatchObject({ seq: 25 });
  });

  it('answers a checkpoint that starts elsewhere with its own last one (STALE_CHECKPOINT), recording nothing', async () => {
    for (const [from, to] of [[30, 40], [5, 12]] as const) {
      const answer = await checkpoint(c, 's1', honest, from, to);
      expect(answer).toEqual({ abort: { reason: expect.stringMatching(/^STALE_CHECKPOINT/), last: at(honest, 25) } });
    }
    expect(stored(cl, 's1')).toMatchObject({ seq: 25, inconsistent_reason: null });
  });

  it('refuses rows that do not chain to the head announced (BAD_CHECKPOINT), recording nothing', async () => {
    const broken = honest.map((r) => ({ ...r }));
    broken[27]!.data = '{"n":"edited"}';
    expect(await checkpoint(c, 's1', broken, 25, 30)).toEqual({ abort: { reason: expect.stringMatching(/^BAD_CHECKPOINT.*row 28/), last: at(honest, 25) } });
    expect(stored(cl, 's1')).toMatchObject({ seq: 25, inconsistent_reason: null });
  });

  it('refuses a log rewritten before its last checkpoint (re-chained end to end), then every operation START with AUDIT_INCONSISTENT', async () => {
    expect(await signStartOutcome(c, 's1', 'ck-1')).toBe('COMMITMENT');
    // The fork, from the start: rows 1..30 chain perfectly, but row 25 is not what s1 cosigned.
    expect(await checkpoint(c, 's1', forked, 0, 30)).toEqual({ abort: { reason: expect.stringMatching(/^AUDIT_INCONSISTENT.*row 25/), last: at(honest, 25) } });
    expect(stored(cl, 's1')).toMatchObject({ seq: 25, hash: honest[24]!.hash, inconsistent_reason: expect.stringMatching(/row 25/) });
    expect(await signStartOutcome(c, 's1', 'ck-1')).toMatch(/^AUDIT_INCONSISTENT/);
    await expect(runKeySession(c, 'dkg', SUITE, participants, dkgStart('ck-2', SUITE, 2, participants))).rejects.toSatisfy(
      (e) => e instanceof SessionAborted && e.signer === 's1' && e.body.reason.startsWith('AUDIT_INCONSISTENT'),
    );
    // The fork at its own seq: the same verdict.
    expect(await checkpoint(c, 's1', forked, 25, 30)).toMatchObject({ abort: { reason: expect.stringMatching(/^AUDIT_INCONSISTENT/) } });
    // Its peers, never shown the fork, still sign.
    expect(await signStartOutcome(c, 's2', 'ck-1')).toBe('COMMITMENT');
  });

  it('keeps refusing across a restart, then recovers when a checkpoint extends the one it cosigned', async () => {
    const s1 = cl.signers.find((s) => s.id === 's1')!;
    await cl.daemons.get('s1')!.stop();
    const { log } = captureLog();
    const again = new SignerDaemon(optionsFor(s1, cl.signers, c), { env: ENV, log });
    await again.start();
    cl.daemons.set('s1', again);
    await c.waitFor('s1');
    expect(await signStartOutcome(c, 's1', 'ck-1')).toMatch(/^AUDIT_INCONSISTENT/);
    expect(await checkpoint(c, 's1', honest, 25, 40)).toMatchObject({ ack: { seq: 40, hash: honest[39]!.hash } });
    expect(stored(cl, 's1')).toMatchObject({ seq: 40, inconsistent_reason: null, ops_reserved: 0 });
    const { shares } = await runSign(c, SUITE, ['s1', 's2'], { keyId: 'ck-1', epoch: 0, message: randomBytes(32) });
    expect(shares).toHaveLength(2);
  }, 120_000);
});

describe('no audit, no operation: a signer refuses work past its limit without a checkpoint', () => {
  const MAX = 5;
  let c: FakeCoordinator;
  let cl: Cluster;

  beforeAll(async () => {
    c = await FakeCoordinator.start();
    cl = await startCluster(c, ['s1', 's2'], { extra: { maxUncheckpointed: MAX } });
  }, 120_000);
  afterAll(async () => {
    await cl?.stop();
    await c?.close();
    removeTempDirs();
  });

  it(`refuses the START after ${MAX} with AUDIT_CHECKPOINT_REQUIRED, also after a restart, until it cosigns a checkpoint`, async () => {
    // Sign STARTs for a key it does not hold: refused for that, but each is an operation START.
    for (let i = 0; i < MAX; i++) expect(await signStartOutcome(c, 's1', 'nope')).toMatch(/^WRONG_KEY_STATE/);
    expect(await signStartOutcome(c, 's1', 'nope')).toMatch(/^AUDIT_CHECKPOINT_REQUIRED/);
    expect(stored(cl, 's1')).toMatchObject({ seq: null, ops_reserved: MAX });
    // The count is durable (an upper bound kept before the STARTs it covers).
    const s1 = cl.signers.find((s) => s.id === 's1')!;
    await cl.daemons.get('s1')!.stop();
    const again = new SignerDaemon(optionsFor(s1, cl.signers, c, { maxUncheckpointed: MAX }), { env: ENV, log: captureLog().log });
    await again.start();
    cl.daemons.set('s1', again);
    await c.waitFor('s1');
    expect(await signStartOutcome(c, 's1', 'nope')).toMatch(/^AUDIT_CHECKPOINT_REQUIRED/);
    // Its first checkpoint (trusted on first use) restarts the count.
    expect(await checkpoint(c, 's1', honest, 0, 3)).toMatchObject({ ack: { seq: 3 } });
    expect(await signStartOutcome(c, 's1', 'nope')).toMatch(/^WRONG_KEY_STATE/);
    // s2 started nothing: it was never limited.
    expect(await signStartOutcome(c, 's2', 'nope')).toMatch(/^WRONG_KEY_STATE/);
  }, 120_000);
});
