/**
 * POST /v1/keys/{id}/sign-tx (docs/transactions.md section 5): the coordinator relays an
 * unsigned transaction; every signer parses it, computes each digest it signs from it
 * and checks the key's policy against what it pays.
 *
 * Here: the parameters checked, the transaction parsed with the key's public package
 * for its signing targets (a module's refusal is 400 BAD_TX), the client's request
 * (op 'sign', `signTxDigest`: the transaction itself) admitted like a sign's, with the
 * early refusal of the coordinator's policy copy (`checkSign` for each target's path,
 * `checkTx`: the transaction rules with no spend of its own, the signers hold the
 * windows) and the approvals the transaction needs (`txRequiredApprovals`: a pending
 * operation until they arrive, run once at quorum). Then one signing per target with
 * the same request (START `tx` naming the input), and the chain module's `finalize`.
 */
import {
  signTxDigest,
  TxError,
  txRequiredApprovals,
  type ClientRequest,
  type TxSignature,
} from '@keyquorum/protocol';
import type { PublicKeyPackage } from '@keyquorum/crypto';
import type { SignTxOutput, SignTxParams } from './api.ts';
import { badRequest } from './checks.ts';
import type { SessionEngine, SignRequest } from './engine.ts';
import { CoordinatorError } from './errors.ts';
import type { Governance } from './governance.ts';
import type { KeyLocks } from './key-locks.ts';
import type { CoordinatorMetrics } from './metrics.ts';
import type { RegistryKey } from './store/types.ts';
import { checkTxParams, parseOptions, parseTx, txError } from './tx.ts';

/** What a sign-tx uses of the coordinator. */
export interface SignTxContext {
  /** The key if its states allow 'sign' (coordinator.ts `activeKey`). */
  activeKey(keyId: unknown): Promise<RegistryKey & { publicKey: PublicKeyPackage }>;
  governance: Governance;
  locks: KeyLocks;
  metrics: Pick<CoordinatorMetrics, 'session' | 'signature'>;
  engine: Pick<SessionEngine, 'sign'>;
}

/** Signs the transaction of `p` and returns it broadcastable (see the header). */
export async function signTransaction(ctx: SignTxContext, p: SignTxParams): Promise<SignTxOutput> {
  if (typeof p !== 'object' || p === null) throw badRequest('body', 'expected an object');
  const key = await ctx.activeKey(p.keyId);
  const params = checkTxParams(p as unknown as Record<string, unknown>, key.suite);
  const { chain, tx, path, network } = params;
  const { module, parsed } = await parseTx(key.publicKey, params);
  const digest = signTxDigest({ keyId: key.id, epoch: key.epoch, chain, data: tx, ...(path === undefined ? {} : { path }), ...(network === undefined ? {} : { network }) });
  const paths = [...new Set(parsed.targets.map((t) => (t.path === 'm' ? undefined : t.path)))];
  const precheck = async (r: ClientRequest) => {
    for (const at of paths) await ctx.governance.checkSign(key, r, at, 'tx');
    await ctx.governance.checkTx(key, r, parsed);
  };
  const { request } = await ctx.governance.admit({
    op: 'sign',
    action: 'sign',
    key,
    request: p.request,
    digest,
    params: { chain, tx, path, network },
    precheck,
    required: (policy) => txRequiredApprovals(policy, parsed),
  });
  // Velocity counts the request once, whatever its number of inputs.
  await ctx.governance.recordSign(key, request, paths[0]);
  return ctx.locks.run(key.id, 'shared', async () => {
    const signatures: TxSignature[] = [];
    for (const t of parsed.targets) {
      const signing: SignRequest = { key, publicKey: key.publicKey, message: t.message, request, tx: { chain, data: tx, input: t.input, ...(network === undefined ? {} : { network }), id: parsed.id } };
      if (t.path !== 'm') signing.path = t.path;
      if (t.taproot !== undefined) signing.taproot = t.taproot.merkleRoot === undefined ? {} : { merkleRoot: t.taproot.merkleRoot };
      const out = await ctx.metrics.session('sign', () => ctx.engine.sign(signing));
      ctx.metrics.signature(key.suite);
      signatures.push({ input: t.input, signature: out.signature, ...(out.recoveryId === undefined ? {} : { recoveryId: out.recoveryId }) });
    }
    try {
      return { output: module.finalize(tx, key.publicKey, parseOptions(params), signatures), txId: parsed.id, signatures };
    } catch (e) {
      // The signatures were verified as they were made: a module that still refuses them is a failure here, not the caller's.
      if (e instanceof TxError && e.code === 'BAD_SIGNATURE') throw new CoordinatorError('SESSION_FAILED', { message: `the ${chain} module refused the signatures: ${e.message}`, cause: e });
      if (e instanceof TxError) throw txError(e);
      throw e;
    }
  });
}
