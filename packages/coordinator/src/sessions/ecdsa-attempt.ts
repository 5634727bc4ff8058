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
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { equalBytes } from '@noble/curves/utils.js';
import { ecdsa, isCryptoError, targetExternalKey } from '@keyquorum/crypto';
import {
  DIGEST_LENGTH,
  BROADCAST,
  ECDSA_SIGN_ROUND,
  WireError,
  decodeBody,
  type EcdsaSignR1Body,
  type EcdsaSignShareBody,
  type ParticipantRef,
} from '@keyquorum/protocol';
import { ECDSA_KEY_ROUND_TIMEOUT_FACTOR } from '../constants.ts';
import { CoordinatorError, sessionFault } from '../errors.ts';
import { startTx, type SignRequest } from './requests.ts';
import { sameSession, toCoordinator, type SessionRuntime } from './runtime.ts';
import { runAttempt, type AttemptSignature, type SchemeDriver } from './scheme-driver.ts';

/**
 * The coordinator's own last check of step 10: the combined signature verifies under
 * the standard verifier (noble `secp256k1.verify`, prehash false) before it is returned
 * or audited. `ecdsa.combineSignature` checks the same first; this one does not depend
 * on it (defence in depth).
 */
export function checkFinalSignature(signature: Uint8Array, digest: Uint8Array, publicKey: Uint8Array): void {
  if (!secp256k1.verify(signature, digest, publicKey, { prehash: false })) {
    throw new CoordinatorError('SESSION_FAILED', { message: 'the combined ECDSA signature does not verify under the standard verifier' });
  }
}

async function ecdsaSignAttempt(rt: SessionRuntime, r: SignRequest, quorum: readonly ParticipantRef[]): Promise<AttemptSignature> {
  const { key } = r;
  const timeoutMs = rt.opts.roundTimeoutMs;
  const R = ECDSA_SIGN_ROUND;
  return runAttempt(rt, r, quorum, R, async ({ inbox, proposal, ids, log }) => {
    const start: Record<string, unknown> = { keyId: key.id, epoch: key.epoch, message: r.message, request: r.request };
    if (r.path !== undefined) start.path = r.path;
    if (r.tx !== undefined) start.tx = startTx(r.tx);

    const sessionId = await rt.contributedSessionId(inbox, proposal, {
      keyId: key.id,
      request: r.request,
      start,
      rounds: R,
      timeoutMs,
      // R1: one broadcast commitment plus one encrypted RVOLE message to each other quorum member.
      declareRound1: (sessionId) =>
        inbox.expect(
          R.R1,
          ids,
          (e, prior) => {
            sameSession(e, sessionId);
            const { to, from } = e.header;
            if (prior.some((p) => p.header.to === to)) throw new WireError('WRONG_RECIPIENT', { field: 'header.to', message: 'WRONG_RECIPIENT: two round-1 messages to the same recipient' });
            if (to === BROADCAST) {
              if (e.enc !== undefined) throw new WireError('BAD_FIELD', { field: 'enc', message: 'BAD_FIELD: the round-1 commitment is public' });
              const body = decodeBody<EcdsaSignR1Body>(inbox.kind, R.R1, inbox.suite, e.payload);
              if (!('commitment' in body)) throw new WireError('BAD_FIELD', { field: 'commitment' });
            } else {
              if (to === from || !ids.includes(to)) throw new WireError('WRONG_RECIPIENT', { field: 'header.to' });
              if (e.enc === undefined) throw new WireError('BAD_FIELD', { field: 'enc', message: 'BAD_FIELD: round-1 RVOLE messages must be encrypted to their recipient' });
            }
          },
          ids.length,
        ),
    });
    const r1 = [...(await rt.collect(inbox, { timeoutMs })).values()].flat();

    inbox.expect(
      R.R2,
      ids,
      (e, prior) => {
        sameSession(e, sessionId);
        const { to, from } = e.header;
        if (to === from || !ids.includes(to) || prior.some((p) => p.header.to === to)) throw new WireError('WRONG_RECIPIENT', { field: 'header.to' });
        if (e.enc === undefined) throw new WireError('BAD_FIELD', { field: 'enc', message: 'BAD_FIELD: round-2 messages must be encrypted to their recipient' });
      },
      ids.length - 1,
    );
    rt.deliver(inbox, ids, sessionId, R.R1_DELIVER, (id) => r1.filter((e) => e.header.to === BROADCAST || e.header.to === id));
    const r2 = [...(await rt.collect(inbox, { timeoutMs })).values()].flat();

    inbox.expect(R.SHARE, ids, (e) => {
      toCoordinator(e);
      sameSession(e, sessionId);
      decodeBody(inbox.kind, R.SHARE, inbox.suite, e.payload);
    });
    rt.deliver(inbox, ids, sessionId, R.R2_DELIVER, (id) => r2.filter((e) => e.header.to === id));
    const shareEnvelopes = await rt.collect(inbox, { timeoutMs });
    const bodies = quorum.map((p) => decodeBody<EcdsaSignShareBody>(inbox.kind, R.SHARE, inbox.suite, shareEnvelopes.get(p.signer)![0]!.payload));

    // Step 10, on public values only. Every signer must report the same R.
    const instancePoint = bodies[0]!.instancePoint;
    if (bodies.some((b) => !equalBytes(b.instancePoint, instancePoint))) {
      throw sessionFault('invalid', [], [], 'the quorum computed different instance points R (unattributable)');
    }
    const publicKey = targetExternalKey(r.publicKey, r.path === undefined ? undefined : { path: r.path });
    let combined: ecdsa.EcdsaSignature;
    try {
      combined = ecdsa.combineSignature(
        { quorum: quorum.map((p) => p.index), instancePoint, publicKey },
        r.message,
        quorum.map((p, i) => ({ from: p.index, w: bodies[i]!.w, u: bodies[i]!.u })),
      );
    } catch (e) {
      if (!isCryptoError(e)) throw e;
      throw sessionFault('invalid', [], [], `the signature shares do not combine to a valid signature (unattributable): ${e.message}`);
    }
    checkFinalSignature(combined.signature, r.message, publicKey);
    log.info('signature produced', { quorum: ids });
    return { signature: combined.signature, recoveryId: combined.recovery };
  });
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
