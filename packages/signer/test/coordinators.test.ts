/**
 * Several coordinators (docs/ha.md §2, docs/cluster-protocol.md "Connection") against
 * in-test coordinators on 127.0.0.1 speaking the real protocol: `coordinatorUrls`
 * dialled in turn, a follower's CLOSE_NOT_LEADER followed only to a configured URL,
 * and WELCOME's `leaderToken`, of which a lower one than the highest accepted is
 * refused (across a restart: it is kept in the keystore) and a tampered one fails the
 * coordinator's signature.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SignerDaemon, type SignerOptions } from '../src/index.ts';
import { ENV, captureLog, initTestSigner, optionsFor, removeTempDirs, tempDir, type TestSigner } from './helpers/cluster.ts';
import { FakeCoordinator } from './helpers/fake-coordinator.ts';

const coordinators: FakeCoordinator[] = [];
const daemons: SignerDaemon[] = [];

afterEach(async () => {
  for (const d of daemons.splice(0)) await d.stop();
  for (const c of coordinators.splice(0)) await c.close();
  removeTempDirs();
});

/** Coordinators sharing one identity key (every coordinator of a cluster signs with it). */
async function cluster(n: number): Promise<FakeCoordinator[]> {
  const first = await FakeCoordinator.start();
  const rest = await Promise.all(Array.from({ length: n - 1 }, () => FakeCoordinator.start({ identity: first.identity })));
  coordinators.push(first, ...rest);
  return [first, ...rest];
}

/** A URL nothing listens on (a coordinator started then closed). */
async function deadUrl(): Promise<string> {
  const c = await FakeCoordinator.start();
  await c.close();
  return c.url;
}

/** The URL as the signer's config resolves it (WHATWG URL serialisation). */
const norm = (url: string) => new URL(url).toString();

