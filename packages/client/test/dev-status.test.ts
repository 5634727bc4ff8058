/**
 * `keyquorum status` reads each coordinator's `GET /readyz` (dev-status.ts). A coordinator
 * is not trusted to answer in shape: an answer that is not a coordinator's (another role,
 * a malformed leader URL or token, not an object) counts as 'down', never as a working
 * coordinator, and its text never reaches the status lines. The servers here are plain
 * node:http stand-ins answering fixed bodies (what a compromised or foreign server could
 * send); the real coordinators' answers are covered end to end by test/dev-ha.test.ts.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coordinatorStatus } from '../src/dev-status.ts';

const BODIES: Record<string, string> = {
  '/leader': JSON.stringify({ ready: true, role: 'leader', leaderUrl: 'http://127.0.0.1:1', leaderToken: 3 }),
  '/single': JSON.stringify({ ready: true }),
  '/number': '5',
  '/escape': JSON.stringify({ ready: true, role: '\u001b[2Jleader' }),
  '/badurl': JSON.stringify({ ready: true, role: 'follower', leaderUrl: 'http://a b\u001b[31m' }),
  '/badtoken': JSON.stringify({ ready: true, role: 'leader', leaderToken: 'x' }),
  '/html': '<html>503</html>',
};

describe('keyquorum status: what /readyz answers', () => {
  const servers: http.Server[] = [];
  const base = new Map<string, string>();
  beforeAll(async () => {
    for (const p of Object.keys(BODIES)) {
      const server = http.createServer((_req, res) => res.end(BODIES[p]));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      servers.push(server);
      base.set(p, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    }
  });
  afterAll(async () => {
    for (const s of servers) await new Promise((resolve) => s.close(resolve));
  });

  it('takes a coordinator answer as it is, and counts anything else as down', async () => {
    const paths = Object.keys(BODIES);
    const status = await coordinatorStatus(paths.map((p) => base.get(p)!), {});
    const byPath = new Map(paths.map((p, i) => [p, status[i]!]));
    expect(byPath.get('/leader')).toMatchObject({ role: 'leader', ready: true, leaderUrl: 'http://127.0.0.1:1', leaderToken: 3 });
    expect(byPath.get('/single')).toMatchObject({ role: 'single', ready: true, leaderUrl: base.get('/single'), leaderToken: null });
    for (const p of ['/number', '/escape', '/badurl', '/badtoken', '/html']) expect(byPath.get(p), p).toMatchObject({ role: 'down', ready: false, leaderUrl: null, leaderToken: null });
  });
});
