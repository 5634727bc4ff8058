/**
 * Signers decide for themselves (ARCHITECTURE.md "Trust model", issue 15): each one
 * re-checks the client's signed request of every START it gets, so a compromised
 * coordinator cannot make it sign, create, refresh, reshare, retire or help repair what no client
 * asked. Driven here through the real protocol (a real daemon, a real WebSocket, a
 * coordinator that lies): a trusted client key with a bad signature; a request
 * authorising another key, operation, digest, message, path or tweak; a stale and a
 * future-dated request. Each is refused with its typed code and leaves every durable
 * row of the keystore as it was (no share changed, no nonce journalled or spent, no
 * replay-window entry consumed). Epochs are not refused here: no client request
 * carries one (the sign digest binds key, message, path and tweak only).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import {
  DEFAULT_MAX_SKEW_MS,
  KEY_ROUND,
  RETIRE_ROUND,
  SIGN_ROUND,
  createKeyDigest,
  refreshDigest,
  repairDigest,
  reshareDigest,
  retireDigest,
  signClientRequest,
  signDigest,
  type ClientRequest,
  type Operation,
  type TaprootTarget,
  type WirePublicKey,
} from '@keyquorum/protocol';
import { MAX_ATTEMPTS_PER_REQUEST } from '../src/constants.ts';
import { adminClient, removeTempDirs } from './helpers/cluster.ts';
import { SessionAborted, dkgStart, gather, refs, runKeySession } from './helpers/drive.ts';
import { FakeCoordinator } from './helpers/fake-coordinator.ts';
import { TestClock, patient, snapshot, startClockedCluster, type ClockedCluster } from './helpers/state.ts';

const IDS = ['s1', 's2', 's3'];
const participants = refs(IDS);
const KEY = 'k1';
/** Every accepting answer to a START (COMMITMENT, CONTRIBUTION, APPROVE) is round 1. */
const ACCEPTED = 1;

interface Fields {
  op: Operation;
  keyId: string;
  digest: Uint8Array;
  timestamp?: number;
}

/** One operation a signer performs: how its START is made and what its request's digest binds. */
interface OperationCase {
  kind: 'sign' | 'dkg' | 'refresh' | 'reshare' | 'retire' | 'repair';
  op: Operation;
  /** The digest a genuine request for this START carries, for key `keyId`. */
  digest(keyId: string): Uint8Array;
  start(request: ClientRequest): Record<string, unknown>;
  /** Requests that authorise other parameters of the same operation on the same key. */
  otherDigests: [string, Uint8Array][];
  /** The coordinator's ABORT that ends an accepted START. */
  abortRound: number;
}

function caseFor(kind: OperationCase['kind'], suite: string, publicKey: () => WirePublicKey, sign: { message: Uint8Array; path?: string; taproot?: TaprootTarget }): OperationCase {
  const signed = (keyId: string, p: Partial<typeof sign> & { epoch?: number } = {}) => signDigest({ keyId, epoch: 0, ...sign, ...p });
  switch (kind) {
    case 'sign': {
      const others: [string, Uint8Array][] = [['another message', signed(KEY, { message: sha256(utf8ToBytes('another message')) })]];
      others.push(['another derivation path', signed(KEY, { path: sign.path === undefined ? 'm/0/1' : `${sign.path}/1` })]);
      others.push(['another epoch', signed(KEY, { epoch: 1 })]);
      if (sign.path !== undefined) others.push(['no derivation path', signDigest({ keyId: KEY, epoch: 0, message: sign.message, ...(sign.taproot ? { taproot: sign.taproot } : {}) })]);
      if (sign.taproot !== undefined) others.push(['another taproot tweak', signed(KEY, { taproot: { merkleRoot: sha256(utf8ToBytes('script tree')) } })]);
      return { kind, op: 'sign', digest: (keyId) => signed(keyId), start: (request) => ({ keyId: KEY, epoch: 0, ...sign, request }), otherDigests: others, abortRound: SIGN_ROUND.ABORT };
    }
    case 'dkg': {
      const digest = (keyId: string, threshold = 2, signers = IDS) => createKeyDigest({ keyId, suite, threshold, signers });
      return {
        kind, op: 'createKey', digest: (keyId) => digest(keyId),
        start: (request) => ({ ...dkgStart('k2', suite, 2, participants), request }),
        otherDigests: [['another threshold', digest('k2', 3)], ['other signers', digest('k2', 2, ['s1', 's2', 's4'])], ['another suite', createKeyDigest({ keyId: 'k2', suite: suite === 'frost-ed25519' ? 'frost-secp256k1' : 'frost-ed25519', threshold: 2, signers: IDS })]],
        abortRound: KEY_ROUND.ABORT,
      };
    }
    case 'refresh':
      return { kind, op: 'refresh', digest: (keyId) => refreshDigest({ keyId }), start: (request) => ({ keyId: KEY, epoch: 0, participants, request }), otherDigests: [], abortRound: KEY_ROUND.ABORT };
    case 'reshare': {
      const digest = (keyId: string, newThreshold = 2, signers = IDS, groupKey = publicKey().groupKey) => reshareDigest({ keyId, groupKey, newThreshold, signers });
      return {
        kind, op: 'reshare', digest: (keyId) => digest(keyId),
        start: (request) => ({ keyId: KEY, epoch: 0, oldPublicKey: publicKey(), oldParticipants: participants, dealers: participants.slice(0, 2), newParticipants: participants, newThreshold: 2, request }),
        otherDigests: [['another threshold', digest(KEY, 3)], ['other signers', digest(KEY, 2, ['s1', 's2', 's4'])], ['another group key', digest(KEY, 2, IDS, new Uint8Array(publicKey().groupKey.length).fill(2))]],
        abortRound: KEY_ROUND.ABORT,
      };
    }
    case 'repair': {
      // s1 helps rebuild s3's share with s2; the request names the key and the target.
      const digest = (keyId: string, target = 's3') => repairDigest({ keyId, target });
      return {
        kind, op: 'repair', digest: (keyId) => digest(keyId),
        start: (request) => ({ keyId: KEY, epoch: 0, publicKey: publicKey(), participants, target: participants[2]!, helpers: participants.slice(0, 2), request }),
        otherDigests: [['another target', digest(KEY, 's2')]],
        abortRound: KEY_ROUND.ABORT,
      };
    }
    case 'retire':
      return { kind, op: 'retire', digest: (keyId) => retireDigest({ keyId }), start: (request) => ({ keyId: KEY, epoch: 0, request }), otherDigests: [], abortRound: RETIRE_ROUND.ABORT };
  }
}

