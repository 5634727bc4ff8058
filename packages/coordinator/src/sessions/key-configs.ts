/**
 * DKG, refresh and reshare: the three configurations of the key-session driver
 * (key-session.ts). Each says who takes part, what START carries, which epoch the
 * CONFIRMs name, what the agreed public package must be, and what the commit point
 * writes (the key material and its audit row); on failure each writes its failure
 * audit row (DKG also deletes the pending key, unless its session id was derived: then
 * the resolver settles it, resolve.ts).
 */
import { equalBytes } from '@noble/curves/utils.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { isCryptoError, resharePublicKey, targetExternalKey, type PublicKeyPackage, type ReshareParams } from '@keyquorum/crypto';
import { KEY_ROUND, decodeBody, encodeBody, packageSuiteOf, refreshDigest, toWirePublicKey, type ClientRequest, type CommitmentBody, type ParticipantRef } from '@keyquorum/protocol';
import { CoordinatorError, sessionFault } from '../errors.ts';
import type { CoordinatorStore, RegistryKey } from '../store/types.ts';
import { runKeySession } from './key-session.ts';
import type { DkgRequest, ReshareRequest } from './requests.ts';
import { handoverPolicy, sessionError, type SessionRuntime } from './runtime.ts';

/** The pending key a DKG creates (the registry's record of it). */
type DkgTarget = Pick<RegistryKey, 'id' | 'suite' | 'threshold' | 'participants'>;

/** Throws unless the agreed public package is the one `key`'s DKG must produce: its suite, threshold and participant indices. */
export function checkDkgPackage(key: DkgTarget, pkg: PublicKeyPackage): void {
  const indices = key.participants.map((r) => r.index).sort((a, b) => a - b);
  if (pkg.suite !== packageSuiteOf(key.suite) || pkg.threshold !== key.threshold || pkg.participants.join() !== indices.join()) {
    throw sessionFault('invalid', [], [], 'the confirmed public key package does not match the requested suite, threshold or participants');
  }
}

/** The DKG's commit point writes: the key active at epoch 0, and `key.created` (`extra`: e.g. `resolved`). */
export async function recordDkg(tx: CoordinatorStore, key: DkgTarget, pkg: PublicKeyPackage, transcriptHash: Uint8Array, extra: Record<string, unknown> = {}): Promise<void> {
  await tx.setKeyMaterial(key.id, pkg, 0);
  await tx.append('key.created', key.id, {
    suite: key.suite,
    threshold: key.threshold,
    signers: key.participants.map((r) => r.signer),
    epoch: 0,
    publicKey: bytesToHex(targetExternalKey(pkg)),
    transcriptHash: bytesToHex(transcriptHash),
    ...extra,
  });
}

/** Generates a key by DKG among `participants`; the key is active at epoch 0 on success. */
export async function dkg(rt: SessionRuntime, p: DkgRequest): Promise<PublicKeyPackage> {
  const signers = p.participants.map((r) => r.signer);
  const key: DkgTarget = { id: p.keyId, suite: p.suite, threshold: p.threshold, participants: p.participants };
  await rt.registry.transaction(async (tx) => {
    await tx.insertPendingKey(key);
    await tx.append('key.pending', p.keyId, { suite: p.suite, threshold: p.threshold, signers });
  });
  try {
    return await runKeySession(rt, {
      kind: 'dkg',
      suite: p.suite,
      keyId: p.keyId,
      participants: signers,
      startBody: { keyId: p.keyId, threshold: p.threshold, participants: p.participants, request: p.request },
      request: p.request,
      epoch: 0,
      // Durable before CONTRIBUTIONS go out: a coordinator restarted after this resolves the session (resolve.ts).
      derived: (sessionId) => rt.registry.setKeySession(p.keyId, bytesToHex(sessionId)),
      check: (pkg) => checkDkgPackage(key, pkg),
      commit: (tx, pkg, transcriptHash) => recordDkg(tx, key, pkg, transcriptHash),
    });
  } catch (e) {
    const err = sessionError(e, 'DKG failed');
    // Past the derived id a signer may have stored its share (and confirmed): the key
    // stays pending and the resolver (resolve.ts, told by runKeySession) activates it
    // on every CONFIRM or deletes it on a VETO.
    if ((await rt.registry.getKey(p.keyId))?.sessionId !== undefined) {
      rt.log.warn('DKG failed after its session id was derived: its pending key is kept until the session is resolved', { keyId: p.keyId, reason: err.message });
      throw err;
    }
    await rt.registry.transaction(async (tx) => {
      await tx.deleteKey(p.keyId);
      await tx.append('key.create_failed', p.keyId, { code: err.code, reason: err.message, culprits: err.culprits });
    });
    throw err;
  }
}

