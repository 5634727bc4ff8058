/**
 * Per-key policy and approval quorums through real processes (issue 11 parts 2, 3, 5;
 * docs/governance.md): a coordinator and three signer daemons over loopback
 * WebSockets, driven by the SDK as an exchange's services would. A 2-of-3 FROST key
 * whose policy needs 2 of 3 approvers (two Ed25519 approver keys and a passkey, the
 * software authenticator of test/support/passkey.ts producing real WebAuthn
 * assertions) for every signature and for a policy change, and allows at most
 * LIMIT signatures per window:
 *   sign -> pending -> approve (Ed25519) -> approve (passkey, through the SDK's
 *   `approve`) -> a signature that verifies (noble); the LIMIT+1th approved signature
 *   is refused POLICY_DENIED rule velocity, also after the coordinator process is
 *   killed and started again on the same database; a policy change with fewer
 *   approvals than its quorum (or an approval from a stranger) changes nothing.
 *
 * The velocity window is an hour rather than a minute (README's example) so that a
 * loaded machine cannot see the window roll over between the signatures it counts.
 */
import { randomBytes } from 'node:crypto';
import { bytesToHex } from '@noble/hashes/utils.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientError, isApprovalPending, type PendingOperation, type SignatureResult } from '@keyquorum/client';
import { generateIdentity } from '@keyquorum/protocol';
import { Keystore } from '@keyquorum/signer';
import { Cluster } from './support/cluster.ts';
import { SoftwarePasskey, ed25519Approver } from './support/passkey.ts';
import { standardVerify } from './support/verify.ts';

const SUITE = 'frost-ed25519';
const KEY = 'gov-1';
const LIMIT = 2;

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await probe().catch(() => undefined);
    if (got !== undefined) return got;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** What a call ended with: its value, the pending operation it left, or the ClientError it threw. */
async function outcome<T>(p: Promise<T>): Promise<{ value: T } | { pending: PendingOperation } | { error: ClientError }> {
  try {
    return { value: await p };
  } catch (e) {
    if (isApprovalPending(e)) return { pending: e.operation };
    if (e instanceof ClientError) return { error: e };
    throw e;
  }
}

