/**
 * START of every session that runs (docs/cluster-protocol.md): the START body's own
 * checks, `authoriseUse` (this signer's records of the key and the client request),
 * then the session. Key sessions (dkg, refresh, reshare) become a `KeySession` with
 * the scheme's rounds and a plan of who sends what; signing is the scheme's session.
 */
import {
  clientRequestId,
  createKeyDigest,
  keyStateOf,
  refreshDigest,
  reshareDigest,
  signDigest,
  SIGN_ROUND,
  type DkgStartBody,
  type Envelope,
  type RefreshStartBody,
  type ReshareStartBody,
  type EcdsaPooledBody,
  type SignPooledBody,
  type SignStartBody,
} from '@keyquorum/protocol';
import { bytesToHex } from '@noble/hashes/utils.js';
import { assertThreshold } from '@keyquorum/crypto';
import { DKG_EPOCH } from '../constants.ts';
import { SignerError } from '../errors.ts';
import { schemeFor, wipeHeldShare } from '../schemes/index.ts';
import type { HeldShare } from '../held-share.ts';
import { parseStartTx, startTx } from './sign-tx.ts';
import type { ApprovalGrant } from './approvals.ts';
import { authoriseUse } from './authorise.ts';
import { pinnedKey, sameRefs, selfIndex, type SessionContext } from './context.ts';
import { KeySession } from './key-session.ts';
import { refuseUnresolved } from './pending.ts';
import type { Session } from './session.ts';

/** dkg START: a fresh key of pinned participants, authorised by a createKey request. */
export function startDkg(ctx: SessionContext, env: Envelope, body: DkgStartBody): Session {
  const { suite } = env.header;
  schemeFor(suite);
  const self = selfIndex(ctx, body.participants);
  assertThreshold(body.threshold, body.participants.length, 'threshold');
  const signers = body.participants.map((p) => p.signer);
  const digest = createKeyDigest({ keyId: body.keyId, suite, threshold: body.threshold, signers });
  refuseUnresolved(ctx, body.keyId);
  authoriseUse(ctx, { op: 'createKey', keyId: body.keyId, suite, request: body.request, digest });
  const others = signers.filter((s) => s !== ctx.signerId);
  return new KeySession(ctx, {
    kind: 'dkg', suite, keyId: body.keyId, epoch: DKG_EPOCH, proposalId: env.header.sessionId, requestDigest: body.request.digest, keyState: null,
    signers, r1From: { required: others, optional: [ctx.signerId] }, r2From: others, culpritIndices: body.participants,
    participants: body.participants, self,
    rounds: ctx.crypto.keyRounds({ op: 'dkg', params: { suite, participants: body.participants, self, threshold: body.threshold } }),
  });
}

/** refresh START: same participants, the key active at `epoch` here; the new share is epoch + 1. */
export function startRefresh(ctx: SessionContext, env: Envelope, body: RefreshStartBody, grant?: ApprovalGrant): Session {
  refuseUnresolved(ctx, body.keyId);
  // A scheduled refresh carries no request; its session binds the digest a request would carry (the coordinator's too).
  const digest = refreshDigest({ keyId: body.keyId });
  const share = authoriseUse(ctx, {
    op: 'refresh', keyId: body.keyId, epoch: body.epoch, suite: env.header.suite, request: body.scheduled === true ? undefined : body.request, digest, grant,
    check: (s) => {
      if (!sameRefs(s.publicPart.participants, body.participants)) throw new SignerError('BAD_PARTICIPANTS', { field: 'participants', message: `refresh needs exactly the key's participants` });
      selfIndex(ctx, body.participants);
    },
  });
  const { participants, self } = share.publicPart;
  const signers = participants.map((p) => p.signer);
  const others = signers.filter((s) => s !== ctx.signerId);
  return new KeySession(ctx, {
    kind: 'refresh', suite: share.suite, keyId: body.keyId, epoch: body.epoch + 1, proposalId: env.header.sessionId, requestDigest: digest,
    keyState: keyStateOf(share.epoch, share.publicPart.publicKey),
    signers, r1From: { required: others, optional: [ctx.signerId] }, r2From: others, culpritIndices: participants,
    participants, self,
    rounds: ctx.crypto.keyRounds({ op: 'refresh', share }),
  });
}

