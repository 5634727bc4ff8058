/**
 * Readiness (GET /readyz): started, the registry accepts writes, and at least as many
 * signers are connected as the smallest threshold among active keys (2 when there is
 * no active key), so that some key can be used. `reason` says why when not ready.
 */
import type { Readiness } from './api.ts';
import type { CoordinatorStore } from './store/types.ts';
import type { CoordinatorServer } from './server.ts';

/** The readiness of a coordinator in `status`, with its registry and server once started. */
export async function readinessOf(status: string, registry?: CoordinatorStore, server?: CoordinatorServer): Promise<Readiness> {
  if (status !== 'started' || registry === undefined || server === undefined) return { ready: false, registryWritable: false, signersConnected: 0, signersNeeded: 2, reason: `coordinator ${status}` };
  const registryWritable = await registry.writable();
  const signersConnected = server.connectedSigners().length;
  const thresholds = (await registry.listKeys())
    .filter((k) => k.state === 'active')
    .map((k) => k.threshold);
  const signersNeeded = thresholds.length === 0 ? 2 : Math.min(...thresholds);
  const why: string[] = [];
  if (!registryWritable) why.push('the registry does not accept writes');
  if (signersConnected < signersNeeded) {
    const of = thresholds.length === 0 ? 'no active key yet, 2 needed to create one' : 'the smallest threshold among active keys';
    why.push(`${signersConnected} signers connected, ${signersNeeded} needed (${of})`);
  }
  const out: Readiness = { ready: why.length === 0, registryWritable, signersConnected, signersNeeded };
  if (why.length > 0) out.reason = why.join('; ');
  return out;
}
