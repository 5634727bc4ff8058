/** Shared test fixtures: temporary data directories, a started coordinator, fake signers, signed client requests. */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { bytesToHex } from '@noble/hashes/utils.js';
import { generateIdentity, signClientRequest, type IdentityKey, type Operation, type Role } from '@keyquorum/protocol';
import { Coordinator, type CoordinatorOptions } from '../src/index.ts';
import { FakeSigner, type FakeSignerOptions } from './fake-signer.ts';

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'kq-coord-'));
}

export interface Cluster {
  coordinator: Coordinator;
  /** The coordinator's data directory (its registry.db). */
  dataDir: string;
  coordinatorIdentity: IdentityKey;
  signerIdentities: Map<string, IdentityKey>;
  signers: FakeSigner[];
  admin: IdentityKey;
  auditor: IdentityKey;
  request: (op: Operation, keyId: string, digest: Uint8Array, client?: IdentityKey) => ReturnType<typeof signClientRequest>;
  newSigner: (id: string, misbehave?: FakeSignerOptions['misbehave']) => FakeSigner;
  stop: () => Promise<void>;
}

/** A started coordinator on 127.0.0.1:0 with `connected` of `ids` connected as fake signers. */
/** `cosign`: the fake signers cosign audit checkpoints (by default they leave them unanswered, as a signer from before checkpoints). */
export async function startCluster(ids: string[], opts: { connected?: string[]; options?: Partial<CoordinatorOptions>; cosign?: boolean } = {}): Promise<Cluster> {
  const dataDir = tempDir();
  const coordinatorIdentity = generateIdentity();
  const signerIdentities = new Map(ids.map((id) => [id, generateIdentity()]));
  const admin = generateIdentity();
  const auditor = generateIdentity();
  const roles = (r: Role[]) => r;
  const coordinator = new Coordinator({
    dataDir,
    port: 0,
    identity: coordinatorIdentity,
    signers: Object.fromEntries([...signerIdentities].map(([id, k]) => [id, bytesToHex(k.publicKey)])),
    clients: [
      { publicKey: bytesToHex(admin.publicKey), roles: roles(['admin']) },
      { publicKey: admin.publicKey.slice().reverse(), roles: roles(['auditor']) },
      { publicKey: auditor.publicKey, roles: roles(['auditor']) },
    ],
    logLevel: 'silent',
    // Long enough for a DKG round between in-process fake signers on a loaded 2-core host (1.5 s was not).
    roundTimeoutMs: 5000,
    ...opts.options,
  });
  await coordinator.start();
  const peers = Object.fromEntries([...signerIdentities].map(([id, k]) => [id, k.publicKey]));
  const trusted = [{ publicKey: admin.publicKey, roles: ['admin' as const] }];
  const all: FakeSigner[] = [];
  const newSigner = (id: string, misbehave?: FakeSignerOptions['misbehave']) => {
    const s = new FakeSigner({ id, identity: signerIdentities.get(id)!, coordinatorKey: coordinatorIdentity.publicKey, peers, clients: trusted, url: coordinator.signerUrl, cosign: opts.cosign === true, ...(misbehave ? { misbehave } : {}) });
    all.push(s);
    return s;
  };
  const signers = (opts.connected ?? ids).map((id) => newSigner(id));
  await Promise.all(signers.map((s) => s.connect()));
  return {
    coordinator,
    dataDir,
    coordinatorIdentity,
    signerIdentities,
    signers,
    admin,
    auditor,
    request: (op, keyId, digest, client = admin) => signClientRequest(client, { op, keyId, digest }),
    newSigner,
    stop: async () => {
      await Promise.all(all.map((s) => s.close()));
      await coordinator.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Resolves once `check` holds (polling), or fails after `ms`. */
export async function eventually(check: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A loopback port free now (for a coordinator that must come back on the same port after a restart). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return p;
}
