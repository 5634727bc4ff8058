/**
 * A tiny structured logger: one JSON object per line (`ts`, `level`, `msg`, then
 * fields such as `signer`, `session`, `keyId`, `epoch`). Callers pass ids, never key
 * material; values that are not plain data are dropped to their string form.
 */

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type LogFields = Record<string, string | number | boolean | null | undefined | readonly string[]>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Where each line goes; default stderr. */
  write?: (line: string) => void;
  now?: () => number;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export function createLogger(opts: LoggerOptions = {}, bound: LogFields = {}): Logger {
  const min = RANK[opts.level ?? 'info'];
  const write = opts.write ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const now = opts.now ?? Date.now;
  const emit = (level: Exclude<LogLevel, 'silent'>) => (msg: string, fields: LogFields = {}) => {
    if (RANK[level] < min) return;
    const line: Record<string, unknown> = { ts: new Date(now()).toISOString(), level, msg };
    for (const [k, v] of Object.entries({ ...bound, ...fields })) if (v !== undefined) line[k] = v;
    write(JSON.stringify(line));
  };
  return {
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    child: (fields) => createLogger(opts, { ...bound, ...fields }),
  };
}
