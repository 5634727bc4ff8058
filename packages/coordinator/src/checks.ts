/**
 * The checks `Coordinator` runs on a call before any signer sees it: the fields of its
 * parameters (BAD_REQUEST naming the field), the client's signed request (it must be
 * for this operation, key and digest, and pass `verifyClientRequest`: trusted key and
 * role, signature, freshness, a nonce not seen in the replay window), and that every
 * signer a session needs holds the key's current epoch.
 */
import { bytesToHex, equalBytes } from '@noble/curves/utils.js';
import { WireError, parseClientRequest, verifyClientRequest, type ClientRequest, type Operation } from '@keyquorum/protocol';
import type { ResolvedOptions } from './config.ts';
import { CoordinatorError } from './errors.ts';
import type { CoordinatorStore, RegistryKey } from './store/types.ts';

export const badRequest = (field: string, message: string) => new CoordinatorError('BAD_REQUEST', { field, message: `${field}: ${message}` });

/** A protocol error from request verification, as the coordinator's error. */
function authError(e: unknown): CoordinatorError {
  if (!(e instanceof WireError)) return e instanceof CoordinatorError ? e : new CoordinatorError('BAD_REQUEST', { message: (e as Error).message, cause: e });
  const field = e.field;
  if (e.code === 'UNAUTHORISED') return new CoordinatorError('UNAUTHORISED', { field, message: 'the client key is not trusted for this operation', cause: e });
  if (e.code === 'BAD_SIGNATURE' || e.code === 'STALE' || e.code === 'REPLAY') return new CoordinatorError('UNAUTHENTICATED', { field, message: `${e.code}: ${field ?? 'request'}`, cause: e });
  return new CoordinatorError('BAD_REQUEST', { field, message: e.message, cause: e });
}

/** The replay window `authorise` consults: the store's (async), or none (`() => true`). */
export interface RequestReplayGuard {
  checkAndRemember(clientKeyHex: string, nonceHex: string, timestamp: number): boolean | Promise<boolean>;
}

/**
 * The client request must be for `op` on `keyId`, carry exactly `digest`, and pass
 * `verifyClientRequest` with the configured clients, then `replay` (the store's replay
 * window): the protocol's check is synchronous, so the nonce is checked after it,
 * last, as `verifyClientRequest` would.
 */
export async function authorise(o: Pick<ResolvedOptions, 'clients' | 'now' | 'maxSkewMs'>, replay: RequestReplayGuard, op: Operation, keyId: string, request: unknown, digest: Uint8Array): Promise<ClientRequest> {
  let r: ClientRequest;
  try {
    r = parseClientRequest(request);
  } catch (e) {
    throw authError(e);
  }
  if (r.op !== op) throw new CoordinatorError('UNAUTHORISED', { field: 'request.op', message: `the request authorises ${r.op}, not ${op}` });
  if (r.keyId !== keyId) throw new CoordinatorError('UNAUTHORISED', { field: 'request.keyId', message: `the request is for key ${r.keyId}` });
  if (!equalBytes(r.digest, digest)) throw new CoordinatorError('UNAUTHORISED', { field: 'request.digest', message: 'the request digest does not match the operation parameters' });
  try {
    verifyClientRequest(r, { trusted: o.clients, now: o.now(), maxSkewMs: o.maxSkewMs, replay: { checkAndRemember: () => true } });
  } catch (e) {
    throw authError(e);
  }
  if (!(await replay.checkAndRemember(bytesToHex(r.clientKey), bytesToHex(r.nonce), r.timestamp))) throw authError(new WireError('REPLAY', { field: 'request.nonce' }));
  return r;
}

/** `signers` is an array of distinct allow-listed signer ids. */
export function checkSigners(signers: unknown, allowed: ReadonlyMap<string, unknown>): asserts signers is string[] {
  if (!Array.isArray(signers)) throw badRequest('signers', 'expected an array of signer ids');
  signers.forEach((s: unknown, i) => {
    if (typeof s !== 'string' || !allowed.has(s)) throw badRequest(`signers[${i}]`, 'not an allow-listed signer');
    if (signers.indexOf(s) !== i) throw badRequest(`signers[${i}]`, 'duplicate signer');
  });
}

/** `threshold` is an integer >= 2; with a signer set given, the set has 2 signers or more and no fewer than `threshold`. */
export function checkThreshold(threshold: unknown, signers: readonly string[] | undefined): asserts threshold is number {
  if (signers !== undefined && signers.length < 2) throw badRequest('signers', 'a key needs at least 2 signers');
  if (typeof threshold !== 'number' || !Number.isSafeInteger(threshold) || threshold < 2) throw badRequest('threshold', 'expected an integer >= 2');
  if (signers !== undefined && threshold > signers.length) throw badRequest('threshold', `greater than the ${signers.length} signers`);
}

/** WRONG_STATE unless every one of `signers` has acknowledged the key's current epoch (those behind catch up when they reconnect). */
export async function checkCaughtUp(registry: CoordinatorStore, key: RegistryKey, signers: readonly string[]): Promise<void> {
  const behind = (await registry.unacknowledged(key.id)).filter((s) => signers.includes(s));
  if (behind.length > 0) {
    throw new CoordinatorError('WRONG_STATE', { field: 'keyId', message: `signers ${behind.join(',')} have not acknowledged epoch ${key.epoch} of ${key.id}` });
  }
}
