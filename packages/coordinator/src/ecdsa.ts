/**
 * ecdsa-secp256k1 signing attempts (DKLs23 Protocol 3.6; rounds `ECDSA_SIGN_ROUND`, see
 * @keyquorum/protocol ecdsa.ts). The coordinator relays: the quorum's CONTRIBUTIONs
 * (which fix the quorum and the session id), every R1 broadcast and each signer's
 * encrypted R1/R2 messages, which it cannot read. It only ever holds public values:
 * the signers' (w_i, u_i) and the instance point R; it combines them (step 10:
 * s = sum w / sum u, low s, recovery id) and verifies the result with noble's
 * `secp256k1.verify` (prehash false) before returning it. A signer whose peer fails
 * an OT or step-8 consistency check ABORTs naming that peer (`culprits`); the
 * engine bans it for the key (its OT state is reused) and retries with another quorum.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { equalBytes } from '@noble/curves/utils.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { ecdsa, isCryptoError, targetExternalKey } from '@keyquorum/crypto';
import {
  BROADCAST,
  COORDINATOR_ID,
  ECDSA_SIGN_ROUND,
  ECDSA_SUITE,
  WireError,
  decodeBody,
  deriveSessionId,
  type ContributionBody,
  type EcdsaSignR1Body,
  type EcdsaSignShareBody,
  type Envelope,
  type ParticipantRef,
} from '@keyquorum/protocol';
import type { Logger } from '@keyquorum/protocol/logger';
import { CoordinatorError } from './errors.ts';
import { SessionFault, type Inbox } from './inbox.ts';
import type { SignRequest } from './engine.ts';

/** The engine's session plumbing, as this module needs it. */
export interface EcdsaSessionIo {
  readonly log: Logger;
  open(kind: string, suite: string, participants: readonly string[]): { inbox: Inbox; proposal: Uint8Array };
  /** Routes a derived session id to the inbox. */
  route(inbox: Inbox, sessionId: Uint8Array): void;
  send(inbox: Inbox, to: string, sessionId: Uint8Array, round: number, body: unknown): void;
  relay(envelopes: readonly Envelope[], to: string, kind: string, round: number): Envelope[];
  abort(inbox: Inbox, to: readonly string[], sessionId: Uint8Array, reason: string, culprits?: readonly string[]): void;
  close(inbox: Inbox): void;
  /** Waits for the declared round, recording its latency under `roundName`. */
  collect(inbox: Inbox, roundName: string): Promise<Map<string, Envelope[]>>;
}

export interface EcdsaSignature {
  /** r || s (64 bytes), s low. */
  signature: Uint8Array;
  /** 0..3 (bit 0: R.y parity after normalisation; bit 1: R.x >= n). */
  recoveryId: number;
}

const toCoordinator = (e: Envelope) => {
  if (e.header.to !== COORDINATOR_ID) throw new WireError('WRONG_RECIPIENT', { field: 'header.to' });
};

const sameSession = (e: Envelope, sessionId: Uint8Array) => {
  if (!equalBytes(e.header.sessionId, sessionId)) throw new WireError('WRONG_SESSION', { field: 'header.sessionId' });
};

/** One attempt with `quorum` (t participants of the key, connected and not banned). */
export async function ecdsaSignAttempt(io: EcdsaSessionIo, r: SignRequest, quorum: readonly ParticipantRef[]): Promise<EcdsaSignature> {
  const { key } = r;
  const ids = quorum.map((p) => p.signer);
  const { inbox, proposal } = io.open('sign', ECDSA_SUITE, ids);
  const log = io.log.child({ kind: 'sign', suite: ECDSA_SUITE, keyId: key.id, epoch: key.epoch, session: bytesToHex(proposal) });
  const wait = (round: string) => io.collect(inbox, round);
  const R = ECDSA_SIGN_ROUND;
  try {
    log.info('sign attempt started', { quorum: ids });
    const start: Record<string, unknown> = { keyId: key.id, epoch: key.epoch, message: r.message, request: r.request };
    if (r.path !== undefined) start.path = r.path;

    inbox.expect(R.CONTRIBUTION, ids, (e) => {
      toCoordinator(e);
      sameSession(e, proposal);
      decodeBody(inbox.kind, R.CONTRIBUTION, inbox.suite, e.payload);
    });
    for (const id of ids) io.send(inbox, id, proposal, R.START, start);
    const contributionEnvelopes = await wait('contribution');
    const contributions: Record<string, Uint8Array> = {};
    for (const [id, [e]] of contributionEnvelopes) contributions[id] = decodeBody<ContributionBody>(inbox.kind, R.CONTRIBUTION, inbox.suite, e!.payload).contribution;
    const sessionId = deriveSessionId({ kind: 'sign', suite: ECDSA_SUITE, keyId: key.id, participants: ids, contributions, requestDigest: r.request.digest });
    io.route(inbox, sessionId);

    // R1: one broadcast commitment plus one encrypted RVOLE message to each other quorum member.
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
    );
    const allContributions = ids.map((id) => contributionEnvelopes.get(id)![0]!);
    for (const id of ids) io.send(inbox, id, proposal, R.CONTRIBUTIONS, { envelopes: io.relay(allContributions, id, 'sign', R.CONTRIBUTIONS) });
    const r1 = [...(await wait('r1')).values()].flat();

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
    for (const id of ids) {
      const mine = r1.filter((e) => e.header.to === BROADCAST || e.header.to === id);
      io.send(inbox, id, sessionId, R.R1_DELIVER, { envelopes: io.relay(mine, id, 'sign', R.R1_DELIVER) });
    }
    const r2 = [...(await wait('r2')).values()].flat();

    inbox.expect(R.SHARE, ids, (e) => {
      toCoordinator(e);
      sameSession(e, sessionId);
      decodeBody(inbox.kind, R.SHARE, inbox.suite, e.payload);
    });
    for (const id of ids) {
      const mine = r2.filter((e) => e.header.to === id);
      io.send(inbox, id, sessionId, R.R2_DELIVER, { envelopes: io.relay(mine, id, 'sign', R.R2_DELIVER) });
    }
    const shareEnvelopes = await wait('share');
    const bodies = quorum.map((p) => decodeBody<EcdsaSignShareBody>(inbox.kind, R.SHARE, inbox.suite, shareEnvelopes.get(p.signer)![0]!.payload));

    // Step 10, on public values only. Every signer must report the same R.
    const instancePoint = bodies[0]!.instancePoint;
    if (bodies.some((b) => !equalBytes(b.instancePoint, instancePoint))) {
      throw new SessionFault('invalid', [], [], 'the quorum computed different instance points R (unattributable)');
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
      throw new SessionFault('invalid', [], [], `the signature shares do not combine to a valid signature (unattributable): ${e.message}`);
    }
    if (!secp256k1.verify(combined.signature, r.message, publicKey, { prehash: false })) {
      throw new CoordinatorError('SESSION_FAILED', { message: 'the combined ECDSA signature does not verify under the standard verifier' });
    }
    log.info('signature produced', { quorum: ids });
    return { signature: combined.signature, recoveryId: combined.recovery };
  } catch (e) {
    log.warn('sign attempt aborted', { reason: (e as Error).message });
    io.abort(inbox, ids, proposal, (e as Error).message.slice(0, 512), e instanceof SessionFault ? e.culprits : []);
    throw e;
  } finally {
    io.close(inbox);
  }
}
