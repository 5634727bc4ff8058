/**
 * A request refused while its client is still uploading the body (413 from the
 * Content-Length or past the cap while reading, 401 from the headers) gets its answer
 * read by that client. Closing a socket with body bytes unread makes the kernel reset
 * the connection, and a client still writing then fails (EPIPE, ECONNRESET) with the
 * answer unread (RFC 9112 §9.6, "Tear-down"). The coordinator answers with
 * `connection: close`, reads and discards the rest of the body (bounded), then closes.
 * Real coordinator, real sockets on loopback: the client is a raw TCP socket that
 * writes the whole body in chunks, the later ones only after the coordinator has
 * answered, and reads only once it has written everything, as a client that sends its
 * request before reading the response does.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { signHttpRequest } from '@keyquorum/protocol';
import { DEFAULT_MAX_BODY_BYTES, REFUSED_BODY_DRAIN_BYTES } from '../src/constants.ts';
import { startCluster, type Cluster } from './helpers.ts';

let c: Cluster | undefined;
afterEach(async () => {
  await c?.stop();
  c = undefined;
});

const CHUNK = 64 * 1024;

/** How many API errors with `code` the coordinator has answered. */
async function answered(cl: Cluster, code: string): Promise<number> {
  const metric = await cl.coordinator.metrics.registry.getSingleMetric('keyquorum_api_errors_total')!.get();
  return metric.values.find((v) => v.labels.code === code)?.value ?? 0;
}

/**
 * Sends `head`, then `early` body chunks; once the coordinator has answered `code`,
 * the rest of `chunks` one at a time (each after the last was written); only then reads
 * until the coordinator closes. What the client read, and the error its socket met.
 */
async function uploadThenRead(cl: Cluster, code: string, head: string, chunks: Buffer[], early: number): Promise<{ received: string; error?: string }> {
  const before = await answered(cl, code);
  const socket = net.connect(Number(new URL(cl.coordinator.url).port), '127.0.0.1');
  // Nothing is read until the whole request is written.
  socket.pause();
  let error: string | undefined;
  socket.on('error', (e: NodeJS.ErrnoException) => (error ??= e.code ?? e.message));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const write = (b: string | Buffer) => new Promise<boolean>((resolve) => socket.write(b, (e) => setImmediate(() => resolve(e === undefined || e === null))));
  let ok = await write(head);
  for (const chunk of chunks.slice(0, early)) if (ok) ok = await write(chunk);
  let after = before;
  for (let i = 0; i < 3000 && after === before && !socket.destroyed; i++) {
    after = await answered(cl, code);
    if (after === before) await new Promise((r) => setTimeout(r, 20));
  }
  expect(after, `the coordinator answered ${code}`).toBe(before + 1);
  for (const chunk of chunks.slice(early)) if (ok && !socket.destroyed) ok = await write(chunk);
  socket.resume();
  await closed;
  return { received, ...(error === undefined ? {} : { error }) };
}

/** The answer's status line, headers (lower-case names) and JSON body. */
function parse(received: string): { status: string; headers: Record<string, string>; body: unknown } {
  const at = received.indexOf('\r\n\r\n');
  expect(at, `a complete answer head in ${JSON.stringify(received.slice(0, 200))}`).toBeGreaterThan(0);
  const [status = '', ...lines] = received.slice(0, at).split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  const text = received.slice(at + 4);
  expect(Buffer.byteLength(text, 'latin1'), 'the whole answer body').toBe(Number(headers['content-length']));
  return { status, headers, body: JSON.parse(text) };
}

const body = (n: number) => Buffer.alloc(n, 0x61);
const chunked = (b: Buffer) => Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]);

