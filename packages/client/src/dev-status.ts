/**
 * `keyquorum status`: each coordinator's role from its own `GET /readyz` (docs/ha.md:
 * `role` single / leader / follower, `leaderUrl`, `leaderToken`), its pid when the dev
 * cluster recorded one and that process still runs, and the signers as the leader (or the
 * one coordinator) sees them.
 */
export interface CoordinatorStatus {
  url: string;
  /** From `cluster.json` of `keyquorum dev`; null when unknown or no longer running. */
  pid: number | null;
  /** 'leader' | 'follower' | 'single'; 'down' when /readyz did not answer. */
  role: string;
  ready: boolean;
  leaderUrl: string | null;
  leaderToken: number | null;
}

function running(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}

export async function coordinatorStatus(urls: readonly string[], pids: Readonly<Record<string, number>>): Promise<CoordinatorStatus[]> {
  return Promise.all(
    urls.map(async (url) => {
      const pid = running(pids[url]);
      try {
        const r = (await (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) })).json()) as { ready?: boolean; role?: string; leaderUrl?: string | null; leaderToken?: number };
        return { url, pid, role: r.role ?? 'single', ready: r.ready === true, leaderUrl: r.leaderUrl ?? (r.role === undefined ? url : null), leaderToken: r.leaderToken ?? null };
      } catch {
        return { url, pid, role: 'down', ready: false, leaderUrl: null, leaderToken: null };
      }
    }),
  );
}
