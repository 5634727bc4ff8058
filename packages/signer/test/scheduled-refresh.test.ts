/**
 * Scheduled refresh (docs/governance.md "Scheduled refresh"): a refresh START may carry
 * `scheduled: true` instead of an admin's request; the key's policy refresh rule is the
 * authorisation, and each signer accepts it only if ITS OWN policy has the rule and its
 * OWN share of the current epoch is due by ITS OWN clock. Driven through the real
 * protocol by a fixture coordinator that asks for scheduled refreshes it may not; each
 * signer runs on its own clock so that one can be behind. Every refusal is
 * POLICY_DENIED rule 'refresh' and leaves the keystore as it was.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import {
  ECDSA_SUITE,
  KEY_ROUND,
  SIGN_ROUND,
  WireError,
  createKeyDigest,
  decodeBody,
  encodeBody,
  fromWirePublicKey,
  generateIdentity,
  parsePolicy,
  policyRequestDigest,
  policyToText,
  POLICY_ROUND,
  refreshDigest,
  signClientRequest,
  signDigest,
  type AbortBody,
  type ClientRequest,
  type Envelope,
  type PolicyAckBody,
  type SignCommitmentBody,
  type SignShareBody,
  type WirePublicKey,
} from '@keyquorum/protocol';
import { aggregate, verifySignature } from '@keyquorum/crypto';
import { SignerDaemon } from '../src/index.ts';
import { ENV, adminClient, captureLog, initTestSigner, optionsFor, removeTempDirs, tempDir } from './helpers/cluster.ts';
import { gather, refs, runKeySession, runSign, type SignParams } from './helpers/drive.ts';
import { ecdsaSign } from './helpers/ecdsa-drive.ts';
import { FakeCoordinator } from './helpers/fake-coordinator.ts';
import { TestClock, patient, snapshot } from './helpers/state.ts';

const SUITE = 'frost-ed25519';
const IDS = ['s1', 's2', 's3'];
const participants = refs(IDS);
const HOUR = 3600_000;
const REFRESH = { periodSeconds: 3600, graceSeconds: 600 };

/** One clock per signer: a signer's clock can be behind the others'. */
const clocks = new Map(IDS.map((id) => [id, new TestClock()]));
const setClocks = (offsetMs: number, only: readonly string[] = IDS) => {
  for (const id of only) clocks.get(id)!.offsetMs = offsetMs;
};
let c: FakeCoordinator;
const daemons: SignerDaemon[] = [];
const dataDirs = new Map<string, string>();

beforeAll(async () => {
  c = patient(await FakeCoordinator.start(), 120_000);
  const root = tempDir();
  const signers = IDS.map((id) => initTestSigner(id, root));
  for (const s of signers) {
    const daemon = new SignerDaemon(optionsFor(s, signers, c, { clients: [{ publicKey: bytesToHex(adminClient.publicKey), roles: ['admin'] }] }), { env: ENV, log: captureLog().log, now: clocks.get(s.id)!.now });
    await daemon.start();
    daemons.push(daemon);
    dataDirs.set(s.id, s.dataDir);
    await c.waitFor(s.id);
  }
}, 120_000);
afterAll(async () => {
  for (const d of daemons) await d.stop();
  await c?.close();
  removeTempDirs();
});

const publicKeys = new Map<string, WirePublicKey>();
const now = () => clocks.get('s1')!.now();

async function createKey(keyId: string, suite = SUITE): Promise<void> {
  const request = signClientRequest(adminClient, { op: 'createKey', keyId, digest: createKeyDigest({ keyId, suite, threshold: 2, signers: IDS }), timestamp: now() });
  publicKeys.set(keyId, (await runKeySession(c, 'dkg', suite, participants, { keyId, threshold: 2, participants, request })).publicKey);
}

async function install(keyId: string, rest: Record<string, unknown>, suite = SUITE): Promise<void> {
  const policy = parsePolicy({ format: 1, version: 1, ...rest });
  const request = signClientRequest(adminClient, { op: 'policy', keyId, digest: policyRequestDigest({ keyId, policy }), timestamp: now() });
  const sessionId = randomBytes(32);
  for (const id of IDS) c.send(id, { kind: 'policy', suite, sessionId, round: POLICY_ROUND.START }, { keyId, policy: policyToText(policy), request });
  const acks = await gather(c, IDS, 'policy', POLICY_ROUND.ACK);
  expect([...acks.values()].map((l) => decodeBody<PolicyAckBody>('policy', POLICY_ROUND.ACK, suite, l[0]!.payload).version)).toEqual([1, 1, 1]);
}

