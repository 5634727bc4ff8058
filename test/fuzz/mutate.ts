/**
 * Mutations of live cluster frames (docs/cluster-protocol.md "Frames"). Three layers:
 * - bytes: bit flips, truncation, extension, overwritten ranges, msgpack headers that
 *   claim huge lengths, empty and text frames, a frame over the 1 MiB cap;
 * - structure: the frame decoded to plain msgpack data, one node replaced by another
 *   type, deleted, given an unknown sibling or blown up, and re-encoded (the old
 *   signature stays: header and shape checks must refuse it first);
 * - meaning, re-signed: a header field changed to another valid value (session id,
 *   round, kind, suite, recipient), a body field mutated (a secret round's body is
 *   decrypted, mutated and re-encrypted), a relayed envelope of a DELIVER/COMMIT
 *   mutated, dropped, duplicated or swapped and re-signed by its own sender, then the
 *   frame re-signed with the live identity of its sender, so it passes the signature
 *   check and reaches the receiver's deep validation;
 * - replay and duplicate of a recorded frame as it was.
 */
import {
  decode,
  decodeEnvelope,
  decryptFrom,
  encode,
  encodeEnvelope,
  encryptTo,
  isSecretRound,
  sealEnvelope,
  type Envelope,
  type IdentityKey,
  type WireValue,
} from '@keyquorum/protocol';
import type { Rand } from './random.ts';

export type MutationName =
  | 'bitflip' | 'truncate' | 'extend' | 'splice' | 'huge-length' | 'empty' | 'text' | 'oversize'
  | 'struct' | 'header' | 'body' | 'secret' | 'inner' | 'replay' | 'duplicate';

/** What the fuzzer sends for one input: one or more frames. */
export interface FuzzInput {
  mutation: MutationName;
  /** The recorded frame's kind/suite/round it came from. */
  origin: string;
  frames: Array<Uint8Array | string>;
}

export interface MutationContext {
  rand: Rand;
  /** Identity of every node by id (signers and 'coordinator'): who signs what. */
  identities: ReadonlyMap<string, IdentityKey>;
  /** Every recorded envelope (for session ids, rounds and envelopes from other sessions). */
  corpus: readonly Envelope[];
  /** Frame cap of the receiver (an 'oversize' input exceeds it). */
  maxFrameBytes: number;
}

const KINDS = ['control', 'dkg', 'refresh', 'reshare', 'sign', 'retire', 'repair', 'bogus'];
const SUITES = ['none', 'frost-secp256k1-tr', 'frost-ed25519', 'frost-secp256k1', 'ecdsa-secp256k1', 'frost-p256'];
const IDS = ['coordinator', 'signer-1', 'signer-2', 'signer-3', '*', 'signer-9'];

/** Values that confuse a parser expecting another type or a bounded one. */
function oddValue(r: Rand): WireValue {
  switch (r.int(16)) {
    case 0: return 0;
    case 1: return -1;
    case 2: return 2 ** 53 + 2;
    case 3: return 1.5;
    case 4: return '';
    case 5: return 'x'.repeat(r.pick([63, 64, 1025, 70_000]));
    case 6: return r.chance(0.5);
    case 7: return null;
    case 8: return new Uint8Array(0);
    case 9: return new Uint8Array(r.pick([1, 31, 32, 33, 64, 65])).fill(r.pick([0, 0xff]));
    case 10: return r.bytes(r.pick([32, 33, 64]));
    case 11: return [];
    case 12: return {};
    case 13: return Array.from({ length: r.pick([2, 300, 5000]) }, () => new Uint8Array(33).fill(2));
    case 14: return { __proto__: 'x', constructor: 1 } as unknown as WireValue;
    default: return 4_294_967_296;
  }
}

type Container = WireValue[] | { [key: string]: WireValue };

/** Every container node and its keys, depth-first. */
function containers(v: WireValue, out: Container[] = []): Container[] {
  if (v instanceof Uint8Array || v === null || typeof v !== 'object') return out;
  out.push(v);
  for (const child of Array.isArray(v) ? v : Object.values(v)) containers(child, out);
  return out;
}

