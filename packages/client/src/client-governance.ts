/**
 * The SDK's governance calls (docs/governance.md "SDK and CLI"): a key's policy (read,
 * change), operations waiting for approvals (list, read, approve) and approving with
 * an Ed25519 approver key. `KeyquorumClient` (client.ts) has these methods.
 *
 * What an approver sees is what it approves: `reviewOperation` never takes the
 * coordinator's word for what an operation does. It recomputes the signed request's
 * digest from the operation's `params` (the route body: the message, path and taproot
 * of a sign at the key's epoch; a sign-tx's transaction, path and network; the policy document; the state transition and delay;
 * ...) and refuses with ClientError 'DIGEST_MISMATCH' when they differ, and it computes
 * the approval challenge from the request itself (`approvalChallenge`), not from the
 * coordinator's `challenge`. Approvals sign that challenge, which binds exactly one
 * signed request (approvals.ts).
 */
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import {
  approvalChallenge,
  approvalToJson,
  clientRequestId,
  parsePolicy,
  parseRequestJson,
  policyDigest,
  policyRequestDigest,
  policyToJson,
  refreshDigest,
  repairDigest,
  requestToJson,
  reshareDigest,
  retireDigest,
  signApproval,
  signDigest,
  signTxDigest,
  stateDigest,
  BITCOIN_NETWORKS,
  CHAINS,
  txToText,
  type BitcoinNetwork,
  type Chain,
  type Approval,
  type ApprovalJson,
  type ClientRequest,
  type IdentityKey,
  type KeyJson,
  type KeyPolicyJson,
  type KeyPolicy,
  type RequestedTransition,
  ROUTES,
} from '@keyquorum/protocol';
import { ApiCore } from './client-http.ts';
import { ClientError } from './errors.ts';
import type { PendingOperation } from './pending.ts';

/** A key's policy as the coordinator serves it (`policy` null: the default policy, version 0). */
export type PolicyView = KeyPolicyJson;

/** A policy change applied: the signers that ACKed it, and the holders it will be re-sent to on reconnect. */
export interface PolicySet extends PolicyView {
  delivered: string[];
  pending: string[];
}

/** An operation checked for approval: its request, the challenge to sign and what it does. */
export interface ReviewedOperation {
  operation: PendingOperation;
  request: ClientRequest;
  /** `approvalChallenge(request)`, computed here. */
  challenge: Uint8Array;
  /** What is approved, as label/value lines (recomputed from `params`, checked against the request digest). */
  summary: Array<[string, string]>;
}

const equalBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

const mismatch = (op: PendingOperation, why: string) =>
  new ClientError('DIGEST_MISMATCH', { field: 'params', message: `operation ${op.id}: ${why}; nothing was approved` });

function text(v: unknown, op: PendingOperation, name: string): string {
  if (typeof v !== 'string') throw mismatch(op, `params.${name} is not a string`);
  return v;
}

function hexBytes(v: unknown, op: PendingOperation, name: string): Uint8Array {
  const s = text(v, op, name);
  if (s.length % 2 !== 0 || !/^[0-9a-f]*$/.test(s)) throw mismatch(op, `params.${name} is not lowercase hex`);
  return hexToBytes(s);
}

/**
 * What `op` does, recomputed from its params, and the digest those params give: the
 * caller compares it with the signed request's. `key` is the key as the coordinator
 * serves it (its epoch for sign, its group key for reshare).
 */