const scheduled = (keyId: string, epoch = 0) => ({ keyId, epoch, participants, scheduled: true });

/**
 * A scheduled refresh START to every signer: each answers CONTRIBUTION (then the test
 * aborts the session) or ABORT. Returns the abort reasons by signer, and checks that
 * every refusing signer's keystore is as it was.
 */
async function tryScheduled(keyId: string, suite = SUITE, epoch = 0): Promise<Map<string, string>> {
  const before = new Map(IDS.map((id) => [id, snapshot(dataDirs.get(id)!)]));
  const sessionId = randomBytes(32);
  for (const id of IDS) c.send(id, { kind: 'refresh', suite, sessionId, round: KEY_ROUND.START }, scheduled(keyId, epoch));
  const refused = new Map<string, string>();
  for (const id of IDS) {
    const e = await c.next(id, (x) => x.header.kind === 'refresh' && (x.header.round === KEY_ROUND.CONTRIBUTION || x.header.round === KEY_ROUND.ABORT), 120_000);
    if (e.header.round === KEY_ROUND.ABORT) refused.set(id, decodeBody<AbortBody>('refresh', KEY_ROUND.ABORT, suite, e.payload).reason);
    else c.send(id, { kind: 'refresh', suite, sessionId, round: KEY_ROUND.ABORT }, { reason: 'test done' });
  }
  for (const id of refused.keys()) expect(snapshot(dataDirs.get(id)!)).toEqual(before.get(id));
  return refused;
}

const message = (text: string) => sha256(utf8ToBytes(text));

/** Signs over s1 and s2 at `epoch` (request stamped by the signers' clock) and verifies the signature. */
async function signOk(keyId: string, epoch: number, text: string): Promise<void> {
  const p: SignParams = { keyId, epoch, message: message(text) };
  const request: ClientRequest = signClientRequest(adminClient, { op: 'sign', keyId, digest: signDigest(p), timestamp: now() });
  const signed = await runSign(c, SUITE, ['s1', 's2'], p, request);
  const pkg = fromWirePublicKey(publicKeys.get(keyId)!);
  const idOf = (e: Envelope) => participants.find((x) => x.signer === e.header.from)!.index;
  const commitments = signed.commitments.map((e) => ({ id: idOf(e), ...decodeBody<SignCommitmentBody>('sign', SIGN_ROUND.COMMITMENT, SUITE, e.payload) }));
  const shares = signed.shares.map((e) => ({ id: idOf(e), share: decodeBody<SignShareBody>('sign', SIGN_ROUND.SHARE, SUITE, e.payload).share }));
  expect(verifySignature(pkg, p.message, aggregate(pkg, { message: p.message, commitments }, shares))).toBe(true);
}

const deniedRefresh = (reason: string | undefined) => expect(reason).toMatch(/^POLICY_DENIED \(refresh\): /);

describe('the refresh START body: a request or scheduled: true, exactly one', () => {
  const parse = (body: Record<string, unknown>) => decodeBody('refresh', KEY_ROUND.START, SUITE, encodeBody(body));
  it('accepts scheduled: true alone; refuses both, neither, and scheduled: false (BAD_FIELD)', () => {
    expect(parse(scheduled('k'))).toEqual(scheduled('k'));
    const request = signClientRequest(adminClient, { op: 'refresh', keyId: 'k', digest: refreshDigest({ keyId: 'k' }) });
    for (const bad of [{ ...scheduled('k'), request }, { keyId: 'k', epoch: 0, participants }, { ...scheduled('k'), scheduled: false }]) {
      expect(() => parse(bad)).toThrow(WireError);
      expect(() => parse(bad)).toThrow(/BAD_FIELD/);
    }
  });
});

