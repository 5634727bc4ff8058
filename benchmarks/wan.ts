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
 * The key is made with the relays at 0 ms (setup, untimed); the delay is then set on
 * every relay before the warm-up requests of each entry.
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
      for (const rtt of WAN_RTTS_MS) {
        const name = wanEntryName(scheme, rtt);
        if (!o.filter(name)) continue;
        wan.setDelay(rtt / 2);
        for (let i = 0; i < o.warmup; i++) await signOnce();
        const samples: number[] = [];
        const start = nowUs();
        for (let i = 0; i < o.signSamples; i++) samples.push(await signOnce());
        o.notes.windows[name] = [start, nowUs()];
        o.onResult(fromSamples(name, samples));
      }
    }
  } finally {
    await wan.stop();
  }
}