/** The request of `c` for key `keyId` (KEY unless the test says otherwise), signed by the trusted admin. */
function requestFor(c: OperationCase, over: Partial<Fields> = {}): ClientRequest {
  const keyId = over.keyId ?? (c.kind === 'dkg' ? 'k2' : KEY);
  return signClientRequest(adminClient, { op: over.op ?? c.op, keyId, digest: over.digest ?? c.digest(keyId), ...(over.timestamp === undefined ? {} : { timestamp: over.timestamp }) });
}

const withBadSignature = (r: ClientRequest): ClientRequest => {
  const sig = r.sig.slice();
  sig[7]! ^= 0x01;
  return { ...r, sig };
};

const anotherOp = (op: Operation): Operation => (op === 'sign' ? 'refresh' : 'sign');

interface Harness {
  c: FakeCoordinator;
  cl: ClockedCluster;
  clock: TestClock;
  suite: string;
  publicKey: WirePublicKey;
}

/** One START from the coordinator to s1: resolves with the signer's accepting answer, or throws its ABORT. */
async function startAt(h: Harness, c: OperationCase, request: ClientRequest, proposalId = randomBytes(32)): Promise<Uint8Array> {
  h.c.send('s1', { kind: c.kind, suite: h.suite, sessionId: proposalId, round: 0 }, c.start(request));
  await gather(h.c, ['s1'], c.kind, ACCEPTED);
  return proposalId;
}

/** Refused with `code`, and nothing durable changed on the signer. */
async function expectRefused(h: Harness, c: OperationCase, request: ClientRequest, code: string): Promise<void> {
  const dataDir = h.cl.signers[0]!.dataDir;
  const before = snapshot(dataDir);
  const proposalId = randomBytes(32);
  const e = await startAt(h, c, request, proposalId).then(
    () => undefined,
    (err: unknown) => err,
  );
  // Accepted by mistake: end the session so it does not hold the key for the next check.
  if (e === undefined) h.c.send('s1', { kind: c.kind, suite: h.suite, sessionId: proposalId, round: c.abortRound }, { reason: 'should have been refused' });
  expect(e).toBeInstanceOf(SessionAborted);
  expect((e as SessionAborted).body.reason).toMatch(new RegExp(`^${code}\\b`));
  expect(snapshot(dataDir)).toEqual(before);
}

/** Starts the genuine request, then has the coordinator abort it (discarding its nonce or pending session). */
async function accept(h: Harness, c: OperationCase, request: ClientRequest): Promise<void> {
  const proposalId = await startAt(h, c, request);
  h.c.send('s1', { kind: c.kind, suite: h.suite, sessionId: proposalId, round: c.abortRound }, { reason: 'test done' });
  const daemon = h.cl.daemons.get('s1')!;
  while ((daemon.metrics().liveSessions ?? 0) > 0) await new Promise((resolve) => setTimeout(resolve, 10));
}