export function describeOperation(op: PendingOperation, key: KeyJson, requestDigest: Uint8Array): Array<[string, string]> {
  const p = op.params ?? {};
  const keyId = op.keyId;
  const check = (digest: Uint8Array, lines: Array<[string, string]>) => {
    if (!equalBytes(digest, requestDigest)) throw mismatch(op, `the signed request does not authorise what the operation shows (${op.op} ${JSON.stringify(p)})`);
    return lines;
  };
  switch (op.op) {
    case 'sign': {
      if (p.chain !== undefined) return describeTx(op, key, requestDigest);
      const message = hexBytes(p.message, op, 'message');
      const path = p.path === undefined ? undefined : text(p.path, op, 'path');
      let taproot: { merkleRoot?: Uint8Array } | undefined;
      if (p.taproot !== undefined) {
        const t = p.taproot as { merkleRoot?: unknown } | null;
        if (typeof t !== 'object' || t === null) throw mismatch(op, 'params.taproot is not an object');
        taproot = t.merkleRoot === undefined ? {} : { merkleRoot: hexBytes(t.merkleRoot, op, 'taproot.merkleRoot') };
      }
      const lines: Array<[string, string]> = [['message', bytesToHex(message)], ['path', path ?? '(root key)']];
      if (taproot !== undefined) lines.push(['taproot', taproot.merkleRoot === undefined ? 'key path only (BIP86)' : `script tree ${bytesToHex(taproot.merkleRoot)}`]);
      // The request names the epoch it was made at; the key may have moved on since (then the signers refuse it).
      for (let epoch = key.epoch; epoch >= 0; epoch -= 1) {
        const digest = signDigest({ keyId, epoch, message, ...(path === undefined ? {} : { path }), ...(taproot === undefined ? {} : { taproot }) });
        if (equalBytes(digest, requestDigest)) return [...lines, ['epoch', epoch === key.epoch ? String(epoch) : `${epoch} (the key is at epoch ${key.epoch} now: signers will refuse it)`]];
      }
      throw mismatch(op, `the signed request does not authorise signing message ${bytesToHex(message)}${path === undefined ? '' : ` at ${path}`} with ${keyId}`);
    }
    case 'policy': {
      let policy: KeyPolicy;
      try {
        policy = parsePolicy(p.policy, 'params.policy');
      } catch (e) {
        throw mismatch(op, `params.policy is not a policy: ${(e as Error).message}`);
      }
      return check(policyRequestDigest({ keyId, policy }), [
        ['policy version', String(policy.version)],
        ['policy digest', bytesToHex(policyDigest(policy))],
        ['policy', JSON.stringify(policyToJson(policy))],
      ]);
    }
    case 'state': {
      const transition = text(p.transition, op, 'transition') as RequestedTransition;
      const afterMs = p.afterMs === undefined ? 0 : p.afterMs;
      if (typeof afterMs !== 'number' || !Number.isSafeInteger(afterMs) || afterMs < 0) throw mismatch(op, 'params.afterMs is not a delay in ms');
      let digest: Uint8Array;
      try {
        digest = stateDigest({ keyId, transition, afterMs });
      } catch {
        throw mismatch(op, `params.transition '${transition}' is not a transition`);
      }
      return check(digest, [['transition', transition], ...(afterMs > 0 ? [['after', `${afterMs} ms`] as [string, string]] : [])]);
    }
    case 'refresh':
      return check(refreshDigest({ keyId }), [['refresh', 'every share: epoch + 1, same public key']]);
    case 'retire':
      return check(retireDigest({ keyId }), [['retire', 'every holder destroys its share']]);
    case 'repair': {
      const target = text(p.signer, op, 'signer');
      return check(repairDigest({ keyId, target }), [['repair', `the share of ${target}`]]);
    }
    case 'reshare': {
      const signers = p.signers;
      if (!Array.isArray(signers) || signers.some((s) => typeof s !== 'string')) throw mismatch(op, 'params.signers is not a list of signer ids');
      if (typeof p.threshold !== 'number') throw mismatch(op, 'params.threshold is not a number');
      if (key.groupKey === null) throw mismatch(op, `key ${keyId} has no group key`);
      const digest = reshareDigest({ keyId, groupKey: hexToBytes(key.groupKey), newThreshold: p.threshold, signers: signers as string[] });
      return check(digest, [['reshare to', `${p.threshold} of ${signers.length} (${signers.join(', ')})`]]);
    }
    default:
      throw mismatch(op, `operation ${op.op} cannot be checked here`);
  }
}

/** A pending sign-tx (params `{ chain, tx (hex), path?, network? }`): what it signs, checked against the request's digest at the key's epoch or an earlier one. */
function describeTx(op: PendingOperation, key: KeyJson, requestDigest: Uint8Array): Array<[string, string]> {
  const p = op.params ?? {};
  const chain = text(p.chain, op, 'chain') as Chain;
  if (!CHAINS.includes(chain)) throw mismatch(op, `params.chain '${chain}' is not a chain`);
  const data = hexBytes(p.tx, op, 'tx');
  const path = p.path === undefined ? undefined : text(p.path, op, 'path');
  const network = p.network === undefined ? undefined : (text(p.network, op, 'network') as BitcoinNetwork);
  if (network !== undefined && !BITCOIN_NETWORKS.includes(network)) throw mismatch(op, `params.network '${network}' is not a bitcoin network`);
  const lines: Array<[string, string]> = [['chain', chain], ['transaction', txToText(chain, data)], ['path', path ?? '(root key, or as each input names it)']];
  if (network !== undefined) lines.push(['network', network]);
  for (let epoch = key.epoch; epoch >= 0; epoch -= 1) {
    const digest = signTxDigest({ keyId: op.keyId, epoch, chain, data, ...(path === undefined ? {} : { path }), ...(network === undefined ? {} : { network }) });
    if (equalBytes(digest, requestDigest)) return [...lines, ['epoch', epoch === key.epoch ? String(epoch) : `${epoch} (the key is at epoch ${key.epoch} now: signers will refuse it)`]];
  }
  throw mismatch(op, `the signed request does not authorise signing this ${chain} transaction with ${op.keyId}`);
}

