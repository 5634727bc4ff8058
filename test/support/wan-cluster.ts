/**
 * A cluster whose signers reach the coordinator over a slow network: one delay relay
 * (test/support/relay.ts) per signer between it and the coordinator, so every
 * coordinator <-> signer message pays `delayMs` one way (RTT 2 × delayMs). The
 * coordinator and the SDK client stay on loopback (the client is beside the
 * coordinator, as a wallet service would be).
 *
 * - `hosts: 'netns'`: every signer runs in its own network namespace with its own
 *   address (test/support/netns.ts) and dials its relay, which listens on the root end
 *   of that signer's veth: the signer can reach the coordinator only through it.
 * - `hosts: 'loopback'`: relays on 127.0.0.1, signers as usual (no root needed; the
 *   benchmarks use this: namespaces add no latency of their own).
 *
 * Nodes are started by test/support/cluster.ts through their CLIs (its `signerRoute`).
 */
import { Cluster, type ClusterOptions } from './cluster.ts';
import { NetnsLab } from './netns.ts';
import { DelayRelay } from './relay.ts';

export interface WanClusterOptions extends Omit<ClusterOptions, 'signerRoute'> {
  /** One-way delay between the coordinator and each signer (ms). */
  delayMs: number;
  hosts: 'netns' | 'loopback';
}

export class WanCluster {
  private constructor(
    readonly cluster: Cluster,
    /** The relay in front of each signer (cut one to cut that signer off). */
    readonly relays: Map<string, DelayRelay>,
    readonly lab: NetnsLab | undefined,
  ) {}

  static async start(opts: WanClusterOptions): Promise<WanCluster> {
    const { delayMs, hosts, ...clusterOptions } = opts;
    const signers = clusterOptions.signers ?? 3;
    const relays = new Map<string, DelayRelay>();
    const lab = hosts === 'netns' ? NetnsLab.create(signers) : undefined;
    try {
      const cluster = await Cluster.start({
        ...clusterOptions,
        signerRoute: async (id, coordinatorSignerUrl) => {
          const coordinator = new URL(coordinatorSignerUrl);
          const i = Number(/^signer-(\d+)$/.exec(id)?.[1]) - 1;
          const host = lab?.hosts[i];
          const relay = await DelayRelay.start({ listen: { host: host?.rootAddr ?? '127.0.0.1' }, target: { host: coordinator.hostname, port: Number(coordinator.port) }, delayMs });
          relays.set(id, relay);
          const url = new URL(coordinatorSignerUrl);
          url.hostname = relay.address.host;
          url.port = String(relay.address.port);
          return { url: url.toString(), ...(lab === undefined ? {} : { prefix: lab.exec(i) }) };
        },
      });
      return new WanCluster(cluster, relays, lab);
    } catch (e) {
      await Promise.all([...relays.values()].map((r) => r.close()));
      lab?.destroy();
      throw e;
    }
  }

  /** Sets the one-way delay of every relay (chunks read from now on). */
  setDelay(ms: number): void {
    for (const r of this.relays.values()) r.setDelay(ms);
  }

  async stop(): Promise<void> {
    try {
      await this.cluster.stop();
    } finally {
      await Promise.all([...this.relays.values()].map((r) => r.close()));
      this.lab?.destroy();
    }
  }
}
