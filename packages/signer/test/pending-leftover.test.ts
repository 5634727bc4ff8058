/**
 * A signer that holds only a pending epoch of a key: it signed its CONFIRM of the DKG but
 * never got the COMMIT, which its peers did get, and its session was ended by a bare ABORT (docs/cluster-protocol.md "Unresolved key
 * sessions"). One real cluster and one DKG for the file; the test plays the coordinator.
 * - A reshare START naming it as a new member, and a DKG START for the key, are refused
 *   PENDING_UNRESOLVED before the request is looked at (start.ts `refuseUnresolved`): the session may have committed
 *   elsewhere, so the pending share is never dropped on the coordinator's word. Nothing
 *   changes, not even the request's replay-window entry.
 * - A COMMIT lacking a participant's CONFIRM, or carrying one that disagrees with its own
 *   (transcript, public key, key id, epoch), does not activate it (sessions/key-commit.ts).
 * - A repair naming it as the target is allowed (sessions/authorise.ts `repairShare`: "a
 *   pending leftover is allowed: START drops it"): it is repaired, activates at COMMIT and
 *   signs. A target refusing a pending leftover as if it held the key would leave the
 *   share lost for good (docs/mutation.md).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import { KEY_ROUND, decodeBody, encodeBody, repairDigest, sealEnvelope, signClientRequest, type ConfirmBody, type WirePublicKey } from '@keyquorum/protocol';
import { adminClient } from './helpers/cluster.ts';
import { SessionAborted, dkgStart, gather, refs, runKeySession, signsAndVerifies, type KeyRun } from './helpers/drive.ts';
import { runRepair } from './helpers/repair-drive.ts';
import { reshareStart } from './helpers/reshare-drive.ts';
import { useFakeCluster } from './helpers/fake-cluster.ts';
import { snapshot } from './helpers/state.ts';

const SUITE = 'frost-ed25519';
const KEY = 'k1';
const participants = refs(['s1', 's2', 's3']);

const fake = useFakeCluster({ scope: 'file' });

let setUp: Promise<WirePublicKey> | undefined;
let dkg: KeyRun | undefined;
/** A 2-of-3 key: s1 and s2 hold it active, s3 only pending (its COMMIT withheld). Once per file. */
function keyWithPendingS3(): Promise<WirePublicKey> {
  setUp ??= (async () => {
    const { c } = await fake.start(['s1', 's2', 's3']);
    dkg = await runKeySession(c, 'dkg', SUITE, participants, dkgStart(KEY, SUITE, 2, participants), { noCommit: true });
    for (const id of ['s1', 's2']) c.send(id, { kind: 'dkg', suite: SUITE, sessionId: dkg.sessionId, round: KEY_ROUND.COMMIT }, { envelopes: dkg.confirms });
    await gather(c, ['s1', 's2'], 'dkg', KEY_ROUND.ACK);
    // A bare ABORT ends s3's live session; its pending share stays (only a COMMIT or a VETO resolves it).
    c.send('s3', { kind: 'dkg', suite: SUITE, sessionId: dkg.sessionId, round: KEY_ROUND.ABORT }, { reason: 'aborted (a lie)' });
    return dkg.publicKey;
  })();
  return setUp;
}

const dataDir = (id: string) => fake.cl.signers.find((s) => s.id === id)!.dataDir;

