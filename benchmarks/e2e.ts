/**
 * End-to-end figures through the real path: the SDK signs a client request and
 * POSTs it to the coordinator's HTTP API; the coordinator runs the round with signer
 * daemons in separate processes over loopback WebSockets (each with its own SQLite
 * files, nonces journaled and consumed on disk); the returned signature is checked
 * with the scheme's standard verifier here (for ecdsa-secp256k1 the message is a
 * 32-byte digest, verified with noble, prehash false, low s). The cluster is the e2e tests' harness
 * (test/support/cluster.ts): every process is started through its own CLI.
 *
 * Latencies are timed per request (performance.now around the SDK call), so p99 is
 * over single requests. benchmark.js is not used here: its samples are cycle means.
 */
import { randomBytes } from 'node:crypto';
import { Cluster } from '../test/support/cluster.ts';
import { standardVerify } from '../test/support/verify.ts';
import { fromSamples, type BenchResult } from './lib/result.ts';
import type { SuiteId } from '@keyquorum/crypto';
import { SCHEMES } from './crypto.ts';
import { ECDSA_SCHEME } from './ecdsa.ts';

export const E2E_QUORUMS = [
  [2, 3],
  [3, 5],
] as const;

/**
 * Which entries each scheme has. ecdsa-secp256k1 (DKLs23) times its DKG at 2-of-3 only
 * (a 3-of-5 DKLs23 DKG is tens of seconds of CPU here; its key is still made, untimed)
 * and has no refresh entry.
 */
const E2E_SCHEMES: readonly { scheme: SuiteId | typeof ECDSA_SCHEME; dkg: (n: number) => boolean; refresh: boolean; presign?: true }[] = [
  ...SCHEMES.map((scheme) => ({ scheme, dkg: () => true, refresh: true })),
  { scheme: ECDSA_SCHEME, dkg: (n: number) => n === 3, refresh: false, presign: true },
];

/** Presignatures the coordinator holds unused now (its keyquorum_pooled_presignatures gauge). */
async function pooledPresignatures(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^keyquorum_pooled_presignatures (\d+)$/m.exec(text)?.[1] ?? 0);
}