/**
 * reshare START: a quorum of old holders (dealers) moves the key to a new participant
 * set and threshold; the group key stays. Session participants are the dealers and the
 * new members; a dealer broadcasts R1 and sends each new member an R2; a new member
 * gets an R2 from every other dealer and stores the new share pending at epoch + 1.
 * An old holder leaving the key wipes its share at COMMIT (`key-commit.ts`).
 */
export function startReshare(ctx: SessionContext, env: Envelope, body: ReshareStartBody, grant?: ApprovalGrant): Session {
  const { suite } = env.header;
  const scheme = schemeFor(suite);
  if (scheme.reshare === undefined) throw new SignerError('WRONG_SUITE', { field: 'header.suite', message: `unsupported suite ${suite}` });
  const old = body.oldPublicKey;
  if (old.suite !== suite) throw new SignerError('WRONG_SUITE', { field: 'oldPublicKey.suite' });
  const oldIndices = body.oldParticipants.map((p) => p.index).sort((a, b) => a - b);
  if (oldIndices.join() !== [...old.participants].sort((a, b) => a - b).join()) throw new SignerError('BAD_PARTICIPANTS', { field: 'oldParticipants', message: 'do not match oldPublicKey' });
  if (!body.dealers.every((d) => body.oldParticipants.some((p) => p.signer === d.signer && p.index === d.index))) {
    throw new SignerError('BAD_PARTICIPANTS', { field: 'dealers', message: 'every dealer must be an old participant' });
  }
  for (const p of [...body.dealers, ...body.newParticipants]) pinnedKey(ctx, p.signer);
  const dealer = body.dealers.some((p) => p.signer === ctx.signerId);
  const member = body.newParticipants.find((p) => p.signer === ctx.signerId);
  if (!dealer && member === undefined) throw new SignerError('BAD_PARTICIPANTS', { field: 'newParticipants', message: `${ctx.signerId} neither deals nor receives` });
  const digest = reshareDigest({ keyId: body.keyId, groupKey: old.groupKey, newThreshold: body.newThreshold, signers: body.newParticipants.map((p) => p.signer) });
  refuseUnresolved(ctx, body.keyId);
  const held = authoriseUse(ctx, {
    op: 'reshare', keyId: body.keyId, epoch: body.epoch, suite, request: body.request, digest,
    oldPublicKey: old, oldParticipants: body.oldParticipants, dealer, grant, handover: body.policy,
  });
  const share = dealer ? held : undefined;
  if (held && !dealer) wipeHeldShare(held);
  const dealers = body.dealers.map((p) => p.signer);
  try {
    return new KeySession(ctx, {
      kind: 'reshare', suite, keyId: body.keyId, epoch: body.epoch + 1, proposalId: env.header.sessionId, requestDigest: body.request.digest,
      // A holder's share was checked to be exactly this package at this epoch (authoriseUse); a new member has only the body's.
      keyState: keyStateOf(body.epoch, old),
      signers: [...new Set([...dealers, ...body.newParticipants.map((p) => p.signer)])],
      r1From: { required: dealers, optional: [] },
      r2From: member === undefined ? undefined : dealers.filter((s) => s !== ctx.signerId),
      culpritIndices: body.dealers,
      participants: body.newParticipants, self: member?.index ?? 0,
      // A new member that held no share takes the policy the old holders checked, at COMMIT.
      ...(member !== undefined && held === undefined ? { handover: { requestId: clientRequestId(body.request), ...(body.policy === undefined ? {} : { policy: body.policy }) } } : {}),
      rounds: ctx.crypto.keyRounds({ op: 'reshare', suite, params: { body, signer: ctx.signerId, share } }),
    });
  } catch (e) {
    if (share) wipeHeldShare(share);
    throw e;
  }
}

/**
 * sign START: the key active at the epoch, the scheme's checks of the message and target, the sign request.
 * With `tx` (sign-tx.ts): the chain's suite, the START's target the transaction's, and the request authorising the transaction.
 * POOLED (nonce pool) carries a START body and the quorum's pooled OFFERs: this signer's own must be one of its
 * pooled, unused commitments for the key and epoch (claimed first: a stale one changes nothing, not even the
 * request's attempt count); then every START check above, then the scheme signs in this one round (no session;
 * the promise settles once SHARE is sent or the sign refused). A refused POOLED discards the claimed nonce unconsumed.
 */
