/**
 * An ecdsa-secp256k1 cluster in this process for tests: a real coordinator and three
 * real signer daemons (s1, s2, s3) over real WebSockets, one 2-of-3 key made by DKG.
 * The signer `liar` dials the coordinator through a LyingLink (lying-link.ts) holding
 * its identity key; `rewrite` decides what it says on the wire. The products are
 * unchanged.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { createKeyDigest, generateIdentity, identityFromSecret, signClientRequest, signDigest, type Envelope } from '@keyquorum/protocol';
import { SCRYPT_N_MIN, SignerDaemon, initSigner, silentLogger, type SignerOptions } from '@keyquorum/signer';
import { Coordinator, type SignOutput } from '../src/index.ts';
import { eventually, freePort } from './helpers.ts';
import { LyingLink, type LyingLinkOptions } from './lying-link.ts';

export const IDS = ['s1', 's2', 's3'];
const SUITE = 'ecdsa-secp256k1';
const PASSPHRASE = 'ecdsa cluster test passphrase';

export interface EcdsaCluster {
  coordinator: Coordinator;
  /** By signer id. */
  daemons: Map<string, SignerDaemon>;
  link: LyingLink;
  keyId: string;
  publicKey: Uint8Array;
  /** Signs sha256(text) with the key: the output or the error, and the `key.signed` rows it added. */
  sign(text: string): Promise<{ message: Uint8Array; out: SignOutput | undefined; error: unknown; signed: { data: Record<string, unknown> }[] }>;
  /** The audit rows of `event` for the key. */
  events(event: string): Promise<{ data: Record<string, unknown> }[]>;
  /** Stops and starts the coordinator (same port and data; its in-memory attempt memory starts afresh); resolves once every running daemon is connected again. */
  restartCoordinator(): Promise<void>;
  stop(): Promise<void>;
}

export async function startEcdsaCluster(o: { name: string; liar: string; rewrite: LyingLinkOptions['rewrite']; signer?: Partial<SignerOptions> }): Promise<EcdsaCluster> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `kq-${o.name}-`));
  const admin = generateIdentity();
  const coordinatorIdentity = generateIdentity();
  const seeds = new Map(IDS.map((id, i) => [id, new Uint8Array(32).fill(0x40 + i)]));
  const keys = new Map([...seeds].map(([id, seed]) => [id, bytesToHex(identityFromSecret(seed).publicKey)]));
  const clients = [{ publicKey: bytesToHex(admin.publicKey), roles: ['admin' as const] }];
  const coordinator = new Coordinator({
    dataDir: path.join(root, 'coordinator'),
    // A fixed port: the daemons and the link dial it again after a restart.
    port: await freePort(),
    host: '127.0.0.1',
    identity: coordinatorIdentity,
    signers: Object.fromEntries(keys),
    clients,
    logLevel: 'silent',
    roundTimeoutMs: 20_000,
  });
  await coordinator.start();
  const link = await LyingLink.start({ coordinatorUrl: coordinator.signerUrl, identity: identityFromSecret(seeds.get(o.liar)!), rewrite: o.rewrite });
  const daemons = new Map<string, SignerDaemon>();
  for (const id of IDS) {
    const dataDir = path.join(root, id);
    initSigner({ dataDir, signerId: id, kek: { passphrase: PASSPHRASE }, scryptN: SCRYPT_N_MIN, rng: () => seeds.get(id)!.slice() });
    const daemon = new SignerDaemon(
      {
        signerId: id,
        dataDir,
        coordinatorUrl: id === o.liar ? link.url : coordinator.signerUrl,
        coordinatorPublicKey: bytesToHex(coordinatorIdentity.publicKey),
        peers: Object.fromEntries(keys),
        clients,
        // Rounds on the event loop: a crypto worker thread boots tsx and the crypto modules again (about 1 s of CPU per daemon), and the worker is not the subject here.
        cryptoWorkers: 0,
        ...o.signer,
      },
      { env: { KEYQUORUM_PASSPHRASE: PASSPHRASE }, log: silentLogger },
    );
    await daemon.start();
    await daemon.waitUntilConnected();
    daemons.set(id, daemon);
  }
  const keyId = 'k1';
  const request = signClientRequest(admin, { op: 'createKey', keyId, digest: createKeyDigest({ keyId, suite: SUITE, threshold: 2, signers: IDS }) });
  const key = await coordinator.createKey({ request, keyId, suite: SUITE, threshold: 2, signers: IDS });
  const events = async (event: string) => (await coordinator.audit(keyId)).filter((e) => e.event === event) as { data: Record<string, unknown> }[];
  return {
    coordinator,
    daemons,
    link,
    keyId,
    publicKey: key.publicKey!,
    events,
    async sign(text) {
      const message = sha256(utf8ToBytes(text));
      const epoch = (await coordinator.getKey(keyId)).epoch;
      const signRequest = signClientRequest(admin, { op: 'sign', keyId, digest: signDigest({ keyId, epoch, message }) });
      const before = (await events('key.signed')).length;
      const outcome = await coordinator.sign({ request: signRequest, keyId, message }).then(
        (out) => ({ out, error: undefined }),
        (error: unknown) => ({ out: undefined, error }),
      );
      return { message, ...outcome, signed: (await events('key.signed')).slice(before) };
    },
    async restartCoordinator() {
      await coordinator.stop();
      await coordinator.start();
      const running = [...daemons.values()].filter((d) => d.status === 'started').length;
      await eventually(async () => (await coordinator.readiness()).signersConnected === running, 30_000);
    },
    async stop() {
      for (const d of daemons.values()) await d.stop();
      await link.stop();
      await coordinator.stop();
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Whether `e` is a frame of an ecdsa signing attempt at `round`. */
export const isSignRound = (e: Envelope, round: number): boolean => e.header.kind === 'sign' && e.header.round === round;
