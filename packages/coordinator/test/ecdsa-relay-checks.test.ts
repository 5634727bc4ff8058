/**
 * The coordinator's own checks of the ecdsa-secp256k1 messages it relays without
 * reading them (sessions/ecdsa-rounds.ts `relayRounds`): every point-to-point round-1
 * and round-2 message is encrypted, and goes to another member of the attempt's
 * quorum; the public commitment is not; every message carries the attempt's session id;
 * the final share goes to the coordinator. A signer that breaks one of these rules is caught by the coordinator itself,
 * so it is banned for the key (proof, not an accusation: ARCHITECTURE.md "No accusation
 * is taken on faith") and an honest quorum signs. Without the check the message would be
 * relayed, and the recipient's accusation would only keep a pair apart (or the
 * message would be used). Each test
 * kills the removal of one check (docs/mutation.md). s2 lies through a LyingLink
 * (ecdsa-cluster.ts); the signers make no presignatures, so every attempt is the full
 * protocol.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { BROADCAST, ECDSA_SIGN_ROUND, type Envelope } from '@keyquorum/protocol';
import { isSignRound, startEcdsaCluster, type EcdsaCluster } from './ecdsa-cluster.ts';
import type { LyingLinkOptions } from './lying-link.ts';

type Lie = 'none' | 'r1-plain' | 'r1-to-self' | 'r1-to-outsider' | 'r1-public-encrypted' | 'r1-proposal-id' | 'r2-plain' | 'r2-to-self' | 'r2-to-outsider' | 'share-to-peer';
let lie: Lie = 'none';
/** The session id of s2's last CONTRIBUTION: the attempt's proposal id. */
let proposalId: Uint8Array | undefined;

/** s2's point-to-point frame of `round`, changed as `lie` says; undefined for every other frame. */
const tamper: LyingLinkOptions['rewrite'] = (e: Envelope) => {
  if (isSignRound(e, ECDSA_SIGN_ROUND.CONTRIBUTION)) proposalId = e.header.sessionId;
  const direct = e.header.to !== BROADCAST;
  const r1 = isSignRound(e, ECDSA_SIGN_ROUND.R1) && direct;
  const r2 = isSignRound(e, ECDSA_SIGN_ROUND.R2);
  if ((lie === 'r1-plain' && r1) || (lie === 'r2-plain' && r2)) return { header: e.header, payload: e.payload };
  if ((lie === 'r1-to-self' && r1) || (lie === 'r2-to-self' && r2)) return { header: { ...e.header, to: 's2' }, payload: e.payload, enc: e.enc };
  // The attempt's quorum is s1 and s2 (the first asked): s3 is outside it.
  if ((lie === 'r1-to-outsider' && r1) || (lie === 'r2-to-outsider' && r2)) return { header: { ...e.header, to: 's3' }, payload: e.payload, enc: e.enc };
  const commitment = isSignRound(e, ECDSA_SIGN_ROUND.R1) && !direct;
  // The public commitment marked as encrypted (an ephemeral key no recipient could use).
  if (lie === 'r1-public-encrypted' && commitment) return { header: e.header, payload: e.payload, enc: { eph: new Uint8Array(32).fill(9) } };
  // Round 1 under the proposal id instead of the session id the contributions fixed.
  if (lie === 'r1-proposal-id' && commitment) return { header: { ...e.header, sessionId: proposalId! }, payload: e.payload };
  // The final share addressed to a peer instead of the coordinator.
  if (lie === 'share-to-peer' && isSignRound(e, ECDSA_SIGN_ROUND.SHARE)) return { header: { ...e.header, to: 's1' }, payload: e.payload };
  return undefined;
};

let c: EcdsaCluster;

beforeAll(async () => {
  c = await startEcdsaCluster({ name: 'relay-checks', liar: 's2', signer: { noncePool: 0 }, rewrite: tamper });
}, 120_000);
afterAll(async () => c?.stop());

beforeEach(async () => {
  lie = 'none';
  for (const b of await c.coordinator.bans(c.keyId)) await c.coordinator.clearBan(c.keyId, b.signer);
  // The attempt memory is the coordinator process's: each case starts from none (s1 and s2 asked first).
  await c.restartCoordinator();
});

describe('ecdsa-secp256k1: the coordinator checks what it relays unread', () => {
  it.each([
    ['r1-plain', 'a round-1 RVOLE message sent in the clear'],
    ['r1-to-self', 'a round-1 RVOLE message addressed to its own sender'],
    ['r1-to-outsider', 'a round-1 RVOLE message addressed to a signer outside the quorum'],
    ['r1-public-encrypted', 'a round-1 commitment marked as encrypted (it is public)'],
    ['r1-proposal-id', 'a round-1 commitment under the proposal id, not the session id'],
    ['r2-plain', 'a round-2 message sent in the clear'],
    ['r2-to-self', 'a round-2 message addressed to its own sender'],
    ['r2-to-outsider', 'a round-2 message addressed to a signer outside the quorum'],
    ['share-to-peer', 'a final share addressed to a peer, not the coordinator'],
  ] as const)('%s: %s is refused by the coordinator itself: its sender is banned, an honest quorum signs', async (mode, _what) => {
    lie = mode;
    const before = (await c.events('key.sign_attempt_failed')).length;
    const { message, out, error, signed } = await c.sign(`pay the merchant (${mode})`);
    expect(error).toBeUndefined();
    expect(secp256k1.verify(out!.signature, message, c.publicKey, { prehash: false })).toBe(true);
    expect(signed[0]!.data.quorum).toEqual(['s1', 's3']);
    const failed = (await c.events('key.sign_attempt_failed')).slice(before).map((e) => e.data);
    expect(failed).toEqual([expect.objectContaining({ reason: 'invalid', quorum: ['s1', 's2'], culprits: ['s2'], banned: true })]);
    expect((await c.coordinator.bans(c.keyId)).map((b) => b.signer)).toEqual(['s2']);
  });
});
