/**
 * The SDK's failover rules (client-http.ts, docs/ha.md): which failures it retries on
 * the next URL, which it refuses to retry, and that a retry re-sends the same signed
 * ClientRequest with a fresh request-level signature. The coordinator is a real one
 * (startCluster, SQLite). A follower's 503 NO_LEADER, a connection reset after the
 * request was sent, and a request log are hard to get from a real coordinator on cue, so
 * a plain node:http server answering them stands in as a protocol fixture for these
 * rules only; the kill -9 failover of real HA coordinators is test/ha.test.ts.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hexToBytes } from '@noble/hashes/utils.js';
import { ClientError, KeyquorumClient } from '../src/index.ts';
import { startCluster, type Cluster } from '../../coordinator/test/helpers.ts';
import { standardVerify } from '../../../test/support/verify.ts';
import { freePort } from '../../../test/support/wait.ts';

interface Seen {
  method: string;
  body: string;
  nonce: string | undefined;
}

/** A stand-in server: logs each request, then answers as `mode` says. */
async function fixture(mode: 'no-leader' | 'reset'): Promise<{ url: string; seen: Seen[]; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', body, nonce: req.headers['x-keyquorum-nonce'] as string | undefined });
      if (mode === 'reset') return req.socket.destroy();
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'NO_LEADER', message: 'no coordinator holds the leader lease right now; retry shortly' } }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, seen, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

let c: Cluster;
let keyPublic: string;
beforeAll(async () => {
  c = await startCluster(['s1', 's2', 's3']);
  const admin = new KeyquorumClient({ url: c.coordinator.url, clientKey: c.admin });
  keyPublic = (await admin.createKey({ keyId: 'fo', suite: 'frost-secp256k1-tr', threshold: 2 })).publicKey!;
}, 120_000);
afterAll(async () => c?.stop());

const msg = hexToBytes('cd'.repeat(32));
const client = (urls: string[], retry?: { attempts?: number; maxDelayMs?: number; totalMs?: number }) => new KeyquorumClient({ urls, clientKey: c.admin, ...(retry ? { retry } : {}) });

describe('SDK failover over several coordinator URLs', () => {
  it('refuses url and urls together, and an empty list', () => {
    expect(() => new KeyquorumClient({ url: 'http://127.0.0.1:1', urls: ['http://127.0.0.1:2'], clientKey: c.admin })).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT', field: 'urls' }));
    expect(() => new KeyquorumClient({ urls: [], clientKey: c.admin })).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
    expect(() => new KeyquorumClient({ urls: ['ftp://x'], clientKey: c.admin })).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT', field: 'urls[0]' }));
  });

  it('moves past a refused connection and a 503 NO_LEADER to the coordinator that answers; the signature verifies', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const follower = await fixture('no-leader');
    try {
      const sig = await client([dead, follower.url, c.coordinator.url]).sign('fo', { message: msg });
      expect(standardVerify('frost-secp256k1-tr', sig.signature, msg, keyPublic)).toBe(true);
      // The epoch read (GET) passed the stand-in once; the sign (POST) then went straight to the coordinator that answered.
      expect(follower.seen.map((s) => s.method)).toEqual(['GET']);
    } finally {
      await follower.close();
    }
  });

  it('sends a POST to the next URL after a refused connection (it cannot have run)', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const sig = await client([dead, c.coordinator.url]).sign('fo', { message: msg, epoch: 0 });
    expect(standardVerify('frost-secp256k1-tr', sig.signature, msg, keyPublic)).toBe(true);
  });

  it('re-sends the same signed ClientRequest with a fresh HTTP signature, in turn, and stops after retry.attempts', async () => {
    const a = await fixture('no-leader');
    const b = await fixture('no-leader');
    try {
      const err = await client([a.url, b.url], { attempts: 5, maxDelayMs: 50 }).sign('fo', { message: msg, epoch: 0 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ClientError);
      expect(err).toMatchObject({ code: 'NO_LEADER', status: 503 });
      expect(a.seen).toHaveLength(3);
      expect(b.seen).toHaveLength(2);
      const all = [...a.seen, ...b.seen];
      expect(new Set(all.map((s) => s.body)).size).toBe(1);
      expect(JSON.parse(all[0]!.body).request.nonce).toMatch(/^[0-9a-f]+$/);
      expect(new Set(all.map((s) => s.nonce)).size).toBe(5);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('stops retrying once retry.totalMs has passed', async () => {
    const a = await fixture('no-leader');
    try {
      const err = await client([a.url], { attempts: 1000, maxDelayMs: 100, totalMs: 300 }).listKeys().catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'NO_LEADER' });
      expect(a.seen.length).toBeGreaterThan(1);
      expect(a.seen.length).toBeLessThan(1000);
    } finally {
      await a.close();
    }
  });

  it('does not retry a POST whose connection failed after it was sent: OUTCOME_UNKNOWN', async () => {
    const reset = await fixture('reset');
    try {
      const err = await client([reset.url, c.coordinator.url]).sign('fo', { message: msg, epoch: 0 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ClientError);
      expect(err).toMatchObject({ code: 'OUTCOME_UNKNOWN', status: 0 });
      expect((err as Error).message).toMatch(/may have run/);
      expect(reset.seen.map((s) => s.method)).toEqual(['POST']);
    } finally {
      await reset.close();
    }
  });

  it('retries a GET whose connection failed after it was sent', async () => {
    const reset = await fixture('reset');
    try {
      const keys = await client([reset.url, c.coordinator.url]).listKeys();
      expect(keys.map((k) => k.id)).toContain('fo');
      expect(reset.seen.map((s) => s.method)).toEqual(['GET']);
    } finally {
      await reset.close();
    }
  });

  it('a single url still works and a refused one ends in NETWORK after the retries', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const err = await new KeyquorumClient({ url: dead, clientKey: c.admin, retry: { attempts: 3, maxDelayMs: 10 } }).listKeys().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'NETWORK', status: 0 });
  });
});
