/**
 * The key state commands of the `keyquorum` CLI (cli.ts), as the transition they ask
 * for: `keys suspend|resume|deactivate|compromise ID` and `keys destroy ID [--after 7d]
 * [--cancel]` (docs/cluster-protocol.md "Key states"). A bad option is a usage error.
 */
import { DEFAULT_DESTROY_DELAY_MS, MAX_DESTROY_DELAY_MS, type RequestedTransition } from '@keyquorum/protocol';

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** '7d', '36h', '90m', '30s', '1500ms' as milliseconds; undefined if malformed or above the longest delay. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d{1,12})(ms|s|m|h|d)$/.exec(text);
  if (m === null) return undefined;
  const ms = Number(m[1]) * UNIT_MS[m[2]!]!;
  return ms <= MAX_DESTROY_DELAY_MS ? ms : undefined;
}

/** The transition a state command asks for, or the usage error to report. */
export function stateTransition(command: string, o: { after?: string | undefined; cancel?: boolean | undefined }): { transition: RequestedTransition; afterMs?: number } | { usage: string } {
  if (command !== 'destroy') {
    if (o.after !== undefined || o.cancel === true) return { usage: `--after and --cancel apply to 'keys destroy' only` };
    return { transition: command as RequestedTransition };
  }
  if (o.cancel === true) return o.after === undefined ? { transition: 'cancel-destroy' } : { usage: '--cancel takes no --after' };
  if (o.after === undefined) return { transition: 'schedule-destroy', afterMs: DEFAULT_DESTROY_DELAY_MS };
  const afterMs = parseDuration(o.after);
  return afterMs === undefined ? { usage: `--after: expected a delay such as 7d, 36h, 90m, 30s or 1500ms (at most 365d), got '${o.after}'` } : { transition: 'schedule-destroy', afterMs };
}
