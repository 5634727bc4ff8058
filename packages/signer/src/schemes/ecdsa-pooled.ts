/**
 * The ecdsa-secp256k1 presignature pool at the signer (docs/cluster-protocol.md
 * "Presignature pool"; crypto `ecdsa.signPooled`, eprint 2023/765 Protocol 3.6 step 9
 * with the tweak and re-randomisation of ecdsa/pooled.ts).
 *
 * PRESIGN {keyId, epoch}: a presign session (`EcdsaSignSession` without a START body)
 *   for the key this signer holds active at that epoch (its usage state allowing
 *   signatures: the router's `refuseByState`), within the key's pool cap
 *   (`ctx.presignatures.reserve`).
 * POOLED {start, presignature}: `startSign` claims the presignature first (one made
 *   here on this connection for the START's key and epoch, else NONCE_UNKNOWN, nothing
 *   changed), runs every START check (the same code as a START), then `signPooledEcdsa`:
 *   the journal entry durably consumed, and only then the step-9 share, sent as SHARE
 *   under the proposal id with R'. (Peer bans apply when the presignature is made, at
 *   CONTRIBUTIONS: using it runs no OT with the peers.)
 */
import { hexToBytes } from '@noble/hashes/utils.js';
import { ECDSA_SIGN_ROUND, type EcdsaSignShareBody, type ParticipantRef, type SignPoolBody, type SignStartBody } from '@keyquorum/protocol';
import { ecdsa } from '@keyquorum/crypto';
import { SignerError } from '../errors.ts';
import { activeShareAt, type HeldShare, type ShareCodec } from '../held-share.ts';
import { hex, sendBody, type SessionContext } from '../sessions/context.ts';
import type { Session } from '../sessions/session.ts';
import { EcdsaSignSession } from './ecdsa-sign.ts';

/** PRESIGN: the presign session, or a refusal that changes nothing. */
export function startPresign(ctx: SessionContext, proposalId: Uint8Array, body: SignPoolBody, suite: string, codec: ShareCodec): Session {
  if (ctx.presignatures === undefined) throw new SignerError('WRONG_SUITE', { field: 'header.suite', message: 'no presignature pool here' });
  const share = activeShareAt(ctx.keystore, body.keyId, body.epoch, codec);
  try {
    if (share.suite !== suite) throw new SignerError('WRONG_SUITE', { field: 'header.suite', message: `${body.keyId} is ${share.suite}` });
    const done = ctx.presignatures.reserve(body.keyId, body.epoch);
    try {
      return new EcdsaSignSession(ctx, proposalId, share, undefined, codec, done);
    } catch (e) {
      done();
      throw e;
    }
  } finally {
    codec.wipe(share);
  }
}

/**
 * POOLED, once every START check passed for `share` and the presignature was claimed: consumes it at once (a refusal
 * throws), then, once the consume is committed (group commit), computes the share and answers SHARE; the promise
 * settles then. The caller wipes `share` once it settles.
 */
export function signPooledEcdsa(ctx: SessionContext, proposalId: Uint8Array, body: SignStartBody, share: HeldShare, claimed: { id: string; quorum: ParticipantRef[]; instancePoint: Uint8Array }): Promise<void> {
  const params: ecdsa.PooledSignParams = {
    presignatureId: hexToBytes(claimed.id),
    quorum: claimed.quorum.map((p) => p.index),
    instancePoint: claimed.instancePoint,
    publicKey: share.keyShare.publicKey,
    ...(body.path === undefined ? {} : { path: body.path }),
  };
  // Durably consumed (sealed copy zeroed, committed) before anything computed from it exists.
  return ctx.keystore.consumeNonceDurably(claimed.id).then((secret) => answerPooled(ctx, proposalId, body, share, claimed, params, secret));
}

function answerPooled(ctx: SessionContext, proposalId: Uint8Array, body: SignStartBody, share: HeldShare, claimed: { id: string; quorum: ParticipantRef[] }, params: ecdsa.PooledSignParams, secret: Uint8Array): void {
  const { share: computed, session } = ecdsa.signPooled(secret, share.publicPart.self, params, body.message);
  const sessionId = hex(proposalId);
  const out = ctx.behaviour.ecdsaPooledShare?.({ keyId: share.keyId, sessionId, presignature: claimed.id, share: computed }) ?? computed;
  const reply: EcdsaSignShareBody = { w: out.w, u: out.u, instancePoint: session.instancePoint };
  sendBody(ctx, { kind: 'sign', suite: share.suite, sessionId: proposalId, round: ECDSA_SIGN_ROUND.SHARE }, reply);
  ctx.log.info('signature share sent', { keyId: share.keyId, epoch: share.epoch, sessionId, presignature: claimed.id, quorum: claimed.quorum.map((p) => p.signer) });
}