/** Mutates one node of plain data in place (the root is never replaced). */
export function mutateValue(root: WireValue, r: Rand): void {
  const nodes = containers(root);
  if (nodes.length === 0) return;
  const node = r.pick(nodes);
  const keys = Array.isArray(node) ? node.map((_, i) => String(i)) : Object.keys(node);
  const set = (k: string, v: WireValue) => {
    if (Array.isArray(node)) node[Number(k)] = v;
    else node[k] = v;
  };
  const get = (k: string): WireValue => (Array.isArray(node) ? node[Number(k)]! : node[k]!);
  const op = keys.length === 0 ? 3 : r.int(8);
  const k = keys.length === 0 ? '0' : r.pick(keys);
  const v = keys.length === 0 ? null : get(k);
  if (op <= 1) set(k, oddValue(r));
  else if (op === 2) {
    if (Array.isArray(node)) node.splice(Number(k), 1);
    else delete node[k];
  } else if (op === 3) {
    if (Array.isArray(node)) node.push(node.length > 0 ? node[r.int(node.length)]! : oddValue(r));
    else node[r.pick(['extra', 'culprits', 'v', 'keyId', '__proto__'])] = oddValue(r);
  } else if (op === 4 && v instanceof Uint8Array && v.length > 0) {
    const copy = v.slice();
    copy[r.int(copy.length)]! ^= 1 << r.int(8);
    set(k, copy);
  } else if (op === 5 && typeof v === 'number') set(k, r.pick([v + 1, v - 1, -v, v * 2 ** 20, 0]));
  else if (op === 6 && typeof v === 'string') set(k, r.pick([`${v}x`, v.slice(0, -1), v.toUpperCase(), `${v}\u0000`, 'k1', 'signer-1']));
  else if (op === 7 && Array.isArray(node) && node.length > 1) node.reverse();
  else set(k, oddValue(r));
}

function clone(v: WireValue): WireValue {
  return decode(encode(v), { maxBytes: 2 ** 30 });
}

/** Re-signs a header-and-body pair as `from`, keeping encryption info; undefined when the header is no longer sealable. */
function reseal(e: Envelope, header: Envelope['header'], payload: Uint8Array, ctx: MutationContext): Envelope | undefined {
  const identity = ctx.identities.get(header.from);
  if (identity === undefined) return undefined;
  try {
    return sealEnvelope(identity, header, payload, e.enc === undefined ? {} : { enc: e.enc });
  } catch {
    return undefined;
  }
}

function mutateHeader(e: Envelope, ctx: MutationContext): Envelope | undefined {
  const r = ctx.rand;
  const h = { ...e.header };
  switch (r.int(6)) {
    case 0: h.sessionId = r.chance(0.5) ? r.bytes(32) : r.pick(ctx.corpus).header.sessionId; break;
    case 1: h.round = r.pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 15, 16, 255]); break;
    case 2: h.kind = r.pick(KINDS); break;
    case 3: h.suite = r.pick(SUITES); break;
    case 4: h.to = r.pick(IDS); break;
    default: (h as { v: number }).v = r.pick([0, 2, 255]); break;
  }
  return reseal(e, h, e.payload, ctx);
}

function mutateBody(e: Envelope, ctx: MutationContext): Envelope | undefined {
  let body: WireValue;
  try {
    body = decode(e.payload, { maxBytes: 2 ** 30 });
  } catch {
    return undefined;
  }
  mutateValue(body, ctx.rand);
  try {
    return reseal(e, e.header, encode(body), ctx);
  } catch {
    return undefined;
  }
}

/** A secret round's body: decrypted with the recipient's identity, mutated, re-encrypted by its sender. */
function mutateSecret(e: Envelope, ctx: MutationContext): Envelope | undefined {
  const { from, to } = e.header;
  const sender = ctx.identities.get(from);
  const recipient = ctx.identities.get(to);
  if (e.enc === undefined || sender === undefined || recipient === undefined) return undefined;
  try {
    const body = decode(decryptFrom(recipient, sender.publicKey, e), { maxBytes: 2 ** 30 });
    mutateValue(body, ctx.rand);
    const { payload, enc } = encryptTo(sender, recipient.publicKey, e.header, encode(body));
    return sealEnvelope(sender, e.header, payload, { enc });
  } catch {
    return undefined;
  }
}

/** One relayed envelope of a DELIVER/COMMIT body mutated (or the list changed), re-signed by their senders. */
function mutateInner(e: Envelope, ctx: MutationContext): Envelope | undefined {
  const r = ctx.rand;
  let body: { [key: string]: WireValue };
  try {
    body = decode(e.payload, { maxBytes: 2 ** 30 }) as { [key: string]: WireValue };
  } catch {
    return undefined;
  }
  const list = body.envelopes;
  if (!Array.isArray(list) || list.length === 0) return undefined;
  const i = r.int(list.length);
  const op = r.int(6);
  if (op === 0) list.splice(i, 1);
  else if (op === 1) list.push(list[i]!);
  else if (op === 2) list[i] = clone(r.pick(ctx.corpus) as unknown as WireValue);
  else {
    let inner: Envelope;
    try {
      inner = decodeEnvelope(encode(list[i]!), { maxBytes: 2 ** 30 });
    } catch {
      return undefined;
    }
    const sub = { ...ctx, corpus: ctx.corpus };
    const mutated = op === 3 ? mutateHeader(inner, sub) : isSecretRound(inner.header.kind, inner.header.round, inner.header.suite, inner.header.to) ? mutateSecret(inner, sub) : mutateBody(inner, sub);
    if (mutated === undefined) return undefined;
    list[i] = mutated as unknown as WireValue;
  }
  try {
    return reseal(e, e.header, encode(body), ctx);
  } catch {
    return undefined;
  }
}

