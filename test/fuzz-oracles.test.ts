/**
 * The fuzzer's oracles can fail: each is fed what a bug would look like (a changed
 * epoch, a 500, an untyped refusal, an unanswered frame, an uncaught exception) and
 * must flag it, and fed a correct refusal and must pass it.
 */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { crashLines, diffState, judgeFrame, judgeHttp, knownCodes, snapshotState } from './fuzz/oracles.ts';
import { Rand } from './fuzz/random.ts';
import { mayAnswer2xx, sendHttp, type HttpInput } from './fuzz/http.ts';

const known = knownCodes();
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'keyquorum-fuzz-oracles-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** A registry and a keystore with the tables the state oracle reads, one active key at epoch 0. */
function stateDirs() {
  const coordinator = fs.mkdtempSync(path.join(root, 'c-'));
  const signer = fs.mkdtempSync(path.join(root, 's-'));
  const reg = new Database(path.join(coordinator, 'registry.db'));
  reg.exec(`CREATE TABLE keys (id TEXT, suite TEXT, threshold INTEGER, participants TEXT, group_key BLOB, public_key BLOB, epoch INTEGER, state TEXT, updated_at INTEGER);
    CREATE TABLE pending_commits (seq INTEGER, signer TEXT, key_id TEXT); CREATE TABLE signer_epochs (key_id TEXT, signer TEXT, epoch INTEGER);
    CREATE TABLE attestations (key_id TEXT, signer TEXT, epoch INTEGER); CREATE TABLE bans (key_id TEXT, signer TEXT, reason TEXT);
    CREATE TABLE audit (seq INTEGER PRIMARY KEY, event TEXT);
    INSERT INTO keys VALUES ('k1', 'frost-ed25519', 2, 's1,s2', x'01', x'02', 0, 'active', 1); INSERT INTO audit VALUES (1, 'key.created');`);
  reg.close();
  const ks = new Database(path.join(signer, 'keystore.db'));
  ks.exec(`CREATE TABLE shares (key_id TEXT, epoch INTEGER, state TEXT, suite TEXT, sealed BLOB); CREATE TABLE retired_keys (key_id TEXT); CREATE TABLE peer_bans (key_id TEXT, peer TEXT);
    INSERT INTO shares VALUES ('k1', 0, 'active', 'frost-ed25519', x'aa');`);
  ks.close();
  return { coordinator, signers: { s1: signer } };
}

const write = (file: string, sql: string) => {
  const db = new Database(file);
  db.exec(sql);
  db.close();
};

describe('the state oracle', () => {
  it('sees nothing when nothing changed', () => {
    const dirs = stateDirs();
    expect(diffState(snapshotState(dirs), snapshotState(dirs))).toEqual([]);
  });

  it('detects a key whose epoch changed in the registry', () => {
    const dirs = stateDirs();
    const before = snapshotState(dirs);
    write(path.join(dirs.coordinator, 'registry.db'), "UPDATE keys SET epoch = 1 WHERE id = 'k1'");
    expect(diffState(before, snapshotState(dirs))).toEqual([expect.stringMatching(/^coordinator\.keys: /)]);
  });

  it('detects one more audit row, a ban, and a signer share that changed state', () => {
    const dirs = stateDirs();
    const before = snapshotState(dirs);
    write(path.join(dirs.coordinator, 'registry.db'), "INSERT INTO audit VALUES (2, 'key.signed'); INSERT INTO bans VALUES ('k1', 's2', 'invalid share')");
    write(path.join(dirs.signers.s1, 'keystore.db'), "UPDATE shares SET state = 'retired'");
    const diffs = diffState(before, snapshotState(dirs)).map((d) => d.split(':')[0]);
    expect(diffs.sort()).toEqual(['coordinator.audit', 'coordinator.bans', 's1.shares']);
  });
});

