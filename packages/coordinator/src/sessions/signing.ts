/**
 * The signing driver, the same for every scheme: chooses a quorum of t connected,
 * unbanned participants, runs the suite's signing attempt (schemes.ts), and on a
 * session fault leaves out whom it names and retries with another quorum, up to
 * MAX_SIGN_ATTEMPTS. Durable: the bans of culprits and the audit rows
 * ('key.sign_attempt_failed' per failed attempt, 'key.signed' for the signature).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { targetExternalKey, type SigningTarget } from '@keyquorum/crypto';
import { taprootLabel } from '@keyquorum/protocol';
import { MAX_SIGN_ATTEMPTS } from '../constants.ts';
import { CoordinatorError, isSessionFault } from '../errors.ts';
import type { SignRequest, SignResult } from './requests.ts';
import { sessionError, type SessionRuntime } from './runtime.ts';
import { schemeOf } from './schemes.ts';

/**
 * Signs with a quorum of t connected participants. A quorum member that times out,
 * drops, aborts, or whose share fails `verifyShare` (banned for the key) is left
 * out and another quorum tried, up to MAX_SIGN_ATTEMPTS; fails with
 * NOT_ENOUGH_SIGNERS once fewer than t usable signers remain.
 */
export async function sign(rt: SessionRuntime, r: SignRequest): Promise<SignResult> {
  const { key } = r;
  const scheme = schemeOf(key.suite);
  const target: SigningTarget = {};
  if (r.path !== undefined) target.path = r.path;
  if (r.taproot !== undefined) target.taproot = r.taproot;
  const excluded = new Set(rt.registry.bannedSigners(key.id));
  const culprits = new Set<string>();
  let lastFault: CoordinatorError | undefined;
  for (let attempt = 1; attempt <= MAX_SIGN_ATTEMPTS; attempt++) {
    const usable = key.participants.filter((p) => !excluded.has(p.signer) && rt.link.isConnected(p.signer));
    if (usable.length < key.threshold) {
      throw new CoordinatorError('NOT_ENOUGH_SIGNERS', {
        culprits: [...culprits],
        message: `${usable.length} usable signers, ${key.threshold} needed${lastFault ? ` (last failure: ${lastFault.message})` : ''}`,
      });
    }
    const quorum = usable.slice(0, key.threshold);
    try {
      const { signature, recoveryId } = await scheme.signAttempt(rt, r, quorum, target);
      const publicKey = targetExternalKey(r.publicKey, target);
      const ids = quorum.map((p) => p.signer);
      rt.registry.append('key.signed', key.id, {
        epoch: key.epoch,
        quorum: ids,
        attempts: attempt,
        messageSha256: bytesToHex(sha256(r.message)),
        path: r.path ?? '',
        taproot: taprootLabel(r.taproot),
        publicKey: bytesToHex(publicKey),
        signature: bytesToHex(signature),
        clientKey: bytesToHex(r.request.clientKey),
      });
      return { signature, publicKey, quorum: ids, attempts: attempt, ...(recoveryId === undefined ? {} : { recoveryId }) };
    } catch (e) {
      if (!isSessionFault(e)) throw sessionError(e, 'signing failed');
      const { fault } = e;
      lastFault = e;
      for (const id of fault.excluded) excluded.add(id);
      for (const id of e.culprits) culprits.add(id);
      // A share the coordinator failed to verify bans its signer; a bansEveryCulprit scheme
      // (DKLs23) also bans a peer named by a consistency check, whoever reported it (fault.signers).
      const ban = e.culprits.length > 0 && (fault.reason === 'invalid-share' || scheme.bansEveryCulprit);
      rt.registry.transaction(() => {
        if (ban) for (const id of e.culprits) rt.registry.ban(key.id, id, e.message);
        rt.registry.append('key.sign_attempt_failed', key.id, { epoch: key.epoch, attempt, quorum: quorum.map((p) => p.signer), reason: fault.reason, excluded: fault.excluded, culprits: e.culprits, banned: ban, ...(scheme.bansEveryCulprit && fault.reason === 'abort' ? { reportedBy: fault.signers } : {}) });
      });
      rt.log.warn('sign attempt failed; retrying with another quorum', { keyId: key.id, epoch: key.epoch, attempt, reason: e.message, excluded: fault.excluded });
    }
  }
  throw new CoordinatorError('SESSION_FAILED', { culprits: [...culprits], message: `no quorum produced a signature in ${MAX_SIGN_ATTEMPTS} attempts (last failure: ${lastFault?.message ?? 'none'})` });
}
