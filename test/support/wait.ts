/**
 * Waiting in end-to-end tests: for a condition (never a fixed sleep; every test must
 * pass on a loaded machine, so a bound only decides how late a failure is reported),
 * and for a free loopback port.
 */
import net from 'node:net';

/** Polls `probe` until it gives a value (not undefined); throws naming `what` once `timeoutMs` has passed. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 180_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await probe();
    if (got !== undefined) return got;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (${timeoutMs} ms)`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the caller retries if another process takes it first). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
