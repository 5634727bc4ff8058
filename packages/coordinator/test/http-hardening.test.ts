/**
 * The HTTP port under attack (issue 10, finding 5), against a real coordinator over
 * real sockets: uploads refused from their headers before the body is read, the
 * connection cap, slow-loris headers and bodies timed out, a client relaying another
 * client's signed request, /metrics naming no key, and the audit log paged and
 * verified without holding the event loop.
 */
import net from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { bytesToHex } from '@noble/hashes/utils.js';
import { createKeyDigest, generateIdentity, signClientRequest, signDigest, signHttpRequest, type ClientRequest, type IdentityKey } from '@keyquorum/protocol';
import { AUDIT_VERIFY_CHUNK_ROWS } from '../src/constants.ts';
import type { SqliteStore } from '../src/index.ts';
import { startCluster, type Cluster } from './helpers.ts';

let c: Cluster | undefined;
afterEach(async () => {
  await c?.stop();
  c = undefined;
});

const registryOf = (cl: Cluster) => (cl.coordinator as unknown as { parts: { registry: SqliteStore } }).parts.registry;
const port = (cl: Cluster) => Number(new URL(cl.coordinator.url).port);

function toJson(r: ClientRequest) {
  return { v: r.v, op: r.op, keyId: r.keyId, digest: bytesToHex(r.digest), timestamp: r.timestamp, nonce: bytesToHex(r.nonce), clientKey: bytesToHex(r.clientKey), sig: bytesToHex(r.sig) };
}

