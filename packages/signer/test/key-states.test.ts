/**
 * Key states, enforced by each signer against its own records (issue 11 item 1; NIST
 * SP 800-57 Part 1 §5.3). Driven through the real protocol by a coordinator fixture
 * that lies: it reports a suspended key as active and asks for signatures, replays
 * or withholds transition requests, relays requests from a non-admin client, with a
 * bad signature or stale, and asks for a destruction before the signer's own deadline.
 * Every refusal names its code and leaves the keystore as it was.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import {
  DEFAULT_MAX_SKEW_MS,
  KEY_ROUND,
  STATE_ROUND,
  refreshDigest,
  reshareDigest,
  decodeBody,
  generateIdentity,
  signClientRequest,
  stateDigest,
  type ClientRequest,
  type RequestedTransition,
  type RetireAttestBody,
  type StateAckBody,
  type Transition,
  type WirePublicKey,
} from '@keyquorum/protocol';
import { KEYSTORE_DB_FILE } from '../src/keystore/index.ts';
import { adminClient, type Cluster } from './helpers/cluster.ts';
import { SessionAborted, dkgStart, gather, refs, runKeySession, runRetire, runSign } from './helpers/drive.ts';
import type { FakeCoordinator } from './helpers/fake-coordinator.ts';
import { useFakeCluster } from './helpers/fake-cluster.ts';
import { TestClock, snapshot } from './helpers/state.ts';

const SUITE = 'frost-ed25519';
const IDS = ['s1', 's2', 's3'];
const participants = refs(IDS);
const signerClient = generateIdentity();
const HOUR = 60 * 60_000;

let c: FakeCoordinator;
let cl: Cluster;
const clock = new TestClock();

// One cluster for the whole file, torn down after its last test.
const fake = useFakeCluster({ scope: 'file' });
beforeAll(async () => {
  ({ c, cl } = await fake.start(IDS, {
    patienceMs: 60_000,
    now: clock.now,
    extra: { clients: [{ publicKey: bytesToHex(adminClient.publicKey), roles: ['admin'] }, { publicKey: bytesToHex(signerClient.publicKey), roles: ['signer'] }] },
  }));
}, 120_000);

const publicKeys = new Map<string, WirePublicKey>();

async function createKey(keyId: string): Promise<void> {
  publicKeys.set(keyId, (await runKeySession(c, 'dkg', SUITE, participants, dkgStart(keyId, SUITE, 2, participants))).publicKey);
}

/** A refresh or reshare START of the key (same holders, threshold 2) to s1 alone: resolves on its CONTRIBUTION, throws its ABORT. */
async function keySessionStart(kind: 'refresh' | 'reshare', keyId: string): Promise<void> {
  const sessionId = randomBytes(32);
  const publicKey = publicKeys.get(keyId)!;
  const body = kind === 'refresh'
    ? { keyId, epoch: 0, participants, request: signClientRequest(adminClient, { op: 'refresh', keyId, digest: refreshDigest({ keyId }) }) }
    : { keyId, epoch: 0, oldPublicKey: publicKey, oldParticipants: participants, dealers: participants.slice(0, 2), newParticipants: participants, newThreshold: 2,
        request: signClientRequest(adminClient, { op: 'reshare', keyId, digest: reshareDigest({ keyId, groupKey: publicKey.groupKey, newThreshold: 2, signers: IDS }) }) };
  c.send('s1', { kind, suite: SUITE, sessionId, round: KEY_ROUND.START }, body);
  await gather(c, ['s1'], kind, KEY_ROUND.CONTRIBUTION);
}

function stateRequest(keyId: string, transition: RequestedTransition, o: { afterMs?: number; timestamp?: number; by?: typeof adminClient } = {}): ClientRequest {
  return signClientRequest(o.by ?? adminClient, {
    op: 'state', keyId, digest: stateDigest({ keyId, transition, afterMs: o.afterMs ?? 0 }), ...(o.timestamp === undefined ? {} : { timestamp: o.timestamp }),
  });
}

