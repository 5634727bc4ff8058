/**
 * Resolution of an unresolved key session as docs/cluster-protocol.md "Unresolved key
 * sessions" says an honest coordinator runs it, for tests driving real signers through
 * a FakeCoordinator: RESOLVE to every participant (naming a reshare's new members);
 * every CONFIRM -> COMMIT to all (and to a reshare's leavers); a VETO -> ABORT
 * carrying it.
 */
import { KEY_ROUND, decodeBody, type AbortBody, type Envelope, type ParticipantRef } from '@keyquorum/protocol';
import type { FakeCoordinator } from './fake-coordinator.ts';
import { SessionAborted, gather } from './drive.ts';

export interface Session {
  kind: string;
  suite: string;
  sessionId: Uint8Array;
  keyId: string;
  epoch: number;
  /** A reshare's new members, named in RESOLVE. */
  participants?: ParticipantRef[];
}

/** Each participant's answer to RESOLVE: its CONFIRM or its VETO (an ABORT throws SessionAborted). */
export async function askResolve(c: FakeCoordinator, ids: readonly string[], s: Session): Promise<Map<string, Envelope>> {
  for (const id of ids) c.send(id, { kind: s.kind, suite: s.suite, sessionId: s.sessionId, round: KEY_ROUND.RESOLVE }, { keyId: s.keyId, epoch: s.epoch, ...(s.participants ? { participants: s.participants } : {}) });
  const out = new Map<string, Envelope>();
  for (const id of ids) {
    const e = await c.next(id, (x) => x.header.kind === s.kind && [KEY_ROUND.CONFIRM, KEY_ROUND.VETO, KEY_ROUND.ABORT].includes(x.header.round as 7 | 11 | 15), 60_000);
    if (e.header.round === KEY_ROUND.ABORT) throw new SessionAborted(id, decodeBody<AbortBody>(s.kind, KEY_ROUND.ABORT, s.suite, e.payload));
    out.set(id, e);
  }
  return out;
}

/** The whole resolution: returns 'committed' (every participant and leaver ACKed) or 'vetoed' (the ABORT with a VETO was sent to all). */
export async function resolve(c: FakeCoordinator, ids: readonly string[], s: Session, leavers: readonly string[] = []): Promise<'committed' | 'vetoed'> {
  const answers = await askResolve(c, ids, s);
  const veto = [...answers.values()].find((e) => e.header.round === KEY_ROUND.VETO);
  if (veto !== undefined) {
    for (const id of ids) c.send(id, { kind: s.kind, suite: s.suite, sessionId: s.sessionId, round: KEY_ROUND.ABORT }, { reason: 'vetoed', envelopes: [veto] });
    return 'vetoed';
  }
  const confirms = ids.map((id) => answers.get(id)!);
  for (const id of [...ids, ...leavers]) c.send(id, { kind: s.kind, suite: s.suite, sessionId: s.sessionId, round: KEY_ROUND.COMMIT }, { envelopes: confirms });
  await gather(c, [...ids, ...leavers], s.kind, KEY_ROUND.ACK);
  return 'committed';
}

/** The signer's next ABORT of `kind` (it refused a frame), decoded. */
export async function nextAbort(c: FakeCoordinator, id: string, kind: string, suite: string): Promise<AbortBody> {
  const e = await c.next(id, (x) => x.header.kind === kind && x.header.round === KEY_ROUND.ABORT, 60_000);
  return decodeBody<AbortBody>(kind, KEY_ROUND.ABORT, suite, e.payload);
}