describe('a scheduled refresh: each signer decides by its own policy and clock', () => {
  const due = 'k-due';
  const noRule = 'k-no-rule';
  const noPolicy = 'k-no-policy';
  beforeAll(async () => {
    for (const k of [due, noRule, noPolicy]) await createKey(k);
    await install(due, { refresh: REFRESH });
    await install(noRule, { velocity: [{ limit: 100, windowSeconds: 60, per: 'key' }] });
  }, 300_000);

  it('refuses a key not yet due (refresh), on every signer, and nothing changes', async () => {
    setClocks(HOUR / 2);
    try {
      const refused = await tryScheduled(due);
      expect([...refused.keys()]).toEqual(IDS);
      for (const r of refused.values()) deniedRefresh(r);
    } finally {
      setClocks(0);
    }
  });

  it('refuses a key whose policy has no refresh rule, and a key with no policy (refresh), however old its shares', async () => {
    setClocks(48 * HOUR);
    try {
      for (const k of [noRule, noPolicy]) {
        const refused = await tryScheduled(k);
        expect([...refused.keys()]).toEqual(IDS);
        for (const r of refused.values()) deniedRefresh(r);
      }
    } finally {
      setClocks(0);
    }
  });

  it("refuses on the signer whose own clock says not due (refresh), though the others' say due; the key stays at epoch 0", async () => {
    setClocks(HOUR + 60_000, ['s1', 's2']);
    setClocks(HOUR - 60_000, ['s3']);
    try {
      const refused = await tryScheduled(due);
      expect([...refused.keys()]).toEqual(['s3']);
      deniedRefresh(refused.get('s3'));
    } finally {
      setClocks(0);
    }
    // Nothing moved: the key still signs at epoch 0.
    await signOk(due, 0, 'still epoch 0');
  });

  it('refreshes a due key: new epoch, same public key, and it signs after (also past the old shares’ grace)', async () => {
    setClocks(HOUR + 60_000);
    try {
      const run = await runKeySession(c, 'refresh', SUITE, participants, scheduled(due));
      expect(run.epoch).toBe(1);
      expect(run.publicKey.groupKey).toEqual(publicKeys.get(due)!.groupKey);
      expect(run.publicKey.chainCode).toEqual(publicKeys.get(due)!.chainCode);
      setClocks(HOUR + REFRESH.graceSeconds * 1000 + 120_000);
      await signOk(due, 1, 'refreshed on schedule');
      // The new shares are not due again: a second scheduled refresh is refused.
      const refused = await tryScheduled(due, SUITE, 1);
      expect([...refused.keys()]).toEqual(IDS);
      for (const r of refused.values()) deniedRefresh(r);
    } finally {
      setClocks(0);
    }
  });
});

describe('a scheduled refresh needs no approvals: the policy that names the rule is the authorisation', () => {
  const approved = 'k-approved-refresh';
  beforeAll(async () => {
    await createKey(approved);
    await install(approved, { refresh: REFRESH, approvers: [{ id: 'alice', type: 'ed25519', publicKey: bytesToHex(generateIdentity().publicKey) }], approvals: { refresh: 1 } });
  }, 120_000);
  it('refreshes a due key whose policy requires approvals for a requested refresh', async () => {
    setClocks(HOUR + 60_000);
    try {
      const run = await runKeySession(c, 'refresh', SUITE, participants, scheduled(approved));
      expect(run.epoch).toBe(1);
    } finally {
      setClocks(0);
    }
  });
});

describe('ecdsa-secp256k1 keys refresh on schedule too (the suite refresh behind the same START)', () => {
  const keyId = 'k-ecdsa-due';
  beforeAll(async () => {
    await createKey(keyId, ECDSA_SUITE);
    await install(keyId, { refresh: REFRESH }, ECDSA_SUITE);
  }, 600_000);

  it('refuses before due (refresh); refreshes when due, same key, and signs at the new epoch', async () => {
    const refused = await tryScheduled(keyId, ECDSA_SUITE);
    expect([...refused.keys()]).toEqual(IDS);
    for (const r of refused.values()) deniedRefresh(r);
    setClocks(HOUR + 60_000);
    try {
      const run = await runKeySession(c, 'refresh', ECDSA_SUITE, participants, scheduled(keyId));
      expect(run.epoch).toBe(1);
      expect(run.publicKey.groupKey).toEqual(publicKeys.get(keyId)!.groupKey);
      const p: SignParams = { keyId, epoch: 1, message: message('ecdsa after a scheduled refresh') };
      const request = signClientRequest(adminClient, { op: 'sign', keyId, digest: signDigest(p), timestamp: now() });
      expect(await ecdsaSign(c, participants.slice(0, 2), run.publicKey.groupKey, { ...p, request })).toHaveLength(64);
    } finally {
      setClocks(0);
    }
  }, 600_000);
});