describe('per-key policy and approval quorums across real processes', () => {
  let cluster: Cluster;
  const alice = generateIdentity();
  const bob = generateIdentity();
  const carol = new SoftwarePasskey();
  const policyV1 = {
    format: 1,
    version: 1,
    approvers: [
      ed25519Approver('alice', alice),
      ed25519Approver('bob', bob),
      carol.approver('carol-passkey'),
    ],
    approvals: { sign: 2, policy: 2 },
    velocity: [{ limit: LIMIT, windowSeconds: 3600, per: 'key' }],
  };

  /** Approves operation `id` as alice (Ed25519, approveWithKey), then as carol's passkey (its assertion posted with `approve`). */
  async function approveTwice(id: string): Promise<PendingOperation> {
    const first = await cluster.client.approveWithKey(id, alice, 'alice');
    expect(first).toMatchObject({ id, state: 'pending', approvals: ['alice'], required: 2 });
    const review = await cluster.client.reviewOperation(id);
    return cluster.client.approve(id, carol.approve('carol-passkey', review.challenge));
  }

  /** One signature through the whole approval flow: the signature, or the refusal (its code and rule). */
  async function signApproved(message: Uint8Array): Promise<{ signature: SignatureResult } | { refused: { code: string; rule: string | undefined } }> {
    const asked = await outcome(cluster.client.sign(KEY, { message }));
    if ('error' in asked) return { refused: { code: asked.error.code, rule: asked.error.rule } };
    if ('value' in asked) throw new Error('a signature without approvals');
    expect(asked.pending).toMatchObject({ kind: 'approval', keyId: KEY, op: 'sign', action: 'sign', state: 'pending', required: 2, approvals: [] });
    expect(asked.pending.params).toMatchObject({ message: bytesToHex(message) });
    const pending = await cluster.client.listOperations({ state: 'pending' });
    expect(pending.map((o) => o.id)).toContain(asked.pending.id);
    const approved = await outcome(approveTwice(asked.pending.id));
    if ('error' in approved) return { refused: { code: approved.error.code, rule: approved.error.rule } };
    if ('pending' in approved) throw new Error('approve answered 202');
    const op = approved.value;
    if (op.state === 'failed') return { refused: { code: op.error?.code ?? '?', rule: op.error?.rule } };
    const done = op.state === 'succeeded' ? op : await until('the approved signature', async () => {
      const now = await cluster.client.getOperation(op.id);
      return now.state === 'succeeded' || now.state === 'failed' ? now : undefined;
    });
    if (done.state === 'failed') return { refused: { code: done.error?.code ?? '?', rule: done.error?.rule } };
    return { signature: done.result as SignatureResult };
  }

  /** What each signer's own keystore holds: the policy version and digest in force, and its velocity ledger's count for the key this last hour. */
  function signerRecords(): Array<{ version: number | undefined; digest: string | undefined; used: number }> {
    return cluster.signerIds.map((id) => {
      const keystore = Keystore.open({ dataDir: cluster.dataDir(id), kek: { passphrase: `passphrase of ${id}` } });
      try {
        const policy = keystore.keyPolicy(KEY);
        return { version: policy?.version, digest: policy === undefined ? undefined : bytesToHex(policy.digest), used: keystore.velocityUsed(KEY, Date.now() - 3_600_000, new Uint8Array(32)) };
      } finally {
        keystore.close();
      }
    });
  }

  beforeAll(async () => {
    // Rounds of 30 s: the DKG of beforeAll timed out once at 10 s beside two other cluster test files on a loaded machine.
    cluster = await Cluster.start({ signers: 3, initInProcess: true, roundTimeoutMs: 30_000 });
    await cluster.client.createKey({ keyId: KEY, suite: SUITE, threshold: 2, signers: cluster.signerIds });
  }, 180_000);
  afterAll(async () => cluster?.stop());

  it('sets the first policy (the default needs no approvals) and every signer enforces it', async () => {
    expect(await cluster.client.getPolicy(KEY)).toMatchObject({ keyId: KEY, version: 0, policy: null });
    const set = await cluster.client.setPolicy(KEY, policyV1);
    expect(set).toMatchObject({ keyId: KEY, version: 1 });
    expect([...set.delivered].sort()).toEqual(cluster.signerIds);
    const shown = await cluster.client.getPolicy(KEY);
    expect(shown).toMatchObject({ version: 1, digest: set.digest, policy: { approvals: { sign: 2, policy: 2 } } });
    expect(signerRecords()).toEqual(cluster.signerIds.map(() => ({ version: 1, digest: set.digest, used: 0 })));
  }, 120_000);

  it('a signature waits for 2 approvals (one a passkey), then verifies', async () => {
    const message = new Uint8Array(randomBytes(32));
    const out = await signApproved(message);
    if (!('signature' in out)) throw new Error(`refused: ${JSON.stringify(out.refused)}`);
    const key = await cluster.client.getKey(KEY);
    expect(out.signature.publicKey).toBe(key.publicKey);
    expect(standardVerify(SUITE, out.signature.signature, message, out.signature.publicKey)).toBe(true);
  }, 180_000);

  it(`signature number ${LIMIT + 1} in the window is refused POLICY_DENIED (velocity), even fully approved`, async () => {
    for (let i = 1; i < LIMIT; i += 1) {
      const message = new Uint8Array(randomBytes(32));
      const out = await signApproved(message);
      if (!('signature' in out)) throw new Error(`refused: ${JSON.stringify(out.refused)}`);
      expect(standardVerify(SUITE, out.signature.signature, message, out.signature.publicKey)).toBe(true);
    }
    expect(await signApproved(new Uint8Array(randomBytes(32)))).toEqual({ refused: { code: 'POLICY_DENIED', rule: 'velocity' } });
    // Each signer counted, in its own store, the signatures it took part in: at most LIMIT each, every signature by at least 2.
    const used = signerRecords().map((r) => r.used);
    expect(Math.max(...used)).toBeLessThanOrEqual(LIMIT);
    expect(used.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(2 * LIMIT);
  }, 240_000);

  it('the velocity limit holds after the coordinator process is killed and started again on the same database', async () => {
    await cluster.coordinator.kill('SIGKILL');
    await cluster.restartCoordinator();
    for (const id of cluster.signerIds) await cluster.waitSignerState(id, true, 60_000);
    expect(await cluster.client.getPolicy(KEY)).toMatchObject({ version: 1 });
    expect(await signApproved(new Uint8Array(randomBytes(32)))).toEqual({ refused: { code: 'POLICY_DENIED', rule: 'velocity' } });
  }, 180_000);

  it('a policy change without its quorum changes nothing: one approval leaves it pending, a stranger\'s approval is refused', async () => {
    const looser = { ...policyV1, version: 2, approvals: {}, velocity: [{ limit: 1000, windowSeconds: 3600, per: 'key' }] };
    const asked = await outcome(cluster.client.setPolicy(KEY, looser));
    if (!('pending' in asked)) throw new Error(`expected a pending policy change, got ${JSON.stringify(asked)}`);
    expect(asked.pending).toMatchObject({ op: 'policy', action: 'policy', required: 2, state: 'pending' });
    const once = await cluster.client.approveWithKey(asked.pending.id, alice, 'alice');
    expect(once).toMatchObject({ state: 'pending', approvals: ['alice'] });
    // mallory is no approver of the key's policy: refused, and not counted.
    const stranger = await outcome(cluster.client.approveWithKey(asked.pending.id, generateIdentity(), 'mallory'));
    expect('error' in stranger && { code: stranger.error.code, rule: stranger.error.rule }).toEqual({ code: 'POLICY_DENIED', rule: 'approvals' });
    // bob's key signing as alice: refused (the signature does not verify under alice's key).
    const forged = await outcome(cluster.client.approveWithKey(asked.pending.id, bob, 'alice'));
    expect('error' in forged && forged.error.code).toBe('POLICY_DENIED');
    expect((await cluster.client.getOperation(asked.pending.id)).approvals).toEqual(['alice']);
    expect(await cluster.client.getPolicy(KEY)).toMatchObject({ version: 1 });
    expect(signerRecords().map((r) => r.version)).toEqual([1, 1, 1]);
    expect(await signApproved(new Uint8Array(randomBytes(32)))).toEqual({ refused: { code: 'POLICY_DENIED', rule: 'velocity' } });
  }, 180_000);
});
