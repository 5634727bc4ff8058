/**
 * Share repair (docs/cluster-protocol.md "Share repair"): a participant that lost its
 * share (its data directory wiped, re-initialised under a new identity that the
 * operators pinned) gets it back from t helpers, none of which learns it
 * (@keyquorum/crypto `repairStep1/2/3`). A configuration of the key-session driver
 * (key-session.ts): the helpers are its dealers, R1 carries their deltas pairwise
 * (encrypted helper to helper), R2 their sigmas to the target (encrypted), and the
 * target alone CONFIRMs, after checking the sum against its verifying share. The
 * epoch, the public package and the participants do not change: the commit point only
 * writes the audit row, queues the target's COMMIT and drops the COMMITs the target
 * owed from before it lost its data (the repair gives it the key's current epoch).
 */
import { equalBytes } from '@noble/curves/utils.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { PublicKeyPackage } from '@keyquorum/crypto';
import { encodeBody, toWirePublicKey } from '@keyquorum/protocol';
import { CoordinatorError, sessionFault } from '../errors.ts';
import { runKeySession } from './key-session.ts';
import type { RepairRequest } from './requests.ts';
import { handoverPolicy, sessionError, type SessionRuntime } from './runtime.ts';

/**
 * Rebuilds `r.target`'s share of `r.key` at its current epoch. Helpers: the first t
 * other participants (index order) that are connected, not banned for the key and owe
 * no ACK for it.
 */
export async function repair(rt: SessionRuntime, r: RepairRequest): Promise<PublicKeyPackage> {
  const { key, publicKey, target } = r;
  const unfit = new Set([...(await rt.registry.bannedSigners(key.id)), ...(await rt.registry.unacknowledged(key.id)), target.signer]);
  const helperRefs = key.participants.filter((p) => !unfit.has(p.signer) && rt.link.isConnected(p.signer)).slice(0, key.threshold);
  try {
    if (!rt.link.isConnected(target.signer)) throw new CoordinatorError('NOT_ENOUGH_SIGNERS', { message: `the signer to repair, ${target.signer}, is not connected` });
    if (helperRefs.length < key.threshold) {
      throw new CoordinatorError('NOT_ENOUGH_SIGNERS', { message: `${helperRefs.length} usable helpers connected, ${key.threshold} needed` });
    }
    const helpers = helperRefs.map((p) => p.signer);
    const expected = encodeBody(toWirePublicKey(publicKey));
    return await runKeySession(rt, {
      kind: 'repair',
      suite: key.suite,
      keyId: key.id,
      participants: [...helpers, target.signer],
      roles: { dealers: helpers, members: [target.signer], leavers: [] },
      r1Pairwise: true,
      commitTo: [target.signer],
      startBody: { keyId: key.id, epoch: key.epoch, publicKey: toWirePublicKey(publicKey), participants: key.participants, target, helpers: helperRefs, request: r.request, ...(await handoverPolicy(rt, key.id)) },
      request: r.request,
      epoch: key.epoch,
      check: (pkg) => {
        if (!equalBytes(encodeBody(toWirePublicKey(pkg)), expected)) throw sessionFault('invalid', [target.signer], [], 'the repaired signer confirmed another public key package');
      },
      commit: async (tx, _pkg, transcriptHash) => {
        // COMMITs the target owed from before it lost its data are void: it now holds this epoch.
        for (const c of await tx.pendingCommits(target.signer)) if (c.keyId === key.id) await tx.removePendingCommit(c.seq);
        await tx.append('key.repaired', key.id, {
          epoch: key.epoch,
          signer: target.signer,
          index: target.index,
          helpers,
          transcriptHash: bytesToHex(transcriptHash),
          clientKey: bytesToHex(r.request.clientKey),
        });
      },
    });
  } catch (e) {
    const err = sessionError(e, 'repair failed');
    await rt.registry.append('key.repair_failed', key.id, { epoch: key.epoch, signer: target.signer, code: err.code, reason: err.message, culprits: err.culprits });
    throw err;
  }
}
