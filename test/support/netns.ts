/**
 * Network namespaces for tests that put nodes on separate hosts: each host is a Linux
 * network namespace joined to the root namespace by a veth pair on its own /30
 * (10.77.X.4i+1 on the root side, 10.77.X.4i+2 inside). A process started under
 * `lab.exec(i)` (`ip netns exec NS`) sees only its namespace's interfaces: loopback and
 * its end of the veth, so it reaches the root namespace only through that link.
 *
 * Needs root and iproute2 with netns support; `netnsUnavailable()` says why not when
 * not (the tests skip with that reason). Names and the subnet are unique per lab
 * (random run id; a 10.77.X.0/24 not in use on this machine). Cleanup is always run:
 * `destroy()` (idempotent) and, should the test process exit without it, an exit hook.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface NetnsHost {
  /** Namespace name. */
  ns: string;
  /** The veth end in the root namespace and its address (what the host dials). */
  rootIf: string;
  rootAddr: string;
  /** The host's own address inside its namespace. */
  nsAddr: string;
}

const ip = (args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
const errorText = (e: unknown) => String((e as { stderr?: string }).stderr || (e as Error).message).trim();

let probed: string | undefined | null = null;

/**
 * Why namespaces cannot be used here (not Linux, not root, no `ip`, `ip netns add` or
 * veth refused), or undefined when they can: probes once by building and removing a
 * namespace with a veth pair.
 */
export function netnsUnavailable(): string | undefined {
  if (probed !== null) return probed;
  probed = probe();
  return probed;
}

function probe(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return `network namespaces need root (uid ${process.getuid?.()})`;
  try {
    ip(['-V']);
  } catch (e) {
    return `iproute2 \`ip\` is not usable: ${errorText(e)}`;
  }
  let lab: NetnsLab | undefined;
  try {
    lab = NetnsLab.create(1);
    ip(['netns', 'exec', lab.hosts[0]!.ns, 'ip', 'link', 'show', 'lo']);
    return undefined;
  } catch (e) {
    return `could not build a network namespace with a veth pair: ${errorText(e)}`;
  } finally {
    lab?.destroy();
  }
}

export class NetnsLab {
  private destroyed = false;
  private readonly onExit = () => this.destroy();

  private constructor(readonly hosts: NetnsHost[]) {
    process.once('exit', this.onExit);
  }

  /** Builds `count` namespaces, each with a veth pair to the root namespace; on any failure removes what it built and throws. */
  static create(count: number): NetnsLab {
    if (count < 1 || count > 63) throw new Error(`NetnsLab: 1 to 63 hosts, not ${count}`);
    const run = randomBytes(3).toString('hex').slice(0, 5);
    const subnet = freeSubnet();
    const hosts: NetnsHost[] = Array.from({ length: count }, (_, i) => ({
      ns: `kqwan-${run}-${i}`,
      rootIf: `kqw${run}r${i}`,
      rootAddr: `10.77.${subnet}.${4 * i + 1}`,
      nsAddr: `10.77.${subnet}.${4 * i + 2}`,
    }));
    const lab = new NetnsLab(hosts);
    try {
      hosts.forEach((h, i) => {
        const peer = `kqw${run}n${i}`;
        ip(['netns', 'add', h.ns]);
        ip(['link', 'add', h.rootIf, 'type', 'veth', 'peer', 'name', peer]);
        ip(['link', 'set', peer, 'netns', h.ns]);
        ip(['addr', 'add', `${h.rootAddr}/30`, 'dev', h.rootIf]);
        ip(['link', 'set', h.rootIf, 'up']);
        ip(['netns', 'exec', h.ns, 'ip', 'addr', 'add', `${h.nsAddr}/30`, 'dev', peer]);
        ip(['netns', 'exec', h.ns, 'ip', 'link', 'set', peer, 'up']);
        ip(['netns', 'exec', h.ns, 'ip', 'link', 'set', 'lo', 'up']);
      });
    } catch (e) {
      lab.destroy();
      throw e;
    }
    return lab;
  }

  /** The command prefix that runs a process inside host `i`'s namespace (`ip netns exec` execs it: same pid, signals reach it). */
  exec(i: number): string[] {
    return ['ip', 'netns', 'exec', this.hosts[i]!.ns];
  }

  /** Removes every namespace and veth of this lab (idempotent, never throws; missing ones are fine). */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    process.off('exit', this.onExit);
    for (const h of this.hosts) {
      // Deleting the namespace deletes its veth end, and with it the pair; the explicit
      // link delete covers a failure between `link add` and `link set netns`.
      for (const args of [['netns', 'del', h.ns], ['link', 'del', h.rootIf]]) {
        try {
          ip(args);
        } catch {
          // not there (never built, or already gone with its peer)
        }
      }
    }
  }
}

/** A third octet X with no 10.77.X.* address on this machine (random start, so parallel labs rarely race). */
function freeSubnet(): number {
  const used = new Set([...ip(['-o', '-4', 'addr', 'show']).matchAll(/inet 10\.77\.(\d+)\./g)].map((m) => Number(m[1])));
  const start = randomBytes(1)[0]!;
  for (let k = 0; k < 256; k++) {
    const x = (start + k) % 256;
    if (!used.has(x)) return x;
  }
  throw new Error('NetnsLab: every 10.77.X.0/24 is in use');
}
