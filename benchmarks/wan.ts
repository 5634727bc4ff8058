/**
 * Signing over a WAN (issue 13 lever 6): the same sequential 2-of-3 `e2e.sign` as
 * benchmarks/e2e.ts, with every coordinator <-> signer message held by a delay relay
 * (test/support/relay.ts) for half the round trip each way, on a cluster of its own
 * (test/support/wan-cluster.ts, relays and signers on loopback: a namespace adds no
 * latency of its own). The SDK client stays beside the coordinator, as a wallet
 * service would. Entries `e2e.sign.<scheme>.2of3.rtt<RTT>`; each is reported as a
 * ratio to the same run's loopback `e2e.sign.<scheme>.2of3` (benchmarks/lib/report.ts `wanBaseOf`),
 * which run.ts therefore runs whenever one of these does.
 *
 * The key is made with the relays at 0 ms (setup, untimed). The entries of a scheme are
 * sampled interleaved (one request at rtt0, one at rtt20, one at rtt50, again), the
 * delay set on every relay between requests (none is in flight then). The windows in
 * the notes are therefore the same for a scheme's entries.
 */
import { randomBytes } from 'node:crypto';
import { standardVerify } from '../test/support/verify.ts';
import { WanCluster } from '../test/support/wan-cluster.ts';
import { stopParsingLogs, type E2eNotes } from './e2e.ts';
import { ECDSA_SCHEME } from './ecdsa.ts';
import { fromSamples, type BenchResult } from './lib/result.ts';

export const WAN_SCHEMES = ['frost-secp256k1-tr', ECDSA_SCHEME] as const;
/**
 * Round trips between the coordinator and each signer, ms. `rtt0` is the relays at 0 ms:
 * their own cost (one more TCP hop and a process's event loop per message), so that
 * rtt20 - rtt0 is what the 20 ms themselves add.
 */
export const WAN_RTTS_MS = [0, 20, 50] as const;

export const wanEntryName = (scheme: string, rttMs: number) => `e2e.sign.${scheme}.2of3.rtt${rttMs}`;
export const WAN_NAMES = WAN_SCHEMES.flatMap((s) => WAN_RTTS_MS.map((rtt) => wanEntryName(s, rtt)));

export interface WanOptions {
  signSamples: number;
  warmup: number;
  filter: (name: string) => boolean;
  onResult: (r: BenchResult) => void;
  log: (line: string) => void;
  /** The e2e notes to add this run's measurement windows to. */
  notes: E2eNotes;
}

const nowUs = () => Number(process.hrtime.bigint() / 1000n);

/** Chunks released and ms held so far, each direction, over every relay. */
function heldTotals(wan: WanCluster): Record<'up' | 'down', { chunks: number; ms: number }> {
  const sum = (d: 'up' | 'down') => [...wan.relays.values()].reduce((a, r) => ({ chunks: a.chunks + r.stats[d].releasedChunks, ms: a.ms + r.stats[d].heldMsTotal }), { chunks: 0, ms: 0 });
  return { up: sum('up'), down: sum('down') };
}

export async function runWan(o: WanOptions): Promise<void> {
  if (!WAN_NAMES.some(o.filter)) return;
  const bootStart = performance.now();
  const wan = await WanCluster.start({ hosts: 'loopback', delayMs: 0, signers: 3, roundTimeoutMs: 60_000 });
  o.log(`WAN cluster (1 coordinator + 3 signers, each behind a delay relay) up in ${((performance.now() - bootStart) / 1000).toFixed(1)} s`);
  stopParsingLogs(wan.cluster);
  const { client } = wan.cluster;
  try {
    for (const scheme of WAN_SCHEMES) {
      const names = WAN_RTTS_MS.map((rtt) => wanEntryName(scheme, rtt));
      if (!names.some(o.filter)) continue;
      wan.setDelay(0);
      const keyId = `bench-wan-${scheme}`;
      await client.createKey({ keyId, suite: scheme, threshold: 2, signers: wan.cluster.signerIds });
      const { publicKey } = await client.getKey(keyId);
      const signOnce = async () => {
        const m = new Uint8Array(randomBytes(32));
        const t0 = performance.now();
        const r = await client.sign(keyId, { message: m });
        const ms = performance.now() - t0;
        if (r.publicKey !== publicKey || !standardVerify(scheme, r.signature, m, r.publicKey)) throw new Error(`${keyId}: the signature does not verify`);
        return ms;
      };
      // Interleaved: one request at each selected round trip in turn, so the machine's
      // load (shared, drifting) weighs on every entry alike.
      const rtts = WAN_RTTS_MS.filter((rtt) => o.filter(wanEntryName(scheme, rtt)));
      const samples = new Map<number, number[]>(rtts.map((rtt) => [rtt, []]));
      const held = new Map(rtts.map((rtt) => [rtt, { up: { chunks: 0, ms: 0 }, down: { chunks: 0, ms: 0 } }]));
      for (let i = 0; i < o.warmup; i++) {
        for (const rtt of rtts) {
          wan.setDelay(rtt / 2);
          await signOnce();
        }
      }
      const start = nowUs();
      for (let i = 0; i < o.signSamples; i++) {
        for (const rtt of rtts) {
          wan.setDelay(rtt / 2);
          const before = heldTotals(wan);
          samples.get(rtt)!.push(await signOnce());
          const after = heldTotals(wan);
          const acc = held.get(rtt)!;
          for (const d of ['up', 'down'] as const) {
            acc[d].chunks += after[d].chunks - before[d].chunks;
            acc[d].ms += after[d].ms - before[d].ms;
          }
        }
      }
      const end = nowUs();
      for (const rtt of rtts) {
        const name = wanEntryName(scheme, rtt);
        const acc = held.get(rtt)!;
        const mean = (d: 'up' | 'down') => Number((acc[d].ms / Math.max(1, acc[d].chunks)).toPrecision(4));
        o.notes.windows[name] = [start, end];
        (o.notes.relayHeldMs ??= {})[name] = { delayMs: rtt / 2, up: mean('up'), down: mean('down') };
        o.log(`  ${name}: relays held a chunk ${mean('up')} ms up, ${mean('down')} ms down on average (delay ${rtt / 2} ms)`);
        o.onResult(fromSamples(name, samples.get(rtt)!));
      }
    }
  } finally {
    await wan.stop();
  }
}
