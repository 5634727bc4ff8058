/**
 * The governance commands of the `keyquorum` CLI as a user runs them against a real
 * `keyquorum dev` cluster (coordinator and three signer daemons as child processes):
 * approver keygen, policy set / show, a sign left pending (exit 3), operations list
 * --pending, approve --key-file twice, and the signature that results (RFC 8032,
 * checked with noble).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { hexToBytes } from '@noble/hashes/utils.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SoftwarePasskey } from '../../../test/support/passkey.ts';
import { cli, Dev, json } from './support/cli.ts';

const MESSAGE = 'cd'.repeat(32);

let dir: string;
let dev: Dev;
const run = (...args: string[]) => cli(args, { cwd: dir });

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyquorum-cli-gov-'));
  dev = new Dev(dir);
  await dev.waitFor(/ready at http/);
}, 180_000);

afterAll(async () => {
  if (dev !== undefined) await dev.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('keyquorum policy / operations / approve against the dev cluster', () => {
  let publicKey: string;
  let operationId: string;

  it('approver keygen x2 and policy set --file: 2 of 3 approvers (one a passkey), 10 signatures a minute', async () => {
    const key = json<{ publicKey: string }>(await run('keys', 'create', '--suite', 'frost-ed25519', '--threshold', '2', '--label', 'gov', '--json'));
    publicKey = key.publicKey;
    const [alice, bob] = await Promise.all([run('approver', 'keygen', '--id', 'alice', '--out', 'alice.json', '--json'), run('approver', 'keygen', '--id', 'bob', '--out', 'bob.json', '--json')]);
    const policy = {
      format: 1,
      approvers: [json<{ approver: unknown }>(alice).approver, json<{ approver: unknown }>(bob).approver, new SoftwarePasskey().approver('carol-phone')],
      approvals: { sign: 2, policy: 2 },
      velocity: [{ limit: 10, windowSeconds: 60, per: 'key' }],
    };
    fs.writeFileSync(path.join(dir, 'policy.json'), JSON.stringify(policy, null, 2));
    const set = json<{ version: number; delivered: string[]; digest: string }>(await run('policy', 'set', 'gov', '--file', 'policy.json', '--json'));
    expect(set.version).toBe(1);
    expect([...set.delivered].sort()).toEqual(['signer-1', 'signer-2', 'signer-3']);
    const shown = await run('policy', 'show', 'gov');
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^version\s+1$/m);
    expect(shown.stdout).toMatch(/^approvers\s+alice \(ed25519\), bob \(ed25519\), carol-phone \(passkey, localhost\)$/m);
    expect(shown.stdout).toMatch(/^approvals\s+policy 2, sign 2$/m);
    expect(shown.stdout).toMatch(/^velocity\s+10 per 60 s per key$/m);
    expect(json<{ digest: string }>(await run('policy', 'show', 'gov', '--json')).digest).toBe(set.digest);
  }, 240_000);

  it('sign on the key exits 3 with the pending operation; operations list --pending shows it', async () => {
    const human = await run('sign', 'gov', '--message', MESSAGE);
    expect(human.code, human.stderr).toBe(3);
    expect(human.stdout).toMatch(/^approvals\s+0 of 2$/m);
    expect(human.stdout).toMatch(/waiting for 2 more approval\(s\): keyquorum approve [0-9a-f]{64} --key-file/);
    const asked = await run('sign', 'gov', '--message', MESSAGE, '--json');
    expect(asked.code, asked.stderr).toBe(3);
    const { pending } = JSON.parse(asked.stdout) as { pending: { id: string; op: string; required: number; approvals: string[]; state: string } };
    expect(pending).toMatchObject({ op: 'sign', required: 2, approvals: [], state: 'pending' });
    operationId = pending.id;
    const list = json<Array<{ id: string }>>(await run('operations', 'list', '--pending', '--json'));
    expect(list.map((o) => o.id)).toContain(operationId);
    const table = await run('operations', 'list', '--pending');
    expect(table.stdout).toMatch(/^OPERATION\s+KEY\s+OP\s+STATE\s+APPROVALS\s+EXPIRES$/m);
    expect(table.stdout).toMatch(new RegExp(`^${operationId}\\s+gov\\s+sign\\s+pending\\s+0 of 2`, 'm'));
  }, 120_000);

  it('approve --key-file prints what it approves, then approves; the second approval runs the signature', async () => {
    const first = await run('approve', operationId, '--key-file', 'alice.json');
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^approving as alice:$/m);
    expect(first.stdout).toMatch(new RegExp(`^message\\s+${MESSAGE}$`, 'm'));
    expect(first.stdout).toMatch(/^approved: 1 of 2 \(alice\); operation pending$/m);
    const second = json<{ approved: { approver: string; summary: Record<string, string> }; operation: { state: string; result: { signature: string; publicKey: string } } }>(
      await run('approve', operationId, '--key-file', 'bob.json', '--json'),
    );
    expect(second.approved).toMatchObject({ approver: 'bob', summary: { message: MESSAGE } });
    expect(second.operation.state).toBe('succeeded');
    expect(second.operation.result.publicKey).toBe(publicKey);
    expect(ed25519.verify(hexToBytes(second.operation.result.signature), hexToBytes(MESSAGE), hexToBytes(publicKey))).toBe(true);
    expect(json<unknown[]>(await run('operations', 'list', '--pending', '--json')).map((o) => (o as { id: string }).id)).not.toContain(operationId);
    const late = await run('approve', operationId, '--key-file', 'alice.json', '--json');
    expect(late.code).toBe(1);
  }, 180_000);

  it('once a key allowed one signature an hour has signed, sign is refused at once (exit 1, velocity), and a sign already pending fails when its last approval arrives (approve exits 1)', async () => {
    json(await run('keys', 'create', '--suite', 'frost-ed25519', '--threshold', '2', '--label', 'gov-once', '--json'));
    const policy = { ...(JSON.parse(fs.readFileSync(path.join(dir, 'policy.json'), 'utf8')) as object), velocity: [{ limit: 1, windowSeconds: 3600, per: 'key' }] };
    fs.writeFileSync(path.join(dir, 'once.json'), JSON.stringify(policy));
    json(await run('policy', 'set', 'gov-once', '--file', 'once.json', '--json'));
    // Two signs asked before either runs: both wait for approvals.
    const ids: string[] = [];
    for (const message of ['01'.repeat(32), '02'.repeat(32)]) {
      const asked = await run('sign', 'gov-once', '--message', message, '--json');
      expect(asked.code, asked.stderr).toBe(3);
      ids.push((JSON.parse(asked.stdout) as { pending: { id: string } }).pending.id);
    }
    const approveBoth = async (id: string) => {
      expect((await run('approve', id, '--key-file', 'alice.json')).code).toBe(0);
      return run('approve', id, '--key-file', 'bob.json');
    };
    const first = await approveBoth(ids[0]!);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/operation succeeded/);
    const second = await approveBoth(ids[1]!);
    expect(second.code).toBe(1);
    expect(second.stdout).toMatch(/^operation FAILED: POLICY_DENIED \(velocity\): at most 1 signatures per 3600 s per key$/m);
    const third = await run('sign', 'gov-once', '--message', '03'.repeat(32), '--json');
    expect(third.code).toBe(1);
    expect(JSON.parse(third.stderr)).toMatchObject({ error: { code: 'POLICY_DENIED', rule: 'velocity' } });
  }, 240_000);

  it('a policy change needs the quorum of the current policy: set exits 3, the policy stays at version 1', async () => {
    const asked = await run('policy', 'set', 'gov', '--file', 'policy.json', '--json');
    expect(asked.code, asked.stderr).toBe(3);
    expect(JSON.parse(asked.stdout)).toMatchObject({ pending: { op: 'policy', required: 2 } });
    expect(json<{ version: number }>(await run('policy', 'show', 'gov', '--json')).version).toBe(1);
  }, 120_000);
});
