/**
 * The coordinator's resolution of an unresolved reshare (docs/cluster-protocol.md
 * "Unresolved key sessions"; resolve.ts) against members that speak the real protocol
 * (fixtures, signed with the members' own identities): a member's PENDING_UNRESOLVED
 * refusal names the session (its CONFIRM) and its new members (refs); RESOLVE goes to
 * those members only, naming them; every member's CONFIRM commits the reshare through
 * the reshare commit point only if the confirmed package keeps the key's group key and
 * its indices are exactly the members'. A package that changes the group key, or refs
 * whose indices are not the package's, leave the registry unchanged and send no COMMIT.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { randomBytes } from '@noble/hashes/utils.js';
import type { PublicKeyPackage } from '@keyquorum/crypto';
import {
  CONTROL_ROUND,
  COORDINATOR_ID,
  KEY_ROUND,
  PROTOCOL_VERSION,
  createKeyDigest,
  decodeBody,
  decodeEnvelope,
  encodeBody,
  encodeEnvelope,
  openEnvelope,
  sealEnvelope,
  toWirePublicKey,
  type Envelope,
  type IdentityKey,
  type ParticipantRef,
  type ResolveBody,
} from '@keyquorum/protocol';
import { createLogger } from '@keyquorum/protocol/logger';
import { eventually, startCluster, type Cluster } from './helpers.ts';

const SUITE = 'frost-ed25519';

/** A new member of a reshare, as its signer speaks: the handshake, then RESOLVE answered with `answer` (its CONFIRM). */
class Member {
  readonly resolves: ResolveBody[] = [];
  readonly commits: Envelope[] = [];
  answer: Envelope | undefined;
  #ws: WebSocket | undefined;

  constructor(
    readonly id: string,
    private readonly identity: IdentityKey,
    private readonly coordinatorKey: Uint8Array,
    private readonly url: string,
  ) {}

  seal(h: { kind: string; sessionId: Uint8Array; round: number }, body: unknown): Envelope {
    return sealEnvelope(this.identity, { v: PROTOCOL_VERSION, suite: h.kind === 'control' ? 'none' : SUITE, ...h, from: this.id, to: COORDINATOR_ID }, encodeBody(body));
  }

  send(e: Envelope): void {
    this.#ws!.send(encodeEnvelope(e));
  }

  connect(): Promise<void> {
    const ws = new WebSocket(this.url);
    this.#ws = ws;
    let signerNonce = new Uint8Array(32);
    return new Promise((resolve, reject) => {
      ws.on('message', (data: Buffer) => {
        const e = openEnvelope(decodeEnvelope(new Uint8Array(data)), this.coordinatorKey, { expect: { to: this.id } });
        const { kind, round, sessionId } = e.header;
        if (kind === 'control' && round === CONTROL_ROUND.CHALLENGE) {
          const { nonce } = decodeBody<{ nonce: Uint8Array }>(kind, round, 'none', e.payload);
          signerNonce = randomBytes(32);
          this.send(this.seal({ kind, sessionId: nonce, round: CONTROL_ROUND.AUTH }, { nonce: signerNonce, coordinatorNonce: nonce, publicKey: this.identity.publicKey }));
        } else if (kind === 'control' && round === CONTROL_ROUND.WELCOME) resolve();
        else if (kind === 'reshare' && round === KEY_ROUND.RESOLVE) {
          this.resolves.push(decodeBody<ResolveBody>(kind, round, SUITE, e.payload));
          if (this.answer !== undefined) this.send(this.answer);
        } else if (kind === 'reshare' && round === KEY_ROUND.COMMIT) this.commits.push(e);
      });
      ws.on('error', reject);
    });
  }

  async close(): Promise<void> {
    const ws = this.#ws;
    if (ws === undefined || ws.readyState === ws.CLOSED) return;
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      ws.close();
    });
  }
}

let cluster: Cluster | undefined;
let members: Member[] = [];

afterEach(async () => {
  await Promise.all(members.map((m) => m.close()));
  await cluster?.stop();
  cluster = undefined;
  members = [];
});

/**
 * 2-of-3 keys `k` and `other` on s1..s3; s2, s3 and s4 then connect as the members of a
 * reshare of `k` another coordinator ran. `log`: the coordinator's log lines.
 */