async function until(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface Launched {
  daemon: SignerDaemon;
  lines: Record<string, unknown>[];
}

function options(signer: TestSigner, peer: TestSigner, key: FakeCoordinator, urls: string[], extra: Partial<SignerOptions> = {}): SignerOptions {
  const { coordinatorUrl: _, ...o } = optionsFor(signer, [signer, peer], key, extra);
  return { ...o, coordinatorUrls: urls };
}

async function launch(o: SignerOptions): Promise<Launched> {
  const { log, lines } = captureLog();
  const daemon = new SignerDaemon(o, { env: ENV, log, timing: { reconnectMinMs: 20, reconnectMaxMs: 100 } });
  daemons.push(daemon);
  await daemon.start();
  return { daemon, lines };
}

function signers(): [TestSigner, TestSigner] {
  const root = tempDir();
  return [initTestSigner('s1', root), initTestSigner('s2', root)];
}

describe('coordinatorUrls', () => {
  it("follows a follower's CLOSE_NOT_LEADER to the leader it names, when that is a configured URL", async () => {
    const [a, b, c] = await cluster(3);
    a!.follower = c!.url; // as a follower writes it; the signer compares it resolved
    const [s1, s2] = signers();
    const { daemon } = await launch({ ...options(s1, s2, a!, [a!.url, b!.url, c!.url]), listen: '127.0.0.1:0' });
    await daemon.waitUntilConnected(20_000);
    expect(c!.connected('s1')).toBe(true);
    expect(b!.sockets).toHaveLength(0); // not dialled in turn: the named leader came first
    expect(daemon.coordinatorUrl).toBe(norm(c!.url));
    const ready = (await (await fetch(`http://127.0.0.1:${daemon.healthAddress!.port}/readyz`)).json()) as { coordinator?: string };
    expect(ready.coordinator).toBe(norm(c!.url));
  });

  it('does not follow a CLOSE_NOT_LEADER naming a URL outside its configuration: it goes on in its own order', async () => {
    const [a, b, outsider] = await cluster(3);
    a!.follower = outsider!.url;
    const [s1, s2] = signers();
    const { daemon, lines } = await launch(options(s1, s2, a!, [a!.url, b!.url]));
    await daemon.waitUntilConnected(20_000);
    expect(b!.connected('s1')).toBe(true);
    expect(outsider!.sockets).toHaveLength(0);
    expect(lines.some((l) => String(l.msg).includes('outside coordinatorUrls'))).toBe(true);
  });

  it('a follower that knows no leader (empty reason): the signer dials the next URL', async () => {
    const [a, b] = await cluster(2);
    a!.follower = '';
    const [s1, s2] = signers();
    const { daemon } = await launch(options(s1, s2, a!, [a!.url, b!.url]));
    await daemon.waitUntilConnected(20_000);
    expect(daemon.coordinatorUrl).toBe(norm(b!.url));
  });

  it('a first URL with nothing listening (connection refused): the signer connects to the second', async () => {
    const [b] = await cluster(1);
    const [s1, s2] = signers();
    const { daemon } = await launch(options(s1, s2, b!, [await deadUrl(), b!.url]));
    await daemon.waitUntilConnected(20_000);
    expect(daemon.coordinatorUrl).toBe(norm(b!.url));
  });
});

describe('leaderToken', () => {
  it('refuses a lower token than the highest accepted, also after a restart; accepts an equal or higher one', async () => {
    const [c] = await cluster(1);
    const [s1, s2] = signers();
    const o = options(s1, s2, c!, [c!.url]);
    c!.leaderToken = 5;
    let { daemon } = await launch(o);
    await daemon.waitUntilConnected(20_000);
    expect(daemon.metrics().leaderToken).toBe(5);

    // A new leader (token 7): accepted and stored.
    c!.leaderToken = 7;
    c!.drop('s1');
    await until('reconnect at token 7', () => daemon.connected && daemon.metrics().leaderToken === 7);
    await daemon.stop();

    // After a restart, the deposed leader (token 6) is refused: the socket closed, the signer dials on.
    c!.leaderToken = 6;
    const sockets = c!.sockets.length;
    const second = await launch(o);
    daemon = second.daemon;
    await until('two refused attempts', () => c!.sockets.length >= sockets + 2);
    expect(daemon.connected).toBe(false);
    expect(daemon.metrics().connects).toBe(0); // no handshake completed
    expect(second.lines.some((l) => l.level === 'error' && String(l.msg).includes('leaderToken is below'))).toBe(true);

    // The same token as the highest accepted: accepted.
    c!.leaderToken = 7;
    await daemon.waitUntilConnected(20_000);
    expect(daemon.metrics().leaderToken).toBe(7);
  });

  it("counts a token only for the coordinator key it came from: the highest possible token from a compromised key locks out no leader once the operators rotate the key", async () => {
    const [old] = await cluster(1);
    const [s1, s2] = signers();
    old!.leaderToken = Number.MAX_SAFE_INTEGER; // what whoever holds the coordinators' key can send once
    const first = await launch(options(s1, s2, old!, [old!.url]));
    await first.daemon.waitUntilConnected(20_000);
    expect(first.daemon.metrics().leaderToken).toBe(Number.MAX_SAFE_INTEGER);
    await first.daemon.stop();

    // The rotated cluster (a new identity key in every signer's config) starts its lease at token 1.
    const rotated = await FakeCoordinator.start();
    coordinators.push(rotated);
    rotated.leaderToken = 1;
    const second = await launch(options(s1, s2, rotated, [rotated.url]));
    await second.daemon.waitUntilConnected(20_000);
    expect(second.daemon.metrics().leaderToken).toBe(1);
    await second.daemon.stop();

    // For the rotated key the usual rule holds, across a restart: a lower token is refused.
    rotated.leaderToken = 0;
    const sockets = rotated.sockets.length;
    const third = await launch(options(s1, s2, rotated, [rotated.url]));
    await until('two refused attempts', () => rotated.sockets.length >= sockets + 2);
    expect(third.daemon.metrics().connects).toBe(0);
  });

  it('refuses a WELCOME whose leaderToken was changed after the coordinator signed it, and stores nothing of it', async () => {
    const [c] = await cluster(1);
    const [s1, s2] = signers();
    c!.leaderToken = 1;
    c!.tamperedToken = 1000;
    const { daemon, lines } = await launch(options(s1, s2, c!, [c!.url]));
    await until('two attempts', () => c!.sockets.length >= 2 && c!.authenticated.has('s1'));
    expect(daemon.metrics().connects).toBe(0);
    expect(lines.some((l) => l.level === 'error' && String(l.msg).includes('coordinatorPublicKey'))).toBe(true);
    // Token 1 is still acceptable: the tampered 1000 was never recorded.
    c!.tamperedToken = undefined;
    await daemon.waitUntilConnected(20_000);
    expect(daemon.metrics().leaderToken).toBe(1);
  });
});
