/**
 * The rounds of an ecdsa-secp256k1 session the coordinator relays (DKLs23 Protocol 3.6;
 * rounds `ECDSA_SIGN_ROUND`), shared by a signing attempt (ecdsa-attempt.ts) and a presign
 * session (ecdsa-presign.ts): the quorum's CONTRIBUTIONs (which fix the quorum and the
 * session id, runtime.ts), every R1 broadcast and each signer's encrypted R1/R2
 * messages, which the coordinator cannot read; and step 10 on public values: the
 * signers' (w_i, u_i) combined (s = sum w / sum u, low s, recovery id) and verified
 * with noble's `secp256k1.verify` (prehash false) before anything is returned.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { equalBytes } from '@noble/curves/utils.js';
import { ecdsa, isCryptoError } from '@keyquorum/crypto';
import { BROADCAST, ECDSA_SIGN_ROUND, WireError, decodeBody, type EcdsaSignR1Body, type EcdsaSignShareBody, type Envelope, type ParticipantRef } from '@keyquorum/protocol';
import { CoordinatorError, sessionFault } from '../errors.ts';
import { startTx, type SignRequest } from './requests.ts';
import { sameSession, toCoordinator, type SessionRuntime } from './runtime.ts';
import type { AttemptSession, AttemptSignature } from './scheme-driver.ts';

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

/**
 * Contributions, then rounds 1-2 relayed, then the quorum's `last` round (SHARE for a
 * signing, PRESIGNED for a presign session) collected under the derived session id.
 * `start` goes out as round `startRound` (START, or PRESIGN) under the proposal id.
 */
export async function relayRounds(
  rt: SessionRuntime,
  s: Pick<AttemptSession, 'inbox' | 'proposal' | 'ids'>,
  n: { keyId: string; requestDigest: Uint8Array; start: unknown; startRound: number; last: { round: number; check: (e: Envelope) => void } },
): Promise<{ sessionId: Uint8Array; last: Map<string, Envelope[]> }> {
  const { inbox, proposal, ids } = s;
  const timeoutMs = rt.opts.roundTimeoutMs;
  const R = ECDSA_SIGN_ROUND;
  const sessionId = await rt.contributedSessionId(inbox, proposal, {
    keyId: n.keyId,
    request: { digest: n.requestDigest },
    start: n.start,
    rounds: { ...R, START: n.startRound },
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

  inbox.expect(n.last.round, ids, (e) => {
    toCoordinator(e);
    sameSession(e, sessionId);
    n.last.check(e);
  });
  rt.deliver(inbox, ids, sessionId, R.R2_DELIVER, (id) => r2.filter((e) => e.header.to === id));
  return { sessionId, last: await rt.collect(inbox, { timeoutMs }) };
}

/** Step 10 on public values: every signer's R the same, the shares combined, the result verified. */
export function combineShares(r: SignRequest, quorum: readonly ParticipantRef[], bodies: readonly EcdsaSignShareBody[], expected: { instancePoint?: Uint8Array; publicKey: Uint8Array }): AttemptSignature {
  const instancePoint = expected.instancePoint ?? bodies[0]!.instancePoint;
  if (bodies.some((b) => !equalBytes(b.instancePoint, instancePoint))) {
    throw sessionFault('invalid', [], [], 'the quorum computed different instance points R (unattributable)');
  }
  let combined: ecdsa.EcdsaSignature;
  try {
    combined = ecdsa.combineSignature(
      { quorum: quorum.map((p) => p.index), instancePoint, publicKey: expected.publicKey },
      r.message,
      quorum.map((p, i) => ({ from: p.index, w: bodies[i]!.w, u: bodies[i]!.u })),
    );
  } catch (e) {
    if (!isCryptoError(e)) throw e;
    throw sessionFault('invalid', [], [], `the signature shares do not combine to a valid signature (unattributable): ${e.message}`);
  }
  checkFinalSignature(combined.signature, r.message, expected.publicKey);
  return { signature: combined.signature, recoveryId: combined.recovery };
}

export function ecdsaStartBody(r: SignRequest): Record<string, unknown> {
  const start: Record<string, unknown> = { keyId: r.key.id, epoch: r.key.epoch, message: r.message, request: r.request };
  if (r.path !== undefined) start.path = r.path;
  if (r.tx !== undefined) start.tx = startTx(r.tx);
  return start;
}

