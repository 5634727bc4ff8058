/**
 * A START's own checks against this signer's records of the key (sessions/start.ts, the
 * `check` of sessions/authorise.ts `heldShare`), driven through the real protocol: a real
 * signer daemon, the test playing a coordinator that lies about what the key is. Each
 * START carries a genuine client request; each is refused with its typed code before any
 * session exists, and leaves every durable row of the keystore as it was (no nonce
 * journalled, no replay-window entry consumed). One cluster and one DKG for the file.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import { KEY_ROUND, SIGN_ROUND, createKeyDigest, repairDigest, sealEnvelope, signClientRequest, type ParticipantRef, type WirePublicKey } from '@keyquorum/protocol';
import { adminClient } from './helpers/cluster.ts';
import { SessionAborted, dkgStart, gather, refreshStart, refs, runKeySession, signRequest } from './helpers/drive.ts';
import { useFakeCluster } from './helpers/fake-cluster.ts';
import { reshareStart, type ReshareParams } from './helpers/reshare-drive.ts';
import { snapshot } from './helpers/state.ts';

const SUITE = 'frost-ed25519';
const KEY = 'k1';
const participants = refs(['s1', 's2', 's3']);

const fake = useFakeCluster({ scope: 'file' });

let setUp: Promise<WirePublicKey> | undefined;
/** A 2-of-3 frost-ed25519 key on s1..s3 (s4 pinned, holding nothing), once per file. */
function key(): Promise<WirePublicKey> {
  setUp ??= (async () => {
    const { c } = await fake.start(['s1', 's2', 's3', 's4']);
    return (await runKeySession(c, 'dkg', SUITE, participants, dkgStart(KEY, SUITE, 2, participants))).publicKey;
  })();
  return setUp;
}

/** Sends `start` to `to` and expects an ABORT with `code` (at the round an accepted START would answer), the keystore unchanged. */
async function expectRefused(kind: 'dkg' | 'refresh' | 'sign' | 'repair' | 'reshare', round: number, start: Record<string, unknown>, code: string, to = 's1'): Promise<void> {
  await key();
  const { c } = fake;
  const dataDir = fake.cl.signers.find((s) => s.id === to)!.dataDir;
  const before = snapshot(dataDir);
  c.send(to, { kind, suite: SUITE, sessionId: randomBytes(32), round: kind === 'sign' ? SIGN_ROUND.START : KEY_ROUND.START }, start);
  const e = await gather(c, [to], kind, round).then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(SessionAborted);
  expect((e as SessionAborted).body.reason).toMatch(new RegExp(`^${code}`));
  expect(snapshot(dataDir)).toEqual(before);
}

