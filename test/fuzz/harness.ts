/**
 * The live system the fuzzer attacks: a real cluster (coordinator and three signer
 * daemons as child processes, real WebSockets, real SQLite) with signer-3 linked
 * through a RecordingProxy, and a recorded workload run over the client SDK so
 * that every round of every flow has passed the relay once: DKG, sign, refresh and
 * reshare (FROST), DKG, sign and refresh (ECDSA, DKLs23), retirement (START, APPROVE,
 * COMMIT, ATTEST), COMMIT/ACK and the handshake; share repair with signer-3 as the
 * target (signer-3 is re-initialised and re-pinned first, as an operator would after
 * losing its disk); and the resolution of a DKG that failed after its session id was
 * derived (RESOLVE down, VETO up). The identities of the coordinator
 * and of every signer are unsealed from their data dirs (the fuzzer re-signs mutated
 * frames with them, so they pass signature checks and reach deep validation), and the
 * HTTP calls of the workload are recorded (their client requests are spent).
 */
import fs from 'node:fs';
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import { loadIdentity } from '@keyquorum/coordinator';
import { KeyquorumClient } from '@keyquorum/client';
import { COORDINATOR_ID, KEY_ROUND, PROTOCOL_VERSION, decodeEnvelope, encodeBody, encodeEnvelope, generateIdentity, sealEnvelope, type IdentityKey } from '@keyquorum/protocol';
import { Cluster } from '../support/cluster.ts';
import { checkSignature } from '../support/verify.ts';
import { RecordingProxy } from './proxy.ts';

/** The signer whose link runs through the relay: the fuzzer speaks as it, and to it. */
export const FUZZ_SIGNER = 'signer-3';
/** An allow-listed signer identity no daemon uses: handshake inputs speak as it, so a valid AUTH disturbs no real link. */
export const HELLO_SIGNER = 'fuzz-hello';
export const COORDINATOR_PASSPHRASE = 'passphrase of the coordinator';

export const KEYS = {
  frost: { keyId: 'fz-frost', suite: 'frost-secp256k1-tr' },
  ecdsa: { keyId: 'fz-ecdsa', suite: 'ecdsa-secp256k1' },
  retired: { keyId: 'fz-retired', suite: 'frost-ed25519' },
  /** Made before signer-3 is re-initialised; the workload repairs signer-3's share of it. */
  repaired: { keyId: 'fz-repaired', suite: 'frost-secp256k1-tr' },
  /** Its DKG fails after the session id is derived; RESOLVE and VETO settle it (the key is deleted). */
  vetoed: { keyId: 'fz-vetoed', suite: 'frost-ed25519' },
} as const;

/** One HTTP call as the SDK sent it. */
export interface RecordedCall {
  method: string;
  target: string;
  body: string;
}

export interface Live {
  cluster: Cluster;
  proxy: RecordingProxy;
  coordinatorIdentity: IdentityKey;
  identities: Map<string, IdentityKey>;
  calls: RecordedCall[];
  stop(): Promise<void>;
}

/** A fetch that records what the SDK sends and passes it on. */
function recordingFetch(calls: RecordedCall[]): typeof fetch {
  return async (input, init) => {
    const url = new URL(String(input));
    calls.push({ method: init?.method ?? 'GET', target: `${url.pathname}${url.search}`, body: typeof init?.body === 'string' ? init.body : '' });
    return fetch(input, init);
  };
}

/**
 * Starts the cluster, makes the key to repair, re-initialises signer-3 (a new identity,
 * pinned by every node) behind the relay, records the identities and runs the
 * workload; `progress` hears each step.
 */
