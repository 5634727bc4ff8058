/**
 * Waiting in end-to-end tests: for a condition (never a fixed sleep; every test must
 * pass on a loaded machine, so a bound only decides how late a failure is reported),
 * and for a free loopback port (the product's, packages/client/src/dev-ha.ts).
 */

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

export { freeLoopbackPort as freePort } from '../../packages/client/src/dev-ha.ts';
