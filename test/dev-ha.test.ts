/**
 * Issue 14 items 2 and 5 end to end, all real processes: `keyquorum dev --ha` (embedded
 * PostgreSQL, two coordinators, three signers), a client (the SDK with both URLs from
 * cluster.json) signing in a loop, and `kill -9` of the leading coordinator mid-loop.
 * Every request is either answered with a signature that verifies (standard verifier)
 * or fails with a typed ClientError (counted by code); signing resumes on the new leader
 * (the gap from the kill to the next signature is printed, bounded only at 60 s); every
 * signature the client got is a `key.signed` entry of the audit log the new leader
 * serves, whose hash chain verifies (the SDK's export, verified offline); `keyquorum
 * status --json` names the new leader; SIGTERM stops everything, PostgreSQL included.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ClientError, KeyquorumClient } from '../packages/client/src/index.ts';
import { readClientKeyFile, readClusterFile } from '../packages/client/src/discovery.ts';
import { postgresDir } from '../packages/client/src/dev-ha.ts';
import { Dev, cli, json } from '../packages/client/test/support/cli.ts';
import { POSTGRES_UNAVAILABLE } from './support/postgres.ts';
import { standardVerify } from './support/verify.ts';
import { until } from './support/wait.ts';

interface Status {
  coordinators: Array<{ url: string; pid: number | null; role: string; leaderUrl: string | null; leaderToken: number | null }>;
  signers: Array<{ id: string; connected: boolean }>;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(`keyquorum dev --ha${POSTGRES_UNAVAILABLE === undefined ? '' : ` (skipped: ${POSTGRES_UNAVAILABLE})`}`, () => {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'keyquorum-devha-'));
  const dataDir = path.join(cwd, '.keyquorum');
  let dev: Dev | undefined;

  afterAll(async () => {
    if (dev !== undefined && dev.child.exitCode === null) {
      dev.child.kill('SIGTERM');
      await dev.exited;
    }
    fs.rmSync(cwd, { recursive: true, force: true });
    // As root the database lives under the temporary directory (dev-ha.ts postgresDir).
    fs.rmSync(postgresDir(dataDir), { recursive: true, force: true });
  }, 120_000);

  it('survives kill -9 of the leader while a client signs in a loop; status shows the new leader; SIGTERM stops all', async () => {
    dev = new Dev(cwd, ['--ha']);
    await until('dev --ha ready', async () => {
      if (dev!.child.exitCode !== null) throw new Error(`dev exited:\n${dev!.lines.join('\n')}`);
      return dev!.lines.some((l) => l.startsWith('keyquorum dev: ready at')) ? true : undefined;
    }, 240_000);
    expect(dev.lines.some((l) => l.includes('PostgreSQL ready'))).toBe(true);

    const cluster = readClusterFile(dataDir)!;
    expect(cluster.urls).toHaveLength(2);
    const before = json<Status>(await cli(['status', '--json'], { cwd }));
    expect(before.coordinators.map((c) => c.url)).toEqual(cluster.urls);
    const leader = before.coordinators.find((c) => c.role === 'leader')!;
    const follower = before.coordinators.find((c) => c.role === 'follower')!;
    expect(leader.pid).toBeGreaterThan(0);
    expect(follower.leaderUrl).toBe(leader.url);
    expect(before.signers.filter((s) => s.connected)).toHaveLength(3);

    const admin = readClientKeyFile(path.join(dataDir, cluster.keyFile)).identity;
    const client = new KeyquorumClient({ urls: cluster.urls!, clientKey: admin });
    const key = await client.createKey({ keyId: 'ha-loop', suite: 'frost-secp256k1-tr', threshold: 2 });

    const signed: Array<{ message: Uint8Array; signature: string; at: number }> = [];
    const failures = new Map<string, number>();
    let killedAt = 0;
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        const message = randomBytes(32);
        try {
          const sig = await client.sign('ha-loop', { message, epoch: key.epoch });
          expect(standardVerify('frost-secp256k1-tr', sig.signature, message, key.publicKey!)).toBe(true);
          signed.push({ message, signature: sig.signature, at: Date.now() });
        } catch (e) {
          if (!(e instanceof ClientError)) throw e;
          failures.set(e.code, (failures.get(e.code) ?? 0) + 1);
        }
      }
    })();

    await until('3 signatures before the kill', async () => (signed.length >= 3 ? true : undefined), 120_000);
    killedAt = Date.now();
    process.kill(leader.pid!, 'SIGKILL');
    const firstAfter = await until('a signature on the new leader', async () => signed.find((s) => s.at > killedAt), 60_000, 50);
    const gapMs = firstAfter.at - killedAt;
    await until('3 more signatures after the kill', async () => (signed.filter((s) => s.at > killedAt).length >= 3 ? true : undefined), 120_000);
    stop = true;
    await loop;
    console.log(`dev --ha kill -9: first signature on the new leader ${gapMs} ms after the kill; ${signed.length} signed; failures by code: ${JSON.stringify(Object.fromEntries(failures))}`);
    expect(gapMs).toBeLessThan(60_000);

    const after = json<Status>(await cli(['status', '--json'], { cwd }));
    const newLeader = after.coordinators.find((c) => c.role === 'leader')!;
    expect(newLeader.url).toBe(follower.url);
    expect(newLeader.leaderToken!).toBeGreaterThan(leader.leaderToken!);
    expect(after.coordinators.find((c) => c.url === leader.url)).toMatchObject({ role: 'down', pid: null });

    // No acknowledged request lost: each signature is a key.signed entry the new leader serves; the chain verifies.
    const atNewLeader = new KeyquorumClient({ url: newLeader.url, clientKey: admin });
    const audit = await atNewLeader.audit('ha-loop');
    expect(audit.verification.ok).toBe(true);
    const logged = new Set(audit.entries.filter((e) => e.event === 'key.signed').map((e) => (e.data as { signature: string }).signature));
    for (const s of signed) expect(logged.has(s.signature)).toBe(true);
    // No request ran twice: the log holds each signature once, and no more than the client got plus the
    // requests whose outcome it could not know (in flight at the kill).
    const signedEntries = audit.entries.filter((e) => e.event === 'key.signed');
    expect(signedEntries).toHaveLength(logged.size);
    expect(logged.size).toBeLessThanOrEqual(signed.length + (failures.get('OUTCOME_UNKNOWN') ?? 0));
    // No nonce reused across the failover: every BIP340 signature has its own R (its first 32 bytes).
    const rs = new Set([...logged].map((sig) => sig.slice(0, 64)));
    expect(rs.size).toBe(logged.size);
    const exported = await atNewLeader.exportAudit();
    expect(exported.verification.ok).toBe(true);

    const pids = Object.values(cluster.pids!);
    dev.child.kill('SIGTERM');
    expect(await dev.exited).toBe(0);
    expect(dev.lines.some((l) => l.includes('stopped.'))).toBe(true);
    for (const pid of pids) expect(alive(pid)).toBe(false);
    const pgPid = Number(/PostgreSQL ready on \S+ +\(pid (\d+)\)/.exec(dev.lines.join('\n'))![1]);
    expect(alive(pgPid)).toBe(false);
  }, 600_000);
});
