/**
 * The structured logger the coordinator and every signer share (issue 4,
 * "Operations"): pino, one JSON object per line on stderr,
 * `{ level, time, ...bindings, ...fields, msg }`, with child loggers binding ids
 * (signer, session, keyId, epoch). Logs carry ids, never material:
 * - a field named like secret material (`REDACTED_FIELDS`) is replaced by pino's
 *   `redact` with '<redacted>', in call fields and child bindings alike;
 * - every value is serialized to plain data first: bytes (Uint8Array, Buffer),
 *   objects and anything else that is not a string, number, boolean, null or a
 *   string array become '<redacted>', so no share, nonce or passphrase can slip in
 *   as raw bytes under an innocent name.
 * Exported on its own subpath (`@keyquorum/protocol/logger`) so that clients of the
 * wire layer do not load pino.
 */
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
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

export interface LoggerOptions {
  /** Default 'info'. */
  level?: LogLevel;
  /** Where each line (newline-terminated JSON) goes; default stderr, written synchronously. */
  write?: (line: string) => void;
  /** Bound to every line. */
  fields?: LogFields;
}

/** Field names that could carry secret material; their values never reach a log line. */
export const REDACTED_FIELDS = [
  'share',
  'shares',
  'signingShare',
  'secretShare',
  'nonce',
  'nonces',
  'secret',
  'secretKey',
  'privateKey',
  'seed',
  'passphrase',
  'password',
  'kek',
  'dek',
  'keyMaterial',
] as const;

export const REDACTED = '<redacted>';

/** A field value as plain log data: bytes and objects never print. */
function serializeValue(value: unknown): LogValue {
  if (value === null || value === undefined || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  return REDACTED;
}

function serializeFields(fields: LogFields | undefined): Record<string, LogValue> {
  const out: Record<string, LogValue> = {};
  for (const [k, v] of Object.entries(fields ?? {})) out[k] = serializeValue(v);
  return out;
}

function wrap(p: PinoLogger): Logger {
  return {
    debug: (msg, fields) => p.debug(serializeFields(fields), msg),
    info: (msg, fields) => p.info(serializeFields(fields), msg),
    warn: (msg, fields) => p.warn(serializeFields(fields), msg),
    error: (msg, fields) => p.error(serializeFields(fields), msg),
    child: (fields) => wrap(p.child(serializeFields(fields))),
  };
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const write = opts.write;
  const destination: DestinationStream = write === undefined ? pino.destination({ dest: 2, sync: true }) : { write };
  const root = pino(
    {
      level: opts.level ?? 'info',
      base: null,
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: [...REDACTED_FIELDS], censor: REDACTED },
    },
    destination,
  );
  const logger = wrap(root);
  return opts.fields === undefined ? logger : logger.child(opts.fields);
}

/** A logger that drops everything. */
export const silentLogger: Logger = createLogger({ level: 'silent', write: () => undefined });