/** A signed call as `as` (headers from `signHttpRequest` over the exact body sent). */
async function call(cl: Cluster, method: string, target: string, as: IdentityKey, body?: unknown) {
  const text = body === undefined ? '' : JSON.stringify(body);
  const headers: Record<string, string> = signHttpRequest(as, { method, target, body: new TextEncoder().encode(text) });
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${cl.coordinator.url}${target}`, { method, headers, ...(body === undefined ? {} : { body: text }) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> & { error?: { code: string; field?: string } } };
}

/** A raw TCP client: what it sends, what it has received, and whether the server closed it. */
function rawClient(p: number) {
  const socket = net.connect(p, '127.0.0.1');
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const connected = new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  /** Resolves once the received text matches. */
  const receivedMatch = (re: RegExp) =>
    new Promise<string>((resolve) => {
      const check = () => {
        if (re.test(received)) {
          socket.off('data', check);
          resolve(received);
        }
      };
      socket.on('data', check);
      check();
    });
  return { socket, closed, connected, receivedMatch, get received() { return received; } };
}

describe('HTTP requests are authenticated from their headers, before any body is read', () => {
  it('an unauthenticated upload is refused before its body is read', async () => {
    c = await startCluster(['s1', 's2', 's3'], { connected: [] });
    // Headers announcing 200 kB, then nothing: the body never comes.
    const anon = rawClient(port(c));
    anon.socket.write('POST /v1/keys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n');
    expect(await anon.receivedMatch(/^HTTP\/1\.1 \d{3}/)).toMatch(/^HTTP\/1\.1 401 /);
    expect(anon.received).toMatch(/connection: close/i);
    anon.socket.destroy();

    // The same with a trusted client's public key and a signature over another request.
    const forged = signHttpRequest(c.admin, { method: 'GET', target: '/v1/keys', body: new Uint8Array(0) });
    const claimed = rawClient(port(c));
    const head = Object.entries({ ...forged, 'x-keyquorum-content-sha256': 'ab'.repeat(32) }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    claimed.socket.write(`POST /v1/keys HTTP/1.1\r\nHost: x\r\n${head}Content-Length: 200000\r\n\r\n`);
    expect(await claimed.receivedMatch(/^HTTP\/1\.1 \d{3}/)).toMatch(/^HTTP\/1\.1 401 /);
    claimed.socket.destroy();
  });

  it('an authenticated request whose body is not the one its headers signed is refused', async () => {
    c = await startCluster(['s1', 's2', 's3'], { connected: [] });
    const p = { keyId: 'k1', suite: 'frost-secp256k1-tr' as const, threshold: 2, signers: ['s1', 's2', 's3'] };
    const body = JSON.stringify({ ...p, request: toJson(signClientRequest(c.admin, { op: 'createKey', keyId: 'k1', digest: createKeyDigest(p) })) });
    const headers = signHttpRequest(c.admin, { method: 'POST', target: '/v1/keys', body: new TextEncoder().encode(body) });
    const res = await fetch(`${c.coordinator.url}/v1/keys`, { method: 'POST', headers, body: body.replace('"threshold":2', '"threshold":3') });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { field: string } }).error.field).toBe('x-keyquorum-content-sha256');
  });
});

describe('the port is bounded', () => {
  it('the coordinator caps concurrent connections', async () => {
    c = await startCluster(['s1', 's2', 's3'], { connected: [], options: { maxConnections: 4, keepAliveTimeoutMs: 600_000 } });
    // Four kept-alive connections, each answered once (so the server has accepted it).
    const held = Array.from({ length: 4 }, () => rawClient(port(c!)));
    for (const h of held) {
      h.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      await h.receivedMatch(/^HTTP\/1\.1 200 /);
    }
    const fifth = rawClient(port(c));
    fifth.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await fifth.closed;
    expect(fifth.received).toBe('');
    // A slot freed is a slot served again.
    held[0]!.socket.destroy();
    await held[0]!.closed;
    let served = false;
    for (let i = 0; i < 50 && !served; i++) {
      served = await fetch(`${c.coordinator.url}/healthz`).then((r) => r.status === 200, () => false);
    }
    expect(served).toBe(true);
    for (const h of held) h.socket.destroy();
  });

  it('a slow-loris request is timed out', async () => {
    c = await startCluster(['s1', 's2', 's3'], { connected: [], options: { headersTimeoutMs: 300, requestTimeoutMs: 600 } });
    // Headers trickled one line at a time, never finished.
    const loris = rawClient(port(c));
    await loris.connected;
    loris.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    const drip = setInterval(() => loris.socket.writable && loris.socket.write('x-drip: 1\r\n'), 50);
    await loris.closed;
    clearInterval(drip);
    expect(loris.received).toMatch(/^HTTP\/1\.1 408 |^$/);

    // An authenticated client that sends its headers, then its body a byte at a time, never finishing.
    const body = '{"keyId":"k1"}';
    const signed = signHttpRequest(c.admin, { method: 'POST', target: '/v1/keys', body: new TextEncoder().encode(body) });
    const slow = rawClient(port(c));
    await slow.connected;
    slow.socket.write(`POST /v1/keys HTTP/1.1\r\nHost: x\r\n${Object.entries(signed).map(([k, v]) => `${k}: ${v}\r\n`).join('')}Content-Length: 100000\r\n\r\n`);
    const trickle = setInterval(() => slow.socket.writable && slow.socket.write('{'), 50);
    await slow.closed;
    clearInterval(trickle);
    expect(slow.received).toMatch(/^HTTP\/1\.1 408 |^$/);
  });
});

describe('requests Node refuses before any handler are answered with the API\'s JSON error (found by npm run fuzz)', () => {
  const answer = async (raw: string) => {
    const client = rawClient(port(c!));
    await client.connected;
    client.socket.write(raw);
    await client.closed;
    const [head = '', body = ''] = client.received.split('\r\n\r\n');
    return { head, body };
  };

  it('GET /v1/keys/ followed by 100 000 a (a target above the header cap) is 400 BAD_REQUEST as JSON, not a bare 431', async () => {
    c = await startCluster(['s1', 's2', 's3'], { connected: [] });
    const { head, body } = await answer(`GET /v1/keys/${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(head).toMatch(/^HTTP\/1\.1 400 /);
    expect(head).toMatch(/content-type: application\/json/i);
    expect(JSON.parse(body)).toEqual({ error: { code: 'BAD_REQUEST', message: 'request head above the size cap' } });
  });

  it('bytes that are not HTTP are 400 BAD_REQUEST as JSON', async () => {
    c = await startCluster(['s1', 's2', 's3'], { connected: [] });
    const { head, body } = await answer('\u0000\u0001 not http at all\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(body)).toMatchObject({ error: { code: 'BAD_REQUEST' } });
  });
});