describe('a signer holding only a pending epoch of the key', () => {
  it('refuses a reshare START from a coordinator while only a pending epoch is held (PENDING_UNRESOLVED), and changes nothing', async () => {
    const publicKey = await keyWithPendingS3();
    const { c } = fake;
    const before = snapshot(dataDir('s3'));
    expect(before.shares.map((r) => r.split('|').slice(0, 3).join('|'))).toEqual([`${KEY}|0|pending`]);
    const start = reshareStart({ keyId: KEY, suite: SUITE, epoch: 0, oldPublicKey: publicKey, oldParticipants: participants, dealers: participants.slice(0, 2), newParticipants: participants, newThreshold: 2 });
    c.send('s3', { kind: 'reshare', suite: SUITE, sessionId: randomBytes(32), round: KEY_ROUND.START }, start);
    const e = await gather(c, ['s3'], 'reshare', KEY_ROUND.CONTRIBUTION).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(SessionAborted);
    expect((e as SessionAborted).body.reason).toMatch(/^PENDING_UNRESOLVED/);
    // Its pending share, nonces and replay window are as they were: the request was not consumed.
    expect(snapshot(dataDir('s3'))).toEqual(before);
  }, 120_000);

  it('refuses a DKG START for the key from a coordinator while only a pending epoch is held (PENDING_UNRESOLVED), with a genuine request, and changes nothing', async () => {
    await keyWithPendingS3();
    const { c } = fake;
    const before = snapshot(dataDir('s3'));
    c.send('s3', { kind: 'dkg', suite: SUITE, sessionId: randomBytes(32), round: KEY_ROUND.START }, dkgStart(KEY, SUITE, 2, participants));
    const e = await gather(c, ['s3'], 'dkg', KEY_ROUND.CONTRIBUTION).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(SessionAborted);
    expect((e as SessionAborted).body.reason).toMatch(/^PENDING_UNRESOLVED/);
    expect(snapshot(dataDir('s3'))).toEqual(before);
  }, 120_000);

  it('refuses a COMMIT that lacks a participant\'s CONFIRM (BAD_TRANSCRIPT): its share stays pending', async () => {
    await keyWithPendingS3();
    const { c } = fake;
    const before = snapshot(dataDir('s3'));
    const { sessionId, confirms } = dkg!;
    // Its own CONFIRM and s1's, not s2's: the session may not have committed anywhere.
    c.send('s3', { kind: 'dkg', suite: SUITE, sessionId, round: KEY_ROUND.COMMIT }, { envelopes: confirms.filter((e) => e.header.from !== 's2') });
    const e = await gather(c, ['s3'], 'dkg', KEY_ROUND.ACK).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(SessionAborted);
    expect((e as SessionAborted).body.reason).toMatch(/^BAD_TRANSCRIPT/);
    expect(snapshot(dataDir('s3'))).toEqual(before);
  }, 120_000);

  it('refuses a COMMIT in which a participant confirmed another transcript, public key, key id or epoch (BAD_TRANSCRIPT): its share stays pending', async () => {
    await keyWithPendingS3();
    const { c } = fake;
    const before = snapshot(dataDir('s3'));
    const { sessionId, confirms } = dkg!;
    const s1 = confirms.find((e) => e.header.from === 's1')!;
    const body = decodeBody<ConfirmBody>('dkg', KEY_ROUND.CONFIRM, SUITE, s1.payload);
    // s1 (a participant fixture: its own identity key) signs a CONFIRM of this session that disagrees in one field.
    const { identity } = fake.cl.signers.find((s) => s.id === 's1')!;
    const lies: ConfirmBody[] = [
      { ...body, transcriptHash: new Uint8Array(body.transcriptHash.length).fill(9) },
      { ...body, publicKey: { ...body.publicKey, chainCode: new Uint8Array(32).fill(7) } },
      { ...body, keyId: 'k-other' },
      { ...body, epoch: body.epoch + 1 },
    ];
    for (const lie of lies) {
      const forged = sealEnvelope(identity, s1.header, encodeBody(lie));
      c.send('s3', { kind: 'dkg', suite: SUITE, sessionId, round: KEY_ROUND.COMMIT }, { envelopes: confirms.map((e) => (e === s1 ? forged : e)) });
      const e = await gather(c, ['s3'], 'dkg', KEY_ROUND.ACK).then(() => undefined, (x: unknown) => x);
      expect(e).toBeInstanceOf(SessionAborted);
      expect((e as SessionAborted).body.reason).toMatch(/^BAD_TRANSCRIPT/);
    }
    expect(snapshot(dataDir('s3'))).toEqual(before);
  }, 120_000);

  it('is repaired as the target of a repair (its leftover dropped), activates at COMMIT and signs', async () => {
    const publicKey = await keyWithPendingS3();
    const { c } = fake;
    const request = signClientRequest(adminClient, { op: 'repair', keyId: KEY, digest: repairDigest({ keyId: KEY, target: 's3' }) });
    const start = { keyId: KEY, epoch: 0, publicKey, participants, target: participants[2]!, helpers: participants.slice(0, 2), request };
    const { sessionId, confirm } = await runRepair(c, SUITE, { s1: start, s2: start, s3: start });
    c.send('s3', { kind: 'repair', suite: SUITE, sessionId, round: KEY_ROUND.COMMIT }, { envelopes: [confirm] });
    await gather(c, ['s3'], 'repair', KEY_ROUND.ACK);
    expect(snapshot(dataDir('s3')).shares.map((r) => r.split('|').slice(0, 3).join('|'))).toEqual([`${KEY}|0|active`]);

    const message = sha256(utf8ToBytes('after repairing a pending leftover'));
    expect(await signsAndVerifies(c, SUITE, participants, publicKey, ['s1', 's3'], { keyId: KEY, epoch: 0, message })).toBe(true);
  }, 120_000);
});