/** START of a transition to `ids`; resolves with each signer's ACK (or ATTEST for 'destroy'), throws the first ABORT. */
async function transition(ids: readonly string[], keyId: string, t: Transition, request: ClientRequest, afterMs = 0): Promise<unknown[]> {
  const sessionId = randomBytes(32);
  for (const id of ids) c.send(id, { kind: 'state', suite: SUITE, sessionId, round: STATE_ROUND.START }, { keyId, transition: t, afterMs, request });
  const round = t === 'destroy' ? STATE_ROUND.ATTEST : STATE_ROUND.ACK;
  const got = await gather(c, ids, 'state', round);
  return [...got.values()].map((l) => decodeBody(l[0]!.header.kind, round, SUITE, l[0]!.payload));
}

/** Refused by s1 with `code`, and nothing durable changed there. */
async function expectRefused(run: () => Promise<unknown>, code: string): Promise<void> {
  const before = snapshot(cl.signers[0]!.dataDir);
  const e = await run().then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(SessionAborted);
  expect((e as SessionAborted).body.reason).toMatch(new RegExp(`^${code}\\b`));
  expect(snapshot(cl.signers[0]!.dataDir)).toEqual(before);
}

/** What signer `id` recorded, read from its keystore file: the key's state and how many transitions it applied. */
function recorded(id: string, keyId: string): { state: string; history: number } {
  const db = new Database(path.join(cl.signers.find((s) => s.id === id)!.dataDir, KEYSTORE_DB_FILE), { readonly: true, fileMustExist: true });
  try {
    const state = db.prepare<[string], string>('SELECT state FROM key_states WHERE key_id = ?').pluck().get(keyId) ?? 'active';
    const history = db.prepare<[string], number>('SELECT count(*) FROM key_state_history WHERE key_id = ?').pluck().get(keyId)!;
    return { state, history };
  } finally {
    db.close();
  }
}
const stateOf = (id: string, keyId: string) => recorded(id, keyId).state;
const message = (text: string) => sha256(utf8ToBytes(text));

describe('a signer refuses to use a key in a state that does not allow it, whatever the coordinator says', () => {
  beforeAll(async () => createKey('k-susp'), 120_000);

  it('refuses the sign START of a coordinator that reports a suspended key as active (WRONG_KEY_STATE), then signs once resumed', async () => {
    const acks = (await transition(IDS, 'k-susp', 'suspend', stateRequest('k-susp', 'suspend'))) as StateAckBody[];
    expect(acks.map((a) => a.state)).toEqual(['suspended', 'suspended', 'suspended']);
    await expectRefused(() => runSign(c, SUITE, ['s1'], { keyId: 'k-susp', epoch: 0, message: message('pay the attacker') }), 'WRONG_KEY_STATE');
    // A reshare or repair would give new holders no record of the suspension: refused too.
    await expectRefused(() => keySessionStart('reshare', 'k-susp'), 'WRONG_KEY_STATE');
    await transition(IDS, 'k-susp', 'resume', stateRequest('k-susp', 'resume'));
    const { shares } = await runSign(c, SUITE, ['s1', 's2'], { keyId: 'k-susp', epoch: 0, message: message('pay the merchant') });
    expect(shares).toHaveLength(2);
  });

  it('a signer that alone holds the key as suspended refuses, while the coordinator and the others say active', async () => {
    await transition(['s1'], 'k-susp', 'suspend', stateRequest('k-susp', 'suspend'));
    expect([stateOf('s1', 'k-susp'), stateOf('s2', 'k-susp')]).toEqual(['suspended', 'active']);
    await expectRefused(() => runSign(c, SUITE, ['s1'], { keyId: 'k-susp', epoch: 0, message: message('through s1') }), 'WRONG_KEY_STATE');
    await transition(['s1'], 'k-susp', 'resume', stateRequest('k-susp', 'resume'));
  });

  it('answers a START re-sent after a lost ACK again, and applies nothing twice', async () => {
    const request = stateRequest('k-susp', 'suspend');
    await transition(['s1'], 'k-susp', 'suspend', request);
    const history = recorded('s1', 'k-susp').history;
    const [again] = (await transition(['s1'], 'k-susp', 'suspend', request)) as StateAckBody[];
    expect(again!.state).toBe('suspended');
    expect(recorded('s1', 'k-susp').history).toBe(history);
    await transition(['s1'], 'k-susp', 'resume', stateRequest('k-susp', 'resume'));
  });
});

