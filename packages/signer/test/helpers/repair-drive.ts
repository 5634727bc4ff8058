/**
 * Share repair driven through the real rounds by a test playing the coordinator:
 * START (per signer, may differ) -> CONTRIBUTIONS -> R1 (deltas) -> R1_DELIVER -> R2
 * (sigmas) -> R2_DELIVER -> CONFIRM. The target's frames go under the id it derives from
 * its own START (as a coordinator that lies to it would send them).
 */
import { randomBytes } from 'node:crypto';
import { KEY_ROUND, decodeBody, deriveSessionId, keyStateOf, type ContributionBody, type Envelope, type RepairStartBody } from '@keyquorum/protocol';
import { gather } from './drive.ts';
import type { FakeCoordinator } from './fake-coordinator.ts';


const one = (m: Map<string, Envelope[]>) => [...m.values()].map((l) => l[0]!);

/** Runs a repair of `target` (default s3) by `helpers` (default s1, s2) up to the target's CONFIRM. */
export async function runRepair(
  c: FakeCoordinator,
  suite: string,
  starts: Record<string, RepairStartBody>,
  o: { target?: string; helpers?: string[] } = {},
): Promise<{ sessionId: Uint8Array; confirm: Envelope; r1: Envelope[]; r2: Envelope[] }> {
  const targetSigner = o.target ?? 's3';
  const helpers = o.helpers ?? ['s1', 's2'];
  const ids = Object.keys(starts);
  const proposalId = randomBytes(32);
  for (const id of ids) c.send(id, { kind: 'repair', suite, sessionId: proposalId, round: KEY_ROUND.START }, starts[id]);
  const contributions = one(await gather(c, ids, 'repair', KEY_ROUND.CONTRIBUTION));
  for (const id of ids) c.send(id, { kind: 'repair', suite, sessionId: proposalId, round: KEY_ROUND.CONTRIBUTIONS }, { envelopes: contributions });
  const target = starts[targetSigner]!;
  const targetId = deriveSessionId({
    kind: 'repair', suite, keyId: target.keyId, participants: ids, requestDigest: target.request.digest, keyState: keyStateOf(target.epoch, target.publicKey),
    contributions: Object.fromEntries(contributions.map((e) => [e.header.from, decodeBody<ContributionBody>('repair', KEY_ROUND.CONTRIBUTION, suite, e.payload).contribution])),
  });
  const r1 = one(await gather(c, helpers, 'repair', KEY_ROUND.R1));
  const sessionId = r1[0]!.header.sessionId;
  const idOf = (id: string) => (id === targetSigner ? targetId : sessionId);
  for (const id of ids) c.send(id, { kind: 'repair', suite, sessionId: idOf(id), round: KEY_ROUND.R1_DELIVER }, { envelopes: r1.filter((e) => e.header.to === id) });
  const r2 = one(await gather(c, helpers, 'repair', KEY_ROUND.R2));
  c.send(targetSigner, { kind: 'repair', suite, sessionId: targetId, round: KEY_ROUND.R2_DELIVER }, { envelopes: r2 });
  const confirm = one(await gather(c, [targetSigner], 'repair', KEY_ROUND.CONFIRM))[0]!;
  return { sessionId, confirm, r1, r2 };
}
