/**
 * Per-key policy and approval quorums, enforced by each signer against its own copy
 * (issue 11 parts 2 and 3; docs/governance.md "Signer"). Driven through the real
 * protocol by a fixture coordinator that lies: it sends signatures without their
 * approvals, with forged or moved approvals, replays approved requests, rolls policies
 * back, and forgets the velocity count (a fresh coordinator). Every refusal names its
 * rule (`POLICY_DENIED (<rule>): ...`) and leaves the keystore as it was: no replay
 * entry, no nonce, no velocity count. Approvals are real: an Ed25519 approver key and
 * a software passkey producing real WebAuthn assertions (test/support/passkey.ts).
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import {
  ECDSA_SIGN_ROUND,
  ECDSA_SUITE,
  POLICY_ROUND,
  SIGN_ROUND,
  STATE_ROUND,
  approvalChallenge,
  createKeyDigest,
  decodeBody,
  fromWirePublicKey,
  generateIdentity,
  parsePolicy,
  policyDigest,
  policyRequestDigest,
  policyToText,
  refreshDigest,
  signApproval,
  signClientRequest,
  signDigest,
  stateDigest,
  type Approval,
  type ClientRequest,
  type Envelope,
  type IdentityKey,
  type ParticipantRef,
  type PolicyAbortBody,
  type PolicyAckBody,
  type RequestedTransition,
  type SignCommitmentBody,
  type SignShareBody,
  type StateAckBody,
  type WirePublicKey,
} from '@keyquorum/protocol';
import { aggregate, verifySignature } from '@keyquorum/crypto';
import { SoftwarePasskey, ed25519Approver } from '../../../test/support/passkey.ts';
import { KEYSTORE_DB_FILE } from '../src/keystore/index.ts';
import { MAX_ATTEMPTS_PER_REQUEST } from '../src/index.ts';
import { adminClient, removeTempDirs } from './helpers/cluster.ts';
import { SessionAborted, gather, refs, runKeySession, runSign, type SignParams } from './helpers/drive.ts';
import { ecdsaSign } from './helpers/ecdsa-drive.ts';
import { FakeCoordinator } from './helpers/fake-coordinator.ts';
import { TestClock, patient, snapshot, startClockedCluster, type ClockedCluster } from './helpers/state.ts';

const SUITE = 'frost-ed25519';
const IDS = ['s1', 's2', 's3'];
const participants = refs(IDS);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** A second admin and a client with the 'signer' role only. */
const otherAdmin = generateIdentity();
const signerClient = generateIdentity();
/** Approvers: an Ed25519 key (alice), a passkey (bob), and carol's Ed25519 key. */
const alice = generateIdentity();
const carol = generateIdentity();
const bob = new SoftwarePasskey({ rpId: 'localhost', origin: 'http://localhost:8080' });
const approvers = [
  ed25519Approver('alice', alice),
  bob.approver('bob'),
  ed25519Approver('carol', carol),
];

const clock = new TestClock();
let c: FakeCoordinator;
let cl: ClockedCluster;
let port: number;

beforeAll(async () => {
  c = patient(await FakeCoordinator.start());
  port = Number(new URL(c.url).port);
  cl = await startClockedCluster(c, IDS, clock, {
    clients: [
      { publicKey: bytesToHex(adminClient.publicKey), roles: ['admin'] },
      { publicKey: bytesToHex(otherAdmin.publicKey), roles: ['admin'] },
      { publicKey: bytesToHex(signerClient.publicKey), roles: ['signer'] },
    ],
  });
}, 120_000);
afterAll(async () => {
  await cl?.stop();
  await c?.close();
  removeTempDirs();
});

const publicKeys = new Map<string, WirePublicKey>();

async function createKey(keyId: string): Promise<void> {
  const request = signClientRequest(adminClient, { op: 'createKey', keyId, digest: createKeyDigest({ keyId, suite: SUITE, threshold: 2, signers: IDS }), timestamp: clock.now() });
  publicKeys.set(keyId, (await runKeySession(c, 'dkg', SUITE, participants, { keyId, threshold: 2, participants, request })).publicKey);
}