describe('the HTTP caller is the operation request\'s client', () => {
  it("an HTTP caller cannot relay another client's signed request", async () => {
    const other = generateIdentity();
    const signerRole = generateIdentity();
    c = await startCluster(['s1', 's2', 's3'], { connected: [] });
    const admin = c.admin;
    await c.stop();
    c = await startCluster(['s1', 's2', 's3'], {
      connected: [],
      options: {
        clients: [
          { publicKey: bytesToHex(admin.publicKey), roles: ['admin'] },
          { publicKey: bytesToHex(other.publicKey), roles: ['admin'] },
          { publicKey: bytesToHex(signerRole.publicKey), roles: ['signer'] },
        ],
      },
    });
    // `other` signed a createKey; `admin` (also an admin) sends it as its own call.
    const p = { keyId: 'k1', suite: 'frost-secp256k1-tr' as const, threshold: 2, signers: ['s1', 's2', 's3'] };
    const relayed = { ...p, request: toJson(signClientRequest(other, { op: 'createKey', keyId: 'k1', digest: createKeyDigest(p) })) };
    const r = await call(c, 'POST', '/v1/keys', admin, relayed);
    expect([r.status, r.json.error?.code, r.json.error?.field]).toEqual([403, 'UNAUTHORISED', 'request.clientKey']);
    // A signer-role client relaying an admin's sign request.
    const message = '00'.repeat(32);
    const sign = { message, request: toJson(signClientRequest(admin, { op: 'sign', keyId: 'k1', digest: signDigest({ keyId: 'k1', epoch: 0, message: new Uint8Array(32) }) })) };
    const s = await call(c, 'POST', '/v1/keys/k1/sign', signerRole, sign);
    expect([s.status, s.json.error?.field]).toEqual([403, 'request.clientKey']);
    // Its own request goes on to the coordinator's checks (no signers: 503).
    const own = await call(c, 'POST', '/v1/keys', other, relayed);
    expect(own.json.error?.code).toBe('NOT_ENOUGH_SIGNERS');
  });
});

describe('/metrics', () => {
  it('/metrics lists no key id by default', async () => {
    c = await startCluster(['s1', 's2', 's3'], { connected: [] });
    await registryOf(c).insertPendingKey({ id: 'treasury-cold-7', suite: 'frost-ed25519', threshold: 2, participants: ['s1', 's2', 's3'].map((signer, i) => ({ signer, index: i + 1 })) });
    const text = await (await fetch(`${c.coordinator.url}/metrics`)).text();
    expect(text).not.toMatch(/treasury-cold-7/);
    expect(text).toMatch(/^keyquorum_keys\{scheme="frost-ed25519",state="pending"\} 1$/m);
  });

  it('names each key at /metrics only when the configuration asks for it', async () => {
    c = await startCluster(['s1', 's2', 's3'], { connected: [], options: { metricsKeyLabels: true } });
    await registryOf(c).insertPendingKey({ id: 'treasury-cold-7', suite: 'frost-ed25519', threshold: 2, participants: ['s1', 's2', 's3'].map((signer, i) => ({ signer, index: i + 1 })) });
    const text = await (await fetch(`${c.coordinator.url}/metrics`)).text();
    expect(text).toMatch(/^keyquorum_key_epoch\{key="treasury-cold-7",scheme="frost-ed25519",state="pending"\} 0$/m);
  });
});

/** Appends `n` audit rows in one transaction, alternating between keys k-a and k-b. */
async function fillAudit(r: SqliteStore, n: number): Promise<void> {
  await r.transaction(async (tx) => {
    for (let i = 0; i < n; i++) await tx.append('commit.acked', i % 2 === 0 ? 'k-a' : 'k-b', { signer: 's1', kind: 'refresh', epoch: i });
  });
}