/**
 * Refreshes every share of an active key: epoch e -> e + 1, same public key. `request`
 * 'scheduled': the key's policy refresh rule authorises it (START `scheduled: true`,
 * the session bound to the digest a refresh request would carry; refresh-schedule.ts).
 */
export async function refresh(rt: SessionRuntime, key: RegistryKey, publicKey: PublicKeyPackage, request: ClientRequest | 'scheduled'): Promise<PublicKeyPackage> {
  const scheduled = request === 'scheduled';
  try {
    return await runKeySession(rt, {
      kind: 'refresh',
      suite: key.suite,
      keyId: key.id,
      participants: key.participants.map((p) => p.signer),
      startBody: { keyId: key.id, epoch: key.epoch, participants: key.participants, ...(scheduled ? { scheduled: true } : { request }) },
      request: scheduled ? { digest: refreshDigest({ keyId: key.id }) } : request,
      epoch: key.epoch + 1,
      check: (pkg) => {
        const same = equalBytes(pkg.groupKey, publicKey.groupKey) && equalBytes(pkg.chainCode, publicKey.chainCode) && pkg.threshold === publicKey.threshold && pkg.participants.join() === publicKey.participants.join();
        if (pkg.suite !== packageSuiteOf(key.suite) || !same) throw sessionFault('invalid', [], [], 'the refreshed public key package changes the group key, chain code, threshold or participants');
      },
      commit: async (tx, pkg, transcriptHash) => {
        await tx.setKeyMaterial(key.id, pkg, key.epoch + 1);
        await tx.append('key.refreshed', key.id, { fromEpoch: key.epoch, epoch: key.epoch + 1, transcriptHash: bytesToHex(transcriptHash), ...(scheduled ? { scheduled } : {}) });
      },
    });
  } catch (e) {
    const err = sessionError(e, 'refresh failed');
    await rt.registry.append('key.refresh_failed', key.id, { epoch: key.epoch, code: err.code, reason: err.message, culprits: err.culprits, ...(scheduled ? { scheduled } : {}) });
    throw err;
  }
}

/**
 * The reshare's commit point writes: `key` (at epoch e) moves to e + 1 with `pkg` and
 * the new members, and `key.reshared` (`extra`: the session's dealers, leavers and
 * client key; or, committed by resolution, the leavers and `resolved`).
 */
export async function recordReshare(tx: CoordinatorStore, key: RegistryKey, pkg: PublicKeyPackage, members: ParticipantRef[], transcriptHash: Uint8Array, extra: { leavers: string[]; dealers?: string[]; clientKey?: string; resolved?: true }): Promise<void> {
  await tx.setKeyMaterial(key.id, pkg, key.epoch + 1, members);
  await tx.append('key.reshared', key.id, {
    fromEpoch: key.epoch,
    epoch: key.epoch + 1,
    fromThreshold: key.threshold,
    threshold: pkg.threshold,
    fromSigners: key.participants.map((p) => p.signer),
    signers: members.map((p) => p.signer),
    publicKey: bytesToHex(targetExternalKey(pkg)),
    transcriptHash: bytesToHex(transcriptHash),
    ...extra,
  });
}

