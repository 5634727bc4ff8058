/**
 * The frame codec: msgpack (msgpackr) with records off, so nodes of different
 * versions interoperate, restricted to plain data — null, booleans, finite numbers,
 * strings, byte strings, arrays and string-keyed objects. Cap then parse: a frame's
 * length is checked before it is decoded, and whatever msgpackr returns is walked
 * once more, so extension types (dates, sets, typed arrays, errors), unsafe 64-bit
 * integers and deep nesting are refused with a typed error (shared references and
 * cycles already are, by `structuredClone: false`).
 */
import { Packr } from 'msgpackr';
import { DEFAULT_MAX_FRAME_BYTES, MAX_NESTING_DEPTH } from './constants.ts';
import { WireError } from './errors.ts';
import { fieldPath, isPlainObject, uint } from './validate.ts';

/** A value the wire carries. Byte strings decode as plain `Uint8Array`s. */
export type WireValue = null | boolean | number | string | Uint8Array | WireValue[] | { [key: string]: WireValue };

export interface DecodeOptions {
  /** Longest frame accepted, in bytes. */
  maxBytes?: number;
}

const packr = new Packr({
  useRecords: false,
  structuredClone: false,
  mapsAsObjects: true,
  moreTypes: false,
  bundleStrings: false,
  encodeUndefinedAsNil: false,
  // 64-bit integers decode as bigint; `toPlain` keeps the safe ones as numbers.
  int64AsType: 'bigint',
});

type Mode = 'encode' | 'decode';

/** Copies `v` as plain wire data, or throws naming the first offending path. */
function toPlain(v: unknown, mode: Mode, path: string, depth: number, ancestors: Set<object>): WireValue {
  const reject = (): never => {
    throw new WireError(mode === 'decode' ? 'MALFORMED' : 'BAD_FIELD', { field: path || undefined });
  };
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : reject();
  if (typeof v === 'bigint' && mode === 'decode') {
    const n = Number(v);
    return Number.isSafeInteger(n) && BigInt(n) === v ? n : reject();
  }
  if (typeof v !== 'object') return reject();
  // Copy into a plain Uint8Array: msgpackr yields Buffers that view the frame.
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (depth >= MAX_NESTING_DEPTH || ancestors.has(v)) return reject();
  ancestors.add(v);
  let out: WireValue;
  if (Array.isArray(v)) {
    out = v.map((item, i) => toPlain(item, mode, fieldPath(path, i), depth + 1, ancestors));
  } else if (isPlainObject(v)) {
    const obj: { [key: string]: WireValue } = {};
    for (const [key, item] of Object.entries(v)) {
      if (key === '__proto__') reject();
      obj[key] = toPlain(item, mode, fieldPath(path, key), depth + 1, ancestors);
    }
    out = obj;
  } else {
    return reject();
  }
  ancestors.delete(v);
  return out;
}

/** Encodes plain wire data; anything else is 'BAD_FIELD' naming its path. */
export function encode(value: WireValue): Uint8Array {
  const plain = toPlain(value, 'encode', '', 0, new Set());
  return new Uint8Array(packr.pack(plain));
}

/**
 * Decodes exactly one msgpack value of plain data. Longer than `maxBytes`:
 * 'FRAME_TOO_LARGE' (not decoded at all); anything else wrong, including trailing
 * bytes: 'MALFORMED'.
 */
export function decode(frame: Uint8Array, opts: DecodeOptions = {}): WireValue {
  const maxBytes = uint(opts.maxBytes ?? DEFAULT_MAX_FRAME_BYTES, 1, 2 ** 32 - 1, 'maxBytes');
  if (!(frame instanceof Uint8Array)) throw new WireError('MALFORMED', { message: 'frame must be bytes' });
  if (frame.length > maxBytes) {
    throw new WireError('FRAME_TOO_LARGE', { message: `frame of ${frame.length} bytes exceeds ${maxBytes}` });
  }
  let raw: unknown;
  try {
    // A fresh view: msgpackr caches a DataView on the object it is given.
    raw = packr.unpack(new Uint8Array(frame.buffer, frame.byteOffset, frame.length));
  } catch {
    // msgpackr's message may quote frame content; ours does not.
    throw new WireError('MALFORMED', { message: 'MALFORMED: not exactly one msgpack value' });
  }
  return toPlain(raw, 'decode', '', 0, new Set());
}