describe('GET /v1/audit', () => {
  it('GET /v1/audit pages and never returns more than the limit', async () => {
    c = await startCluster(['s1', 's2', 's3'], { connected: [] });
    await fillAudit(registryOf(c), 2500);
    const first = await call(c, 'GET', '/v1/audit', c.admin);
    expect((first.json.entries as unknown[]).length).toBe(100);
    expect(first.json.next).toBe(100);
    expect(first.json.verification).toMatchObject({ ok: true, count: 2500 });

    const seqs: number[] = [];
    let after: number | null = 0;
    while (after !== null) {
      const page = await call(c, 'GET', `/v1/audit?after=${after}&limit=1000`, c.admin);
      const entries = page.json.entries as Array<{ seq: number }>;
      expect(entries.length).toBeLessThanOrEqual(1000);
      seqs.push(...entries.map((e) => e.seq));
      after = page.json.next as number | null;
    }
    expect(seqs).toEqual(Array.from({ length: 2500 }, (_, i) => i + 1));

    const keyed = await call(c, 'GET', '/v1/audit?key=k-b&after=10&limit=3', c.admin);
    expect((keyed.json.entries as Array<{ seq: number }>).map((e) => e.seq)).toEqual([12, 14, 16]);
    expect(keyed.json.next).toBe(16);

    const tooMany = await call(c, 'GET', '/v1/audit?limit=1001', c.admin);
    expect([tooMany.status, tooMany.json.error?.field]).toEqual([400, 'limit']);
    expect((await call(c, 'GET', '/v1/audit?after=-1', c.admin)).status).toBe(400);
  });

  it('audit verification of a long log yields to the event loop', async () => {
    c = await startCluster(['s1', 's2', 's3'], { connected: [] });
    const registry = registryOf(c);
    await fillAudit(registry, 50_000);
    // Count turns of the event loop while the chain is verified: a blocking verification gives none.
    let turns = 0;
    let ticking = true;
    const tick = () => {
      turns++;
      if (ticking) setImmediate(tick);
    };
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    setImmediate(tick);
    const started = turns;
    const verification = await registry.verifyAuditChain();
    const during = turns - started;
    ticking = false;
    delay.disable();
    expect(verification).toMatchObject({ ok: true, count: 50_000 });
    // 50 000 rows in chunks of AUDIT_VERIFY_CHUNK_ROWS, each chunk followed by a turn of the loop.
    expect(during).toBeGreaterThanOrEqual(Math.floor(50_000 / AUDIT_VERIFY_CHUNK_ROWS / 2));
    console.log(`audit verification of 50 000 rows: ${during} event-loop turns, loop delay max ${(delay.max / 1e6).toFixed(1)} ms, p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms`);

    // The next verification starts from the checkpoint: rows appended since are verified, the rest are not re-read.
    await fillAudit(registry, 10);
    expect(await registry.verifyAuditChain()).toMatchObject({ ok: true, count: 50_010 });
  });

  it('a row changed below the checkpoint is reported when its page is read, and a changed checkpoint row at once', async () => {
    c = await startCluster(['s1', 's2', 's3'], { connected: [] });
    const registry = registryOf(c);
    await fillAudit(registry, 20);
    expect(await registry.verifyAuditChain()).toMatchObject({ ok: true, count: 20 });
    const db = (registry as unknown as { db: import('better-sqlite3').Database }).db;
    db.prepare('UPDATE audit SET data = ? WHERE seq = 5').run(JSON.stringify({ signer: 's9', kind: 'refresh', epoch: 4 }));
    const page = await call(c, 'GET', '/v1/audit?limit=10', c.admin);
    expect(page.json.verification).toEqual({ ok: false, seq: 5, reason: 'hash does not match the row' });
    db.prepare("UPDATE audit SET hash = '00' || substr(hash, 3) WHERE seq = 20").run();
    expect(await registry.verifyAuditChain()).toMatchObject({ ok: false, seq: 20 });
  });
});
