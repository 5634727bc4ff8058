/**
 * FROST signing attempts (RFC 9591 §5; rounds `SIGN_ROUND`): START -> COMMITMENT ->
 * SIGN (every commitment relayed) -> SHARE. The session id is the proposal id
 * throughout. The coordinator is the RFC's Coordinator: it aggregates the shares
 * (§5.3), checks each share (§5.4) only when the aggregate fails and then names every
 * failing signer ('invalid-share', banned by signing.ts), and verifies the final
 * signature with the standard verifier before returning it. Nothing is durable here.
 *
 * Nonce pool (docs/cluster-protocol.md "Nonce pool"; nonce-pool.ts): when every quorum
 * member has a pooled commitment (an OFFER made ahead of the message, §5.1), the
 * attempt is one round trip: POOLED (the START fields and the quorum's OFFERs) ->
 * SHARE. The commitments are taken out of the pool whatever happens. A signer that
 * refuses its pooled commitment as unknown, consumed or discarded (it restarted, or
 * the offer is stale) sends the attempt back to the two rounds above, with fresh
 * commitments and the same quorum; any other failure is judged as usual (signing.ts).
 * After an attempt, the key's participants whose pool ran low are asked to top it up (POOL).
 */
import { aggregate, isCryptoError, verifySignature, type SigningPackage, type SigningTarget } from '@keyquorum/crypto';
import { SIGN_ROUND, decodeBody, type Envelope, type ParticipantRef, type SignCommitmentBody, type SignShareBody } from '@keyquorum/protocol';
import { CoordinatorError, sessionFault } from '../errors.ts';
import { startTx, type SignRequest } from './requests.ts';
import { toCoordinator, type SessionRuntime } from './runtime.ts';
import { isPoolMiss, runAttempt, type AttemptSession, type AttemptSignature, type SchemeDriver } from './scheme-driver.ts';


function startBody(r: SignRequest): Record<string, unknown> {
  const start: Record<string, unknown> = { keyId: r.key.id, epoch: r.key.epoch, message: r.message, request: r.request };
  if (r.path !== undefined) start.path = r.path;
  if (r.tx !== undefined) start.tx = startTx(r.tx);
  if (r.taproot !== undefined) start.taproot = r.taproot.merkleRoot === undefined ? {} : { merkleRoot: r.taproot.merkleRoot };
  return start;
}

/** Collects every quorum member's SHARE, aggregates (§5.3; §5.4 only on failure) and verifies. */
async function shares(rt: SessionRuntime, r: SignRequest, quorum: readonly ParticipantRef[], target: SigningTarget, s: AttemptSession, signing: SigningPackage): Promise<AttemptSignature> {
  const { inbox, ids, log } = s;
  const shareEnvelopes = await rt.collect(inbox, { timeoutMs: rt.opts.roundTimeoutMs });
  const got = quorum.map((p) => ({ id: p.index, share: decodeBody<SignShareBody>(inbox.kind, SIGN_ROUND.SHARE, inbox.suite, shareEnvelopes.get(p.signer)![0]!.payload).share }));
  // RFC 9591 §5.3 aggregate, optimistically: the shares are checked one by one
  // (§5.4) only when the aggregate fails, and then every failing signer is named.
  let signature: Uint8Array;
  try {
    signature = aggregate(r.publicKey, signing, got, target);
  } catch (e) {
    if (!isCryptoError(e) || e.code !== 'INVALID_SIGNATURE_SHARE') throw e;
    const names = quorum.filter((p) => e.culprits.includes(p.index)).map((p) => p.signer);
    throw sessionFault('invalid-share', names, names, `signature share(s) from ${names.join(',') || 'unattributable signers'} do not verify`);
  }
  if (!verifySignature(r.publicKey, r.message, signature, target)) {
    throw new CoordinatorError('SESSION_FAILED', { message: 'the aggregated signature does not verify under the standard verifier' });
  }
  log.info('signature produced', { quorum: ids });
  return { signature };
}