/**
 * Moves an active key to a new signer set and threshold (reshare): a quorum of t
 * connected old holders deals, the new members (all connected) receive and
 * confirm; the group key stays and the epoch moves to e + 1. Old holders outside
 * the new set (dealers or not) get the COMMIT too and wipe their share once it
 * carries every new member's CONFIRM.
 */
export async function reshare(rt: SessionRuntime, r: ReshareRequest): Promise<PublicKeyPackage> {
  const { key, publicKey } = r;
  // Dealers: the first t old holders (index order) that are connected, not banned for
  // the key, and have acknowledged every commit of it (so they hold epoch e).
  const unfit = new Set([...(await rt.registry.bannedSigners(key.id)), ...(await rt.registry.unacknowledged(key.id))]);
  const dealerRefs = key.participants.filter((p) => !unfit.has(p.signer) && rt.link.isConnected(p.signer)).slice(0, key.threshold);
  try {
    if (dealerRefs.length < key.threshold) {
      throw new CoordinatorError('NOT_ENOUGH_SIGNERS', { message: `${dealerRefs.length} usable old holders connected, ${key.threshold} dealers needed` });
    }
    const dealers = dealerRefs.map((p) => p.signer);
    const members = r.newParticipants.map((p) => p.signer);
    const participants = [...new Set([...dealers, ...members])];
    const leavers = key.participants.map((p) => p.signer).filter((s) => !participants.includes(s));
    const epoch = key.epoch + 1;
    const params = (sessionId: Uint8Array): ReshareParams => ({
      sessionId,
      oldPublicKey: publicKey,
      dealers: dealerRefs.map((p) => p.index),
      newParticipants: r.newParticipants.map((p) => p.index),
      newThreshold: r.threshold,
    });
    let expected: PublicKeyPackage | undefined;
    return await runKeySession(rt, {
      kind: 'reshare',
      suite: key.suite,
      keyId: key.id,
      participants,
      roles: { dealers, members, leavers },
      memberRefs: r.newParticipants,
      startBody: {
        keyId: key.id,
        epoch: key.epoch,
        oldPublicKey: toWirePublicKey(publicKey),
        oldParticipants: key.participants,
        dealers: dealerRefs,
        newParticipants: r.newParticipants,
        newThreshold: r.threshold,
        request: r.request,
        ...(await handoverPolicy(rt, key.id)),
      },
      request: r.request,
      epoch,
      round1: (sessionId, r1) => {
        // Anyone can compute the new public package from the dealers' commitments:
        // a dealer that did not reshare its own share is named before any share moves.
        const commitments = dealerRefs.map((p) => ({ from: p.index, commitment: decodeBody<CommitmentBody>('reshare', KEY_ROUND.R1, key.suite, r1.get(p.signer)!.payload).commitment }));
        try {
          expected = resharePublicKey(params(sessionId), commitments);
        } catch (e) {
          if (!isCryptoError(e)) throw e;
          const culprits = e.culprits.map((i) => dealerRefs.find((p) => p.index === i)?.signer).filter((x): x is string => x !== undefined);
          throw sessionFault('invalid', culprits, culprits, `reshare commitments rejected: ${e.message}`);
        }
      },
      check: (pkg) => {
        if (expected === undefined || !equalBytes(encodeBody(toWirePublicKey(pkg)), encodeBody(toWirePublicKey(expected)))) {
          throw sessionFault('invalid', [], [], "the confirmed public key package is not the one the dealers' commitments define");
        }
        if (!equalBytes(pkg.groupKey, publicKey.groupKey) || !equalBytes(pkg.chainCode, publicKey.chainCode)) throw sessionFault('invalid', [], [], 'the reshared public key package changes the group key or chain code');
      },
      commit: (tx, pkg, transcriptHash) => recordReshare(tx, key, pkg, r.newParticipants, transcriptHash, { dealers, leavers, clientKey: bytesToHex(r.request.clientKey) }),
    });
  } catch (e) {
    const err = sessionError(e, 'reshare failed');
    await rt.registry.append('key.reshare_failed', key.id, { epoch: key.epoch, code: err.code, reason: err.message, culprits: err.culprits });
    throw err;
  }
}