export function startSign(ctx: SessionContext, env: Envelope, msg: SignStartBody | SignPooledBody | EcdsaPooledBody, grant?: ApprovalGrant): Session | Promise<void> | undefined {
  const presign = schemeFor(env.header.suite).presign;
  if (presign !== undefined && env.header.round === presign.rounds.pooled) return startPresigned(ctx, env, msg as EcdsaPooledBody, grant);
  const pooled = env.header.round === SIGN_ROUND.POOLED ? (msg as SignPooledBody) : undefined;
  const body = pooled === undefined ? (msg as SignStartBody) : pooled.start;
  if (pooled !== undefined && (ctx.pool === undefined || schemeFor(env.header.suite).pool === undefined)) throw new SignerError('WRONG_SUITE', { field: 'header.suite', message: 'no nonce pool here' });
  const own = pooled === undefined ? undefined : ctx.pool!.claim(pooled.envelopes, body.keyId, body.epoch);
  try {
    const share = authoriseSign(ctx, env, body, grant);
    const scheme = schemeFor(share.suite);
    if (own === undefined) {
      try {
        return scheme.startSign(ctx, env.header.sessionId, body, share);
      } finally {
        scheme.wipe(share);
      }
    }
    // The OFFERs are checked and the nonce consumed before this returns (a refusal throws); SHARE once the consume is committed.
    let signing: Promise<void>;
    try {
      signing = scheme.pool!.sign(ctx, env.header.sessionId, body, share, pooled!.envelopes, own);
    } catch (e) {
      scheme.wipe(share);
      throw e;
    }
    return signing.then(
      () => scheme.wipe(share),
      (e: unknown) => {
        scheme.wipe(share);
        ctx.pool!.discard(own.nonceId);
        throw e;
      },
    );
  } catch (e) {
    // Not consumed (a refusal before the consume, or its commit failed): discarded, never offered again. A no-op once consumed.
    if (own !== undefined) ctx.pool!.discard(own.nonceId);
    throw e;
  }
}

/** Every check of a sign START (the same for a START and a pooled one): the share it authorises, which the caller wipes. */
function authoriseSign(ctx: SessionContext, env: Envelope, body: SignStartBody, grant: ApprovalGrant | undefined): HeldShare {
  const tx = body.tx === undefined ? undefined : startTx({ ...body, tx: body.tx }, env.header.suite);
  return authoriseUse(ctx, {
    op: 'sign', keyId: body.keyId, epoch: body.epoch, suite: env.header.suite, request: body.request, digest: tx === undefined ? signDigest(body) : tx.digest, grant, path: body.path,
    check: (s) => schemeFor(s.suite).checkSign(s, body),
    tx: tx && { input: tx.field.input, parse: (s) => parseStartTx(s, body, tx) },
  });
}

/**
 * ecdsa POOLED (presignature pool): the presignature claimed first (one made here on
 * this connection for the key and epoch; else NONCE_UNKNOWN, nothing changed, not even
 * the request's attempt count), then every START check, then the scheme signs in this
 * one round. A refused POOLED discards the claimed presignature unconsumed.
 */
function startPresigned(ctx: SessionContext, env: Envelope, msg: EcdsaPooledBody, grant: ApprovalGrant | undefined): Promise<void> {
  const pool = ctx.presignatures;
  if (pool === undefined) throw new SignerError('WRONG_SUITE', { field: 'header.suite', message: 'no presignature pool here' });
  const body = msg.start;
  const id = bytesToHex(msg.presignature);
  const claimed = pool.claim(id, body.keyId, body.epoch);
  // Not consumed (a refusal before the consume, or its commit failed): discarded, never used. A no-op once consumed.
  const discard = (e: unknown): never => {
    pool.discard(id);
    throw e;
  };
  try {
    const share = authoriseSign(ctx, env, body, grant);
    let signing: Promise<void>;
    try {
      signing = schemeFor(share.suite).presign!.sign(ctx, env.header.sessionId, body, share, { id, quorum: claimed.quorum, instancePoint: claimed.instancePoint });
    } catch (e) {
      wipeHeldShare(share);
      throw e;
    }
    return signing.then(() => wipeHeldShare(share), (e: unknown) => {
      wipeHeldShare(share);
      return discard(e);
    });
  } catch (e) {
    return discard(e);
  }
}
