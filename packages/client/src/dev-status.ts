/**
 * `keyquorum status`: each coordinator's role from its own `GET /readyz` (docs/ha.md:
 * `role` single / leader / follower, `leaderUrl`, `leaderToken`), its pid when the dev
 * cluster recorded one and that process still runs, and the signers as the leader (or the
 * one coordinator) sees them. An answer that is not a coordinator's `/readyz` (another role,
 * a malformed leader URL or token) counts as 'down'.
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

const ROLES = new Set(['leader', 'follower', 'single']);

/** A `/readyz` answer as this reads it; undefined for anything else (a server that is not a coordinator, or lies in its shape). */
function readyz(v: unknown): { ready: boolean; role: string; leaderUrl: string | null | undefined; leaderToken: number | null } | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as { ready?: unknown; role?: unknown; leaderUrl?: unknown; leaderToken?: unknown };
  const role = r.role ?? 'single';
  if (typeof role !== 'string' || !ROLES.has(role)) return undefined;
  if (r.leaderUrl !== undefined && r.leaderUrl !== null && (typeof r.leaderUrl !== 'string' || !/^https?:\/\/[^\s]+$/.test(r.leaderUrl))) return undefined;
  if (r.leaderToken !== undefined && !Number.isSafeInteger(r.leaderToken)) return undefined;
  return { ready: r.ready === true, role, leaderUrl: r.leaderUrl as string | null | undefined, leaderToken: (r.leaderToken as number | undefined) ?? null };
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
        const r = readyz(await (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) })).json());
        if (r === undefined) throw new Error('not a coordinator /readyz answer');
        return { url, pid, role: r.role, ready: r.ready, leaderUrl: r.leaderUrl ?? (r.role === 'single' ? url : null), leaderToken: r.leaderToken };
      } catch {
        return { url, pid, role: 'down', ready: false, leaderUrl: null, leaderToken: null };
      }
    }),
  );
}