/** A policy document (JSON form) of `version` with the approvers above and `rest`. */
const policyOf = (version: number, rest: Record<string, unknown> = {}) => parsePolicy({ format: 1, version, approvers, ...rest });

function request(by: IdentityKey, fields: { op: ClientRequest['op']; keyId: string; digest: Uint8Array }, o: { timestamp?: number; approvedBy?: ApproverName[] } = {}): ClientRequest {
  const r = signClientRequest(by, { ...fields, timestamp: o.timestamp ?? clock.now() });
  return o.approvedBy === undefined ? r : withApprovals(r, o.approvedBy);
}

type ApproverName = 'alice' | 'bob' | 'carol';
/** `r` carrying real approvals of it by `names`. */
function withApprovals(r: ClientRequest, names: readonly ApproverName[]): ClientRequest {
  const approvals: Approval[] = names.map((n) => (n === 'bob' ? bob.approve('bob', approvalChallenge(r)) : signApproval(n === 'alice' ? alice : carol, n, r)));
  return { ...r, approvals };
}

/** Policy START to `ids`; resolves with their ACKs, throws the first ABORT (SessionAborted, body with `rule`). */
async function setPolicy(ids: readonly string[], keyId: string, text: string, req: ClientRequest, suite = SUITE): Promise<PolicyAckBody[]> {
  const sessionId = randomBytes(32);
  for (const id of ids) c.send(id, { kind: 'policy', suite, sessionId, round: POLICY_ROUND.START }, { keyId, policy: text, request: req });
  const got = await gather(c, ids, 'policy', POLICY_ROUND.ACK);
  return [...got.values()].map((l) => decodeBody<PolicyAckBody>('policy', POLICY_ROUND.ACK, suite, l[0]!.payload));
}

/** Sets `policy` on every signer, by the admin, approved by `approvedBy` when the policy in force needs it. */
async function install(keyId: string, policy: ReturnType<typeof policyOf>, approvedBy?: ApproverName[], suite = SUITE): Promise<void> {
  const req = request(adminClient, { op: 'policy', keyId, digest: policyRequestDigest({ keyId, policy }) }, approvedBy ? { approvedBy } : {});
  const acks = await setPolicy(IDS, keyId, policyToText(policy), req, suite);
  expect(acks.map((a) => a.version)).toEqual([policy.version, policy.version, policy.version]);
}

const message = (text: string) => sha256(utf8ToBytes(text));
const signParams = (keyId: string, text: string, o: { path?: string } = {}): SignParams => ({ keyId, epoch: 0, message: message(text), ...o });
const signReq = (p: SignParams, o: { by?: IdentityKey; timestamp?: number; approvedBy?: ApproverName[] } = {}) =>
  request(o.by ?? adminClient, { op: 'sign', keyId: p.keyId, digest: signDigest(p) }, o);

/** Signs over s1 and s2 and returns the aggregated signature, verified against the key. */
async function signOk(p: SignParams, req: ClientRequest = signReq(p)): Promise<void> {
  const signed = await runSign(c, SUITE, ['s1', 's2'], p, req);
  const pkg = fromWirePublicKey(publicKeys.get(p.keyId)!);
  const idOf = (e: Envelope) => participants.find((x: ParticipantRef) => x.signer === e.header.from)!.index;
  const commitments = signed.commitments.map((e) => ({ id: idOf(e), ...decodeBody<SignCommitmentBody>('sign', SIGN_ROUND.COMMITMENT, SUITE, e.payload) }));
  const shares = signed.shares.map((e) => ({ id: idOf(e), share: decodeBody<SignShareBody>('sign', SIGN_ROUND.SHARE, SUITE, e.payload).share }));
  const target = p.path === undefined ? undefined : { path: p.path };
  expect(verifySignature(pkg, p.message, aggregate(pkg, { message: p.message, commitments }, shares, target), target)).toBe(true);
}

/** Refused by s1 with code (and rule), and nothing durable changed there. */
async function expectRefused(run: () => Promise<unknown>, code: string, rule?: string): Promise<SessionAborted> {
  const before = snapshot(cl.signers[0]!.dataDir);
  const e = await run().then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(SessionAborted);
  const reason = (e as SessionAborted).body.reason;
  expect(reason).toMatch(new RegExp(`^${code}\\b`));
  if (rule !== undefined) expect(reason.startsWith(`POLICY_DENIED (${rule}): `)).toBe(true);
  expect(snapshot(cl.signers[0]!.dataDir)).toEqual(before);
  return e as SessionAborted;
}

