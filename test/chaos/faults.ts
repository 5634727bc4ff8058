/**
 * The faults a chaos trial injects: kill -9 of one node (a signer or the coordinator)
 * and its restart on the same data dir (the coordinator on the same port), then waiting
 * until the cluster is whole again: every signer connected, every active key's commit
 * acknowledged by each of its signers (the coordinator re-sends COMMIT on reconnect).
 */
import type { Cluster } from '../support/cluster.ts';

export const COORDINATOR = 'coordinator';

/** An error in one line: its code (unless the message starts with it) and first line. */
export function errorLine(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const code = (e as { code?: string }).code ?? e.name;
  const first = e.message.split('\n')[0] ?? '';
  return first.startsWith(code) ? first : `${code}: ${first}`;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `test` every 250 ms until it holds or `timeoutMs` passed; whether it held. Errors count as not yet. */
export async function until(test: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await test().catch(() => false)) return true;
    if (Date.now() > deadline) return false;
    await sleep(250);
  }
}

/** kill -9 `victim` and wait for its exit. */
export async function kill(cluster: Cluster, victim: string): Promise<void> {
  if (victim === COORDINATOR) await cluster.coordinator.kill('SIGKILL');
  else await cluster.killSigner(victim, 'SIGKILL');
}

/** Restarts `victim` on its data dir; a signer is back once the coordinator sees it connected. */
export async function restart(cluster: Cluster, victim: string): Promise<void> {
  if (victim === COORDINATOR) await cluster.restartCoordinator();
  else await cluster.startSigner(victim);
}

/** Every signer connected (each seen by the coordinator); false after `timeoutMs`. */
export async function allConnected(cluster: Cluster, timeoutMs = 30_000): Promise<boolean> {
  return until(async () => {
    const seen = await cluster.client.listSigners();
    return cluster.signerIds.every((id) => seen.some((s) => s.id === id && s.connected));
  }, timeoutMs);
}

/**
 * Waits until the coordinator has an acknowledgement from every signer of every active
 * key at the key's epoch (`SignerStatus.epochs`); false after `timeoutMs`.
 */
export async function commitsAcknowledged(cluster: Cluster, timeoutMs = 30_000): Promise<boolean> {
  return until(async () => {
    const [keys, signers] = await Promise.all([cluster.client.listKeys(), cluster.client.listSigners()]);
    return keys
      .filter((k) => k.state === 'active')
      .every((k) => k.signers.every((id) => signers.find((s) => s.id === id)?.epochs[k.id] === k.epoch));
  }, timeoutMs);
}

/** Restarts any node that is not running (a trial that died half-way must not leave the next one short). */
export async function reviveAll(cluster: Cluster): Promise<string[]> {
  const revived: string[] = [];
  if (!cluster.coordinator.alive) {
    await cluster.restartCoordinator();
    revived.push(COORDINATOR);
  }
  for (const id of cluster.signerIds) {
    if (cluster.signers.get(id)?.alive) continue;
    await cluster.startSigner(id);
    revived.push(id);
  }
  return revived;
}