describe('the typed-error oracle (HTTP)', () => {
  const error = (code: string) => JSON.stringify({ error: { code, message: 'x' } });

  it('passes a JSON error with a known code and its own 4xx status', () => {
    expect(judgeHttp(known, 400, error('BAD_REQUEST'), false)).toEqual({ outcome: 'refused', codes: ['BAD_REQUEST'] });
    expect(judgeHttp(known, 413, error('PAYLOAD_TOO_LARGE'), false).outcome).toBe('refused');
  });

  it('flags a 500, even with a known code', () => {
    expect(judgeHttp(known, 500, error('INTERNAL'), false).outcome).toBe('untyped');
  });

  it('flags a non-JSON body, an unknown code and a code answered with another status', () => {
    expect(judgeHttp(known, 400, 'Bad Request', false).outcome).toBe('untyped');
    expect(judgeHttp(known, 400, error('OOPS'), false).outcome).toBe('untyped');
    expect(judgeHttp(known, 400, error('UNAUTHENTICATED'), false).outcome).toBe('untyped');
  });

  it('flags a mutated POST that succeeded, and a request that never got an answer', () => {
    expect(judgeHttp(known, 200, '{}', false).outcome).toBe('untyped');
    expect(judgeHttp(known, 200, '{}', true).outcome).toBe('accepted');
    expect(judgeHttp(known, undefined, 'timed out', false).outcome).toBe('hang');
  });
});

describe('the hang oracle (HTTP): an answer the server closed on is an answer', () => {
  /** A TCP server that handles each connection with `onData` (called on every chunk it reads). */
  async function server(onData: (socket: net.Socket) => void): Promise<{ port: number; close: () => Promise<void> }> {
    const sockets = new Set<net.Socket>();
    const srv = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('data', () => onData(socket));
    });
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    return {
      port: (srv.address() as net.AddressInfo).port,
      close: () => {
        for (const s of sockets) s.destroy();
        return new Promise<void>((resolve) => srv.close(() => resolve()));
      },
    };
  }
  const upload: HttpInput = { mutation: 'oversize', method: 'POST', target: '/v1/keys', headers: { 'content-type': 'application/json' }, body: new Uint8Array(3_000_000).fill(0x61) };

  it('a 413 sent before the body was read, the connection then closed under the upload (EPIPE/ECONNRESET), is a typed refusal', async () => {
    const body = JSON.stringify({ error: { code: 'PAYLOAD_TOO_LARGE', message: 'body above 1048576 bytes' } });
    // As the coordinator does: answer from the headers, then close with the body unread (the kernel resets the connection).
    const s = await server((socket) => {
      if (socket.writable) socket.write(`HTTP/1.1 413 Payload Too Large\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`, () => socket.resetAndDestroy());
    });
    try {
      const got = await sendHttp(upload, { host: '127.0.0.1', port: s.port, timeoutMs: 60_000 });
      expect(got.status).toBe(413);
      expect(judgeHttp(known, got.status, got.text, false)).toEqual({ outcome: 'refused', codes: ['PAYLOAD_TOO_LARGE'] });
    } finally {
      await s.close();
    }
  });

  it('a Node HTTP server that refuses from the headers (413, connection: close), then drains the body before it closes, as the coordinator does: a typed refusal, every time', async () => {
    const srv = http.createServer((req, res) => {
      const body = JSON.stringify({ error: { code: 'PAYLOAD_TOO_LARGE', message: 'body above 1048576 bytes' } });
      res.writeHead(413, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' });
      // The answer in full, then the rest of the body read and discarded (packages/coordinator/src/http.ts `endAfterDrain`).
      res.write(body);
      req.once('end', () => res.end()).once('close', () => res.end());
      req.resume();
    });
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = srv.address() as net.AddressInfo;
      for (let i = 0; i < 5; i++) {
        const got = await sendHttp(upload, { host: '127.0.0.1', port, timeoutMs: 60_000 });
        expect(judgeHttp(known, got.status, got.text, false), got.text).toEqual({ outcome: 'refused', codes: ['PAYLOAD_TOO_LARGE'] });
      }
    } finally {
      srv.closeAllConnections();
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    }
  });

  it('a request nobody answers is still a hang', async () => {
    const s = await server(() => {});
    try {
      const got = await sendHttp(upload, { host: '127.0.0.1', port: s.port, timeoutMs: 1_000 });
      expect(got.status).toBeUndefined();
      expect(judgeHttp(known, got.status, got.text, false).outcome).toBe('hang');
    } finally {
      await s.close();
    }
  });

  it('a connection closed without any answer is a hang too', async () => {
    const s = await server((socket) => socket.destroy());
    try {
      const got = await sendHttp(upload, { host: '127.0.0.1', port: s.port, timeoutMs: 60_000 });
      expect(got.status).toBeUndefined();
      expect(judgeHttp(known, got.status, got.text, false).outcome).toBe('hang');
    } finally {
      await s.close();
    }
  });
});