async function harness(suite: string): Promise<Harness & { stop(): Promise<void> }> {
  const clock = new TestClock();
  const c = patient(await FakeCoordinator.start());
  const cl = await startClockedCluster(c, IDS, clock);
  const dkg = await runKeySession(c, 'dkg', suite, participants, dkgStart(KEY, suite, 2, participants));
  return {
    c, cl, clock, suite, publicKey: dkg.publicKey,
    stop: async () => {
      await cl.stop();
      await c.close();
    },
  };
}

const SUITES = [
  ['frost-secp256k1-tr', { taproot: {} as TaprootTarget, path: 'm/0/7' }],
  ['frost-ed25519', {}],
  ['ecdsa-secp256k1', { path: 'm/44/60' }],
] as const;
const MESSAGE = sha256(utf8ToBytes('pay 1 BTC to the attacker'));

describe.each(SUITES)('%s: a signer re-checks the client request of every START', (suite, target) => {
  let h: Awaited<ReturnType<typeof harness>>;
  beforeAll(async () => {
    h = await harness(suite);
  }, 180_000);
  afterAll(async () => {
    await h?.stop();
    removeTempDirs();
  });

  // retire last: its accepted START's ABORT voids the session durably (a keystore row),
  // written after accept() returns, so a following case would see it in its snapshot.
  const kinds = (suite === 'ecdsa-secp256k1' ? ['sign', 'dkg', 'refresh', 'retire'] : ['sign', 'dkg', 'refresh', 'reshare', 'repair', 'retire']) as OperationCase['kind'][];
  describe.each(kinds)('%s', (kind) => {
    const op = () => caseFor(kind, suite, () => h.publicKey, { message: MESSAGE, ...target });

    it(`refuses a ${kind} request from a trusted client whose signature does not verify (BAD_SIGNATURE), and changes nothing`, async () => {
      await expectRefused(h, op(), withBadSignature(requestFor(op())), 'BAD_SIGNATURE');
    });

    it(`refuses a ${kind} request re-dated by the relay after the client signed it (BAD_SIGNATURE)`, async () => {
      const r = requestFor(op());
      await expectRefused(h, op(), { ...r, timestamp: r.timestamp + 1 }, 'BAD_SIGNATURE');
    });

    it(`refuses a ${kind} START carrying a request that authorises another key (BAD_DIGEST)`, async () => {
      await expectRefused(h, op(), requestFor(op(), { keyId: 'k-other' }), 'BAD_DIGEST');
    });

    it(`refuses a ${kind} request naming another key id over this START's digest (BAD_DIGEST)`, async () => {
      const c = op();
      await expectRefused(h, c, requestFor(c, { keyId: 'k-other', digest: c.digest(c.kind === 'dkg' ? 'k2' : KEY) }), 'BAD_DIGEST');
    });

    it(`refuses a ${kind} START carrying a request that authorises another operation (BAD_DIGEST)`, async () => {
      const c = op();
      await expectRefused(h, c, requestFor(c, { op: anotherOp(c.op) }), 'BAD_DIGEST');
    });

    it(`refuses a ${kind} START whose request authorises other parameters (BAD_DIGEST)`, async () => {
      const c = op();
      for (const [, digest] of c.otherDigests) await expectRefused(h, c, requestFor(c, { digest }), 'BAD_DIGEST');
    });

    it(`refuses a stale ${kind} request, one second past the skew (STALE), and changes nothing`, async () => {
      await expectRefused(h, op(), requestFor(op(), { timestamp: h.clock.now() - DEFAULT_MAX_SKEW_MS - 1_000 }), 'STALE');
    });

    it(`refuses a future-dated ${kind} request, ten minutes ahead (STALE), and changes nothing`, async () => {
      await expectRefused(h, op(), requestFor(op(), { timestamp: h.clock.now() + 10 * 60_000 }), 'STALE');
    });

    it(`accepts the genuine ${kind} request (the refusals above are the checks, not the set-up)`, async () => {
      await accept(h, op(), requestFor(op()));
    });
  });
});

