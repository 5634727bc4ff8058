/**
 * A reshare driven through a FakeCoordinator as docs/cluster-protocol.md "Key
 * sessions" says the coordinator runs it, up to the CONFIRMs (the COMMIT is the test's
 * to deliver, or withhold): START to dealers and new members, CONTRIBUTIONS, R1 from
 * the dealers to everyone, R2 from each dealer to every other new member, CONFIRM from
 * the new members.
 */
import { randomBytes } from 'node:crypto';
import { KEY_ROUND, decodeBody, reshareDigest, signClientRequest, type ConfirmBody, type Envelope, type IdentityKey, type ParticipantRef, type WirePublicKey } from '@keyquorum/protocol';
import { adminClient } from './cluster.ts';
import { gather } from './drive.ts';
import type { FakeCoordinator } from './fake-coordinator.ts';

export interface ReshareParams {
  keyId: string;
  suite: string;
  epoch: number;
  oldPublicKey: WirePublicKey;
  oldParticipants: ParticipantRef[];
  dealers: ParticipantRef[];
  newParticipants: ParticipantRef[];
  newThreshold: number;
  /** Who signs the client request (default: the test cluster's admin client). */
  client?: IdentityKey;
  /** The policy the START hands over (canonical text); omitted when undefined. */
  policy?: string;
}

export interface ReshareRun {
  sessionId: Uint8Array;
  /** The new members' CONFIRMs, in `newParticipants` order. */
  confirms: Envelope[];
  publicKey: WirePublicKey;
}

/** The reshare START body, with a fresh authorised client request. */
export function reshareStart(p: ReshareParams) {
  const signers = p.newParticipants.map((r) => r.signer);
  const request = signClientRequest(p.client ?? adminClient, { op: 'reshare', keyId: p.keyId, digest: reshareDigest({ keyId: p.keyId, groupKey: p.oldPublicKey.groupKey, newThreshold: p.newThreshold, signers }) });
  const { keyId, epoch, oldPublicKey, oldParticipants, dealers, newParticipants, newThreshold } = p;
  return { keyId, epoch, oldPublicKey, oldParticipants, dealers, newParticipants, newThreshold, request, ...(p.policy === undefined ? {} : { policy: p.policy }) };
}

const one = (m: Map<string, Envelope[]>) => [...m.values()].map((l) => l[0]!);

export async function runReshare(c: FakeCoordinator, p: ReshareParams): Promise<ReshareRun> {
  const { suite } = p;
  const dealers = p.dealers.map((r) => r.signer);
  const members = p.newParticipants.map((r) => r.signer);
  const session = [...new Set([...dealers, ...members])];
  const proposalId = randomBytes(32);
  const start = reshareStart(p);
  for (const id of session) c.send(id, { kind: 'reshare', suite, sessionId: proposalId, round: KEY_ROUND.START }, start);
  const contributions = one(await gather(c, session, 'reshare', KEY_ROUND.CONTRIBUTION));
  for (const id of session) c.send(id, { kind: 'reshare', suite, sessionId: proposalId, round: KEY_ROUND.CONTRIBUTIONS }, { envelopes: contributions });
  const r1 = one(await gather(c, dealers, 'reshare', KEY_ROUND.R1));
  const sessionId = r1[0]!.header.sessionId;
  for (const id of session) c.send(id, { kind: 'reshare', suite, sessionId, round: KEY_ROUND.R1_DELIVER }, { envelopes: r1 });
  const r2: Envelope[] = [];
  for (const d of dealers) r2.push(...(await gather(c, [d], 'reshare', KEY_ROUND.R2, members.filter((m) => m !== d).length)).get(d)!);
  for (const id of members) c.send(id, { kind: 'reshare', suite, sessionId, round: KEY_ROUND.R2_DELIVER }, { envelopes: r2.filter((e) => e.header.to === id) });
  const confirms = one(await gather(c, members, 'reshare', KEY_ROUND.CONFIRM));
  const first = decodeBody<ConfirmBody>('reshare', KEY_ROUND.CONFIRM, suite, confirms[0]!.payload);
  return { sessionId, confirms, publicKey: first.publicKey };
}