describe('a signer checks each transition request itself and changes nothing when it refuses', () => {
  beforeAll(async () => {
    await createKey('k-req');
    await createKey('k-comp');
    await createKey('k-deact');
  }, 180_000);

  it('refuses a suspension requested by a client without the admin role (UNAUTHORISED)', async () => {
    await expectRefused(() => transition(['s1'], 'k-req', 'suspend', stateRequest('k-req', 'suspend', { by: signerClient })), 'UNAUTHORISED');
    expect(stateOf('s1', 'k-req')).toBe('active');
  });

  it('refuses a suspension whose signature does not verify (BAD_SIGNATURE)', async () => {
    const r = stateRequest('k-req', 'suspend');
    const sig = r.sig.slice();
    sig[3]! ^= 1;
    await expectRefused(() => transition(['s1'], 'k-req', 'suspend', { ...r, sig }), 'BAD_SIGNATURE');
  });

  it('refuses a request for another transition than the START names (BAD_DIGEST)', async () => {
    await expectRefused(() => transition(['s1'], 'k-req', 'compromise', stateRequest('k-req', 'suspend')), 'BAD_DIGEST');
    await expectRefused(() => transition(['s1'], 'k-req', 'suspend', stateRequest('k-comp', 'suspend')), 'BAD_DIGEST');
  });

  it('refuses a stale resume (STALE), and a future-dated suspension', async () => {
    await transition(['s1'], 'k-req', 'suspend', stateRequest('k-req', 'suspend'));
    await expectRefused(() => transition(['s1'], 'k-req', 'resume', stateRequest('k-req', 'resume', { timestamp: clock.now() - DEFAULT_MAX_SKEW_MS - 1_000 })), 'STALE');
    expect(stateOf('s1', 'k-req')).toBe('suspended');
    await transition(['s1'], 'k-req', 'resume', stateRequest('k-req', 'resume'));
    await expectRefused(() => transition(['s1'], 'k-req', 'suspend', stateRequest('k-req', 'suspend', { timestamp: clock.now() + 10 * 60_000 })), 'STALE');
  });

  it('refuses a withheld request older than the last transition it applied (STALE): a coordinator cannot reorder them', async () => {
    const withheld = stateRequest('k-req', 'deactivate', { timestamp: clock.now() - 1_000 });
    await transition(['s1'], 'k-req', 'suspend', stateRequest('k-req', 'suspend'));
    await transition(['s1'], 'k-req', 'resume', stateRequest('k-req', 'resume'));
    await expectRefused(() => transition(['s1'], 'k-req', 'deactivate', withheld), 'STALE');
    expect(stateOf('s1', 'k-req')).toBe('active');
  });

  it('applies a restriction delivered after its window (a signer that was away), never a late resume', async () => {
    const late = clock.now() - 5 * 60_000;
    await transition(['s2'], 'k-req', 'suspend', stateRequest('k-req', 'suspend', { timestamp: late }));
    expect(stateOf('s2', 'k-req')).toBe('suspended');
    const e = await transition(['s2'], 'k-req', 'resume', stateRequest('k-req', 'resume', { timestamp: late + 1 })).catch((err: unknown) => err);
    expect((e as SessionAborted).body.reason).toMatch(/^STALE\b/);
    await transition(['s2'], 'k-req', 'resume', stateRequest('k-req', 'resume'));
  });

  it('never returns a compromised key to active (WRONG_KEY_STATE); the mark outlives a cancelled destruction', async () => {
    await transition(IDS, 'k-comp', 'compromise', stateRequest('k-comp', 'compromise'));
    await expectRefused(() => transition(['s1'], 'k-comp', 'resume', stateRequest('k-comp', 'resume')), 'WRONG_KEY_STATE');
    await expectRefused(() => transition(['s1'], 'k-comp', 'suspend', stateRequest('k-comp', 'suspend')), 'WRONG_KEY_STATE');
    await expectRefused(() => runSign(c, SUITE, ['s1'], { keyId: 'k-comp', epoch: 0, message: message('compromised') }), 'WRONG_KEY_STATE');
    await transition(['s1'], 'k-comp', 'schedule-destroy', stateRequest('k-comp', 'schedule-destroy', { afterMs: HOUR }), HOUR);
    await transition(['s1'], 'k-comp', 'cancel-destroy', stateRequest('k-comp', 'cancel-destroy'));
    expect(stateOf('s1', 'k-comp')).toBe('compromised');
  });

  it('never returns a deactivated key to active or suspended (WRONG_KEY_STATE), and refuses to refresh it', async () => {
    await transition(IDS, 'k-deact', 'deactivate', stateRequest('k-deact', 'deactivate'));
    await expectRefused(() => transition(['s1'], 'k-deact', 'resume', stateRequest('k-deact', 'resume')), 'WRONG_KEY_STATE');
    await expectRefused(() => transition(['s1'], 'k-deact', 'suspend', stateRequest('k-deact', 'suspend')), 'WRONG_KEY_STATE');
    await expectRefused(() => runSign(c, SUITE, ['s1'], { keyId: 'k-deact', epoch: 0, message: message('deactivated') }), 'WRONG_KEY_STATE');
    await expectRefused(() => keySessionStart('refresh', 'k-deact'), 'WRONG_KEY_STATE');
    await transition(['s1'], 'k-deact', 'compromise', stateRequest('k-deact', 'compromise'));
    expect(stateOf('s1', 'k-deact')).toBe('compromised');
  });
});

