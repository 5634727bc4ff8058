/**
 * Drives sessions through a FakeCoordinator the way docs/cluster-protocol.md says
 * the coordinator does (START, relay sets, COMMIT), with hooks where a test plays a
 * malicious relay.
 */
import { randomBytes } from 'node:crypto';
import {
  KEY_ROUND,
  RETIRE_ROUND,
  SIGN_ROUND,
  createKeyDigest,
  decodeBody,
  fromWirePublicKey,
  refreshDigest,
  retireDigest,
  signClientRequest,
  signDigest,
  type AbortBody,
  type ClientRequest,
  type ConfirmBody,
  type Envelope,
  type ParticipantRef,
  type SignCommitmentBody,
  type SignShareBody,
  type TaprootTarget,
  type WirePublicKey,
} from '@keyquorum/protocol';
import { aggregate, verifySignature } from '@keyquorum/crypto';
import type { FakeCoordinator } from './fake-coordinator.ts';
import { adminClient } from './cluster.ts';

const ABORT = 15;

export class SessionAborted extends Error {
  constructor(
    readonly signer: string,
    readonly body: AbortBody,
  ) {
    super(`${signer} aborted: ${body.reason}`);
  }
}

/** Each signer's next `count` frames of (kind, round); throws SessionAborted on an ABORT. */
export async function gather(c: FakeCoordinator, ids: readonly string[], kind: string, round: number, count = 1): Promise<Map<string, Envelope[]>> {
  const out = new Map<string, Envelope[]>();
  for (const id of ids) {
    const got: Envelope[] = [];
    while (got.length < count) {
      // Generous: ecdsa-secp256k1 rounds (base OT) take seconds on a loaded machine.
      const e = await c.next(id, (x) => x.header.kind === kind && (x.header.round === round || x.header.round === ABORT), 120_000);
      if (e.header.round === ABORT) throw new SessionAborted(id, decodeBody<AbortBody>(kind, ABORT, e.header.suite, e.payload));
      got.push(e);
    }
    out.set(id, got);
  }
  return out;
}

const one = (m: Map<string, Envelope[]>) => [...m.values()].map((l) => l[0]!);

export function refs(ids: readonly string[]): ParticipantRef[] {
  return ids.map((signer, i) => ({ signer, index: i + 1 }));
}

export interface KeyRunHooks {
  /** What each signer receives as R1_DELIVER. */
  r1?: (envelopes: Envelope[], to: string) => Envelope[];
  /** What each signer receives as R2_DELIVER. */
  r2?: (envelopes: Envelope[], to: string) => Envelope[];
  /** Stop after CONFIRM (no COMMIT). */
  noCommit?: boolean;
}

export interface KeyRun {
  proposalId: Uint8Array;
  sessionId: Uint8Array;
  confirms: Envelope[];
  publicKey: WirePublicKey;
  epoch: number;
}

export async function runKeySession(
  c: FakeCoordinator,
  kind: 'dkg' | 'refresh',
  suite: string,
  participants: ParticipantRef[],
  start: Record<string, unknown>,
  hooks: KeyRunHooks = {},
): Promise<KeyRun> {
  const ids = participants.map((p) => p.signer);
  const proposalId = randomBytes(32);
  for (const id of ids) c.send(id, { kind, suite, sessionId: proposalId, round: KEY_ROUND.START }, start);
  const contributions = one(await gather(c, ids, kind, KEY_ROUND.CONTRIBUTION));
  for (const id of ids) c.send(id, { kind, suite, sessionId: proposalId, round: KEY_ROUND.CONTRIBUTIONS }, { envelopes: contributions });
  const r1 = one(await gather(c, ids, kind, KEY_ROUND.R1));
  const sessionId = r1[0]!.header.sessionId;
  for (const id of ids) c.send(id, { kind, suite, sessionId, round: KEY_ROUND.R1_DELIVER }, { envelopes: hooks.r1 ? hooks.r1(r1, id) : r1 });
  const r2 = [...(await gather(c, ids, kind, KEY_ROUND.R2, ids.length - 1)).values()].flat();
  for (const id of ids) {
    const mine = r2.filter((e) => e.header.to === id);
    c.send(id, { kind, suite, sessionId, round: KEY_ROUND.R2_DELIVER }, { envelopes: hooks.r2 ? hooks.r2(mine, id) : mine });
  }
  const confirms = one(await gather(c, ids, kind, KEY_ROUND.CONFIRM));
  const first = decodeBody<ConfirmBody>(kind, KEY_ROUND.CONFIRM, suite, confirms[0]!.payload);
  if (!hooks.noCommit) {
    for (const id of ids) c.send(id, { kind, suite, sessionId, round: KEY_ROUND.COMMIT }, { envelopes: confirms });
    await gather(c, ids, kind, KEY_ROUND.ACK);
  }
  return { proposalId, sessionId, confirms, publicKey: first.publicKey, epoch: first.epoch };
}