/** Waits (polling, 20 ms) until the coordinator holds a presignature; false after `timeoutMs`. */
async function presignatureHeld(url: string, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while ((await pooledPresignatures(url)) === 0) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

export interface E2eOptions {
  /** Sequential samples per e2e.sign entry (after warm-up). */
  signSamples: number;
  warmup: number;
  /** DKG and refresh samples per entry. */
  sessionSamples: number;
  throughputSeconds: number;
  concurrency: number;
  /** Only entries whose name matches run (the cluster starts only if one does). */
  filter: (name: string) => boolean;
  /** Directory for CPU profiles of the coordinator and signers (benchmarks/support/cpu-profile.mjs). */
  profileDir?: string;
  onResult: (r: BenchResult) => void;
  log: (line: string) => void;
}

/** Notes the run keeps beside the figures (failed requests, the concurrency used). */
export interface E2eNotes {
  concurrency: number;
  throughputErrors: Record<string, number>;
  /** CLOCK_MONOTONIC windows (µs) of each measured phase, to cut CPU profiles. */
  windows: Record<string, [number, number]>;
  /**
   * WAN entries (benchmarks/wan.ts): the configured one-way delay and the mean time the
   * relays actually held a chunk each way during the measured requests (more than the
   * delay when the relay's timers fire late on a loaded machine).
   */
  relayHeldMs?: Record<string, { delayMs: number; up: number; down: number }>;
}

const message = () => new Uint8Array(randomBytes(32));
const nowUs = () => Number(process.hrtime.bigint() / 1000n);

/** The harness parses every log line of every child; after boot that would only steal CPU from the cluster. */
export function stopParsingLogs(cluster: Cluster): void {
  for (const proc of [cluster.coordinator, ...cluster.signers.values()]) {
    for (const stream of [proc.child.stdout, proc.child.stderr]) {
      stream?.removeAllListeners('data');
      stream?.resume();
    }
  }
}

export async function runE2e(o: E2eOptions): Promise<E2eNotes> {
  const notes: E2eNotes = { concurrency: o.concurrency, throughputErrors: {}, windows: {} };
  const entryNames = (p: (typeof E2E_SCHEMES)[number], t: number, n: number) => {
    const q = `${p.scheme}.${t}of${n}`;
    return [`e2e.sign.${q}`, ...(p.presign && n === 3 ? [`e2e.sign.${q}.pooled`] : []), ...(p.dkg(n) ? [`e2e.dkg.${q}`] : []), ...(p.refresh ? [`e2e.refresh.${q}`] : []), ...(n === 3 ? [`e2e.throughput.${q}`] : [])];
  };
  const wanted = E2E_SCHEMES.flatMap((p) => E2E_QUORUMS.flatMap(([t, n]) => entryNames(p, t, n)));
  if (!wanted.some(o.filter)) return notes;
  const signers = Math.max(...E2E_QUORUMS.map(([, n]) => n));
  if (o.profileDir !== undefined) {
    process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import=${new URL('./support/cpu-profile.mjs', import.meta.url).pathname}`.trim();
    process.env.KEYQUORUM_CPU_PROFILE_DIR = o.profileDir;
  }
  const bootStart = performance.now();
  // A long round timeout: under the throughput load a round may queue behind others; it must not be cut.
  const cluster = await Cluster.start({ signers, roundTimeoutMs: 60_000 });
  if (o.profileDir !== undefined) {
    delete process.env.KEYQUORUM_CPU_PROFILE_DIR;
  }
  o.log(`cluster of 1 coordinator + ${signers} signers up in ${((performance.now() - bootStart) / 1000).toFixed(1)} s`);
  stopParsingLogs(cluster);
  const { client } = cluster;
  let keySeq = 0;
  try {
    for (const plan of E2E_SCHEMES) {
      const { scheme } = plan;
      for (const [t, n] of E2E_QUORUMS) {
        const q = `${scheme}.${t}of${n}`;
        // No key is made for a quorum none of whose entries is selected (a DKLs23 DKG is seconds of CPU).
        if (!entryNames(plan, t, n).some(o.filter)) continue;
        const members = cluster.signerIds.slice(0, n);
        const createKey = async () => {
          const keyId = `bench-${scheme}-${t}of${n}-${++keySeq}`;
          await client.createKey({ keyId, suite: scheme, threshold: t, signers: members });
          return keyId;
        };
        // DKG: each sample creates a key; the last one is the key the other entries use.
        const dkgSamples: number[] = [];
        let keyId = await createKey();
        if (plan.dkg(n) && o.filter(`e2e.dkg.${q}`)) {
          for (let i = 0; i < o.sessionSamples; i++) {
            const t0 = performance.now();
            keyId = await createKey();
            dkgSamples.push(performance.now() - t0);
          }
          o.onResult(fromSamples(`e2e.dkg.${q}`, dkgSamples));
        }
        const { publicKey } = await client.getKey(keyId);
        const signOnce = async () => {
          const m = message();
          const t0 = performance.now();
          const r = await client.sign(keyId, { message: m });
          const ms = performance.now() - t0;
          if (r.publicKey !== publicKey || !standardVerify(scheme, r.signature, m, r.publicKey)) throw new Error(`${q}: the signature does not verify`);
          return ms;
        };
        if (o.filter(`e2e.sign.${q}`)) {
          for (let i = 0; i < o.warmup; i++) await signOnce();
          const samples: number[] = [];
          const start = nowUs();
          for (let i = 0; i < o.signSamples; i++) samples.push(await signOnce());
          notes.windows[`e2e.sign.${q}`] = [start, nowUs()];
          o.onResult(fromSamples(`e2e.sign.${q}`, samples));
        }
        // The online part of a pooled signature: each sample starts once the coordinator holds a presignature
        // (the background presigning is not timed). A sample that found none in 60 s is not taken: said in the log.
        if (plan.presign && o.filter(`e2e.sign.${q}.pooled`)) {
          const samples: number[] = [];
          let missed = 0;
          const start = nowUs();
          for (let i = 0; i < o.signSamples; i++) {
            if (await presignatureHeld(cluster.url, 60_000)) samples.push(await signOnce());
            else missed++;
          }
          if (missed > 0) o.log(`e2e.sign.${q}.pooled: ${missed} samples found no presignature in 60 s (not taken)`);
          notes.windows[`e2e.sign.${q}.pooled`] = [start, nowUs()];
          if (samples.length > 0) o.onResult(fromSamples(`e2e.sign.${q}.pooled`, samples));
        }
        // Throughput is measured on the 2-of-3 quorum (the target); add quorums here if needed.
        if (n === 3 && o.filter(`e2e.throughput.${q}`)) {
          const name = `e2e.throughput.${q}`;
          for (let i = 0; i < o.warmup; i++) await signOnce();
          const samples: number[] = [];
          let errors = 0;
          const start = performance.now();
          const startUs = nowUs();
          const deadline = start + o.throughputSeconds * 1000;
          await Promise.all(
            Array.from({ length: o.concurrency }, async () => {
              while (performance.now() < deadline) {
                try {
                  samples.push(await signOnce());
                } catch (e) {
                  errors++;
                  if (errors <= 3) o.log(`${name}: request failed: ${(e as Error).message}`);
                }
              }
            }),
          );
          const elapsed = (performance.now() - start) / 1000;
          notes.windows[name] = [startUs, nowUs()];
          notes.throughputErrors[name] = errors;
          o.onResult(fromSamples(name, samples, samples.length / elapsed));
        }
        if (plan.refresh && o.filter(`e2e.refresh.${q}`)) {
          const samples: number[] = [];
          for (let i = 0; i < o.sessionSamples; i++) {
            const t0 = performance.now();
            await client.refresh(keyId);
            samples.push(performance.now() - t0);
          }
          o.onResult(fromSamples(`e2e.refresh.${q}`, samples));
        }
      }
    }
  } finally {
    // Worker threads write their profiles in 1 s chunks (they get no 'exit' when terminated): let the last one out.
    if (o.profileDir !== undefined) await new Promise((r) => setTimeout(r, 2500));
    await cluster.stop();
  }
  return notes;
}