const isApprovalJson = (a: Approval | ApprovalJson): a is ApprovalJson => (a.type === 'ed25519' ? typeof a.sig === 'string' : typeof a.signature === 'string');

export class GovernanceApi extends ApiCore {
  /** The key's policy (any role); `policy` null and version 0 for a key that never had one. */
  async getPolicy(keyId: string): Promise<PolicyView> {
    return this.call(ROUTES.getPolicy, { params: { id: keyId } });
  }

  /**
   * Asks for the key's next policy (admin): `policy` in its JSON form (`policyToJson`),
   * validated here first (ClientError BAD_ARGUMENT naming the field), its version the
   * current one + 1. Signs op 'policy' over `policyRequestDigest`. Resolves when every
   * reachable holder enforces it; throws ApprovalPendingError (pending.ts) when the
   * current policy requires approvals for 'policy'.
   */
  async setPolicy(keyId: string, policy: unknown): Promise<PolicySet> {
    let parsed: KeyPolicy;
    try {
      parsed = parsePolicy(policy);
    } catch (e) {
      throw new ClientError('BAD_ARGUMENT', { field: (e as { field?: string }).field ?? 'policy', message: `policy: ${(e as Error).message}`, cause: e });
    }
    const request = this.signRequest('policy', keyId, policyRequestDigest({ keyId, policy: parsed }));
    return (await this.call(ROUTES.setPolicy, { params: { id: keyId }, body: { policy: policyToJson(parsed), request: requestToJson(request) } })) as PolicySet;
  }

  /** Operations waiting for approvals (`state: 'pending'`), or every one the coordinator keeps. */
  async listOperations(o: { state?: PendingOperation['state'] } = {}): Promise<PendingOperation[]> {
    return (await this.call(ROUTES.listOperations, { query: { state: o.state } })).operations;
  }

  /** One operation waiting for (or done with) approvals. */
  async getOperation(id: string): Promise<PendingOperation> {
    return (await this.call(ROUTES.operation, { params: { id } })) as PendingOperation;
  }

  /**
   * Posts one approval of operation `id` (Ed25519 or a passkey's WebAuthn assertion,
   * bytes or JSON form). Resolves to the operation in its new state: still pending,
   * or run (with `result`) when this approval completed the quorum.
   */
  async approve(id: string, approval: Approval | ApprovalJson): Promise<PendingOperation> {
    const json: ApprovalJson = isApprovalJson(approval) ? approval : approvalToJson(approval);
    return (await this.call(ROUTES.approve, { params: { id }, body: { approval: json } })).operation;
  }

  /**
   * Fetches operation `id` and checks it (module header): its request is for the
   * operation's key and op, its id is the operation's, and its digest is what the
   * params say. Throws ClientError 'DIGEST_MISMATCH' otherwise.
   */
  async reviewOperation(id: string): Promise<ReviewedOperation> {
    const operation = await this.getOperation(id);
    let request: ClientRequest;
    try {
      request = parseRequestJson(operation.request);
    } catch (e) {
      throw new ClientError('BAD_RESPONSE', { field: 'request', message: `operation ${id}: ${(e as Error).message}` });
    }
    if (request.keyId !== operation.keyId || request.op !== operation.op) throw mismatch(operation, `its request is for ${request.op} of ${request.keyId}, not ${operation.op} of ${operation.keyId}`);
    if (bytesToHex(clientRequestId(request)) !== operation.id) throw mismatch(operation, 'its id is not the id of its request');
    const key = await this.call(ROUTES.getKey, { params: { id: operation.keyId } });
    const summary = describeOperation(operation, key, request.digest);
    return { operation, request, challenge: approvalChallenge(request), summary };
  }

  /** `reviewOperation(id)`, then the approval of `approverId` signed with `approver` (an Ed25519 approver key), posted. */
  async approveWithKey(id: string, approver: IdentityKey, approverId: string): Promise<PendingOperation> {
    const { request } = await this.reviewOperation(id);
    return this.approve(id, signApproval(approver, approverId, request));
  }
}
