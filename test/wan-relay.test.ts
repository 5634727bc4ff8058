/**
 * The WAN delay relay (test/support/relay.ts) on real TCP sockets on loopback: bytes
 * arrive intact and in order in both directions; nothing is delivered before the relay
 * releases it (a hand-driven clock decides when); with the real clock every chunk is
 * held at least the configured delay by the relay's own accounting; a cut closes both
 * ends (destroy) or silently swallows everything (blackhole). No wall-time upper bound
 * is asserted anywhere.
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DelayRelay, type RelayScheduler } from './support/relay.ts';

/** A clock that only moves when the test says so. */
class ManualScheduler implements RelayScheduler {
  t = 0;
  private timers: Array<{ at: number; fn: () => void; id: number }> = [];
  private seq = 0;
  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimer(handle: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== handle);
  }
  advance(ms: number): void {
    this.t += ms;
    for (;;) {
      const due = this.timers.filter((x) => x.at <= this.t).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) return;
      this.timers = this.timers.filter((x) => x !== due);
      due.fn();
    }
  }
}

async function until(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A target server that records every byte it receives and lets the test talk back on each connection. */
async function sink(): Promise<{ port: number; sockets: net.Socket[]; received: Buffer[]; closed: () => number; close: () => Promise<void> }> {
  const sockets: net.Socket[] = [];
  const received: Buffer[] = [];
  let closed = 0;
  const server = net.createServer((s) => {
    sockets.push(s);
    s.on('data', (d: Buffer) => received.push(d));
    s.on('close', () => closed++);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    sockets,
    received,
    closed: () => closed,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function dial(relay: DelayRelay): Promise<{ socket: net.Socket; received: Buffer[]; closed: () => boolean }> {
  const received: Buffer[] = [];
  let closed = false;
  const socket = net.connect(relay.address.port, relay.address.host);
  socket.on('data', (d: Buffer) => received.push(d));
  socket.on('close', () => (closed = true));
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, received, closed: () => closed };
}

const sha = (parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest('hex');
const total = (parts: Buffer[]) => parts.reduce((n, b) => n + b.length, 0);

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('delay relay', () => {
  it('delivers every byte intact and in order, both directions, with the delay applied to each chunk', async () => {
    const target = await sink();
    cleanups.push(target.close);
    const relay = await DelayRelay.start({ listen: { host: '127.0.0.1' }, target: { host: '127.0.0.1', port: target.port }, delayMs: 15 });
    cleanups.push(() => relay.close());
    const client = await dial(relay);
    cleanups.push(() => void client.socket.destroy());

    // Many writes of random sizes, some back to back, some spaced: the relay holds each read chunk separately.
    const sentUp: Buffer[] = [];
    const sentDown: Buffer[] = [];
    await until(() => target.sockets.length === 1, 'the relayed connection');
    const back = target.sockets[0]!;
    for (let i = 0; i < 200; i++) {
      const up = randomBytes(1 + ((i * 7919) % 4000));
      const down = randomBytes(1 + ((i * 104729) % 3000));
      sentUp.push(up);
      sentDown.push(down);
      client.socket.write(up);
      back.write(down);
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 3));
    }
    const upBytes = total(sentUp);
    const downBytes = total(sentDown);
    await until(() => total(target.received) === upBytes && total(client.received) === downBytes, 'every byte through the relay');
    expect(sha(target.received)).toBe(sha(sentUp));
    expect(sha(client.received)).toBe(sha(sentDown));
    for (const dir of ['up', 'down'] as const) {
      const s = relay.stats[dir];
      expect(s.releasedBytes).toBe(dir === 'up' ? upBytes : downBytes);
      expect(s.releasedChunks).toBe(s.receivedChunks);
      expect(s.droppedBytes).toBe(0);
      // By the relay's own clock, no chunk left before the delay (a lower bound only).
      expect(s.minHeldMs).toBeGreaterThanOrEqual(15);
    }
  });

  it('delivers nothing before the relay releases it (hand-driven clock)', async () => {
    const clock = new ManualScheduler();
    const target = await sink();
    cleanups.push(target.close);
    const relay = await DelayRelay.start({ listen: { host: '127.0.0.1' }, target: { host: '127.0.0.1', port: target.port }, delayMs: 50, scheduler: clock });
    cleanups.push(() => relay.close());
    const client = await dial(relay);
    cleanups.push(() => void client.socket.destroy());
    await until(() => target.sockets.length === 1, 'the relayed connection');

    client.socket.write(Buffer.from('first'));
    await until(() => relay.stats.up.receivedBytes === 5, 'the relay to read the first chunk');
    clock.advance(20);
    client.socket.write(Buffer.from('second'));
    await until(() => relay.stats.up.receivedBytes === 11, 'the relay to read the second chunk');
    // A round trip through the event loop and the socket: whatever the relay had written would have arrived.
    await new Promise((r) => setTimeout(r, 50));
    expect(total(target.received)).toBe(0);
    expect(relay.stats.up.releasedBytes).toBe(0);

    clock.advance(29); // t = 49: the first chunk (read at 0) is not due yet.
    await new Promise((r) => setTimeout(r, 50));
    expect(relay.stats.up.releasedBytes).toBe(0);
    expect(total(target.received)).toBe(0);

    clock.advance(1); // t = 50: the first is due, the second (read at 20) is not.
    await until(() => total(target.received) === 5, 'the first chunk');
    expect(Buffer.concat(target.received).toString()).toBe('first');
    expect(relay.stats.up.minHeldMs).toBe(50);
    expect(relay.stats.up.heldMsTotal).toBe(50);
    await new Promise((r) => setTimeout(r, 50));
    expect(total(target.received)).toBe(5);

    clock.advance(20); // t = 70
    await until(() => total(target.received) === 11, 'the second chunk');
    expect(Buffer.concat(target.received).toString()).toBe('firstsecond');
    expect(relay.stats.up.minHeldMs).toBe(50);
    expect(relay.stats.up.heldMsTotal).toBe(100);

    // The other direction is held the same way.
    target.sockets[0]!.write(Buffer.from('reply'));
    await until(() => relay.stats.down.receivedBytes === 5, 'the relay to read the reply');
    await new Promise((r) => setTimeout(r, 50));
    expect(total(client.received)).toBe(0);
    clock.advance(50);
    await until(() => total(client.received) === 5, 'the reply');
    expect(Buffer.concat(client.received).toString()).toBe('reply');
  });

  it('keeps order when the delay is lowered while chunks are held', async () => {
    const clock = new ManualScheduler();
    const target = await sink();
    cleanups.push(target.close);
    const relay = await DelayRelay.start({ listen: { host: '127.0.0.1' }, target: { host: '127.0.0.1', port: target.port }, delayMs: 100, scheduler: clock });
    cleanups.push(() => relay.close());
    const client = await dial(relay);
    cleanups.push(() => void client.socket.destroy());
    await until(() => target.sockets.length === 1, 'the relayed connection');
    client.socket.write(Buffer.from('a'));
    await until(() => relay.stats.up.receivedBytes === 1, 'the first chunk read');
    relay.setDelay(10);
    client.socket.write(Buffer.from('b'));
    await until(() => relay.stats.up.receivedBytes === 2, 'the second chunk read');
    clock.advance(10);
    await new Promise((r) => setTimeout(r, 50));
    expect(total(target.received)).toBe(0); // 'b' may not overtake 'a'
    clock.advance(90);
    await until(() => total(target.received) === 2, 'both chunks');
    expect(Buffer.concat(target.received).toString()).toBe('ab');
  });

  it('cut("destroy") closes both ends and refuses new connections until restore()', async () => {
    const target = await sink();
    cleanups.push(target.close);
    const relay = await DelayRelay.start({ listen: { host: '127.0.0.1' }, target: { host: '127.0.0.1', port: target.port }, delayMs: 5 });
    cleanups.push(() => relay.close());
    const client = await dial(relay);
    cleanups.push(() => void client.socket.destroy());
    await until(() => target.sockets.length === 1, 'the relayed connection');
    relay.cut('destroy');
    await until(() => client.closed() && target.closed() === 1, 'both ends to close');
    expect(relay.connections).toBe(0);

    const refused = await dial(relay);
    cleanups.push(() => void refused.socket.destroy());
    await until(() => refused.closed(), 'a connection during the cut to be closed');
    expect(target.sockets).toHaveLength(1); // the target was never dialled for it

    relay.restore();
    const again = await dial(relay);
    cleanups.push(() => void again.socket.destroy());
    await until(() => target.sockets.length === 2, 'a new relayed connection');
    again.socket.write(Buffer.from('back'));
    await until(() => total(target.received) === 4, 'data after restore');
  });

  it('cut("blackhole") keeps both ends open and delivers nothing, held or new, in either direction', async () => {
    const clock = new ManualScheduler();
    const target = await sink();
    cleanups.push(target.close);
    const relay = await DelayRelay.start({ listen: { host: '127.0.0.1' }, target: { host: '127.0.0.1', port: target.port }, delayMs: 30, scheduler: clock });
    cleanups.push(() => relay.close());
    const client = await dial(relay);
    cleanups.push(() => void client.socket.destroy());
    await until(() => target.sockets.length === 1, 'the relayed connection');
    client.socket.write(Buffer.from('held'));
    await until(() => relay.stats.up.receivedBytes === 4, 'the held chunk read');
    relay.cut('blackhole');
    clock.advance(1000);
    client.socket.write(Buffer.from('late'));
    target.sockets[0]!.write(Buffer.from('reply'));
    await until(() => relay.stats.up.droppedBytes === 8 && relay.stats.down.droppedBytes === 5, 'the bytes to be swallowed');
    clock.advance(1000);
    await new Promise((r) => setTimeout(r, 50));
    expect(total(target.received)).toBe(0);
    expect(total(client.received)).toBe(0);
    expect(client.closed()).toBe(false);
    expect(target.closed()).toBe(0);
    // A close on one side does not cross the partition either.
    target.sockets[0]!.destroy();
    await until(() => target.closed() === 1, 'the target side to close');
    await new Promise((r) => setTimeout(r, 50));
    expect(client.closed()).toBe(false);
    relay.restore();
    await until(() => client.closed(), 'restore() to close the stranded side');
  });
});