async function setup(): Promise<{ c: Cluster; pkg: PublicKeyPackage; otherPkg: PublicKeyPackage; log: { msg: string }[] }> {
  const log: { msg: string }[] = [];
  const logger = createLogger({ level: 'info', write: (line: string) => void log.push(JSON.parse(line) as { msg: string }) });
  const c = await startCluster(['s1', 's2', 's3', 's4'], { connected: ['s1', 's2', 's3'], options: { roundTimeoutMs: 10_000, logger } });
  cluster = c;
  const signers = ['s1', 's2', 's3'];
  for (const keyId of ['k', 'other']) {
    await c.coordinator.createKey({ request: c.request('createKey', keyId, createKeyDigest({ keyId, suite: SUITE, threshold: 2, signers })), keyId, suite: SUITE, threshold: 2, signers });
    await eventually(async () => (await c.coordinator.audit(keyId)).filter((e) => e.event === 'commit.acked').length === 3, 30_000);
  }
  const pkg = c.signers[0]!.keys.get('k')!.share.publicKey;
  const otherPkg = c.signers[0]!.keys.get('other')!.share.publicKey;
  await Promise.all(c.signers.map((s) => s.close()));
  await eventually(async () => (await c.coordinator.listSigners()).every((s) => !s.connected), 30_000);
  // s1 leaves the key (it answers nothing; it only collects what it is sent).
  members = ['s2', 's3', 's4', 's1'].map((id) => new Member(id, c.signerIdentities.get(id)!, c.coordinatorIdentity.publicKey, c.coordinator.signerUrl));
  for (const m of members) await m.connect();
  return { c, pkg, otherPkg, log };
}

/** Every member answers RESOLVE with its CONFIRM of `confirmed`; s3 names the session and `refs` in a PENDING_UNRESOLVED refusal. */
function claim(confirmed: PublicKeyPackage, refs: ParticipantRef[]): void {
  const sessionId = randomBytes(32);
  const body = { keyId: 'k', epoch: 1, transcriptHash: new Uint8Array(32).fill(9), publicKey: toWirePublicKey(confirmed) };
  for (const m of members.slice(0, 3)) m.answer = m.seal({ kind: 'reshare', sessionId, round: KEY_ROUND.CONFIRM }, body);
  const s3 = members[1]!;
  s3.send(s3.seal({ kind: 'reshare', sessionId: randomBytes(32), round: KEY_ROUND.ABORT }, { reason: 'PENDING_UNRESOLVED: (test)', envelopes: [s3.answer!], participants: refs }));
}

const REFS: ParticipantRef[] = [{ signer: 's2', index: 1 }, { signer: 's3', index: 2 }, { signer: 's4', index: 3 }];

describe('resolving a reshare another coordinator left unresolved', () => {
  it('every member confirms the package: the registry records the members at the next epoch and COMMIT goes to members and the leaver', async () => {
    const { c, pkg } = await setup();
    claim(pkg, REFS);
    await eventually(async () => (await c.coordinator.getKey('k')).epoch === 1, 30_000);
    const leaver = members[3]!;
    // RESOLVE went to the members only, naming them.
    for (const m of members.slice(0, 3)) expect(m.resolves).toEqual([{ keyId: 'k', epoch: 1, participants: REFS }]);
    expect(leaver.resolves).toEqual([]);
    expect((await c.coordinator.getKey('k')).participants).toEqual(REFS);
    expect((await c.coordinator.audit('k')).filter((e) => e.event === 'key.reshared').map((e) => e.data)).toEqual([expect.objectContaining({ fromEpoch: 0, epoch: 1, signers: ['s2', 's3', 's4'], leavers: ['s1'], resolved: true })]);
    // The COMMIT, carrying every member's CONFIRM, goes to the members and to s1, the old holder leaving.
    await eventually(() => members.every((m) => m.commits.length === 1), 30_000);
    const carried = decodeBody<{ envelopes: Envelope[] }>('reshare', KEY_ROUND.COMMIT, SUITE, leaver.commits[0]!.payload).envelopes;
    expect(carried.map((e) => e.header.from)).toEqual(['s2', 's3', 's4']);
  }, 120_000);

  it.each([
    ['a package with another group key', 'group'],
    ['refs whose indices are not the package\'s', 'indices'],
  ] as const)('%s: nothing is recorded and no COMMIT is sent', async (_name, lie) => {
    const { c, pkg, otherPkg, log } = await setup();
    // A well-formed package: another key's (same suite, threshold and indices), or this key's with a member's index changed.
    if (lie === 'group') claim(otherPkg, REFS);
    else claim(pkg, [REFS[0]!, REFS[1]!, { signer: 's4', index: 4 }]);
    await eventually(() => log.some((l) => l.msg === 'unresolved key session confirmed by all, but the registry cannot record it'), 30_000);
    for (const m of members.slice(0, 3)) expect(m.resolves).toHaveLength(1);
    expect((await c.coordinator.getKey('k')).epoch).toBe(0);
    expect((await c.coordinator.audit('k')).map((e) => e.event)).not.toContain('key.reshared');
    expect(members.every((m) => m.commits.length === 0)).toBe(true);
  }, 120_000);
});