describe('a signer checks a START against its own records of the key', () => {
  it('refuses a refresh START naming other participants than the key has here, with a genuine request (BAD_PARTICIPANTS), and changes nothing', async () => {
    // s2 and s3 with each other's index; s3 left out.
    const swapped: ParticipantRef[] = [participants[0]!, { signer: 's2', index: 3 }, { signer: 's3', index: 2 }];
    await expectRefused('refresh', KEY_ROUND.CONTRIBUTION, { ...refreshStart(KEY, 0, participants), participants: swapped }, 'BAD_PARTICIPANTS');
    await expectRefused('refresh', KEY_ROUND.CONTRIBUTION, { ...refreshStart(KEY, 0, participants), participants: participants.slice(0, 2) }, 'BAD_PARTICIPANTS');
    // Every participant of the key and one more (sameRefs compares lengths too).
    await expectRefused('refresh', KEY_ROUND.CONTRIBUTION, { ...refreshStart(KEY, 0, participants), participants: refs(['s1', 's2', 's3', 's4']) }, 'BAD_PARTICIPANTS');
  }, 120_000);

  it('refuses a frost-ed25519 sign START with a taproot tweak a client asked for (BAD_FIELD) before any nonce is journalled', async () => {
    const p = { keyId: KEY, epoch: 0, message: sha256(utf8ToBytes('a tweak ed25519 cannot take')), taproot: {} };
    await expectRefused('sign', SIGN_ROUND.COMMITMENT, { ...p, request: signRequest(p) }, 'BAD_FIELD');
  }, 120_000);

  it('a repair helper refuses a START naming the key at another epoch, or another package for it, with a genuine request (WRONG_KEY_STATE), and changes nothing', async () => {
    const publicKey = await key();
    const request = signClientRequest(adminClient, { op: 'repair', keyId: KEY, digest: repairDigest({ keyId: KEY, target: 's3' }) });
    const start = { keyId: KEY, epoch: 0, publicKey, participants, target: participants[2]!, helpers: participants.slice(0, 2), request };
    // The target would store its share under the START's epoch and package: the helpers must hold exactly those.
    await expectRefused('repair', KEY_ROUND.CONTRIBUTION, { ...start, epoch: 1 }, 'WRONG_KEY_STATE');
    // The same verifying shares (the target's sum would pass), another chain code: every derived key would differ.
    await expectRefused('repair', KEY_ROUND.CONTRIBUTION, { ...start, publicKey: { ...publicKey, chainCode: new Uint8Array(32).fill(7) } }, 'WRONG_KEY_STATE');
  }, 120_000);

  it('refuses a DKG START whose threshold exceeds its participants (BAD_THRESHOLD), or that does not name this signer (BAD_PARTICIPANTS), with a genuine request for it, before contributing anything', async () => {
    const request = signClientRequest(adminClient, { op: 'createKey', keyId: 'k-big', digest: createKeyDigest({ keyId: 'k-big', suite: SUITE, threshold: 4, signers: ['s1', 's2', 's3'] }) });
    await expectRefused('dkg', KEY_ROUND.CONTRIBUTION, { keyId: 'k-big', threshold: 4, participants, request }, 'BAD_THRESHOLD');
    // A DKG of s1..s3 sent to s4, which it does not name: a typed refusal, not a crash.
    const other = signClientRequest(adminClient, { op: 'createKey', keyId: 'k-other', digest: createKeyDigest({ keyId: 'k-other', suite: SUITE, threshold: 2, signers: ['s1', 's2', 's3'] }) });
    await expectRefused('dkg', KEY_ROUND.CONTRIBUTION, { keyId: 'k-other', threshold: 2, participants, request: other }, 'BAD_PARTICIPANTS', 's4');
  }, 120_000);

  it('a new member holding nothing of the key refuses a reshare START that contradicts itself, with a genuine request (BAD_PARTICIPANTS, UNPINNED_PEER), and changes nothing', async () => {
    const publicKey = await key();
    const params: ReshareParams = { keyId: KEY, suite: SUITE, epoch: 0, oldPublicKey: publicKey, oldParticipants: participants, dealers: participants.slice(0, 2), newParticipants: refs(['s2', 's3', 's4']), newThreshold: 2 };
    const refuse = (p: Partial<ReshareParams>, code: string, to = 's4') => expectRefused('reshare', KEY_ROUND.CONTRIBUTION, reshareStart({ ...params, ...p }), code, to);
    // s4 has no share to compare the old key with: only the START's own consistency and its pins stand between it and a session it cannot finish.
    await refuse({ oldParticipants: [participants[0]!, participants[1]!, { signer: 's3', index: 4 }] }, 'BAD_PARTICIPANTS');
    await refuse({ dealers: [participants[0]!, { signer: 's3', index: 2 }] }, 'BAD_PARTICIPANTS');
    await refuse({ newParticipants: refs(['s2', 's3', 's4', 's9']) }, 'UNPINNED_PEER');
    await refuse({ newParticipants: participants }, 'BAD_PARTICIPANTS');
  }, 120_000);

  it('refuses a SIGN carrying fewer COMMITMENTs than the key\'s threshold (BAD_TRANSCRIPT): no SHARE, its nonce discarded, never consumed', async () => {
    await key();
    const { c } = fake;
    const p = { keyId: KEY, epoch: 0, message: sha256(utf8ToBytes('a quorum of one')) };
    const proposalId = randomBytes(32);
    c.send('s1', { kind: 'sign', suite: SUITE, sessionId: proposalId, round: SIGN_ROUND.START }, { ...p, request: signRequest(p) });
    const own = (await gather(c, ['s1'], 'sign', SIGN_ROUND.COMMITMENT)).get('s1')!;
    // Only s1's own COMMITMENT for a 2-of-3 key: a share for it could never aggregate, and would spend the nonce.
    c.send('s1', { kind: 'sign', suite: SUITE, sessionId: proposalId, round: SIGN_ROUND.SIGN }, { envelopes: own });
    const e = await gather(c, ['s1'], 'sign', SIGN_ROUND.SHARE).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(SessionAborted);
    expect((e as SessionAborted).body.reason).toMatch(/^BAD_TRANSCRIPT/);
    const nonces = snapshot(fake.cl.signers.find((s) => s.id === 's1')!.dataDir).nonces;
    expect(nonces.length).toBeGreaterThan(0);
    expect(nonces.filter((r) => r.endsWith('|consumed'))).toEqual([]);
  }, 120_000);

  it('refuses a SIGN carrying a validly signed COMMITMENT from a pinned signer outside the key (BAD_TRANSCRIPT): no SHARE, the nonce never consumed', async () => {
    await key();
    const { c } = fake;
    const p = { keyId: KEY, epoch: 0, message: sha256(utf8ToBytes('a quorum with an outsider')) };
    const proposalId = randomBytes(32);
    for (const to of ['s1', 's2']) c.send(to, { kind: 'sign', suite: SUITE, sessionId: proposalId, round: SIGN_ROUND.START }, { ...p, request: signRequest(p) });
    const got = await gather(c, ['s1', 's2'], 'sign', SIGN_ROUND.COMMITMENT);
    // s4 is pinned (its envelope verifies) but holds no share of the key: its commitment has no place in a signing package.
    const s2 = got.get('s2')![0]!;
    const outsider = sealEnvelope(fake.cl.signers.find((s) => s.id === 's4')!.identity, { ...s2.header, from: 's4' }, s2.payload);
    c.send('s1', { kind: 'sign', suite: SUITE, sessionId: proposalId, round: SIGN_ROUND.SIGN }, { envelopes: [...got.get('s1')!, s2, outsider] });
    const e = await gather(c, ['s1'], 'sign', SIGN_ROUND.SHARE).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(SessionAborted);
    expect((e as SessionAborted).body.reason).toMatch(/^BAD_TRANSCRIPT.*unexpected sender s4/);
    expect(snapshot(fake.cl.signers.find((s) => s.id === 's1')!.dataDir).nonces.filter((r) => r.endsWith('|consumed'))).toEqual([]);
    c.send('s2', { kind: 'sign', suite: SUITE, sessionId: proposalId, round: SIGN_ROUND.ABORT }, { reason: 'test over' });
  }, 120_000);

  it("refuses a SIGN that leaves out this signer's own COMMITMENT (BAD_TRANSCRIPT): no SHARE for a package it took no part in, the nonce never consumed", async () => {
    await key();
    const { c } = fake;
    const p = { keyId: KEY, epoch: 0, message: sha256(utf8ToBytes('a quorum without me')) };
    const proposalId = randomBytes(32);
    for (const to of ['s1', 's2', 's3']) c.send(to, { kind: 'sign', suite: SUITE, sessionId: proposalId, round: SIGN_ROUND.START }, { ...p, request: signRequest(p) });
    const got = await gather(c, ['s1', 's2', 's3'], 'sign', SIGN_ROUND.COMMITMENT);
    c.send('s1', { kind: 'sign', suite: SUITE, sessionId: proposalId, round: SIGN_ROUND.SIGN }, { envelopes: [...got.get('s2')!, ...got.get('s3')!] });
    const e = await gather(c, ['s1'], 'sign', SIGN_ROUND.SHARE).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(SessionAborted);
    expect((e as SessionAborted).body.reason).toMatch(/^BAD_TRANSCRIPT.*missing envelopes from s1/);
    expect(snapshot(fake.cl.signers.find((s) => s.id === 's1')!.dataDir).nonces.filter((r) => r.endsWith('|consumed'))).toEqual([]);
    for (const to of ['s2', 's3']) c.send(to, { kind: 'sign', suite: SUITE, sessionId: proposalId, round: SIGN_ROUND.ABORT }, { reason: 'test over' });
  }, 120_000);

  it('an ABORT after COMMITMENT discards the journalled nonce: it is never left fresh for a later use', async () => {
    await key();
    const { c } = fake;
    const dataDir = fake.cl.signers.find((s) => s.id === 's1')!.dataDir;
    const p = { keyId: KEY, epoch: 0, message: sha256(utf8ToBytes('aborted before SIGN')) };
    const proposalId = randomBytes(32);
    c.send('s1', { kind: 'sign', suite: SUITE, sessionId: proposalId, round: SIGN_ROUND.START }, { ...p, request: signRequest(p) });
    await gather(c, ['s1'], 'sign', SIGN_ROUND.COMMITMENT);
    const fresh = snapshot(dataDir).nonces.filter((r) => r.endsWith('|fresh'));
    expect(fresh).toHaveLength(1);
    c.send('s1', { kind: 'sign', suite: SUITE, sessionId: proposalId, round: SIGN_ROUND.ABORT }, { reason: 'aborted by the coordinator' });
    // Frames are handled in order: once a later START is answered, the ABORT has been.
    const fence = { ...p, taproot: {} };
    c.send('s1', { kind: 'sign', suite: SUITE, sessionId: randomBytes(32), round: SIGN_ROUND.START }, { ...fence, request: signRequest(fence) });
    await expect(gather(c, ['s1'], 'sign', SIGN_ROUND.COMMITMENT)).rejects.toBeInstanceOf(SessionAborted);
    const id = fresh[0]!.split('|')[0]!;
    expect(snapshot(dataDir).nonces.filter((r) => r.startsWith(`${id}|`)).map((r) => r.split('|').at(-1))).toEqual(['discarded']);
  }, 120_000);
});