/** A sign START of `req` to s1 alone; resolves on its COMMITMENT (then aborted by the test), throws its ABORT. */
async function signStart(p: SignParams, req: ClientRequest, to = 's1'): Promise<void> {
  const sessionId = randomBytes(32);
  c.send(to, { kind: 'sign', suite: SUITE, sessionId, round: SIGN_ROUND.START }, { ...p, request: req });
  try {
    await gather(c, [to], 'sign', SIGN_ROUND.COMMITMENT);
  } finally {
    c.send(to, { kind: 'sign', suite: SUITE, sessionId, round: SIGN_ROUND.ABORT }, { reason: 'test done' });
  }
  // The ABORT discards the session's nonce: wait for it, so the next snapshot starts from rest.
  const db = new Database(path.join(cl.signers.find((s) => s.id === to)!.dataDir, KEYSTORE_DB_FILE), { readonly: true, fileMustExist: true });
  try {
    const fresh = db.prepare<[string], number>("SELECT count(*) FROM nonces WHERE key_id = ? AND state = 'fresh'").pluck();
    for (let waited = 0; fresh.get(p.keyId)! > 0; waited += 20) {
      if (waited > 60_000) throw new Error(`${to} kept a fresh nonce of ${p.keyId}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    db.close();
  }
}

async function transition(ids: readonly string[], keyId: string, t: RequestedTransition, req: ClientRequest): Promise<StateAckBody[]> {
  const sessionId = randomBytes(32);
  for (const id of ids) c.send(id, { kind: 'state', suite: SUITE, sessionId, round: STATE_ROUND.START }, { keyId, transition: t, afterMs: 0, request: req });
  const got = await gather(c, ids, 'state', STATE_ROUND.ACK);
  return [...got.values()].map((l) => decodeBody<StateAckBody>('state', STATE_ROUND.ACK, SUITE, l[0]!.payload));
}
const stateReq = (keyId: string, t: RequestedTransition, o: { approvedBy?: ApproverName[]; by?: IdentityKey } = {}) =>
  request(o.by ?? adminClient, { op: 'state', keyId, digest: stateDigest({ keyId, transition: t, afterMs: 0 }) }, o);

/** Rows of s1's keystore: policy versions of the key and its velocity entries. */
function recorded(keyId: string, id = 's1'): { versions: number[]; velocity: number } {
  const db = new Database(path.join(cl.signers.find((s) => s.id === id)!.dataDir, KEYSTORE_DB_FILE), { readonly: true, fileMustExist: true });
  try {
    return {
      versions: db.prepare<[string], number>('SELECT version FROM key_policies WHERE key_id = ? ORDER BY version').pluck().all(keyId),
      velocity: db.prepare<[string], number>('SELECT count(*) FROM velocity_ledger WHERE key_id = ?').pluck().get(keyId)!,
    };
  } finally {
    db.close();
  }
}

describe('policy changes: each signer accepts only the next version, approved by the quorum of the policy in force', () => {
  const keyId = 'k-policy';
  const v1 = policyOf(1, { approvals: { policy: 2 } });
  const v2 = policyOf(2, { approvals: { policy: 2, sign: 1 } });
  beforeAll(async () => createKey(keyId), 120_000);

  it('sets v1 with an admin alone (the default policy needs no approvals); a signer-role client is refused; a re-delivery is ACKed again', async () => {
    const bySigner = request(signerClient, { op: 'policy', keyId, digest: policyRequestDigest({ keyId, policy: v1 }) });
    await expectRefused(() => setPolicy(['s1'], keyId, policyToText(v1), bySigner), 'UNAUTHORISED');
    const req = request(adminClient, { op: 'policy', keyId, digest: policyRequestDigest({ keyId, policy: v1 }) });
    const acks = await setPolicy(IDS, keyId, policyToText(v1), req);
    expect(acks.map((a) => [a.version, bytesToHex(a.digest)])).toEqual(IDS.map(() => [1, bytesToHex(policyDigest(v1))]));
    const [again] = await setPolicy(['s1'], keyId, policyToText(v1), req);
    expect(again!.version).toBe(1);
    expect(recorded(keyId).versions).toEqual([1]);
  });

  it('refuses a policy for a key it holds no share of (WRONG_KEY_STATE)', async () => {
    const req = request(adminClient, { op: 'policy', keyId: 'k-unheld', digest: policyRequestDigest({ keyId: 'k-unheld', policy: v1 }) });
    await expectRefused(() => setPolicy(['s1'], 'k-unheld', policyToText(v1), req), 'WRONG_KEY_STATE');
  });

  it('refuses another document under the version in force (version)', async () => {
    const other = policyOf(1, { approvals: {} });
    const req = request(adminClient, { op: 'policy', keyId, digest: policyRequestDigest({ keyId, policy: other }) });
    const e = await expectRefused(() => setPolicy(['s1'], keyId, policyToText(other), req), 'POLICY_DENIED', 'version');
    expect((e.body as PolicyAbortBody).rule).toBe('version');
  });

  it('v2 needs the v1 quorum: refused without approvals, with one, with a forged one; accepted with two (Ed25519 and passkey)', async () => {
    const digest = policyRequestDigest({ keyId, policy: v2 });
    const text = policyToText(v2);
    const e = await expectRefused(() => setPolicy(['s1'], keyId, text, request(adminClient, { op: 'policy', keyId, digest })), 'POLICY_DENIED', 'approvals');
    expect((e.body as PolicyAbortBody).rule).toBe('approvals');
    await expectRefused(() => setPolicy(['s1'], keyId, text, request(adminClient, { op: 'policy', keyId, digest }, { approvedBy: ['alice'] })), 'POLICY_DENIED', 'approvals');
    const forged = request(adminClient, { op: 'policy', keyId, digest }, { approvedBy: ['alice', 'carol'] });
    const sig = (forged.approvals![1] as { sig: Uint8Array }).sig.slice();
    sig[5]! ^= 1;
    await expectRefused(() => setPolicy(['s1'], keyId, text, { ...forged, approvals: [forged.approvals![0]!, { approver: 'carol', type: 'ed25519', sig }] }), 'POLICY_DENIED', 'approvals');
    expect(recorded(keyId).versions).toEqual([1]);
    await install(keyId, v2, ['alice', 'bob']);
    expect(recorded(keyId).versions).toEqual([1, 2]);
  });

  it('refuses a rollback, a replay of an earlier change and a skipped version (version)', async () => {
    const rollback = policyOf(1, { approvals: {} });
    await expectRefused(() => setPolicy(['s1'], keyId, policyToText(rollback), request(adminClient, { op: 'policy', keyId, digest: policyRequestDigest({ keyId, policy: rollback }) }, { approvedBy: ['alice', 'bob'] })), 'POLICY_DENIED', 'version');
    const replayed = request(adminClient, { op: 'policy', keyId, digest: policyRequestDigest({ keyId, policy: v1 }) }, { approvedBy: ['alice', 'carol'] });
    await expectRefused(() => setPolicy(['s1'], keyId, policyToText(v1), replayed), 'POLICY_DENIED', 'version');
    const v4 = policyOf(4);
    await expectRefused(() => setPolicy(['s1'], keyId, policyToText(v4), request(adminClient, { op: 'policy', keyId, digest: policyRequestDigest({ keyId, policy: v4 }) }, { approvedBy: ['alice', 'bob'] })), 'POLICY_DENIED', 'version');
    expect(recorded(keyId).versions).toEqual([1, 2]);
  });
});

describe('signatures need their approvals, checked by each signer against its own policy', () => {
  const keyId = 'k-approve';
  beforeAll(async () => {
    await createKey(keyId);
    await install(keyId, policyOf(1, { approvals: { sign: 2 }, approvalTtlSeconds: 3600 }));
  }, 120_000);

  it('refuses a sign without approvals that the coordinator sends anyway (approvals): no nonce, no replay entry, no count', async () => {
    const p = signParams(keyId, 'unapproved');
    await expectRefused(() => signStart(p, signReq(p)), 'POLICY_DENIED', 'approvals');
    await expectRefused(() => signStart(p, signReq(p, { approvedBy: ['alice'] })), 'POLICY_DENIED', 'approvals');
  });

  it('signs with two valid approvals (an Ed25519 key and a passkey), and the signature verifies', async () => {
    const p = signParams(keyId, 'approved');
    await signOk(p, signReq(p, { approvedBy: ['alice', 'bob'] }));
  });

  it('refuses a forged approval, an approval of another request, an unnamed approver and a passkey without user verification (approvals)', async () => {
    const p = signParams(keyId, 'forged');
    const good = signReq(p, { approvedBy: ['alice', 'bob'] });
    const assertion = good.approvals![1] as { signature: Uint8Array };
    const flipped = assertion.signature.slice();
    flipped[flipped.length - 3]! ^= 1;
    await expectRefused(() => signStart(p, { ...good, approvals: [good.approvals![0]!, { ...good.approvals![1]!, signature: flipped } as Approval] }), 'POLICY_DENIED', 'approvals');
    // Approvals of another request (same message, another nonce) do not move to this one.
    const other = signReq(p, { approvedBy: ['alice', 'bob'] });
    await expectRefused(() => signStart(p, { ...signReq(p), approvals: other.approvals! }), 'POLICY_DENIED', 'approvals');
    const mallory = generateIdentity();
    const bare = signReq(p);
    await expectRefused(() => signStart(p, { ...bare, approvals: [signApproval(alice, 'alice', bare), signApproval(mallory, 'mallory', bare)] }), 'POLICY_DENIED', 'approvals');
    await expectRefused(() => signStart(p, { ...bare, approvals: [signApproval(alice, 'alice', bare), bob.approve('bob', approvalChallenge(bare), { userVerified: false })] }), 'POLICY_DENIED', 'approvals');
  });

  it('honours an approved request until its approval deadline, for its attempts only: a replay before it is REPLAY (also after a restart), after it is refused (approvals)', async () => {
    const p = signParams(keyId, 'approved later');
    const req = signReq(p, { approvedBy: ['alice', 'bob'] });
    clock.offsetMs = 10 * MINUTE;
    try {
      await signOk(p, req);
      // A sign request may be started MAX_ATTEMPTS_PER_REQUEST times (new quorums after a failed one); s1 took part once.
      for (let n = 1; n < MAX_ATTEMPTS_PER_REQUEST; n++) await signStart(p, req);
      await expectRefused(() => signStart(p, req), 'REPLAY');
      // Past the 60 s window the request's replay entries outlive a restart's pruning: kept until its deadline.
      clock.offsetMs = 20 * MINUTE;
      await cl.restart('s1');
      await expectRefused(() => signStart(p, req), 'REPLAY');
      clock.offsetMs = HOUR + MINUTE;
      await expectRefused(() => signStart(p, req), 'POLICY_DENIED', 'approvals');
    } finally {
      clock.offsetMs = 0;
    }
  });
});

describe('velocity limits are counted by each signer in its own store', () => {
  const keyId = 'k-velocity';
  const pathKey = 'k-path';
  beforeAll(async () => {
    await createKey(keyId);
    await createKey(pathKey);
    await install(keyId, policyOf(1, { velocity: [{ limit: 3, windowSeconds: 60, per: 'key' }] }));
    await install(pathKey, policyOf(1, { velocity: [{ limit: 1, windowSeconds: 60, per: 'path' }] }));
  }, 180_000);

  it('3 a minute: the 4th is refused (velocity), after a signer restart and with a fresh coordinator too; attempts of one request count once', async () => {
    const first = signParams(keyId, 'v1');
    const firstReq = signReq(first);
    // Two attempts of one request (a quorum that failed, then another): one count.
    await signStart(first, firstReq, 's1');
    await signOk(first, firstReq);
    expect(recorded(keyId).velocity).toBe(1);
    await signOk(signParams(keyId, 'v2'));
    const third = signParams(keyId, 'v3');
    const thirdReq = signReq(third);
    await signOk(third, thirdReq);
    const fourth = signParams(keyId, 'v4');
    await expectRefused(() => signStart(fourth, signReq(fourth)), 'POLICY_DENIED', 'velocity');
    // Another attempt of an admitted request is not a new signature request: it passes at the limit.
    await signStart(third, thirdReq, 's3');
    await signStart(third, thirdReq, 's1');
    expect(recorded(keyId).velocity).toBe(3);
    await cl.restart('s1');
    await expectRefused(() => signStart(fourth, signReq(fourth)), 'POLICY_DENIED', 'velocity');
    // A fresh coordinator (nothing of the old one's counts) at the same address and key.
    const identity = c.identity;
    await c.close();
    c = patient(await FakeCoordinator.start({ identity, port }));
    for (const id of IDS) await c.waitFor(id, 60_000);
    await expectRefused(() => signStart(fourth, signReq(fourth)), 'POLICY_DENIED', 'velocity');
    clock.offsetMs = MINUTE + 5_000;
    try {
      await signStart(fourth, signReq(fourth));
    } finally {
      clock.offsetMs = 0;
    }
  });

  it('per path: one a minute on each path', async () => {
    const a = signParams(pathKey, 'p1', { path: 'm/1' });
    await signOk(a);
    const again = signParams(pathKey, 'p2', { path: 'm/1' });
    await expectRefused(() => signStart(again, signReq(again)), 'POLICY_DENIED', 'velocity');
    await signOk(signParams(pathKey, 'p3', { path: 'm/2' }));
  });
});

describe('validity window, derivation depth, refresh period and client allow-lists', () => {
  const windowKey = 'k-window';
  const depthKey = 'k-depth';
  const refreshKey = 'k-refresh';
  const clientsKey = 'k-clients';
  beforeAll(async () => {
    for (const k of [windowKey, depthKey, refreshKey, clientsKey]) await createKey(k);
    const start = Date.now();
    await install(windowKey, policyOf(1, { notBefore: new Date(start + HOUR).toISOString().replace(/\.\d+Z$/, 'Z'), notAfter: new Date(start + 2 * HOUR).toISOString().replace(/\.\d+Z$/, 'Z') }));
    await install(depthKey, policyOf(1, { maxDerivationIndex: 10 }));
    await install(refreshKey, policyOf(1, { refresh: { periodSeconds: 3600, graceSeconds: 60 } }));
    await install(clientsKey, policyOf(1, { clients: { sign: [bytesToHex(signerClient.publicKey)], state: [bytesToHex(otherAdmin.publicKey)] } }));
  }, 240_000);

  it('signs only inside the validity window (validity)', async () => {
    const p = signParams(windowKey, 'early');
    await expectRefused(() => signStart(p, signReq(p)), 'POLICY_DENIED', 'validity');
    clock.offsetMs = HOUR + 30 * MINUTE;
    try {
      await signOk(signParams(windowKey, 'inside'));
      clock.offsetMs = 3 * HOUR;
      const late = signParams(windowKey, 'late');
      await expectRefused(() => signStart(late, signReq(late)), 'POLICY_DENIED', 'validity');
    } finally {
      clock.offsetMs = 0;
    }
  });

  it('refuses an index above maxDerivationIndex (derivation)', async () => {
    const deep = signParams(depthKey, 'deep', { path: 'm/3/11' });
    await expectRefused(() => signStart(deep, signReq(deep)), 'POLICY_DENIED', 'derivation');
    await signOk(signParams(depthKey, 'shallow', { path: 'm/3/10' }));
  });

  it('refuses to sign once a refresh is overdue past its grace (refresh), and signs again after the refresh', async () => {
    await signOk(signParams(refreshKey, 'fresh shares'));
    clock.offsetMs = 2 * HOUR;
    try {
      const p = signParams(refreshKey, 'overdue');
      await expectRefused(() => signStart(p, signReq(p)), 'POLICY_DENIED', 'refresh');
      const req = request(adminClient, { op: 'refresh', keyId: refreshKey, digest: refreshDigest({ keyId: refreshKey }) });
      await runKeySession(c, 'refresh', SUITE, participants, { keyId: refreshKey, epoch: 0, participants, request: req });
      await signOk({ ...signParams(refreshKey, 'refreshed'), epoch: 1 });
    } finally {
      clock.offsetMs = 0;
    }
  });

  it('refuses clients the allow-list does not name (clients), for sign and for state', async () => {
    const p = signParams(clientsKey, 'by admin');
    await expectRefused(() => signStart(p, signReq(p)), 'POLICY_DENIED', 'clients');
    await signOk(signParams(clientsKey, 'by signer client'), signReq(signParams(clientsKey, 'by signer client'), { by: signerClient }));
    await expectRefused(() => transition(['s1'], clientsKey, 'suspend', stateReq(clientsKey, 'suspend')), 'POLICY_DENIED', 'clients');
    const [ack] = await transition(['s1'], clientsKey, 'suspend', stateReq(clientsKey, 'suspend', { by: otherAdmin }));
    expect(ack!.state).toBe('suspended');
  });
});

describe('state transitions need the quorum the policy names for them', () => {
  const keyId = 'k-resume';
  beforeAll(async () => {
    await createKey(keyId);
    await install(keyId, policyOf(1, { approvals: { resume: 2 } }));
  }, 120_000);

  it('suspends without approvals; resumes only with two', async () => {
    const [suspended] = await transition(['s1'], keyId, 'suspend', stateReq(keyId, 'suspend'));
    expect(suspended!.state).toBe('suspended');
    await expectRefused(() => transition(['s1'], keyId, 'resume', stateReq(keyId, 'resume')), 'POLICY_DENIED', 'approvals');
    await expectRefused(() => transition(['s1'], keyId, 'resume', stateReq(keyId, 'resume', { approvedBy: ['carol'] })), 'POLICY_DENIED', 'approvals');
    const [resumed] = await transition(['s1'], keyId, 'resume', stateReq(keyId, 'resume', { approvedBy: ['carol', 'bob'] }));
    expect(resumed!.state).toBe('active');
  });
});

describe('ecdsa-secp256k1 signatures go through the same policy checks', () => {
  const keyId = 'k-ecdsa';
  let groupKey: Uint8Array;
  beforeAll(async () => {
    const request0 = request(adminClient, { op: 'createKey', keyId, digest: createKeyDigest({ keyId, suite: ECDSA_SUITE, threshold: 2, signers: IDS }) });
    groupKey = (await runKeySession(c, 'dkg', ECDSA_SUITE, participants, { keyId, threshold: 2, participants, request: request0 })).publicKey.groupKey;
    await install(keyId, policyOf(1, { approvals: { sign: 2 }, velocity: [{ limit: 1, windowSeconds: 60, per: 'key' }] }), undefined, ECDSA_SUITE);
  }, 600_000);

  /** An ecdsa sign START to s1 alone: resolves on its CONTRIBUTION (then aborted), throws its ABORT. */
  async function ecdsaStart(p: SignParams, req: ClientRequest): Promise<void> {
    const sessionId = randomBytes(32);
    c.send('s1', { kind: 'sign', suite: ECDSA_SUITE, sessionId, round: ECDSA_SIGN_ROUND.START }, { ...p, request: req });
    await gather(c, ['s1'], 'sign', ECDSA_SIGN_ROUND.CONTRIBUTION);
    c.send('s1', { kind: 'sign', suite: ECDSA_SUITE, sessionId, round: ECDSA_SIGN_ROUND.ABORT }, { reason: 'test done' });
  }

  it('refuses an unapproved signature (approvals), signs an approved one (verified), then refuses the next (velocity)', async () => {
    const p = signParams(keyId, 'ecdsa unapproved');
    await expectRefused(() => ecdsaStart(p, signReq(p)), 'POLICY_DENIED', 'approvals');
    const ok = signParams(keyId, 'ecdsa approved');
    const signature = await ecdsaSign(c, participants.slice(0, 2), groupKey, { ...ok, request: signReq(ok, { approvedBy: ['bob', 'carol'] }) });
    expect(signature).toHaveLength(64);
    const next = signParams(keyId, 'ecdsa next');
    await expectRefused(() => ecdsaStart(next, signReq(next, { approvedBy: ['alice', 'bob'] })), 'POLICY_DENIED', 'velocity');
  }, 300_000);
});
