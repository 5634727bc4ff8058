/**
 * A retirement COMMIT is checked by every signer itself (sessions/retire.ts
 * `commitRetire`, docs/cluster-protocol.md "Retirement"): the COMMIT alone must convince a
 * signer that never saw the request, so a coordinator that lies cannot wipe a share with
 * fewer APPROVEs than the key's threshold, with APPROVEs counted from a signer outside the
 * key, with none, or with APPROVEs made at another epoch of the key. Real signer daemons
 * over real WebSockets; the test plays the coordinator, and s4 (pinned, but holding no
 * share of the key) signs an APPROVE it was never asked for. Each COMMIT is refused with
 * its typed code, no ATTEST is sent and the target's keystore is unchanged (its share
 * not wiped); an honest COMMIT re-sent after a lost ATTEST gets the same attestation. One
 * cluster and one DKG for the file (a case refreshes the key; the last retires it).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  COORDINATOR_ID,
  PROTOCOL_VERSION,
  RETIRE_ROUND,
  clientRequestId,
  encodeBody,
  retireDigest,
  sealEnvelope,
  signClientRequest,
  type ClientRequest,
  type Envelope,
  type RetireApproveBody,
} from '@keyquorum/protocol';
import { adminClient } from './helpers/cluster.ts';
import { SessionAborted, dkgStart, gather, refreshStart, refs, runKeySession } from './helpers/drive.ts';
import { useFakeCluster } from './helpers/fake-cluster.ts';
import { snapshot } from './helpers/state.ts';

const SUITE = 'frost-ed25519';
const KEY = 'k1';
const participants = refs(['s1', 's2', 's3']);

const fake = useFakeCluster({ scope: 'file' });

let setUp: Promise<void> | undefined;
/** A 2-of-3 key on s1..s3; s4 is pinned by every signer but holds no share. Once per file. */
function key(): Promise<void> {
  setUp ??= (async () => {
    const { c } = await fake.start(['s1', 's2', 's3', 's4']);
    await runKeySession(c, 'dkg', SUITE, participants, dkgStart(KEY, SUITE, 2, participants));
  })();
  return setUp;
}

const retireRequest = (): ClientRequest => signClientRequest(adminClient, { op: 'retire', keyId: KEY, digest: retireDigest({ keyId: KEY }) });

/** START of the retirement `proposal` at `epoch` to `approvers`; their APPROVE envelopes, in that order. */
async function approve(proposal: Uint8Array, request: ClientRequest, epoch: number, approvers: readonly string[]): Promise<Envelope[]> {
  const { c } = fake;
  for (const id of approvers) c.send(id, { kind: 'retire', suite: SUITE, sessionId: proposal, round: RETIRE_ROUND.START }, { keyId: KEY, epoch, request });
  const got = await gather(c, approvers, 'retire', RETIRE_ROUND.APPROVE);
  return approvers.map((id) => got.get(id)![0]!);
}

/** An APPROVE signed by `signer`'s own identity key, as if it approved (a signer fixture, not asked by any START). */
function approveAs(signer: string, proposal: Uint8Array, request: ClientRequest, epoch: number): Envelope {
  const { identity } = fake.cl.signers.find((s) => s.id === signer)!;
  const body: RetireApproveBody = { keyId: KEY, epoch, requestId: clientRequestId(request) };
  return sealEnvelope(identity, { v: PROTOCOL_VERSION, kind: 'retire', suite: SUITE, sessionId: proposal, round: RETIRE_ROUND.APPROVE, from: signer, to: COORDINATOR_ID }, encodeBody(body));
}

/** Sends `to` the COMMIT; it must refuse it with `code` (no ATTEST) and keep every keystore row. */
async function expectRefused(to: string, proposal: Uint8Array, request: ClientRequest, envelopes: Envelope[], code: string): Promise<void> {
  const { c } = fake;
  const dataDir = fake.cl.signers.find((s) => s.id === to)!.dataDir;
  const before = snapshot(dataDir);
  c.send(to, { kind: 'retire', suite: SUITE, sessionId: proposal, round: RETIRE_ROUND.COMMIT }, { request, envelopes });
  const e = await gather(c, [to], 'retire', RETIRE_ROUND.ATTEST).then(() => undefined, (x: unknown) => x);
  expect(e, `${to} attested a destruction`).toBeInstanceOf(SessionAborted);
  expect((e as SessionAborted).body.reason).toMatch(new RegExp(`^${code}`));
  expect(snapshot(dataDir)).toEqual(before);
}

describe('a retirement COMMIT from a coordinator that lies', () => {
  it('is refused with one APPROVE of a 2-of-3 key (BAD_TRANSCRIPT): the share is not wiped', async () => {
    await key();
    const proposal = randomBytes(32);
    const request = retireRequest();
    await expectRefused('s3', proposal, request, await approve(proposal, request, 0, ['s1']), 'BAD_TRANSCRIPT');
  }, 120_000);

  it('is refused when an APPROVE is counted from a pinned signer outside the key (BAD_TRANSCRIPT)', async () => {
    await key();
    const proposal = randomBytes(32);
    const request = retireRequest();
    const [s1] = await approve(proposal, request, 0, ['s1']);
    await expectRefused('s3', proposal, request, [s1!, approveAs('s4', proposal, request, 0)], 'BAD_TRANSCRIPT');
  }, 120_000);

  it('is refused with no APPROVE at all (BAD_TRANSCRIPT, a typed refusal, not a crash)', async () => {
    await key();
    await expectRefused('s3', randomBytes(32), retireRequest(), [], 'BAD_TRANSCRIPT');
  }, 120_000);

  it('is refused with APPROVEs made at epoch 0 once the key is at epoch 1 here (WRONG_KEY_STATE), and with APPROVEs of two epochs (BAD_TRANSCRIPT)', async () => {
    await key();
    const proposal = randomBytes(32);
    const request = retireRequest();
    const [s1, s2] = await approve(proposal, request, 0, ['s1', 's2']);
    await runKeySession(fake.c, 'refresh', SUITE, participants, refreshStart(KEY, 0, participants));
    // Two approvals of epoch 0: the key the approvers agreed to retire is not the one s3 holds now.
    await expectRefused('s3', proposal, request, [s1!, s2!], 'WRONG_KEY_STATE');
    // s3 approves at epoch 1; with s1's epoch-0 APPROVE that makes two, but not of one retirement.
    const [s3] = await approve(proposal, request, 1, ['s3']);
    await expectRefused('s2', proposal, request, [s3!, s1!], 'BAD_TRANSCRIPT');
  }, 120_000);

  it('an honest COMMIT re-sent after a lost ATTEST is answered with the same attestation, not refused', async () => {
    await key();
    const { c } = fake;
    const proposal = randomBytes(32);
    const request = retireRequest();
    const envelopes = await approve(proposal, request, 1, ['s1', 's2']);
    const commit = () => c.send('s3', { kind: 'retire', suite: SUITE, sessionId: proposal, round: RETIRE_ROUND.COMMIT }, { request, envelopes });
    commit();
    const [first] = (await gather(c, ['s3'], 'retire', RETIRE_ROUND.ATTEST)).get('s3')!;
    commit();
    const [again] = (await gather(c, ['s3'], 'retire', RETIRE_ROUND.ATTEST)).get('s3')!;
    expect(Buffer.from(again!.payload).equals(Buffer.from(first!.payload))).toBe(true);
  }, 120_000);
});