describe('a request refused while its client is still uploading the body: the client reads the answer', () => {
  it('413 from the Content-Length: the whole JSON error, then the connection closes', async () => {
    c = await startCluster(['s1', 's2', 's3'], { connected: [] });
    const size = 1024 * 1024;
    const chunks = Array.from({ length: size / CHUNK }, () => body(CHUNK));
    const got = await uploadThenRead(c, 'PAYLOAD_TOO_LARGE', `POST /v1/keys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`, chunks, 1);
    expect(got.error).toBeUndefined();
    const answer = parse(got.received);
    expect(answer.status).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer.headers.connection).toBe('close');
    expect(answer.body).toEqual({ error: { code: 'PAYLOAD_TOO_LARGE', message: `PAYLOAD_TOO_LARGE: body above ${DEFAULT_MAX_BODY_BYTES} bytes` } });
  });

  it('413 past the cap of a streamed (chunked) body of an authenticated request: the whole JSON error', async () => {
    c = await startCluster(['s1', 's2', 's3'], { connected: [] });
    const size = 1024 * 1024;
    const signed = signHttpRequest(c.admin, { method: 'POST', target: '/v1/keys', body: body(size) });
    const head = `POST /v1/keys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n${Object.entries(signed).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
    const chunks = [...Array.from({ length: size / CHUNK }, () => chunked(body(CHUNK))), Buffer.from('0\r\n\r\n')];
    // Past the cap before the coordinator answers: it refuses while reading.
    const early = DEFAULT_MAX_BODY_BYTES / CHUNK + 2;
    const got = await uploadThenRead(c, 'PAYLOAD_TOO_LARGE', head, chunks, early);
    expect(got.error).toBeUndefined();
    const answer = parse(got.received);
    expect(answer.status).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer.headers.connection).toBe('close');
    expect(answer.body).toEqual({ error: { code: 'PAYLOAD_TOO_LARGE', message: `PAYLOAD_TOO_LARGE: body above ${DEFAULT_MAX_BODY_BYTES} bytes` } });
  });

  it('401 from the headers of an unsigned upload under the cap: the whole JSON error', async () => {
    c = await startCluster(['s1', 's2', 's3'], { connected: [] });
    const size = 192 * 1024;
    const chunks = Array.from({ length: size / (16 * 1024) }, () => body(16 * 1024));
    const got = await uploadThenRead(c, 'UNAUTHENTICATED', `POST /v1/keys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`, chunks, 1);
    expect(got.error).toBeUndefined();
    const answer = parse(got.received);
    expect(answer.status).toMatch(/^HTTP\/1\.1 401 /);
    expect(answer.headers.connection).toBe('close');
    expect(answer.body).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
  });

  it('a client that stops sending after the refusal: the request timeout closes the connection and writes no second answer after it', async () => {
    c = await startCluster(['s1', 's2', 's3'], { connected: [], options: { headersTimeoutMs: 500, requestTimeoutMs: 1000 } });
    const socket = net.connect(Number(new URL(c.coordinator.url).port), '127.0.0.1');
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
    socket.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    // 2 MiB announced, one chunk sent, then nothing: the drain outlives the request timeout.
    socket.write(`POST /v1/keys HTTP/1.1\r\nHost: x\r\nContent-Length: ${2 * 1024 * 1024}\r\n\r\n`);
    socket.write(body(CHUNK));
    await closed;
    const answer = parse(received);
    expect(answer.status).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer.body).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
  });

  it('the drain is bounded: an upload far above it is cut off before it is all sent, after its answer', async () => {
    c = await startCluster(['s1', 's2', 's3'], { connected: [] });
    const size = 8 * REFUSED_BODY_DRAIN_BYTES;
    const socket = net.connect(Number(new URL(c.coordinator.url).port), '127.0.0.1');
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
    socket.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const write = (b: string | Buffer) => new Promise<boolean>((resolve) => socket.write(b, (e) => setImmediate(() => resolve(e === undefined || e === null))));
    let sent = 0;
    let ok = await write(`POST /v1/keys HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n`);
    while (ok && !socket.destroyed && sent < size) {
      ok = await write(body(CHUNK));
      if (ok) sent += CHUNK;
    }
    await closed;
    expect(sent).toBeLessThan(size);
    expect(parse(received).status).toMatch(/^HTTP\/1\.1 413 /);
  });
});
