import { describe, expect, it } from 'vitest';
import { encode } from '../src/codec.ts';
import { canonicalHeaderBytes, decodeEnvelope, encodeEnvelope, openEnvelope, sealEnvelope, type Header } from '../src/envelope.ts';
import { generateIdentity } from '../src/identity.ts';
import { expectWireError, seededRng } from './helpers.ts';

const alice = generateIdentity(seededRng('alice'));
const mallory = generateIdentity(seededRng('mallory'));
const sessionA = seededRng('session-a')(32);
const sessionB = seededRng('session-b')(32);
const payload = new TextEncoder().encode('round-1 package');

function header(over: Partial<Header> = {}): Header {
  return { v: 1, kind: 'dkg', suite: 'frost-ed25519', sessionId: sessionA, round: 1, from: 'alice', to: 'bob', ...over };
}

/** The envelope's plain form, for tampering with fields before encoding. */
function plain(over: Partial<Header> = {}): Record<string, unknown> {
  const e = sealEnvelope(alice, header(over), payload);
  return { header: { ...e.header }, payload: e.payload, sig: e.sig };
}

describe('envelope', () => {
  it('seals, encodes, decodes and opens', () => {
    const frame = encodeEnvelope(sealEnvelope(alice, header(), payload));
    const e = openEnvelope(decodeEnvelope(frame), alice.publicKey, { expect: { sessionId: sessionA, to: 'bob', kind: 'dkg' } });
    expect(e.payload).toEqual(payload);
    expect(e.header).toEqual(header());
  });

  it('an authentic envelope from another session is refused', () => {
    const e = sealEnvelope(alice, header(), payload);
    expectWireError(() => openEnvelope(e, alice.publicKey, { expect: { sessionId: sessionB } }), 'WRONG_SESSION', 'header.sessionId');
  });

  it('an envelope re-addressed to another session fails', () => {
    const e = sealEnvelope(alice, header(), payload);
    const moved = { ...e, header: { ...e.header, sessionId: sessionB } };
    expectWireError(() => openEnvelope(moved, alice.publicKey, { expect: { sessionId: sessionB } }), 'BAD_SIGNATURE');
  });

  it('an envelope for another node is refused; a broadcast is accepted by everyone', () => {
    expectWireError(
      () => openEnvelope(sealEnvelope(alice, header(), payload), alice.publicKey, { expect: { to: 'carol' } }),
      'WRONG_RECIPIENT',
      'header.to',
    );
    const b = sealEnvelope(alice, header({ to: '*' }), payload);
    expect(openEnvelope(b, alice.publicKey, { expect: { to: 'carol' } }).header.to).toBe('*');
  });

  it('a relay that rewrites the recipient, round, sender or payload is detected', () => {
    const e = sealEnvelope(alice, header(), payload);
    const tampered = [
      { ...e, header: { ...e.header, to: 'carol' } },
      { ...e, header: { ...e.header, round: 2 } },
      { ...e, header: { ...e.header, from: 'mallory' } },
      { ...e, payload: Uint8Array.from(payload, (x, i) => (i === 0 ? x ^ 1 : x)) },
    ];
    for (const t of tampered) expectWireError(() => openEnvelope(t, alice.publicKey), 'BAD_SIGNATURE', 'sig');
  });

  it('a relay cannot add or strip an encryption marker', () => {
    const e = sealEnvelope(alice, header(), payload);
    expectWireError(() => openEnvelope({ ...e, enc: { eph: new Uint8Array(32).fill(9) } }, alice.publicKey), 'BAD_SIGNATURE');
    const enc = sealEnvelope(alice, header(), payload, { enc: { eph: new Uint8Array(32).fill(9) } });
    const { enc: _stripped, ...bare } = enc;
    expectWireError(() => openEnvelope(bare, alice.publicKey), 'BAD_SIGNATURE');
  });

  it('a message signed by another identity is refused', () => {
    const forged = sealEnvelope(mallory, header(), payload);
    expectWireError(() => openEnvelope(forged, alice.publicKey), 'BAD_SIGNATURE');
  });

  it('a kind other than the expected one is refused', () => {
    expectWireError(
      () => openEnvelope(sealEnvelope(alice, header(), payload), alice.publicKey, { expect: { kind: 'sign' } }),
      'WRONG_KIND',
    );
  });

  it('decode refuses unknown fields at the root, in the header and in enc', () => {
    expectWireError(() => decodeEnvelope(encode({ ...plain(), extra: 1 } as never)), 'UNKNOWN_FIELD', 'extra');
    const p = plain();
    expectWireError(
      () => decodeEnvelope(encode({ ...p, header: { ...(p.header as object), prio: 1 } } as never)),
      'UNKNOWN_FIELD',
      'header.prio',
    );
    expectWireError(
      () => decodeEnvelope(encode({ ...p, enc: { eph: new Uint8Array(32), nonce: new Uint8Array(12) } } as never)),
      'UNKNOWN_FIELD',
      'enc.nonce',
    );
  });

  it('decode refuses any version other than 1, even one with new fields', () => {
    const p = plain();
    expectWireError(
      () => decodeEnvelope(encode({ ...p, header: { ...(p.header as object), v: 2, priority: 1 } } as never)),
      'UNSUPPORTED_VERSION',
      'header.v',
    );
  });

  it('decode refuses unknown kinds, and accepts a caller-supplied set', () => {
    const kinds = ['gossip'];
    const frame = encodeEnvelope(sealEnvelope(alice, header({ kind: 'gossip' }), payload, { kinds }), { kinds });
    expectWireError(() => decodeEnvelope(frame), 'UNKNOWN_KIND', 'header.kind');
    expect(decodeEnvelope(frame, { kinds }).header.kind).toBe('gossip');
  });

  it('decode refuses suites outside a caller-supplied set', () => {
    const frame = encode(plain() as never);
    expectWireError(() => decodeEnvelope(frame, { suites: ['frost-secp256k1-tr'] }), 'UNKNOWN_SUITE', 'header.suite');
  });

  it('decode refuses wrong lengths, bad node ids, bad rounds and missing fields', () => {
    const p = plain();
    const h = p.header as Record<string, unknown>;
    const cases: [Record<string, unknown>, string][] = [
      [{ ...p, header: { ...h, sessionId: new Uint8Array(31) } }, 'header.sessionId'],
      [{ ...p, header: { ...h, from: 'Alice!' } }, 'header.from'],
      [{ ...p, header: { ...h, to: '' } }, 'header.to'],
      [{ ...p, header: { ...h, round: -1 } }, 'header.round'],
      [{ ...p, header: { ...h, round: 1.5 } }, 'header.round'],
      [{ ...p, sig: new Uint8Array(63) }, 'sig'],
      [{ ...p, payload: 'text' }, 'payload'],
      [{ ...p, enc: { eph: new Uint8Array(33) } }, 'enc.eph'],
      [{ header: h, payload: p.payload }, 'sig'],
    ];
    for (const [v, field] of cases) expectWireError(() => decodeEnvelope(encode(v as never)), 'BAD_FIELD', field);
  });

  it('decode refuses a header without a version, or that is not an object, as a bad field (not a crash)', () => {
    const p = plain();
    const { v: _v, ...unversioned } = p.header as Record<string, unknown>;
    expectWireError(() => decodeEnvelope(encode({ ...p, header: unversioned } as never)), 'BAD_FIELD', 'header.v');
    expectWireError(() => decodeEnvelope(encode({ ...p, header: null } as never)), 'BAD_FIELD', 'header');
    expectWireError(() => decodeEnvelope(encode({ ...p, header: [1] } as never)), 'BAD_FIELD', 'header');
    expectWireError(() => decodeEnvelope(encode({ ...p, enc: null } as never)), 'BAD_FIELD', 'enc');
  });

  it("open refuses a malformed expectation or pinned key naming it, rather than opening unchecked", () => {
    const e = sealEnvelope(alice, header(), payload);
    expectWireError(() => openEnvelope(e, alice.publicKey, { expect: { sessionId: sessionA.subarray(1) } }), 'BAD_FIELD', 'expect.sessionId');
    expectWireError(() => openEnvelope(e, alice.publicKey, { expect: { to: 'Bob!' } }), 'BAD_FIELD', 'expect.to');
    expectWireError(() => openEnvelope(e, alice.publicKey.subarray(1)), 'BAD_FIELD', 'senderPublicKey');
    expectWireError(() => openEnvelope(e, alice.publicKey, { expect: { kind: 'sign' } }), 'WRONG_KIND', 'header.kind');
  });

  it('a relay that relabels the kind or suite of a signed envelope is detected', () => {
    const e = sealEnvelope(alice, header(), payload);
    for (const t of [{ ...e, header: { ...e.header, kind: 'sign' } }, { ...e, header: { ...e.header, suite: 'frost-secp256k1' } }]) {
      expectWireError(() => openEnvelope(t, alice.publicKey), 'BAD_SIGNATURE', 'sig');
    }
  });

  it('an encrypted envelope keeps its encryption marker across the wire', () => {
    const eph = new Uint8Array(32).fill(9);
    const frame = encodeEnvelope(sealEnvelope(alice, header(), payload, { enc: { eph } }));
    const e = openEnvelope(decodeEnvelope(frame), alice.publicKey);
    expect(e.enc).toEqual({ eph });
  });

  it('a malformed kind or suite is refused naming it, and so is a bad header given for the canonical bytes (the e2e AAD)', () => {
    const p = plain();
    const h = p.header as Record<string, unknown>;
    expectWireError(() => decodeEnvelope(encode({ ...p, header: { ...h, kind: 7 } } as never)), 'BAD_FIELD', 'header.kind');
    expectWireError(() => decodeEnvelope(encode({ ...p, header: { ...h, suite: 'bad suite' } } as never)), 'BAD_FIELD', 'header.suite');
    expectWireError(() => canonicalHeaderBytes(header({ round: -1 })), 'BAD_FIELD', 'header.round');
  });

  it('decode refuses truncated and oversized frames', () => {
    const frame = encodeEnvelope(sealEnvelope(alice, header(), payload));
    expectWireError(() => decodeEnvelope(frame.subarray(0, frame.length - 1)), 'MALFORMED');
    expectWireError(() => decodeEnvelope(frame, { maxBytes: frame.length - 1 }), 'FRAME_TOO_LARGE');
  });

  it('decode refuses a frame that is not an envelope object', () => {
    expectWireError(() => decodeEnvelope(encode([1, 2])), 'BAD_FIELD');
    expect(() => decodeEnvelope(encode('x'))).toThrow(expect.objectContaining({ code: 'BAD_FIELD', field: undefined }));
  });

  it('seal refuses an invalid header instead of signing it', () => {
    expectWireError(() => sealEnvelope(alice, header({ round: 70_000 }), payload), 'BAD_FIELD', 'header.round');
  });
});
