/**
 * Share repair at the signers (docs/cluster-protocol.md "Share repair"), driven through
 * the real protocol by a coordinator the test plays: a 2-of-3 frost-ed25519 key on
 * s1..s3; s3 loses its data directory and is initialised again; s1 and s2 rebuild its
 * share, which then signs. The checks: a helper refuses a target that is not pinned, a
 * START whose participant indices differ from its records, and a request for another
 * target; the target refuses a package other than the helpers' (its session id differs,
 * so their sigmas are another session's) and a sum that fails its verifying share
 * (SHARE_MISMATCH); in each case nothing is stored.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import { KEY_ROUND, decodeBody, repairDigest, signClientRequest, type ConfirmBody, type ParticipantRef, type WirePublicKey } from '@keyquorum/protocol';
import { Keystore, SignerDaemon, honestBehaviour, type SignerBehaviour } from '../src/index.ts';
import { ENV, PASSPHRASE, adminClient, captureLog, initTestSigner, optionsFor } from './helpers/cluster.ts';
import { SessionAborted, dkgStart, gather, refs, runKeySession, signsAndVerifies } from './helpers/drive.ts';
import { runRepair } from './helpers/repair-drive.ts';
import type { FakeCoordinator } from './helpers/fake-coordinator.ts';
import { useFakeCluster } from './helpers/fake-cluster.ts';

const SUITE = 'frost-ed25519';
const KEY = 'k1';

const fake = useFakeCluster();

/** A 2-of-3 key on s1..s3, then s3's data directory wiped and initialised again (same id and seed here). */
async function setup(behaviour: Partial<Record<string, SignerBehaviour>> = {}): Promise<{ c: FakeCoordinator; publicKey: WirePublicKey; participants: ParticipantRef[] }> {
  const { c, cl } = await fake.start(['s1', 's2', 's3'], { behaviour });
  const participants = refs(['s1', 's2', 's3']);
  const dkg = await runKeySession(c, 'dkg', SUITE, participants, dkgStart(KEY, SUITE, 2, participants));
  const s3 = cl.signers.find((s) => s.id === 's3')!;
  await cl.daemons.get('s3')!.stop();
  cl.daemons.delete('s3');
  for (let i = 0; i < 200 && c.connected('s3'); i++) await new Promise((r) => setTimeout(r, 50));
  fs.rmSync(s3.dataDir, { recursive: true, force: true });
  initTestSigner('s3', path.dirname(s3.dataDir));
  const { log, lines } = captureLog();
  const daemon = new SignerDaemon(optionsFor(s3, cl.signers, c), { env: ENV, log });
  await daemon.start();
  fake.extra.push(daemon);
  cl.logs.set('s3', lines);
  await c.waitFor('s3');
  return { c, publicKey: dkg.publicKey, participants };
}

function repairStart(publicKey: WirePublicKey, participants: ParticipantRef[], target = participants[2]!, helpers = participants.slice(0, 2), requestTarget = target.signer) {
  const request = signClientRequest(adminClient, { op: 'repair', keyId: KEY, digest: repairDigest({ keyId: KEY, target: requestTarget }) });
  return { keyId: KEY, epoch: 0, publicKey, participants, target, helpers, request };
}

/** The keys a stopped signer's keystore holds. */
function heldBy(id: string): string[] {
  const s = fake.cl.signers.find((x) => x.id === id)!;
  const ks = Keystore.open({ dataDir: s.dataDir, kek: { passphrase: PASSPHRASE } });
  try {
    return ks.listKeys().map((k) => `${k.keyId}:${k.state}`);
  } finally {
    ks.close();
  }
}

async function expectAbort(p: Promise<unknown>, signer: string, code: string): Promise<void> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(SessionAborted);
  expect((e as SessionAborted).signer).toBe(signer);
  expect((e as SessionAborted).body.reason).toMatch(new RegExp(`^${code}`));
}

