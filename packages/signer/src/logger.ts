/**
 * A tiny structured logger: one JSON object per line, `{ time, level, msg, ...fields }`,
 * written to a sink (stderr by default). Fields carry ids (signer, session, key,
 * epoch, proposal), never material: byte arrays and objects are refused as field
 * values and logged as '<redacted>', so a share, nonce or passphrase cannot slip in.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogValue = string | number | boolean | null | undefined | readonly string[];
export type LogFields = Readonly<Record<string, LogValue>>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

function clean(value: unknown): LogValue {
  if (value === null || value === undefined || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  return '<redacted>';
}

export function createLogger(opts: { write?: (line: string) => void; level?: LogLevel; now?: () => number; fields?: LogFields } = {}): Logger {
  const write = opts.write ?? ((line: string) => process.stderr.write(line));
  const min = LEVELS[opts.level ?? 'info'];
  const now = opts.now ?? Date.now;
  const make = (base: LogFields): Logger => {
    const emit = (level: LogLevel, msg: string, fields: LogFields = {}) => {
      if (LEVELS[level] < min) return;
      const line: Record<string, LogValue> = { time: new Date(now()).toISOString(), level, msg };
      for (const [k, v] of Object.entries({ ...base, ...fields })) if (v !== undefined) line[k] = clean(v);
      write(`${JSON.stringify(line)}\n`);
    };
    return {
      debug: (msg, f) => emit('debug', msg, f),
      info: (msg, f) => emit('info', msg, f),
      warn: (msg, f) => emit('warn', msg, f),
      error: (msg, f) => emit('error', msg, f),
      child: (fields) => make({ ...base, ...fields }),
    };
  };
  return make(opts.fields ?? {});
}

/** A logger that drops everything. */
export const silentLogger: Logger = createLogger({ write: () => undefined });