describe('which HTTP successes are legitimate', () => {
  it('a read, or a public route whatever its headers; never a mutation, nor an authenticated read with broken or replayed authentication', () => {
    expect(mayAnswer2xx({ method: 'GET', target: '/v1/keys', mutation: 'path' })).toBe(true);
    expect(mayAnswer2xx({ method: 'GET', target: '/v1/openapi.json', mutation: 'auth-replay' })).toBe(true);
    expect(mayAnswer2xx({ method: 'GET', target: '/v1/keys', mutation: 'auth-missing' })).toBe(false);
    expect(mayAnswer2xx({ method: 'GET', target: '/v1/keys', mutation: 'auth-drop-x-keyquorum-signature' })).toBe(false);
    expect(mayAnswer2xx({ method: 'GET', target: '/v1/keys', mutation: 'auth-drop-x-keyquorum-content-sha256' })).toBe(true);
    expect(mayAnswer2xx({ method: 'GET', target: '/v1/audit?limit=5', mutation: 'auth-replay' })).toBe(false);
    expect(mayAnswer2xx({ method: 'POST', target: '/v1/keys', mutation: 'json' })).toBe(false);
  });
});

describe('the typed-error oracle (frames)', () => {
  it('passes refusals with known codes', () => {
    expect(judgeFrame(known, ['BAD_FIELD', 'WRONG_SESSION'], 0, true, false).outcome).toBe('refused');
  });

  it('flags INTERNAL and codes no package declares', () => {
    expect(judgeFrame(known, ['INTERNAL'], 0, true, false).outcome).toBe('untyped');
    expect(judgeFrame(known, ['UNTYPED'], 0, true, false).outcome).toBe('untyped');
  });

  it('flags an input after which the barrier probe went unanswered', () => {
    expect(judgeFrame(known, [], 0, false, false).outcome).toBe('hang');
  });

  it('flags a frame left unanswered unless its kind is never answered (ABORT, ERROR)', () => {
    expect(judgeFrame(known, [], 0, true, false).outcome).toBe('silent');
    expect(judgeFrame(known, [], 0, true, true).outcome).toBe('ignored');
    expect(judgeFrame(known, [], 1, true, false).outcome).toBe('accepted');
  });

  it('knows the codes of every package and no invented one', () => {
    for (const code of ['MALFORMED', 'UNKNOWN_SESSION', 'INVALID_PROOF', 'SESSION_FAULT', 'NOT_FOUND']) expect(known.has(code)).toBe(true);
    expect(known.has('OOPS')).toBe(false);
  });
});

describe('the crash oracle', () => {
  it('flags an uncaught exception and a stack trace, not an ordinary refusal line', () => {
    const lines = ['{"level":"warn","msg":"frame refused","code":"BAD_FIELD"}', 'Uncaught TypeError: x is undefined', '    at parse (/work/packages/protocol/src/codec.ts:12:5)'];
    expect(crashLines(lines)).toEqual(lines.slice(1));
  });
});

describe('the seeded randomness', () => {
  it('repeats a sequence from its seed and differs across seeds', () => {
    const seq = (seed: number) => Array.from({ length: 8 }, (() => {
      const r = new Rand(seed);
      return () => r.u32();
    })());
    expect(seq(7)).toEqual(seq(7));
    expect(seq(7)).not.toEqual(seq(8));
  });
});
