/**
 * The ecdsa-secp256k1 presignature pool at the coordinator (docs/cluster-protocol.md
 * "Presignature pool"; DKLs23 Protocol 3.6: rounds 1-2 and step 8 do not need the
 * message). After a signing attempt with a quorum, if that quorum holds fewer than
 * PRESIGN_LOW_WATER presignatures of the key, the coordinator runs presign sessions
 * with it in the background (one at a time per key and quorum, until PRESIGN_TARGET;
 * stopped by any failure, a member's disconnection or another epoch), never waited for
 * by a signing: PRESIGN -> CONTRIBUTION -> CONTRIBUTIONS -> R1 -> R2 -> PRESIGNED, every
 * member reporting the same R (presign-pool.ts keeps it).
 *
 * A signing attempt whose quorum holds one takes it (used at most once, whatever
 * happens) and is one round trip: POOLED {start, presignature} -> SHARE {w, u, R'}. R'
 * is computed here from R (`ecdsa.pooledSession`: re-randomised, Groth-Shoup 2022) and
 * every SHARE must report it; the shares are combined and verified as in the full
 * protocol (ecdsa-rounds.ts). A signer's ABORT NONCE_UNKNOWN/CONSUMED/DISCARDED (it
 * restarted, its link dropped, the presignature is stale) sends the attempt to the full
 * protocol with the same quorum; any other failure is judged as usual (signing.ts).
 */
import { equalBytes } from '@noble/curves/utils.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { ecdsa, targetExternalKey } from '@keyquorum/crypto';
import { ECDSA_SIGN_ROUND, WireError, decodeBody, presignDigest, type EcdsaPresignedBody, type EcdsaSignShareBody, type ParticipantRef } from '@keyquorum/protocol';
import { PRESIGN_LOW_WATER, PRESIGN_TARGET } from '../constants.ts';
import { sessionFault } from '../errors.ts';
import type { RegistryKey } from '../store/types.ts';
import { combineShares, ecdsaStartBody, relayRounds } from './ecdsa-rounds.ts';
import type { SignRequest } from './requests.ts';
import { sameSession, toCoordinator, type SessionRuntime } from './runtime.ts';
import { isPoolMiss, runAttempt, type AttemptSignature } from './scheme-driver.ts';

const R = ECDSA_SIGN_ROUND;

/** One presign session of `key` with `quorum`; its presignature goes into the pool. */
async function presignOnce(rt: SessionRuntime, key: RegistryKey, quorum: readonly ParticipantRef[]): Promise<void> {
  const ids = quorum.map((p) => p.signer);
  const { inbox, proposal } = rt.open('sign', key.suite, R, ids);
  try {
    const { sessionId, last } = await relayRounds(rt, { inbox, proposal, ids }, {
      keyId: key.id, requestDigest: presignDigest({ keyId: key.id }), start: { keyId: key.id, epoch: key.epoch }, startRound: R.PRESIGN,
      last: {
        round: R.PRESIGNED,
        check: (e) => {
          const b = decodeBody<EcdsaPresignedBody>(inbox.kind, R.PRESIGNED, inbox.suite, e.payload);
          if (b.keyId !== key.id || b.epoch !== key.epoch) throw new WireError('BAD_FIELD', { field: 'keyId', message: `BAD_FIELD: a presignature of ${b.keyId} epoch ${b.epoch}, not ${key.id} epoch ${key.epoch}` });
        },
      },
    });
    const points = ids.map((id) => decodeBody<EcdsaPresignedBody>(inbox.kind, R.PRESIGNED, inbox.suite, last.get(id)![0]!.payload).instancePoint);
    if (points.some((p) => !equalBytes(p, points[0]!))) throw sessionFault('invalid', [], [], 'the quorum presigned different instance points R (unattributable)');
    rt.presignatures.add(key.id, key.epoch, ids, { id: sessionId, instancePoint: points[0]! });
  } catch (e) {
    rt.abort(inbox, ids, proposal, e);
    throw e;
  } finally {
    rt.close(inbox);
  }
}

/** In the background: presign with `quorum` until it holds PRESIGN_TARGET, if it holds fewer than PRESIGN_LOW_WATER and no top-up runs. */
export function topUpPresignatures(rt: SessionRuntime, key: RegistryKey, quorum: readonly ParticipantRef[]): void {
  const ids = quorum.map((p) => p.signer);
  if (rt.presignatures.size(key.id, key.epoch, ids) >= PRESIGN_LOW_WATER || !rt.presignatures.begin(key.id, ids)) return;
  setImmediate(() => {
    void (async () => {
      try {
        while (rt.presignatures.size(key.id, key.epoch, ids) < PRESIGN_TARGET) {
          const current = await rt.registry.getKey(key.id);
          if (current?.state !== 'active' || current.epoch !== key.epoch || !ids.every((id) => rt.link.isConnected(id))) break;
          await presignOnce(rt, key, quorum);
        }
      } catch (e) {
        rt.log.warn('presigning stopped', { keyId: key.id, epoch: key.epoch, quorum: ids, reason: (e as Error).message });
      } finally {
        rt.presignatures.end(key.id, ids);
      }
    })();
  });
}

/** One round trip with a presignature of this quorum: POOLED -> SHARE. Undefined when there is none or a signer refused it as a pool miss. */
export async function pooledAttempt(rt: SessionRuntime, r: SignRequest, quorum: readonly ParticipantRef[]): Promise<AttemptSignature | undefined> {
  const ids = quorum.map((p) => p.signer);
  const pre = rt.presignatures.take(r.key.id, r.key.epoch, ids);
  if (pre === undefined) return undefined;
  const path = r.path === undefined ? {} : { path: r.path };
  try {
    return await runAttempt(rt, r, quorum, R, async ({ inbox, proposal, log }) => {
      const { session } = ecdsa.pooledSession({ presignatureId: pre.id, quorum: quorum.map((p) => p.index), instancePoint: pre.instancePoint, publicKey: r.publicKey, ...path }, r.message);
      inbox.expect(R.SHARE, ids, (e) => {
        toCoordinator(e);
        sameSession(e, proposal);
        decodeBody(inbox.kind, R.SHARE, inbox.suite, e.payload);
      });
      const start = ecdsaStartBody(r);
      for (const id of ids) rt.send(inbox, id, proposal, R.POOLED, { start, presignature: pre.id });
      const got = await rt.collect(inbox, { timeoutMs: rt.opts.roundTimeoutMs });
      const bodies = quorum.map((p) => decodeBody<EcdsaSignShareBody>(inbox.kind, R.SHARE, inbox.suite, got.get(p.signer)![0]!.payload));
      const out = combineShares(r, quorum, bodies, { instancePoint: session.instancePoint, publicKey: targetExternalKey(r.publicKey, r.path === undefined ? undefined : { path: r.path }) });
      log.info('signature produced', { quorum: ids, presignature: bytesToHex(pre.id) });
      return out;
    });
  } catch (e) {
    if (!isPoolMiss(e)) throw e;
    rt.log.info('a presignature was refused; signing with the full protocol', { keyId: r.key.id, epoch: r.key.epoch, reason: e.message });
    return undefined;
  }
}
