/**
 * Two coordinator processes on one real PostgreSQL database (docs/ha.md §2;
 * packages/coordinator/src/leadership.ts), three signer daemons given both coordinators'
 * URLs (`coordinatorUrls`), all real processes over real WebSockets:
 * - exactly one coordinator leads; the follower names it (GET /readyz) and closes a
 *   signer's WebSocket at once with CLOSE_NOT_LEADER and the leader's signer URL;
 * - a write to the follower answers 307 to the leader (same path and query,
 *   Retry-After: 0) before consuming anything, so the SDK (fetch follows 307 with the
 *   same method, body and signed headers) completes it on the leader; a GET is served
 *   by the follower itself;
 * - kill -9 of the leader: the follower takes the lease (gap measured and logged, only
 *   bounded generously here), with a higher fencing token, and signing resumes on it;
 * - crash-only: a leader frozen (SIGSTOP) past its lease while the other takes over
 *   exits with status 75 as soon as it runs again, without writing;
 * - a leader stopped with SIGTERM releases the lease; the follower takes it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import WebSocket from 'ws';
import { bytesToHex } from '@noble/hashes/utils.js';
import { KeyquorumClient } from '@keyquorum/client';
import { CLOSE_NOT_LEADER, generateIdentity } from '@keyquorum/protocol';
import { initIdentity } from '@keyquorum/coordinator';
import { initSigner } from '@keyquorum/signer';
import { POSTGRES_UNAVAILABLE, usePostgres } from './support/postgres.ts';
import { NodeProcess } from './support/process.ts';
import { freePort, until } from './support/wait.ts';

const COORDINATOR_CLI = 'packages/coordinator/src/cli.ts';
const SIGNER_CLI = 'packages/signer/src/cli.ts';
const LEASE_MS = 5_000;
/** Generous bounds on a loaded 2-core machine: waits for a condition, not timings anything relies on. */
const NODE_START_MS = 120_000;
const FAILOVER_BOUND_MS = 60_000;
const SCRYPT_N = 2 ** 12;
const COORDINATOR_ENV = { KEYQUORUM_COORDINATOR_PASSPHRASE: 'passphrase of the coordinators' };

interface Readyz {
  ready: boolean;
  role?: string;
  leaderUrl?: string | null;
  leaderToken?: number;
}