export async function startLive(progress: (msg: string) => void = () => {}): Promise<Live> {
  const hello = generateIdentity();
  const cluster = await Cluster.start({ initInProcess: true, signers: 3, roundTimeoutMs: 60_000, extraSigners: { [HELLO_SIGNER]: hello } });
  let proxy: RecordingProxy | undefined;
  try {
    progress('cluster up; a FROST key to repair, then signer-3 loses its data and is re-initialised');
    const { repaired } = KEYS;
    await retried(() => cluster.client.createKey({ keyId: repaired.keyId, suite: repaired.suite, threshold: 2, signers: cluster.signerIds }));
    await Promise.all(cluster.signerIds.map((id) => cluster.killSigner(id, 'SIGTERM')));
    const newKey = await cluster.reinitSigner(FUZZ_SIGNER);
    const identities = new Map(cluster.signerIds.map((id) => [id, cluster.identityOf(id)]));
    identities.set(HELLO_SIGNER, hello);
    const coordinatorIdentity = loadIdentity(cluster.dataDir('coordinator'), COORDINATOR_PASSPHRASE);
    proxy = await RecordingProxy.start(cluster.signerUrl);
    const config = JSON.parse(fs.readFileSync(cluster.signerConfig(FUZZ_SIGNER), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(cluster.signerConfig(FUZZ_SIGNER), JSON.stringify({ ...config, coordinatorUrl: proxy.url }, null, 2));
    // Every operator pins signer-3's new key; every node restarts (signer-3 through the relay).
    await cluster.repin(FUZZ_SIGNER, newKey);
    const calls: RecordedCall[] = [];
    const live: Live = {
      cluster,
      proxy,
      coordinatorIdentity,
      identities,
      calls,
      stop: async () => {
        await cluster.stop();
        await proxy?.close();
      },
    };
    await runWorkload(live, progress);
    return live;
  } catch (e) {
    await cluster.stop();
    await proxy?.close();
    throw e;
  }
}

const MESSAGE = sha256(utf8ToBytes('keyquorum fuzz workload'));

/** Runs a workload step, once more if a loaded machine timed a session out (a timed-out session changes nothing). */
async function retried<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (e) {
    if ((e as { code?: string }).code !== 'SESSION_FAILED' && (e as { code?: string }).code !== 'TIMEOUT') throw e;
    return step();
  }
}

/** Every flow once, with signer-3 in every session. */
async function runWorkload(live: Live, progress: (msg: string) => void): Promise<void> {
  const client = new KeyquorumClient({ url: live.cluster.url, clientKey: live.cluster.admin, fetch: recordingFetch(live.calls) });
  const pair = ['signer-1', FUZZ_SIGNER];
  const { frost, ecdsa, retired, repaired } = KEYS;
  progress('workload: repair of the share of signer-3 (helpers signer-1, signer-2)');
  await retried(() => client.repair(repaired.keyId, FUZZ_SIGNER));
  progress('workload: FROST DKG, sign, refresh, sign, reshare');
  await retried(() => client.createKey({ keyId: frost.keyId, suite: frost.suite, threshold: 2, signers: pair }));
  checkSignature(frost.suite, await client.sign(frost.keyId, { message: MESSAGE }), MESSAGE);
  await retried(() => client.refresh(frost.keyId));
  checkSignature(frost.suite, await client.sign(frost.keyId, { message: MESSAGE, path: 'm/0/1' }), MESSAGE);
  await retried(() => client.reshare(frost.keyId, { signers: live.cluster.signerIds, threshold: 2 }));
  progress('workload: ECDSA DKG, sign, refresh');
  await retried(() => client.createKey({ keyId: ecdsa.keyId, suite: ecdsa.suite, threshold: 2, signers: pair }));
  checkSignature(ecdsa.suite, await client.sign(ecdsa.keyId, { message: MESSAGE }), MESSAGE);
  await retried(() => client.refresh(ecdsa.keyId));
  progress('workload: DKG and retirement');
  await retried(() => client.createKey({ keyId: retired.keyId, suite: retired.suite, threshold: 2, signers: pair }));
  await retried(() => client.retire(retired.keyId));
  progress('workload: a DKG that fails after its session id exists, resolved by RESOLVE and VETO');
  await vetoedDkg(live, client);
  live.proxy.recording = false;
}

/**
 * A DKG of KEYS.vetoed (signer-1 and signer-3) that fails once its session id is
 * derived: the relay swaps signer-3's R1 for an ABORT signed by signer-3 (what its
 * daemon sends when it gives up). No signer stored a share, so the coordinator's
 * RESOLVE draws a VETO from both and the pending key is deleted. Waits for that.
 */
async function vetoedDkg(live: Live, client: KeyquorumClient): Promise<void> {
  const { vetoed } = KEYS;
  const signer3 = live.identities.get(FUZZ_SIGNER)!;
  let swapped = false;
  live.proxy.rewrite = (dir, bytes) => {
    if (swapped || dir !== 'up') return bytes;
    const { header } = decodeEnvelope(bytes, { maxBytes: 64 * 1024 * 1024 });
    if (header.kind !== 'dkg' || header.round !== KEY_ROUND.R1) return bytes;
    swapped = true;
    const abort = sealEnvelope(signer3, { ...header, v: PROTOCOL_VERSION, round: KEY_ROUND.ABORT, to: COORDINATOR_ID }, encodeBody({ reason: 'TIMEOUT: fuzz workload gives up after R1', culprits: [] }));
    return encodeEnvelope(abort);
  };
  try {
    const failed = await client.createKey({ keyId: vetoed.keyId, suite: vetoed.suite, threshold: 2, signers: ['signer-1', FUZZ_SIGNER] }).then(
      () => false,
      () => true,
    );
    if (!swapped || !failed) throw new Error('the vetoed DKG did not fail after its R1');
  } finally {
    live.proxy.rewrite = undefined;
  }
  const deadline = Date.now() + 120_000;
  for (;;) {
    const gone = await live.cluster.client.getKey(vetoed.keyId).then(
      () => false,
      (e: { code?: string }) => e.code === 'UNKNOWN_KEY',
    );
    if (gone) return;
    if (Date.now() > deadline) throw new Error(`${vetoed.keyId} was not resolved (vetoed and deleted) in time`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A real sign after the fuzz: the key still signs and the signature verifies with the standard verifier. */
export async function signStillWorks(live: Live): Promise<boolean> {
  const message = sha256(utf8ToBytes(`after the fuzz ${Date.now()}`));
  const out = await live.cluster.client.sign(KEYS.frost.keyId, { message });
  checkSignature(KEYS.frost.suite, out, message);
  return true;
}