describe('the replay window across restarts and pruning', () => {
  let h: Awaited<ReturnType<typeof harness>>;
  beforeAll(async () => {
    h = await harness('frost-ed25519');
  }, 180_000);
  afterAll(async () => {
    await h?.stop();
    removeTempDirs();
  });

  describe.each(['sign', 'dkg', 'refresh', 'reshare', 'repair', 'retire'] as const)('%s', (kind) => {
    const op = () => caseFor(kind, h.suite, () => h.publicKey, { message: sha256(utf8ToBytes(`replayed ${kind}`)) });

    it(`refuses a ${kind} request replayed after the signer restarted (REPLAY), and changes nothing`, async () => {
      const request = requestFor(op());
      // A sign request may start up to MAX_ATTEMPTS_PER_REQUEST attempts; any other request one.
      for (let attempt = 0; attempt < (kind === 'sign' ? MAX_ATTEMPTS_PER_REQUEST : 1); attempt++) await accept(h, op(), request);
      await h.cl.restart('s1');
      await expectRefused(h, op(), request, 'REPLAY');
    });

    it(`refuses a ${kind} request replayed once the replay window forgot it (STALE, not accepted again)`, async () => {
      const request = requestFor(op(), { timestamp: h.clock.now() });
      await accept(h, op(), request);
      h.clock.offsetMs += 2 * DEFAULT_MAX_SKEW_MS;
      try {
        await h.cl.restart('s1');
        const remembered = snapshot(h.cl.signers[0]!.dataDir).requests;
        expect(remembered.some((row) => row.includes(Buffer.from(request.nonce).toString('hex')))).toBe(false);
        await expectRefused(h, op(), request, 'STALE');
      } finally {
        h.clock.offsetMs = 0;
      }
    });
  });
});

describe("a signer checks every START against its own records of the key", () => {
  let h: Awaited<ReturnType<typeof harness>>;
  beforeAll(async () => {
    h = await harness('frost-secp256k1-tr');
  }, 180_000);
  afterAll(async () => {
    await h?.stop();
    removeTempDirs();
  });
  const sign = () => caseFor('sign', h.suite, () => h.publicKey, { message: MESSAGE, taproot: {} });
  const reshare = () => caseFor('reshare', h.suite, () => h.publicKey, { message: MESSAGE });

  it('refuses a genuine DKG request for a key id it already holds (WRONG_KEY_STATE), and keeps the share', async () => {
    const c = caseFor('dkg', h.suite, () => h.publicKey, { message: MESSAGE });
    const existing = { ...c, start: (request: ClientRequest) => ({ ...dkgStart(KEY, h.suite, 2, participants), request }) };
    await expectRefused(h, existing, requestFor(c, { keyId: KEY }), 'WRONG_KEY_STATE');
  });

  it("refuses a sign START under another suite than the key's (WRONG_SUITE)", async () => {
    await expectRefused({ ...h, suite: 'frost-secp256k1' }, sign(), requestFor(sign()), 'WRONG_SUITE');
  });

  it('refuses a sign START at an epoch the key is not active at (WRONG_KEY_STATE)', async () => {
    const c = sign();
    await expectRefused(h, { ...c, start: (request) => ({ ...c.start(request), epoch: 1 }) }, requestFor(c), 'WRONG_KEY_STATE');
  });

  it("refuses a reshare START whose old epoch or old participants differ from the share it holds (WRONG_KEY_STATE)", async () => {
    const c = reshare();
    await expectRefused(h, { ...c, start: (request) => ({ ...c.start(request), epoch: 1 }) }, requestFor(c), 'WRONG_KEY_STATE');
    const swapped = [{ signer: 's1', index: 2 }, { signer: 's2', index: 1 }, { signer: 's3', index: 3 }];
    const renumbered = { ...c, start: (request: ClientRequest) => ({ ...c.start(request), oldParticipants: swapped, dealers: swapped.slice(0, 2) }) };
    await expectRefused(h, renumbered, requestFor(c), 'WRONG_KEY_STATE');
  });

  it('refuses a reshare START whose old key package differs from the one it holds under the same group key, with a genuine request for that group key (WRONG_KEY_STATE)', async () => {
    const c = reshare();
    const chainCode = h.publicKey.chainCode.slice();
    chainCode[0]! ^= 0x01;
    const verifyingShares = [h.publicKey.verifyingShares[1]!, h.publicKey.verifyingShares[0]!, h.publicKey.verifyingShares[2]!];
    for (const forged of [{ ...h.publicKey, chainCode }, { ...h.publicKey, verifyingShares }]) {
      const substituted = { ...c, start: (request: ClientRequest) => ({ ...c.start(request), oldPublicKey: forged }) };
      await expectRefused(h, substituted, requestFor(c), 'WRONG_KEY_STATE');
    }
  });

  it('refuses to deal in a reshare of a key it holds no share of (WRONG_KEY_STATE)', async () => {
    const c = reshare();
    const none = { ...c, start: (request: ClientRequest) => ({ ...c.start(request), keyId: 'k-none' }) };
    await expectRefused(h, none, requestFor(c, { keyId: 'k-none' }), 'WRONG_KEY_STATE');
  });
});