function expectShares(s: AttemptSession): void {
  s.inbox.expect(SIGN_ROUND.SHARE, s.ids, (e) => {
    toCoordinator(e);
    decodeBody(s.inbox.kind, SIGN_ROUND.SHARE, s.inbox.suite, e.payload);
  });
}

/** The signing package of the quorum's commitment envelopes (COMMITMENTs or OFFERs: both carry hiding and binding), in quorum order. */
function signingPackage(r: SignRequest, quorum: readonly ParticipantRef[], envelopes: readonly Envelope[], round: number, suite: string): SigningPackage {
  return {
    message: r.message,
    commitments: quorum.map((p, i) => {
      const body = decodeBody<SignCommitmentBody>('sign', round, suite, envelopes[i]!.payload);
      return { id: p.index, hiding: body.hiding, binding: body.binding };
    }),
  };
}

/** Today's two round trips: START -> COMMITMENT, SIGN -> SHARE. */
function twoRounds(rt: SessionRuntime, r: SignRequest, quorum: readonly ParticipantRef[], target: SigningTarget): Promise<AttemptSignature> {
  return runAttempt(rt, r, quorum, SIGN_ROUND, async (s) => {
    const { inbox, proposal, ids } = s;
    inbox.expect(SIGN_ROUND.COMMITMENT, ids, (e) => {
      toCoordinator(e);
      decodeBody(inbox.kind, SIGN_ROUND.COMMITMENT, inbox.suite, e.payload);
    });
    const start = startBody(r);
    for (const id of ids) rt.send(inbox, id, proposal, SIGN_ROUND.START, start);
    const commitments = await rt.collect(inbox, { timeoutMs: rt.opts.roundTimeoutMs });
    const commitmentEnvelopes = ids.map((id) => commitments.get(id)![0]!);
    const signing = signingPackage(r, quorum, commitmentEnvelopes, SIGN_ROUND.COMMITMENT, inbox.suite);
    expectShares(s);
    rt.deliver(inbox, ids, proposal, SIGN_ROUND.SIGN, () => commitmentEnvelopes);
    return shares(rt, r, quorum, target, s, signing);
  });
}

/** One round trip with the quorum's pooled OFFERs: POOLED -> SHARE. */
function oneRound(rt: SessionRuntime, r: SignRequest, quorum: readonly ParticipantRef[], target: SigningTarget, offers: readonly Envelope[]): Promise<AttemptSignature> {
  return runAttempt(rt, r, quorum, SIGN_ROUND, async (s) => {
    const signing = signingPackage(r, quorum, offers, SIGN_ROUND.OFFER, s.inbox.suite);
    expectShares(s);
    rt.deliver(s.inbox, s.ids, s.proposal, SIGN_ROUND.POOLED, () => offers, { start: startBody(r) });
    return shares(rt, r, quorum, target, s, signing);
  });
}

async function frostSignAttempt(rt: SessionRuntime, r: SignRequest, quorum: readonly ParticipantRef[], target: SigningTarget): Promise<AttemptSignature> {
  const { key } = r;
  const ids = quorum.map((p) => p.signer);
  const offers = rt.pool.take(ids, key.id, key.epoch);
  try {
    if (offers !== undefined) {
      try {
        return await oneRound(rt, r, quorum, target, offers);
      } catch (e) {
        if (!isPoolMiss(e)) throw e;
        rt.log.info('a pooled commitment was refused; signing in two rounds', { keyId: key.id, epoch: key.epoch, reason: e.message });
      }
    }
    return await twoRounds(rt, r, quorum, target);
  } finally {
    // Every participant, not only this quorum: the next request may choose another one.
    const low = rt.pool.wants(key.participants.map((p) => p.signer).filter((id) => rt.link.isConnected(id)), key.id, key.epoch);
    if (low.length > 0) rt.askPool(low, key.suite, key.id, key.epoch);
  }
}

/** The FROST suites' driver (frost-secp256k1-tr, frost-ed25519, frost-secp256k1). */
export const FROST_DRIVER: SchemeDriver = { signAttempt: frostSignAttempt, accusation: 'refusal', keyRoundTimeoutFactor: 1, refuseMessage: () => undefined, noncePool: true };
