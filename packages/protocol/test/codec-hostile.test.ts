/**
 * The frame codec against a hostile peer or a careless caller, at the edges the first
 * codec tests do not pin (docs/mutation.md, protocol `codec.ts`): the frame cap at
 * exactly its size, a bad cap option, a frame that is not bytes, non-finite floats on
 * the wire, the nesting limit at exactly its depth, an own `__proto__` key handed to
 * encode, and the path a refusal names.
 */
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { decode, encode, type WireValue } from '../src/codec.ts';
import { MAX_NESTING_DEPTH } from '../src/constants.ts';
import { isWireError } from '../src/errors.ts';
import { expectWireError } from './helpers.ts';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
/** A permissive packer, standing in for a peer that sends what ours never would. */
const lenient = new Packr({ useRecords: false, moreTypes: true, structuredClone: true });

function nested(levels: number): WireValue {
  let v: WireValue = 1;
  for (let i = 0; i < levels; i++) v = [v];
  return v;
}

function nestedObjects(levels: number): WireValue {
  let v: WireValue = 1;
  for (let i = 0; i < levels; i++) v = { k: v };
  return v;
}

function thrown(fn: () => unknown): { code: string; field?: string; message: string } {
  try {
    fn();
  } catch (e) {
    if (isWireError(e)) return e as unknown as { code: string; field?: string; message: string };
    throw e;
  }
  throw new Error('expected a WireError');
}

describe('codec against hostile frames', () => {
  it('a frame of exactly the cap is decoded; one byte more is refused before decoding (FRAME_TOO_LARGE)', () => {
    const frame = encode({ b: new Uint8Array(40) });
    expect(decode(frame, { maxBytes: frame.length })).toEqual({ b: new Uint8Array(40) });
    expectWireError(() => decode(frame, { maxBytes: frame.length - 1 }), 'FRAME_TOO_LARGE');
    expect(thrown(() => decode(frame, { maxBytes: frame.length - 1 })).message).toContain(`frame of ${frame.length} bytes exceeds ${frame.length - 1}`);
  });

  it('a cap of zero, a negative, fractional or absurd cap is refused naming maxBytes (no frame is read under a cap nobody meant)', () => {
    const frame = encode(1);
    for (const maxBytes of [0, -1, 1.5, 2 ** 32, Number.NaN]) {
      expectWireError(() => decode(frame, { maxBytes }), 'BAD_FIELD', 'maxBytes');
    }
    expect(decode(frame, { maxBytes: 1 })).toBe(1);
    expect(decode(frame, { maxBytes: 2 ** 32 - 1 })).toBe(1);
  });

  it('a frame that is not bytes (a string, an array, null) is refused as MALFORMED, not decoded', () => {
    for (const frame of ['\x01', [1], null, { length: 1 }]) {
      expectWireError(() => decode(frame as unknown as Uint8Array), 'MALFORMED');
      expect(thrown(() => decode(frame as unknown as Uint8Array)).message).toContain('frame must be bytes');
    }
  });

  it('a peer sending NaN or an infinity as a float is refused (MALFORMED naming the path), not handed on', () => {
    // float64 NaN, +Infinity, -Infinity, and float32 NaN, inside a map under "x".
    for (const f of ['cb7ff8000000000000', 'cb7ff0000000000000', 'cbfff0000000000000', 'ca7fc00000']) {
      expectWireError(() => decode(hex(`81a178${f}`)), 'MALFORMED', 'x');
    }
    expect(decode(hex('81a178cb3ff8000000000000'))).toEqual({ x: 1.5 });
  });

  it('nesting of exactly the limit is accepted both ways; one level more is refused naming the deepest path', () => {
    const atLimit = nested(MAX_NESTING_DEPTH);
    expect(decode(encode(atLimit))).toEqual(atLimit);
    expect(decode(lenient.pack(atLimit))).toEqual(atLimit);
    const over = nested(MAX_NESTING_DEPTH + 1);
    const deepest = '[0]'.repeat(MAX_NESTING_DEPTH);
    expectWireError(() => decode(lenient.pack(over)), 'MALFORMED', deepest);
    expectWireError(() => encode(over), 'BAD_FIELD', deepest);
    // The same through maps: each level of an object counts as one.
    const objectsAtLimit = nestedObjects(MAX_NESTING_DEPTH);
    expect(decode(encode(objectsAtLimit))).toEqual(objectsAtLimit);
    const deepestKey = Array.from({ length: MAX_NESTING_DEPTH }, () => 'k').join('.');
    expectWireError(() => decode(lenient.pack(nestedObjects(MAX_NESTING_DEPTH + 1))), 'MALFORMED', deepestKey);
    expectWireError(() => encode(nestedObjects(MAX_NESTING_DEPTH + 1)), 'BAD_FIELD', deepestKey);
  });

  it('encode refuses an own __proto__ key (a prototype-pollution payload), naming the object that holds it', () => {
    const payload = JSON.parse('{"a": {"__proto__": {"admin": true}}}') as WireValue;
    expectWireError(() => encode(payload), 'BAD_FIELD', 'a');
  });

  it('a refusal of the whole value names no field; a nested one names its path (encode and decode)', () => {
    expect(thrown(() => encode(Number.NaN as unknown as WireValue)).field).toBeUndefined();
    expect(thrown(() => decode(hex('cb7ff8000000000000'))).field).toBeUndefined();
    expectWireError(() => encode({ list: [1, { k: undefined }] } as unknown as WireValue), 'BAD_FIELD', 'list[1].k');
    expectWireError(() => decode(lenient.pack({ list: [1, { d: new Date(0) }] })), 'MALFORMED', 'list[1].d');
  });

  it('a decode refusal says MALFORMED and an encode refusal BAD_FIELD for the same bad value', () => {
    expectWireError(() => decode(hex('81a178cb7ff0000000000000')), 'MALFORMED', 'x');
    expectWireError(() => encode({ x: Infinity }), 'BAD_FIELD', 'x');
  });

  it('encodes standard msgpack any peer reads (no msgpackr records, no bundled strings): fixed bytes for a known value', () => {
    // {"kind":"sign","n":[1,-1],"b":<01 02>} as plain msgpack: map16 (msgpackr's map header), fixstr,
    // fixarray, negative fixint, bin8. A record extension or a bundled string would change these bytes.
    const frame = encode({ kind: 'sign', n: [1, -1], b: new Uint8Array([1, 2]) });
    expect(Buffer.from(frame).toString('hex')).toBe('de0003a46b696e64a47369676ea16e9201ffa162c4020102');
    expect(Buffer.from(encode([{ a: 1 }, { a: 2 }])).toString('hex')).toBe('92de0001a16101de0001a16102');
  });

  it('a frame msgpack cannot read (truncated, trailing bytes) is refused without quoting the frame', () => {
    const e = thrown(() => decode(hex('a5616263')));
    expect(e.code).toBe('MALFORMED');
    expect(e.message).toBe('MALFORMED: not exactly one msgpack value');
    expect(thrown(() => decode(hex('0101'))).message).toBe('MALFORMED: not exactly one msgpack value');
  });
});
