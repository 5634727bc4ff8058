/**
 * Ed25519 group arithmetic behind one interface (issue 13, lever 1), for the
 * `frost-ed25519` signing rounds. Two implementations, never our own arithmetic:
 *
 * - `nobleEd25519`: @noble/curves' ExtendedPoint, the reference and the fallback.
 * - libsodium compiled to WebAssembly (libsodium-wrappers-sumo 0.8.x:
 *   `crypto_scalarmult_ed25519_base_noclamp`, `crypto_scalarmult_ed25519_noclamp`,
 *   `crypto_core_ed25519_add`). Measured on this machine (benchmarks/README.md "Curve
 *   backend"): k*G ~9x, k*P ~4x, P+Q on encodings ~6x faster than noble.
 *
 * What is accepted is decided in one place, not here: a point enters only through
 * `decode`, which is `parsePoint` (suite.ts: noble's strict decoding, canonical, on the
 * curve, not the identity, in the prime-order subgroup; cached by encoding), and the
 * same for both implementations. libsodium's own checks (it refuses small-order and
 * non-subgroup points) therefore never see a point parsePoint did not accept, and do
 * not change which inputs are refused. Operations take and return `EdPoint` handles,
 * which only this module makes (from `decode` or from an operation), so intermediate
 * values are never decoded again. Scalars are 1..L-1 (BAD_SCALAR otherwise, as noble's
 * `multiply` refuses 0 and L); a sum that is the identity is `null`.
 *
 * libsodium loads asynchronously (backend/sodium.ts): `ed25519Backend()` answers noble
 * until it has loaded and passed a check against noble.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { CryptoError } from '../errors.ts';
import { getSuite, parsePoint } from '../frost/suite.ts';
import { sodiumReady, type Sodium } from './sodium.ts';

type NoblePoint = InstanceType<typeof ed25519.Point>;
const { Point } = ed25519;
const Fn = Point.Fn;
const ED = getSuite('frost-ed25519');
const MADE = Symbol('EdPoint');

/** A point of the prime-order subgroup, as this module made it (immutable). */
export class EdPoint {
  readonly #bytes: Uint8Array;
  readonly #point: NoblePoint | undefined;
  constructor(made: typeof MADE, bytes: Uint8Array, point?: NoblePoint) {
    if (made !== MADE) throw new TypeError('EdPoint: made by the Ed25519 backend only');
    this.#bytes = bytes;
    this.#point = point;
  }
  /** The canonical 32-byte encoding (a copy). */
  toBytes(): Uint8Array {
    return this.#bytes.slice();
  }
  equals(other: EdPoint): boolean {
    const a = this.#bytes;
    const b = other.#bytes;
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }
  /** @internal the encoding without a copy, for the backends. */
  static raw(p: EdPoint): Uint8Array {
    return p.#bytes;
  }
  /** @internal noble's point, decoding the encoding if this handle has none. */
  static noble(p: EdPoint): NoblePoint {
    return p.#point ?? (parsePoint(ED, p.#bytes, 'point') as unknown as NoblePoint);
  }
}

export interface Ed25519Backend {
  readonly name: 'noble' | 'libsodium-wasm';
  /** A 32-byte encoding parsePoint accepts, else its BAD_FIELD / BAD_POINT. */
  decode(bytes: unknown, field: string): EdPoint;
  /** k*G for k in 1..L-1; constant time (k may be a secret). */
  mulBase(k: bigint): EdPoint;
  /** k*P for k in 1..L-1 (public inputs). */
  mul(p: EdPoint, k: bigint): EdPoint;
  /** P+Q; null if the sum is the identity (Q = -P). */
  add(p: EdPoint, q: EdPoint): EdPoint | null;
}

function scalar(k: bigint, field: string): bigint {
  if (typeof k !== 'bigint' || k <= 0n || k >= Fn.ORDER)
    throw new CryptoError('BAD_SCALAR', { field, message: `BAD_SCALAR: ${field} must be in 1..L-1` });
  return k;
}