describe('share repair at the signers', () => {
  it('two helpers rebuild s3 share from encrypted deltas and sigmas; it activates at COMMIT and signs', async () => {
    const { c, publicKey, participants } = await setup();
    const start = repairStart(publicKey, participants);
    const { sessionId, confirm, r1, r2 } = await runRepair(c, SUITE, { s1: start, s2: start, s3: start });
    // Deltas go helper to helper, sigmas helper to target, all encrypted end to end.
    expect(r1.map((e) => `${e.header.from}>${e.header.to}:${e.enc !== undefined}`).sort()).toEqual(['s1>s2:true', 's2>s1:true']);
    expect(r2.map((e) => `${e.header.from}>${e.header.to}:${e.enc !== undefined}`).sort()).toEqual(['s1>s3:true', 's2>s3:true']);
    const body = decodeBody<ConfirmBody>('repair', KEY_ROUND.CONFIRM, SUITE, confirm.payload);
    expect(body).toMatchObject({ keyId: KEY, epoch: 0, publicKey });
    c.send('s3', { kind: 'repair', suite: SUITE, sessionId, round: KEY_ROUND.COMMIT }, { envelopes: [confirm] });
    await gather(c, ['s3'], 'repair', KEY_ROUND.ACK);

    const message = sha256(utf8ToBytes('after repair'));
    expect(await signsAndVerifies(c, SUITE, participants, publicKey, ['s2', 's3'], { keyId: KEY, epoch: 0, message })).toBe(true);
  }, 120_000);

  it('a target that holds another key active is still repaired for the key it lost: what it holds is looked up by key id', async () => {
    const { c, publicKey, participants } = await setup();
    // s3, initialised again, takes part in a new key first: it holds k-other active, not k1.
    await runKeySession(c, 'dkg', SUITE, participants, dkgStart('k-other', SUITE, 2, participants));
    const start = repairStart(publicKey, participants);
    const { sessionId, confirm } = await runRepair(c, SUITE, { s1: start, s2: start, s3: start });
    expect(decodeBody<ConfirmBody>('repair', KEY_ROUND.CONFIRM, SUITE, confirm.payload)).toMatchObject({ keyId: KEY, epoch: 0, publicKey });
    c.send('s3', { kind: 'repair', suite: SUITE, sessionId, round: KEY_ROUND.COMMIT }, { envelopes: [confirm] });
    await gather(c, ['s3'], 'repair', KEY_ROUND.ACK);
    await fake.extra[0]!.stop();
    fake.extra.splice(0);
    expect(heldBy('s3').sort()).toEqual(['k-other:active', `${KEY}:active`]);
  }, 120_000);

  it('a lying helper: the target refuses the sum (SHARE_MISMATCH) and stores nothing', async () => {
    const lie: SignerBehaviour['repairSigma'] = ({ sigma }) => ({ ...sigma, sigma: ed25519.Point.Fn.toBytes(ed25519.Point.Fn.add(ed25519.Point.Fn.fromBytes(sigma.sigma), 1n)) });
    const { c, publicKey, participants } = await setup({ s1: { ...honestBehaviour, repairSigma: lie } });
    const start = repairStart(publicKey, participants);
    await expectAbort(runRepair(c, SUITE, { s1: start, s2: start, s3: start }), 's3', 'SHARE_MISMATCH');
    await fake.extra[0]!.stop();
    fake.extra.splice(0);
    expect(heldBy('s3')).toEqual([]);
  }, 120_000);

  it('the target refuses a package other than the helpers\' (another session id): nothing stored', async () => {
    const { c, publicKey, participants } = await setup();
    const start = repairStart(publicKey, participants);
    // Same verifying share for s3 (so the sum would pass), another chain code.
    const otherPackage = repairStart({ ...publicKey, chainCode: new Uint8Array(32).fill(7) }, participants);
    otherPackage.request = start.request;
    await expectAbort(runRepair(c, SUITE, { s1: start, s2: start, s3: otherPackage }), 's3', 'BAD_TRANSCRIPT');
    await fake.extra[0]!.stop();
    fake.extra.splice(0);
    expect(heldBy('s3')).toEqual([]);
  }, 120_000);

  it('a helper refuses an unpinned target, indices other than its records, and a request for another target', async () => {
    const { c, publicKey, participants } = await setup();
    const send = (start: Record<string, unknown>) => {
      const proposalId = randomBytes(32);
      c.send('s1', { kind: 'repair', suite: SUITE, sessionId: proposalId, round: KEY_ROUND.START }, start);
      return gather(c, ['s1'], 'repair', KEY_ROUND.CONTRIBUTION);
    };
    const unpinned = [participants[0]!, participants[1]!, { signer: 's9', index: 3 }];
    await expectAbort(send(repairStart(publicKey, unpinned)), 's1', 'UNPINNED_PEER');
    // The coordinator says s3 is participant 2 (and s2 participant 3): the helpers would rebuild s2's share for s3.
    const swapped = [participants[0]!, { signer: 's2', index: 3 }, { signer: 's3', index: 2 }];
    await expectAbort(send(repairStart(publicKey, swapped, swapped[2], swapped.slice(0, 2))), 's1', 'WRONG_KEY_STATE');
    await expectAbort(send(repairStart(publicKey, participants, participants[2], participants.slice(0, 2), 's2')), 's1', 'BAD_DIGEST');
  }, 120_000);
});