describe('scheduled destruction: each signer waits for its own clock', () => {
  beforeAll(async () => {
    await createKey('k-destroy');
    await createKey('k-retire');
  }, 180_000);

  it('a signer holding the key as destroy-scheduled refuses a retirement COMMIT that others approved (WRONG_KEY_STATE), and keeps its share', async () => {
    await transition(['s1'], 'k-retire', 'schedule-destroy', stateRequest('k-retire', 'schedule-destroy', { afterMs: HOUR }), HOUR);
    await expectRefused(() => runRetire(c, SUITE, 'k-retire', 0, ['s2', 's3'], ['s1']), 'WRONG_KEY_STATE');
  });

  it('refuses to wipe before its own deadline, refuses another schedule, then wipes and attests', async () => {
    const schedule = stateRequest('k-destroy', 'schedule-destroy', { afterMs: HOUR });
    await transition(IDS, 'k-destroy', 'schedule-destroy', schedule, HOUR);
    await expectRefused(() => runSign(c, SUITE, ['s1'], { keyId: 'k-destroy', epoch: 0, message: message('scheduled') }), 'WRONG_KEY_STATE');
    // The coordinator says the delay is over: the signer's clock says otherwise.
    await expectRefused(() => transition(['s1'], 'k-destroy', 'destroy', schedule, HOUR), 'WRONG_KEY_STATE');
    clock.offsetMs = HOUR + 1_000;
    try {
      // A genuine schedule the signer never recorded (a shorter delay) does not authorise the wipe.
      const other = stateRequest('k-destroy', 'schedule-destroy', { afterMs: 1_000 });
      await expectRefused(() => transition(['s1'], 'k-destroy', 'destroy', other, 1_000), 'BAD_DIGEST');
      const attests = (await transition(IDS, 'k-destroy', 'destroy', schedule, HOUR)) as RetireAttestBody[];
      expect(attests.map((a) => a.keyId)).toEqual(['k-destroy', 'k-destroy', 'k-destroy']);
      for (const s of cl.signers) {
        const rows = snapshot(s.dataDir);
        expect(rows.shares.filter((r) => r.startsWith('k-destroy|'))).toEqual([]);
        expect(rows.retired).toContain('k-destroy');
      }
      expect(stateOf('s1', 'k-destroy')).toBe('destroyed');
      // Re-sent after a lost ATTEST: the same attestation again.
      const [again] = (await transition(['s1'], 'k-destroy', 'destroy', schedule, HOUR)) as RetireAttestBody[];
      expect(again).toEqual(attests[0]);
    } finally {
      clock.offsetMs = 0;
    }
  });
});