function bytesMutation(frame: Uint8Array, name: MutationName, ctx: MutationContext): Uint8Array | string {
  const r = ctx.rand;
  switch (name) {
    case 'bitflip': {
      const out = frame.slice();
      for (let n = 1 + r.int(8); n > 0; n--) out[r.int(out.length)]! ^= 1 << r.int(8);
      return out;
    }
    case 'truncate': return frame.slice(0, r.int(frame.length));
    case 'extend': return new Uint8Array([...frame, ...r.bytes(1 + r.int(64))]);
    case 'splice': {
      const out = frame.slice();
      const at = r.int(out.length);
      out.set(r.bytes(Math.min(out.length - at, 1 + r.int(16))), at);
      return out;
    }
    case 'huge-length': {
      const header = r.pick([[0xc6, 0xff, 0xff, 0xff, 0xff], [0xdb, 0x7f, 0xff, 0xff, 0xff], [0xdd, 0xff, 0xff, 0xff, 0xf0], [0xdf, 0xff, 0xff, 0xff, 0xff], [0x81, 0xa6, 0x68, 0x65, 0x61, 0x64, 0x65, 0x72, 0xdf, 0x7f, 0xff, 0xff, 0xff]]);
      return new Uint8Array([...header, ...frame.slice(0, r.int(64))]);
    }
    case 'empty': return new Uint8Array(0);
    case 'text': return r.chance(0.5) ? '{"header":{}}' : Buffer.from(frame).toString('latin1');
    default: {
      const out = new Uint8Array(ctx.maxFrameBytes + 1 + r.int(1024));
      out.set(frame.slice(0, Math.min(frame.length, out.length)));
      return out;
    }
  }
}

/** One fuzz input from one recorded frame (decoded as `envelope`). */
export function mutateFrame(frame: Uint8Array, envelope: Envelope, ctx: MutationContext): FuzzInput {
  const r = ctx.rand;
  const h = envelope.header;
  const origin = `${h.kind}/${h.suite}/${h.round}`;
  const roll = r.int(100);
  const secret = envelope.enc !== undefined;
  let name: MutationName;
  if (roll < 22) name = r.pick(['bitflip', 'truncate', 'extend', 'splice', 'huge-length', 'bitflip', 'truncate'] as const);
  else if (roll < 24) name = r.pick(['empty', 'text'] as const);
  else if (roll < 25 && r.chance(0.2)) name = 'oversize';
  else if (roll < 38) name = 'struct';
  else if (roll < 55) name = 'header';
  else if (roll < 80) name = secret ? 'secret' : 'body';
  else if (roll < 92) name = 'inner';
  else if (roll < 96) name = 'replay';
  else name = 'duplicate';
  let out: Envelope | undefined;
  if (name === 'struct') {
    const v = decode(frame, { maxBytes: 2 ** 30 });
    mutateValue(v, r);
    try {
      return { mutation: name, origin, frames: [encode(v)] };
    } catch {
      name = 'bitflip';
    }
  } else if (name === 'header') out = mutateHeader(envelope, ctx);
  else if (name === 'body') out = mutateBody(envelope, ctx);
  else if (name === 'secret') out = mutateSecret(envelope, ctx);
  else if (name === 'inner') out = mutateInner(envelope, ctx);
  else if (name === 'replay') return { mutation: name, origin, frames: [frame] };
  else if (name === 'duplicate') return { mutation: name, origin, frames: [frame, frame] };
  if (name === 'header' || name === 'body' || name === 'secret' || name === 'inner') {
    if (out !== undefined) {
      try {
        return { mutation: name, origin, frames: [encodeEnvelope(out)] };
      } catch {
        // not encodable as a valid envelope: fall back to a byte mutation below
      }
    }
    name = 'bitflip';
  }
  return { mutation: name, origin, frames: [bytesMutation(frame, name, ctx)] };
}
