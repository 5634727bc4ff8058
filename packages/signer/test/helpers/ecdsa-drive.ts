/**
 * Drives ecdsa-secp256k1 signing (ECDSA_SIGN_ROUND, docs/cluster-protocol.md) through a
 * FakeCoordinator: START -> CONTRIBUTION -> CONTRIBUTIONS -> R1 -> R1_DELIVER -> R2 ->
 * R2_DELIVER -> SHARE, then combines the shares as the coordinator does (step 10). Each
 * signer may be sent its own START body, so a test can play a lying coordinator.
 */
import { randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { BROADCAST, ECDSA_SIGN_ROUND, ECDSA_SUITE, decodeBody, type EcdsaPresignedBody, type EcdsaSignShareBody, type Envelope, type ParticipantRef } from '@keyquorum/protocol';
import { ecdsa } from '@keyquorum/crypto';
import type { FakeCoordinator } from './fake-coordinator.ts';
import { gather } from './drive.ts';

const R = ECDSA_SIGN_ROUND;
const flat = (m: Map<string, Envelope[]>) => [...m.values()].flat();

/** Runs the contribution rounds and round 1; returns each signer's R1 envelopes and derived session id (read off its R1). */
export async function ecdsaToRound1(c: FakeCoordinator, quorum: readonly string[], startFor: (id: string) => unknown): Promise<{ proposal: Uint8Array; r1: Map<string, Envelope[]> }> {
  const proposal = randomBytes(32);
  for (const id of quorum) c.send(id, { kind: 'sign', suite: ECDSA_SUITE, sessionId: proposal, round: R.START }, startFor(id));
  const contributions = flat(await gather(c, quorum, 'sign', R.CONTRIBUTION));
  for (const id of quorum) c.send(id, { kind: 'sign', suite: ECDSA_SUITE, sessionId: proposal, round: R.CONTRIBUTIONS }, { envelopes: contributions });
  return { proposal, r1: await gather(c, quorum, 'sign', R.R1, quorum.length) };
}

/** An honest signing of `message` (a 32-byte digest) by `quorum`; returns the verified compact signature. */
export async function ecdsaSign(c: FakeCoordinator, quorum: readonly ParticipantRef[], groupKey: Uint8Array, start: Record<string, unknown>): Promise<Uint8Array> {
  const ids = quorum.map((p) => p.signer);
  const { r1 } = await ecdsaToRound1(c, ids, () => start);
  const all1 = flat(r1);
  const sessionId = all1[0]!.header.sessionId;
  for (const id of ids) c.send(id, { kind: 'sign', suite: ECDSA_SUITE, sessionId, round: R.R1_DELIVER }, { envelopes: all1.filter((e) => e.header.from !== id && (e.header.to === BROADCAST || e.header.to === id)) });
  const all2 = flat(await gather(c, ids, 'sign', R.R2, ids.length - 1));
  for (const id of ids) c.send(id, { kind: 'sign', suite: ECDSA_SUITE, sessionId, round: R.R2_DELIVER }, { envelopes: all2.filter((e) => e.header.to === id) });
  const shares = await gather(c, ids, 'sign', R.SHARE);
  const bodies = quorum.map((p) => decodeBody<EcdsaSignShareBody>('sign', R.SHARE, ECDSA_SUITE, shares.get(p.signer)![0]!.payload));
  const message = start.message as Uint8Array;
  const combined = ecdsa.combineSignature(
    { quorum: quorum.map((p) => p.index), instancePoint: bodies[0]!.instancePoint, publicKey: groupKey },
    message,
    quorum.map((p, i) => ({ from: p.index, w: bodies[i]!.w, u: bodies[i]!.u })),
  );
  if (!secp256k1.verify(combined.signature, message, groupKey, { prehash: false })) throw new Error('the combined signature does not verify');
  return combined.signature;
}

/**
 * A presign session (presignature pool) of `keyId` at `epoch` by `ids`: PRESIGN ->
 * CONTRIBUTION -> CONTRIBUTIONS -> R1 -> R1_DELIVER -> R2 -> R2_DELIVER -> PRESIGNED.
 * Returns the presignature id (the derived session id) and every signer's PRESIGNED body.
 */
export async function ecdsaPresign(c: FakeCoordinator, ids: readonly string[], keyId: string, epoch: number): Promise<{ id: Uint8Array; bodies: Map<string, EcdsaPresignedBody> }> {
  const proposal = randomBytes(32);
  for (const id of ids) c.send(id, { kind: 'sign', suite: ECDSA_SUITE, sessionId: proposal, round: R.PRESIGN }, { keyId, epoch });
  const contributions = flat(await gather(c, ids, 'sign', R.CONTRIBUTION));
  for (const id of ids) c.send(id, { kind: 'sign', suite: ECDSA_SUITE, sessionId: proposal, round: R.CONTRIBUTIONS }, { envelopes: contributions });
  const all1 = flat(await gather(c, ids, 'sign', R.R1, ids.length));
  const sessionId = all1[0]!.header.sessionId;
  for (const id of ids) c.send(id, { kind: 'sign', suite: ECDSA_SUITE, sessionId, round: R.R1_DELIVER }, { envelopes: all1.filter((e) => e.header.from !== id && (e.header.to === BROADCAST || e.header.to === id)) });
  const all2 = flat(await gather(c, ids, 'sign', R.R2, ids.length - 1));
  for (const id of ids) c.send(id, { kind: 'sign', suite: ECDSA_SUITE, sessionId, round: R.R2_DELIVER }, { envelopes: all2.filter((e) => e.header.to === id) });
  const presigned = await gather(c, ids, 'sign', R.PRESIGNED);
  const bodies = new Map([...presigned].map(([id, l]) => [id, decodeBody<EcdsaPresignedBody>('sign', R.PRESIGNED, ECDSA_SUITE, l[0]!.payload)]));
  return { id: sessionId, bodies };
}

/** POOLED to each of `to` (each may get its own START body); the SHARE envelopes, or throws SessionAborted. */
export async function ecdsaPooled(c: FakeCoordinator, to: readonly string[], presignature: Uint8Array, startFor: (id: string) => unknown): Promise<Map<string, EcdsaSignShareBody>> {
  const proposal = randomBytes(32);
  for (const id of to) c.send(id, { kind: 'sign', suite: ECDSA_SUITE, sessionId: proposal, round: R.POOLED }, { start: startFor(id), presignature });
  const shares = await gather(c, to, 'sign', R.SHARE);
  return new Map([...shares].map(([id, l]) => [id, decodeBody<EcdsaSignShareBody>('sign', R.SHARE, ECDSA_SUITE, l[0]!.payload)]));
}
