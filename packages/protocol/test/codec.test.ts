import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { decode, encode, type WireValue } from '../src/codec.ts';
import { DEFAULT_MAX_FRAME_BYTES, MAX_NESTING_DEPTH } from '../src/constants.ts';
import { isWireError } from '../src/errors.ts';
import { expectWireError } from './helpers.ts';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
/** A permissive packer, standing in for a peer that sends extension types. */
const lenient = new Packr({ useRecords: false, moreTypes: true, structuredClone: true });

const wireValue: fc.Arbitrary<WireValue> = fc.letrec<{ value: WireValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 6 },
    fc.constant(null),
    fc.boolean(),
    fc.maxSafeInteger(),
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Object.is(x, -0)),
    fc.string({ unit: 'grapheme' }),
    fc.uint8Array({ maxLength: 64 }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.string().filter((k) => k !== '__proto__'), tie('value'), { maxKeys: 5 }),
  ),
})).value;

describe('codec', () => {
  it('round-trips every plain wire value (property)', () => {
    fc.assert(
      fc.property(wireValue, (v) => {
        expect(decode(encode(v))).toEqual(v);
      }),
      { numRuns: 500 },
    );
  });

  it('random bytes never crash decode: it returns plain data or throws a WireError (property)', () => {
    const frames = fc.oneof(
      fc.uint8Array({ maxLength: 256 }),
      // Mutations of valid frames reach deeper into the decoder than pure noise.
      fc.tuple(wireValue, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([v, i, b]) => {
        const f = encode(v);
        if (f.length > 0) f[i % f.length] = b;
        return f.subarray(0, 1 + (i % f.length));
      }),
    );
    fc.assert(
      fc.property(frames, (frame) => {
        try {
          decode(frame);
        } catch (e) {
          if (!isWireError(e)) throw e;
          expect(['MALFORMED']).toContain(e.code);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('decode rejects a frame over the cap before decoding it', () => {
    // Bytes that are not msgpack at all: a cap checked after decoding would say MALFORMED.
    const garbage = new Uint8Array(65).fill(0xc1);
    expectWireError(() => decode(garbage, { maxBytes: 64 }), 'FRAME_TOO_LARGE');
    expectWireError(() => decode(new Uint8Array(DEFAULT_MAX_FRAME_BYTES + 1)), 'FRAME_TOO_LARGE');
    expect(decode(encode(new Uint8Array(50)), { maxBytes: 64 })).toEqual(new Uint8Array(50));
  });

  it('refuses truncated frames', () => {
    const frame = encode({ sessionId: new Uint8Array(32), round: 1 });
    for (let n = 0; n < frame.length; n++) expectWireError(() => decode(frame.subarray(0, n)), 'MALFORMED');
  });

  it('refuses trailing bytes after one value', () => {
    expectWireError(() => decode(hex('0101')), 'MALFORMED');
  });

  it('decodes byte strings as plain Uint8Arrays that do not alias the frame', () => {
    const frame = encode({ b: new Uint8Array([1, 2, 3]) });
    const out = decode(frame) as { b: Uint8Array };
    expect(Object.getPrototypeOf(out.b)).toBe(Uint8Array.prototype);
    frame.fill(0);
    expect(out.b).toEqual(new Uint8Array([1, 2, 3]));
  });

  it('refuses extension types a peer may send: dates, sets, typed arrays, errors', () => {
    expectWireError(() => decode(hex('d6ff00000000')), 'MALFORMED');
    for (const v of [new Set([1]), new Float64Array([1]), new Error('x'), { d: new Date(0) }]) {
      expectWireError(() => decode(lenient.pack(v)), 'MALFORMED');
    }
  });

  it('refuses shared references and cycles from a structured-clone peer', () => {
    const shared = { x: 1 };
    const cyclic: { self?: unknown } = {};
    cyclic.self = cyclic;
    expectWireError(() => decode(lenient.pack([shared, shared])), 'MALFORMED');
    expectWireError(() => decode(lenient.pack(cyclic)), 'MALFORMED');
  });

  it('encodes a value used twice as two copies', () => {
    const id = new Uint8Array([7]);
    const header = { n: 1 };
    expect(decode(encode({ a: id, b: id, h: [header, header] }))).toEqual({ a: id, b: id, h: [header, header] });
  });

  it('refuses the never-used 0xc1 byte', () => {
    expectWireError(() => decode(hex('c1')), 'MALFORMED');
  });

  it('keeps safe 64-bit integers and refuses unsafe ones', () => {
    expect(decode(hex('cf0000000000000005'))).toBe(5);
    expect(decode(hex('d3fffffffffffffffb'))).toBe(-5);
    expectWireError(() => decode(hex('cf0020000000000000')), 'MALFORMED');
    expectWireError(() => decode(hex('cfffffffffffffffff')), 'MALFORMED');
  });

  it('refuses nesting deeper than the limit', () => {
    let v: WireValue = 1;
    for (let i = 0; i < MAX_NESTING_DEPTH + 1; i++) v = [v];
    const frame = lenient.pack(v);
    expectWireError(() => decode(frame), 'MALFORMED');
    expectWireError(() => encode(v), 'BAD_FIELD');
  });

  it('a __proto__ key cannot change a decoded object’s prototype', () => {
    const out = decode(hex('81a95f5f70726f746f5f5f81a161c3')) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect((out as { a?: unknown }).a).toBeUndefined();
  });

  it('encode refuses values that are not plain data, naming the path', () => {
    const bad: unknown[] = [undefined, NaN, Infinity, 1n, new Date(0), new Map(), () => 1, Symbol('s')];
    for (const v of bad) expectWireError(() => encode({ a: [v] } as unknown as WireValue), 'BAD_FIELD', 'a[0]');
    const cyclic: { self?: unknown } = {};
    cyclic.self = cyclic;
    expectWireError(() => encode(cyclic as WireValue), 'BAD_FIELD');
  });
});