async function readyz(url: string): Promise<Readyz | undefined> {
  try {
    return (await (await fetch(`${url}/readyz`)).json()) as Readyz;
  } catch {
    return undefined;
  }
}

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(`two coordinators on one PostgreSQL${POSTGRES_UNAVAILABLE === undefined ? '' : ` (skipped: ${POSTGRES_UNAVAILABLE})`}`, () => {
  const postgres = usePostgres();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'keyquorum-ha-'));
  const admin = generateIdentity();
  const names = ['a', 'b'] as const;
  const urls: Record<string, string> = {};
  const procs = new Map<string, NodeProcess>();
  const signerIds = ['signer-1', 'signer-2', 'signer-3'];
  const client = (url: string, opts: { follow?: boolean } = {}) =>
    new KeyquorumClient({ url, clientKey: admin, ...(opts.follow === false ? { fetch: (u: string | URL | Request, init?: RequestInit) => fetch(u, { ...init, redirect: 'manual' }) } : {}) });
  const startCoordinator = async (name: string) => {
    const p = new NodeProcess(`coordinator-${name}`, COORDINATOR_CLI, ['start', '--config', path.join(root, `coordinator-${name}.json`)], COORDINATOR_ENV);
    procs.set(name, p);
    await p.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('coordinator listening on '), NODE_START_MS, 'listening line');
    return p;
  };
  /** The one coordinator whose engine runs ('leading' logged) and which /readyz calls leader. */
  const leaderAmong = (candidates: readonly string[]) =>
    until(
      'a leader',
      async () => {
        for (const n of candidates) {
          const r = await readyz(urls[n]!);
          if (r?.role === 'leader' && procs.get(n)!.lines.some((l) => l.msg === 'leading' && l.token === r.leaderToken)) return { name: n, token: r.leaderToken! };
        }
        return undefined;
      },
      NODE_START_MS,
    );
  let leader = '';
  let follower = '';
  let firstToken = 0;
  let database = '';

  beforeAll(async () => {
    database = await postgres.freshDatabase();
    // One coordinator identity for both (the signers pin one key), sealed once and copied.
    const pub = bytesToHex(initIdentity(path.join(root, 'a'), COORDINATOR_ENV.KEYQUORUM_COORDINATOR_PASSPHRASE, { scryptN: SCRYPT_N }).publicKey);
    fs.cpSync(path.join(root, 'a'), path.join(root, 'b'), { recursive: true });
    const peers = Object.fromEntries(
      signerIds.map((id) => [id, initSigner({ dataDir: path.join(root, id), signerId: id, kek: { passphrase: `passphrase of ${id}` }, scryptN: SCRYPT_N }).publicKey]),
    );
    const clients = [{ publicKey: bytesToHex(admin.publicKey), roles: ['admin'] }];
    for (const n of names) {
      const port = await freePort();
      urls[n] = `http://127.0.0.1:${port}`;
      const config = { dataDir: path.join(root, n), listen: `127.0.0.1:${port}`, signers: peers, clients, roundTimeoutMs: 10_000, database, advertiseUrl: urls[n], leaseMs: LEASE_MS };
      fs.writeFileSync(path.join(root, `coordinator-${n}.json`), JSON.stringify(config, null, 2));
    }
    for (const id of signerIds) {
      const config = { signerId: id, dataDir: path.join(root, id), coordinatorUrls: names.map((n) => `${urls[n]!.replace('http', 'ws')}/signer`), coordinatorPublicKey: pub, peers, clients, roundTimeoutMs: 10_000 };
      fs.writeFileSync(path.join(root, `${id}.json`), JSON.stringify(config, null, 2));
    }
    await Promise.all(names.map((n) => startCoordinator(n)));
  }, NODE_START_MS * 3);

  afterAll(async () => {
    for (const p of procs.values()) {
      if (p.child.signalCode === null && p.child.exitCode === null) p.child.kill('SIGCONT');
      await p.kill('SIGKILL');
    }
    fs.rmSync(root, { recursive: true, force: true });
  }, 60_000);

  it('exactly one coordinator leads; the follower names it and sends signers to it (close 4010)', async () => {
    ({ name: leader, token: firstToken } = await leaderAmong(names));
    follower = names.find((n) => n !== leader)!;
    expect(firstToken).toBeGreaterThan(0);
    const f = await until('the follower to see the leader', async () => {
      const r = await readyz(urls[follower]!);
      return r?.leaderUrl === urls[leader] ? r : undefined;
    }, NODE_START_MS);
    expect(f).toMatchObject({ role: 'follower', leaderUrl: urls[leader], leaderToken: firstToken, ready: true });
    expect(procs.get(follower)!.lines.some((l) => l.msg === 'leading')).toBe(false);

    const closed = await new Promise<{ code: number; reason: string }>((resolve, reject) => {
      const ws = new WebSocket(`${urls[follower]!.replace('http', 'ws')}/signer`);
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error('the follower kept the signer WebSocket open'));
      }, 30_000);
      ws.on('close', (code, reason) => {
        clearTimeout(timer);
        resolve({ code, reason: reason.toString() });
      });
      ws.on('error', reject);
    });
    expect(closed).toEqual({ code: CLOSE_NOT_LEADER, reason: `${urls[leader]!.replace('http', 'ws')}/signer` });

    for (const id of signerIds) procs.set(id, new NodeProcess(id, SIGNER_CLI, ['start', '--config', path.join(root, `${id}.json`)], { KEYQUORUM_PASSPHRASE: `passphrase of ${id}` }));
    await until('the signers on the leader', async () => ((await client(urls[leader]!).listSigners()).filter((s) => s.connected).length === 3 ? true : undefined), NODE_START_MS);
    // The leader's WELCOME carried its lease token (signed), which each signer logs.
    for (const id of signerIds) await procs.get(id)!.waitFor((l) => l.msg === 'connected' && l.leaderToken === firstToken, NODE_START_MS, `connected with token ${firstToken}`);
  }, NODE_START_MS * 2);

  it('a write to the follower is redirected (307) before it is consumed and completes on the leader; a GET is served by the follower', async () => {
    const raw = await fetch(`${urls[follower]}/v1/keys?wait=true`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' }, redirect: 'manual' });
    expect(raw.status).toBe(307);
    expect(raw.headers.get('location')).toBe(`${urls[leader]}/v1/keys?wait=true`);
    expect(raw.headers.get('retry-after')).toBe('0');

    // The SDK at the follower: its signed POST follows the 307 and runs on the leader (signers named: a follower has none connected).
    const viaFollower = client(urls[follower]!);
    const key = await viaFollower.createKey({ keyId: 'ha-key', suite: 'frost-ed25519', threshold: 2, signers: signerIds });
    expect(key.state).toBe('active');
    const signed = await viaFollower.sign('ha-key', { message: new TextEncoder().encode('via the follower') });
    expect(signed.signature).toMatch(/^[0-9a-f]{128}$/);

    // Served by the follower itself (a client that does not follow redirects reads it; its write gets the 307).
    const noFollow = client(urls[follower]!, { follow: false });
    expect((await noFollow.getKey('ha-key')).publicKey).toEqual(key.publicKey);
    await expect(noFollow.sign('ha-key', { message: new TextEncoder().encode('not followed') })).rejects.toMatchObject({ status: 307 });
  }, NODE_START_MS * 2);

  it('kill -9 of the leader: the follower leads with a higher token, and signing resumes on it', async () => {
    const t0 = performance.now();
    await procs.get(leader)!.kill('SIGKILL');
    const taken = await leaderAmong([follower]);
    const leadGapMs = performance.now() - t0;
    const newClient = client(urls[follower]!);
    let signedAt = 0;
    await until('a signature on the new leader', async () => {
      try {
        await newClient.sign('ha-key', { message: new TextEncoder().encode('after the failover') });
        signedAt = performance.now();
        return true;
      } catch {
        return undefined;
      }
    }, FAILOVER_BOUND_MS * 2);
    const signGapMs = signedAt - t0;
    console.log(`[ha] kill -9 of the leader: new leader after ${Math.round(leadGapMs)} ms, first signature after ${Math.round(signGapMs)} ms (lease ${LEASE_MS} ms, renewed every ${Math.round(LEASE_MS / 3)} ms)`);
    expect(taken.token).toBeGreaterThan(firstToken);
    expect(leadGapMs).toBeLessThan(FAILOVER_BOUND_MS);
    // Every signer follows the new leader (each on its own reconnect backoff).
    await until('all signers on the new leader', async () => ((await newClient.listSigners()).filter((s) => s.connected).length === 3 ? true : undefined), FAILOVER_BOUND_MS);
    for (const id of signerIds) await procs.get(id)!.waitFor((l) => l.msg === 'connected' && l.leaderToken === taken.token, FAILOVER_BOUND_MS, `connected with token ${taken.token}`);
  }, FAILOVER_BOUND_MS * 4);

  it('crash-only: a leader frozen past its lease exits (status 75) as soon as it runs again', async () => {
    const [old, next] = [follower, leader];
    await startCoordinator(next);
    await until('the restarted coordinator to follow', async () => ((await readyz(urls[next]!))?.leaderUrl === urls[old] ? true : undefined), NODE_START_MS);
    const frozen = procs.get(old)!;
    const oldToken = (await readyz(urls[old]!))!.leaderToken!;
    frozen.child.kill('SIGSTOP');
    try {
      const taken = await leaderAmong([next]);
      expect(taken.token).toBeGreaterThan(oldToken);
    } finally {
      frozen.child.kill('SIGCONT');
    }
    const exit = await Promise.race([frozen.exited, new Promise((r) => setTimeout(() => r('still running'), FAILOVER_BOUND_MS))]);
    expect(exit).toEqual({ code: 75, signal: null });
    expect(frozen.lines.some((l) => typeof l.msg === 'string' && l.msg.startsWith('lost the leader lease'))).toBe(true);
    leader = next;
    follower = old;
  }, NODE_START_MS * 3);

  it('a leader stopped cleanly (SIGTERM) releases the lease: the follower takes it with the next token', async () => {
    await startCoordinator(follower);
    await until('the restarted coordinator to follow', async () => ((await readyz(urls[follower]!))?.leaderUrl === urls[leader] ? true : undefined), NODE_START_MS);
    const token = (await readyz(urls[leader]!))!.leaderToken!;
    expect(await procs.get(leader)!.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    // Released on the way out: the row no longer names it (without the release it would until its lease ran out).
    const db = new pg.Client({ connectionString: database });
    await db.connect();
    try {
      const holder = (await db.query<{ holder: string | null }>('SELECT holder FROM leader WHERE id = 1')).rows[0]!.holder;
      expect(holder === null || !holder.startsWith(`${urls[leader]} `)).toBe(true);
    } finally {
      await db.end();
    }
    const taken = await leaderAmong([follower]);
    expect(taken.token).toBe(token + 1);
  }, NODE_START_MS * 2);
});
