/**
 * ecdsa-secp256k1 signing attempts (DKLs23 Protocol 3.6; rounds `ECDSA_SIGN_ROUND`, see
 * @keyquorum/protocol ecdsa.ts). The coordinator relays: the quorum's CONTRIBUTIONs
 * (which fix the quorum and the session id, runtime.ts), every R1 broadcast and each
 * signer's encrypted R1/R2 messages, which it cannot read. It only ever holds public
 * values: the signers' (w_i, u_i) and the instance point R; it combines them (step 10:
 * s = sum w / sum u, low s, recovery id) and verifies the result with noble's
 * `secp256k1.verify` (prehash false) before returning it. A signer whose peer fails
 * an OT or step-8 consistency check ABORTs naming that peer (`culprits`); the
 * coordinator cannot read the messages it judged, so signing.ts only keeps the pair
 * apart (accusation 'conflict') and retries with another quorum. Nothing is durable here.
 * The relayed rounds and step 10 are ecdsa-rounds.ts. Presignature pool (ecdsa-presign.ts):
 * a quorum holding a presignature signs in one round trip (POOLED -> SHARE), else (or on a
 * signer's pool-miss ABORT) the full protocol runs; after each attempt the quorum's pool
 * is topped up in the background.
 */
import { targetExternalKey } from '@keyquorum/crypto';
import { DIGEST_LENGTH, ECDSA_SIGN_ROUND, decodeBody, type EcdsaSignShareBody, type ParticipantRef } from '@keyquorum/protocol';
import { ECDSA_KEY_ROUND_TIMEOUT_FACTOR } from '../constants.ts';
import { pooledAttempt, topUpPresignatures } from './ecdsa-presign.ts';
import { combineShares, ecdsaStartBody, relayRounds } from './ecdsa-rounds.ts';
import type { SignRequest } from './requests.ts';
import type { SessionRuntime } from './runtime.ts';
import { runAttempt, type AttemptSignature, type SchemeDriver } from './scheme-driver.ts';

export { checkFinalSignature } from './ecdsa-rounds.ts';

/** Today's full protocol: contributions, rounds 1-2, SHARE (three round trips after START). */
function fullAttempt(rt: SessionRuntime, r: SignRequest, quorum: readonly ParticipantRef[]): Promise<AttemptSignature> {
  const { key } = r;
  const R = ECDSA_SIGN_ROUND;
  return runAttempt(rt, r, quorum, R, async (s) => {
    const { inbox, ids, log } = s;
    const { last } = await relayRounds(rt, s, {
      keyId: key.id, requestDigest: r.request.digest, start: ecdsaStartBody(r), startRound: R.START,
      last: { round: R.SHARE, check: (e) => void decodeBody(inbox.kind, R.SHARE, inbox.suite, e.payload) },
    });
    const bodies = quorum.map((p) => decodeBody<EcdsaSignShareBody>(inbox.kind, R.SHARE, inbox.suite, last.get(p.signer)![0]!.payload));
    const out = combineShares(r, quorum, bodies, { publicKey: targetExternalKey(r.publicKey, r.path === undefined ? undefined : { path: r.path }) });
    log.info('signature produced', { quorum: ids });
    return out;
  });
}

async function ecdsaSignAttempt(rt: SessionRuntime, r: SignRequest, quorum: readonly ParticipantRef[]): Promise<AttemptSignature> {
  try {
    const pooled = await pooledAttempt(rt, r, quorum);
    if (pooled !== undefined) return pooled;
    return await fullAttempt(rt, r, quorum);
  } finally {
    topUpPresignatures(rt, r.key, quorum);
  }
}

/** The ecdsa-secp256k1 (DKLs23) driver. */
export const ECDSA_DRIVER: SchemeDriver = {
  signAttempt: ecdsaSignAttempt,
  accusation: 'conflict',
  keyRoundTimeoutFactor: ECDSA_KEY_ROUND_TIMEOUT_FACTOR,
  refuseMessage: (message) => (message.length === DIGEST_LENGTH ? undefined : 'an ecdsa-secp256k1 key signs a 32-byte digest (e.g. keccak-256 of a transaction, a sighash)'),
  reshareUnsupported: 'reshare of ecdsa-secp256k1 keys is not supported yet',
  repairUnsupported:
    'repair of an ecdsa-secp256k1 share is not supported: the repaired signer would also need fresh pairwise OT state with every other participant (DKLs23), which repair does not build; an ecdsa key keeps signing with the remaining participants (t <= n - 1)',
};