export function dkgStart(keyId: string, suite: string, threshold: number, participants: ParticipantRef[]) {
  const signers = participants.map((p) => p.signer);
  const request = signClientRequest(adminClient, { op: 'createKey', keyId, digest: createKeyDigest({ keyId, suite, threshold, signers }) });
  return { keyId, threshold, participants, request };
}

export function refreshStart(keyId: string, epoch: number, participants: ParticipantRef[]) {
  return { keyId, epoch, participants, request: signClientRequest(adminClient, { op: 'refresh', keyId, digest: refreshDigest({ keyId }) }) };
}

export interface SignParams {
  keyId: string;
  epoch: number;
  message: Uint8Array;
  path?: string;
  taproot?: TaprootTarget;
}

export function signRequest(p: SignParams): ClientRequest {
  return signClientRequest(adminClient, { op: 'sign', keyId: p.keyId, digest: signDigest(p) });
}

/** START -> COMMITMENT -> SIGN -> SHARE over `quorum`; returns the SHARE (or ABORT-throwing) envelopes. */
export async function runSign(
  c: FakeCoordinator,
  suite: string,
  quorum: readonly string[],
  p: SignParams,
  request: ClientRequest = signRequest(p),
): Promise<{ proposalId: Uint8Array; commitments: Envelope[]; shares: Envelope[] }> {
  const proposalId = randomBytes(32);
  for (const id of quorum) c.send(id, { kind: 'sign', suite, sessionId: proposalId, round: SIGN_ROUND.START }, { ...p, request });
  const commitments = one(await gather(c, quorum, 'sign', SIGN_ROUND.COMMITMENT));
  for (const id of quorum) c.send(id, { kind: 'sign', suite, sessionId: proposalId, round: SIGN_ROUND.SIGN }, { envelopes: commitments });
  const shares = one(await gather(c, quorum, 'sign', SIGN_ROUND.SHARE));
  return { proposalId, commitments, shares };
}

/** FROST: signs `p` with `quorum` (runSign), aggregates the shares and answers whether the signature verifies under `publicKey`. */
export async function signsAndVerifies(c: FakeCoordinator, suite: string, participants: readonly ParticipantRef[], publicKey: WirePublicKey, quorum: readonly string[], p: SignParams): Promise<boolean> {
  const signed = await runSign(c, suite, quorum, p);
  const idOf = (e: Envelope) => participants.find((x) => x.signer === e.header.from)!.index;
  const commitments = signed.commitments.map((e) => ({ id: idOf(e), ...decodeBody<SignCommitmentBody>('sign', SIGN_ROUND.COMMITMENT, suite, e.payload) }));
  const shares = signed.shares.map((e) => ({ id: idOf(e), share: decodeBody<SignShareBody>('sign', SIGN_ROUND.SHARE, suite, e.payload).share }));
  const pkg = fromWirePublicKey(publicKey);
  return verifySignature(pkg, p.message, aggregate(pkg, { message: p.message, commitments }, shares));
}

/** START to `approvers`, COMMIT with their APPROVEs to `all`; returns the ATTEST envelopes. */
export async function runRetire(c: FakeCoordinator, suite: string, keyId: string, epoch: number, approvers: readonly string[], all: readonly string[]): Promise<Envelope[]> {
  const proposalId = randomBytes(32);
  const request = signClientRequest(adminClient, { op: 'retire', keyId, digest: retireDigest({ keyId }) });
  for (const id of approvers) c.send(id, { kind: 'retire', suite, sessionId: proposalId, round: RETIRE_ROUND.START }, { keyId, epoch, request });
  const approvals = one(await gather(c, approvers, 'retire', RETIRE_ROUND.APPROVE));
  for (const id of all) c.send(id, { kind: 'retire', suite, sessionId: proposalId, round: RETIRE_ROUND.COMMIT }, { request, envelopes: approvals });
  return one(await gather(c, all, 'retire', RETIRE_ROUND.ATTEST));
}
