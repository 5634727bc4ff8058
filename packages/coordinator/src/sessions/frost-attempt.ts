/**
 * FROST signing attempts (RFC 9591 §5; rounds `SIGN_ROUND`): START -> COMMITMENT ->
 * SIGN (every commitment relayed) -> SHARE. The session id is the proposal id
 * throughout. The coordinator is the RFC's Coordinator: it aggregates the shares
 * (§5.3), checks each share (§5.4) only when the aggregate fails and then names every
 * failing signer ('invalid-share', banned by signing.ts), and verifies the final
 * signature with the standard verifier before returning it. Nothing is durable here.
 */
import { aggregate, isCryptoError, verifySignature, type SigningPackage, type SigningTarget } from '@keyquorum/crypto';
import { SIGN_ROUND, decodeBody, type ParticipantRef, type SignCommitmentBody, type SignShareBody } from '@keyquorum/protocol';
import { CoordinatorError, sessionFault } from '../errors.ts';
import { startTx, type SignRequest } from './requests.ts';
import { toCoordinator, type SessionRuntime } from './runtime.ts';
import { runAttempt, type AttemptSignature, type SchemeDriver } from './scheme-driver.ts';

async function frostSignAttempt(rt: SessionRuntime, r: SignRequest, quorum: readonly ParticipantRef[], target: SigningTarget): Promise<AttemptSignature> {
  const { key } = r;
  const timeoutMs = rt.opts.roundTimeoutMs;
  return runAttempt(rt, r, quorum, SIGN_ROUND, async ({ inbox, proposal, ids, log }) => {
    const start: Record<string, unknown> = { keyId: key.id, epoch: key.epoch, message: r.message, request: r.request };
    if (r.path !== undefined) start.path = r.path;
    if (r.tx !== undefined) start.tx = startTx(r.tx);
    if (r.taproot !== undefined) start.taproot = r.taproot.merkleRoot === undefined ? {} : { merkleRoot: r.taproot.merkleRoot };
    inbox.expect(SIGN_ROUND.COMMITMENT, ids, (e) => {
      toCoordinator(e);
      decodeBody(inbox.kind, SIGN_ROUND.COMMITMENT, inbox.suite, e.payload);
    });
    for (const id of ids) rt.send(inbox, id, proposal, SIGN_ROUND.START, start);
    const commitments = await rt.collect(inbox, { timeoutMs });
    const commitmentEnvelopes = ids.map((id) => commitments.get(id)![0]!);
    const signing: SigningPackage = {
      message: r.message,
      commitments: quorum.map((p, i) => {
        const body = decodeBody<SignCommitmentBody>(inbox.kind, SIGN_ROUND.COMMITMENT, inbox.suite, commitmentEnvelopes[i]!.payload);
        return { id: p.index, hiding: body.hiding, binding: body.binding };
      }),
    };

    inbox.expect(SIGN_ROUND.SHARE, ids, (e) => {
      toCoordinator(e);
      decodeBody(inbox.kind, SIGN_ROUND.SHARE, inbox.suite, e.payload);
    });
    rt.deliver(inbox, ids, proposal, SIGN_ROUND.SIGN, () => commitmentEnvelopes);
    const shareEnvelopes = await rt.collect(inbox, { timeoutMs });
    const shares = quorum.map((p) => ({ id: p.index, share: decodeBody<SignShareBody>(inbox.kind, SIGN_ROUND.SHARE, inbox.suite, shareEnvelopes.get(p.signer)![0]!.payload).share }));
    // RFC 9591 §5.3 aggregate, optimistically: the shares are checked one by one
    // (§5.4) only when the aggregate fails, and then every failing signer is named.
    let signature: Uint8Array;
    try {
      signature = aggregate(r.publicKey, signing, shares, target);
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
  });
}

/** The FROST suites' driver (frost-secp256k1-tr, frost-ed25519, frost-secp256k1). */
export const FROST_DRIVER: SchemeDriver = { signAttempt: frostSignAttempt, accusation: 'refusal', keyRoundTimeoutFactor: 1, refuseMessage: () => undefined };
