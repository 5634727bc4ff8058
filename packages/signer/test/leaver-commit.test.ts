/**
 * An old holder leaving the key by reshare (sessions/key-commit.ts `leaveKey`) may never
 * have seen the session: the COMMIT alone must convince it before it wipes its share. Here
 * the new members s2, s3, s4 are fixtures that sign CONFIRMs with their own identity keys
 * (no reshare runs); s1 holds the key and is not among them. A COMMIT whose CONFIRMs
 * disagree, name another epoch, another key (group key, chain code) or are missing is
 * refused with its typed code and s1's share stays; then a consistent COMMIT makes it
 * leave (the control: the refusals were for the lie, not for the set-up). One DKG.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { COORDINATOR_ID, KEY_ROUND, PROTOCOL_VERSION, encodeBody, sealEnvelope, type ConfirmBody, type Envelope, type WirePublicKey } from '@keyquorum/protocol';
import { SessionAborted, dkgStart, gather, refs, runKeySession } from './helpers/drive.ts';
import { useFakeCluster } from './helpers/fake-cluster.ts';
import { snapshot } from './helpers/state.ts';

const SUITE = 'frost-ed25519';
const KEY = 'k1';

const fake = useFakeCluster({ scope: 'file' });

/** `signer`'s CONFIRM of reshare `sessionId`, signed with its own identity key. */
function confirmOf(signer: string, sessionId: Uint8Array, body: ConfirmBody): Envelope {
  const { identity } = fake.cl.signers.find((s) => s.id === signer)!;
  return sealEnvelope(identity, { v: PROTOCOL_VERSION, kind: 'reshare', suite: SUITE, sessionId, round: KEY_ROUND.CONFIRM, from: signer, to: COORDINATOR_ID }, encodeBody(body));
}

describe('a leaving holder and a reshare COMMIT it never saw', () => {
  it('refuses CONFIRMs that disagree, name another epoch or another key, or none (its share stays); wipes it on a consistent COMMIT', async () => {
    const { c } = await fake.start(['s1', 's2', 's3', 's4']);
    const old = refs(['s1', 's2', 's3']);
    const { publicKey } = await runKeySession(c, 'dkg', SUITE, old, dkgStart(KEY, SUITE, 2, old));
    const dataDir = fake.cl.signers.find((s) => s.id === 's1')!.dataDir;
    const before = snapshot(dataDir);
    // The new package: the same key (group key, chain code), epoch 1, three members.
    const honest: ConfirmBody = { keyId: KEY, epoch: 1, transcriptHash: new Uint8Array(32).fill(1), publicKey };
    const members = ['s2', 's3', 's4'];
    const commit = (sessionId: Uint8Array, envelopes: Envelope[]) => {
      c.send('s1', { kind: 'reshare', suite: SUITE, sessionId, round: KEY_ROUND.COMMIT }, { envelopes });
      return gather(c, ['s1'], 'reshare', KEY_ROUND.ACK).then(() => undefined, (x: unknown) => x);
    };
    const refused = async (envelopes: (sessionId: Uint8Array) => Envelope[], code: string) => {
      const sessionId = randomBytes(32);
      const e = await commit(sessionId, envelopes(sessionId));
      expect(e).toBeInstanceOf(SessionAborted);
      expect((e as SessionAborted).body.reason).toMatch(new RegExp(`^${code}`));
      expect(snapshot(dataDir)).toEqual(before);
    };
    const all = (body: ConfirmBody) => (id: Uint8Array) => members.map((m) => confirmOf(m, id, body));
    // The last member confirms something else: transcript, package, key id, epoch (last, so
    // the leaver reads the key from an honest one and only the comparison can refuse).
    const otherKey: WirePublicKey = { ...publicKey, chainCode: new Uint8Array(32).fill(7) };
    for (const lie of [{ transcriptHash: new Uint8Array(32).fill(2) }, { publicKey: otherKey }, { keyId: 'k-other' }, { epoch: 2 }]) {
      await refused((id) => [...members.slice(0, 2).map((m) => confirmOf(m, id, honest)), confirmOf('s4', id, { ...honest, ...lie })], 'BAD_TRANSCRIPT');
    }
    await refused(() => [], 'BAD_TRANSCRIPT');
    // Every member agrees, but on epoch 2 (s1 holds epoch 0), or on another key under this key id.
    await refused(all({ ...honest, epoch: 2 }), 'WRONG_KEY_STATE');
    await refused(all({ ...honest, publicKey: { ...publicKey, groupKey: publicKey.verifyingShares[0]! } }), 'WRONG_KEY_STATE');
    await refused(all({ ...honest, publicKey: otherKey }), 'WRONG_KEY_STATE');

    const sessionId = randomBytes(32);
    expect(await commit(sessionId, all(honest)(sessionId))).toBeUndefined();
    expect(snapshot(dataDir).shares).toEqual([]);
  }, 120_000);
});
