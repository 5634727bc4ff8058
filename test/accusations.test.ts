/**
 * No accusation is taken on faith (ARCHITECTURE.md "Trust model"; issue 10 finding 1),
 * through real processes: lying signers (test/fixtures/accusing-signer.ts, a real
 * daemon that answers every signing session with an ABORT accusing every other signer)
 * among 3 (one liar, t = 2) and among 5 (two liars, t = 3), for FROST and for DKLs23
 * ECDSA. Every sign request must succeed with an honest quorum, and no honest signer
 * may be banned by the coordinator, banned in an honest signer's keystore, or (FROST)
 * left out of a request. A signer whose FROST share fails the coordinator's own check
 * (test/fixtures/evil-signer.ts) is still banned.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { andSlow } from './support/slow.ts';
import { Keystore } from '@keyquorum/signer';
import { Cluster } from './support/cluster.ts';
import { checkSignature } from './support/verify.ts';

const LIAR = 'test/fixtures/accusing-signer.ts';
const BAD_SHARE = 'test/fixtures/evil-signer.ts';
const REQUESTS = 4;

/** Signs REQUESTS fresh 32-byte messages (digests for ECDSA) and checks each with the standard verifier. */
async function signEvery(cluster: Cluster, keyId: string, suite: string): Promise<void> {
  for (let i = 0; i < REQUESTS; i++) {
    const message = new Uint8Array(randomBytes(32));
    checkSignature(suite, await cluster.client.sign(keyId, { message }), message);
  }
}

/**
 * Creates the key. A 3-of-5 DKLs23 DKG can lose a signer to a starved heartbeat on a
 * loaded machine (issue 10 finding 6, heavy crypto on the event loop): that is not
 * what these tests are about, so a DKG that failed that way is run again.
 */
async function createKey(cluster: Cluster, keyId: string, suite: 'frost-secp256k1-tr' | 'ecdsa-secp256k1', threshold: number): Promise<void> {
  for (let run = 1; ; run++) {
    try {
      await cluster.client.createKey({ keyId, suite, threshold, signers: cluster.signerIds });
      return;
    } catch (e) {
      if (run >= 3 || !/disconnected during dkg/.test((e as Error).message)) throw e;
      for (const id of cluster.signerIds) await cluster.waitSignerState(id, true, 60_000);
    }
  }
}

/** What the audit log, the coordinator's bans and the honest signers' keystores say after the requests. */
async function outcome(cluster: Cluster, keyId: string, honest: readonly string[]) {
  const { entries, verification } = await cluster.client.audit(keyId);
  expect(verification.ok).toBe(true);
  const failures = entries.filter((e) => e.event === 'key.sign_attempt_failed').map((e) => e.data);
  const quorums = entries.filter((e) => e.event === 'key.signed').map((e) => e.data.quorum as string[]);
  const coordinatorBans = (await cluster.client.bans(keyId)).map((b) => b.signer);
  const keystoreBans = honest.flatMap((id) => Keystore.readPeerBans(cluster.dataDir(id)).filter((b) => b.keyId === keyId).map((b) => `${id} bans ${b.peer}`));
  const banLines = honest.flatMap((id) => cluster.signers.get(id)!.lines.filter((l) => l.msg === 'peer banned for key'));
  return { failures, quorums, coordinatorBans, keystoreBans, banLines };
}

// One cluster per shape (signers, liars), shared by the suites' cases: each case makes its own key.
describe.each([
  { signers: 3, liars: ['signer-1'], cases: [{ suite: 'frost-secp256k1-tr' as const, threshold: 2 }, { suite: 'ecdsa-secp256k1' as const, threshold: 2 }], roundTimeoutMs: 10_000 },
  // ecdsa-secp256k1 3-of-5 is in the slow set (test/support/slow.ts): the 2-of-3 ECDSA case
  // above runs the same conflict-pair logic in npm test.
  { signers: 5, liars: ['signer-1', 'signer-2'], cases: andSlow([{ suite: 'frost-secp256k1-tr' as const, threshold: 3 }], [{ suite: 'ecdsa-secp256k1' as const, threshold: 3 }]), roundTimeoutMs: 30_000 },
])('$signers signers with liars $liars', ({ signers, liars, cases, roundTimeoutMs }) => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await Cluster.start({ initInProcess: true, signers, roundTimeoutMs, heartbeatMs: 60_000, signerScripts: Object.fromEntries(liars.map((id) => [id, LIAR])) });
  }, 180_000);
  afterAll(async () => cluster?.stop());

  it.each(cases)('$suite $threshold-of-' + signers + ': a signer that answers every signing session with an ABORT accusing its peers cannot block signing, nor get an honest signer banned or excluded', async ({ suite, threshold }) => {
    const keyId = `accused-${suite}-${signers}`;
    await createKey(cluster, keyId, suite, threshold);
    await signEvery(cluster, keyId, suite);

    const honest = cluster.signerIds.filter((id) => !liars.includes(id));
    const { failures, quorums, coordinatorBans, keystoreBans, banLines } = await outcome(cluster, keyId, honest);
    // every request signed, each with a quorum of honest signers
    expect(quorums).toHaveLength(REQUESTS);
    for (const q of quorums) for (const id of q) expect(honest).toContain(id);
    // the liars did fail attempts (the test exercises the attack) ...
    expect(failures.length).toBeGreaterThan(0);
    for (const f of failures) {
      expect(f).toMatchObject({ reason: 'abort', banned: false });
      for (const id of f.reportedBy as string[]) expect(liars).toContain(id);
      // ... and their word left no honest signer out of a request
      for (const id of f.excluded as string[]) expect(liars).toContain(id);
    }
    // nobody is banned on an accusation: not at the coordinator, not in an honest keystore
    expect(coordinatorBans).toEqual([]);
    expect(keystoreBans).toEqual([]);
    expect(banLines).toEqual([]);
  }, 600_000);
});

describe('frost-secp256k1-tr 3-of-5 with a liar and a signer that sends a bad share', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    // Nobody here is silent (the liar aborts, the other answers a bad share), so a long round timeout costs nothing
    // and keeps a 3-of-5 DKG on a loaded machine from timing out (seen at load 25: a round 3 after 10 s).
    cluster = await Cluster.start({ initInProcess: true, signers: 5, roundTimeoutMs: 30_000, signerScripts: { 'signer-1': LIAR, 'signer-2': BAD_SHARE } });
  }, 180_000);
  afterAll(async () => cluster?.stop());

  it('the signer whose share fails the coordinator\'s own check is banned; the accuser only left out; every request signs with an honest quorum', async () => {
    const suite = 'frost-secp256k1-tr' as const;
    await createKey(cluster, 'mixed', suite, 3);
    await signEvery(cluster, 'mixed', suite);
    const honest = ['signer-3', 'signer-4', 'signer-5'];
    const { failures, quorums, coordinatorBans, keystoreBans } = await outcome(cluster, 'mixed', honest);
    expect(quorums).toHaveLength(REQUESTS);
    for (const q of quorums) expect(q).toEqual(honest);
    expect(coordinatorBans).toEqual(['signer-2']);
    expect(keystoreBans).toEqual([]);
    const shareFailures = failures.filter((f) => f.reason === 'invalid-share');
    expect(shareFailures).toHaveLength(1);
    expect(shareFailures[0]).toMatchObject({ culprits: ['signer-2'], excluded: ['signer-2'], banned: true });
    for (const f of failures.filter((x) => x.reason !== 'invalid-share')) expect(f).toMatchObject({ reason: 'abort', reportedBy: ['signer-1'], excluded: ['signer-1'], banned: false });
  }, 600_000);
});