const fromNoble = (P: NoblePoint) => new EdPoint(MADE, P.toBytes(), P);

export const nobleEd25519: Ed25519Backend = {
  name: 'noble',
  decode: (bytes, field) => fromNoble(parsePoint(ED, bytes, field) as unknown as NoblePoint),
  mulBase: (k) => fromNoble(Point.BASE.multiply(scalar(k, 'k'))),
  mul: (p, k) => fromNoble(EdPoint.noble(p).multiplyUnsafe(scalar(k, 'k'))),
  add: (p, q) => {
    const S = EdPoint.noble(p).add(EdPoint.noble(q));
    return S.is0() ? null : fromNoble(S);
  },
};

/** The identity's encoding (y = 1). */
const IDENTITY = Point.ZERO.toBytes();
const isIdentity = (b: Uint8Array) => b.length === 32 && b.every((x, i) => x === IDENTITY[i]);

function sodiumBackend(lib: Sodium): Ed25519Backend {
  // Every input is a prime-order point (decode is parsePoint) and every scalar is in
  // 1..L-1, so libsodium's -1 (a refused point, an identity result) cannot occur; should
  // it, it is a BAD_POINT, never a wrong answer.
  const call = (f: () => Uint8Array): Uint8Array => {
    try {
      return f();
    } catch {
      throw new CryptoError('BAD_POINT', { field: 'point', message: 'BAD_POINT: libsodium refused an Ed25519 point' });
    }
  };
  const made = (b: Uint8Array) => new EdPoint(MADE, b);
  return {
    name: 'libsodium-wasm',
    decode: (bytes, field) => {
      parsePoint(ED, bytes, field);
      return made(new Uint8Array(bytes as Uint8Array));
    },
    mulBase: (k) => {
      const kb = Fn.toBytes(scalar(k, 'k'));
      return made(call(() => lib.crypto_scalarmult_ed25519_base_noclamp(kb)));
    },
    mul: (p, k) => {
      const kb = Fn.toBytes(scalar(k, 'k'));
      return made(call(() => lib.crypto_scalarmult_ed25519_noclamp(kb, EdPoint.raw(p))));
    },
    add: (p, q) => {
      const s = call(() => lib.crypto_core_ed25519_add(EdPoint.raw(p), EdPoint.raw(q)));
      return isIdentity(s) ? null : made(s);
    },
  };
}

let current: Ed25519Backend = nobleEd25519;
let loaded: Ed25519Backend | undefined;

async function load(): Promise<Ed25519Backend> {
  const lib = await sodiumReady;
  if (lib === undefined) return current;
  try {
    const b = sodiumBackend(lib);
    // Refuse a library that does not compute what noble computes (a broken build).
    const n = nobleEd25519;
    const [P, Q] = [n.mulBase(7n), n.mulBase(11n)];
    const ok =
      b.mulBase(7n).equals(P) &&
      b.mul(b.decode(P.toBytes(), 'P'), Fn.ORDER - 2n).equals(n.mul(P, Fn.ORDER - 2n)) &&
      b.add(b.decode(P.toBytes(), 'P'), b.decode(Q.toBytes(), 'Q'))!.equals(n.add(P, Q)!);
    if (ok) current = loaded = b;
  } catch {
    // A library that throws on valid input: noble stays.
  }
  return current;
}

/** Settles with the backend in use once libsodium has loaded (or failed to). */
export const ed25519Ready: Promise<Ed25519Backend> = load();

/** The implementation to use now: libsodium once loaded, noble before or without it. */
export function ed25519Backend(): Ed25519Backend {
  return current;
}

/** libsodium's implementation, once loaded (for differential tests and benchmarks). */
export async function sodiumEd25519(): Promise<Ed25519Backend | undefined> {
  await ed25519Ready;
  return loaded;
}
