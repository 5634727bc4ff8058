/**
 * OT extension: KOS15 (Keller, Orsini, Scholl, "Actively Secure OT Extension with
 * Optimal Overhead", eprint 2015/546), the correlated-OT extension DKLs19 (Functionality
 * 3 / Protocol 9 of DKLs18) runs under its multiplication, with the Fiat-Shamir form of
 * its consistency check that DKLs23 (§5) prescribes.
 *
 * Setup (kappa = 128 base OTs, roles reversed): the extension sender Alice holds
 * Delta in {0,1}^kappa and k_i^{Delta_i}; the receiver Bob holds (k_i^0, k_i^1).
 * Extension of one batch (ROWS = XI + kappa + s rows; the padding hides Bob's bits):
 *  1. Bob: x' = x || random; t_i^b = PRG(k_i^b, sid'); sends u_i = t_i^0 ^ t_i^1 ^ x'.
 *  2. Check (KOS15 Fig. 7, challenge by Fiat-Shamir over u): chi_j in GF(2^128);
 *     Bob sends xt = sum x'_j chi_j and tt = sum t_j chi_j; Alice, with q_i = PRG(k_i^{Delta_i}) ^ Delta_i u_i,
 *     checks sum q_j chi_j == tt + xt * Delta. A receiver that used different x' in
 *     different columns fails except with probability ~2^-kappa.
 *  3. Correlated OT over Z_n^W (DKLs19 Functionality 3): Alice with correlation alpha sends
 *     tau_j = alpha + H(j, q_j) - H(j, q_j ^ Delta) and outputs -H(j, q_j); Bob outputs
 *     H(j, t_j) + x_j tau_j; the two outputs sum to x_j * alpha.
 *
 * Seeds are reused across signing sessions, so both parties mix fresh nonces into the
 * PRG (Bob's) and the random oracle (Alice's): a replayed session id cannot make either
 * side reuse a pad.
 */
import { CryptoError } from '../errors.ts';
import { assertBytes } from '../frost/suite.ts';
import { hashBackend } from '../hash.ts';
import { bytesToBigInt, Fn, getBit, hash, KAPPA, N, putScalar, ROW_BYTES, ROWS, SEED_LENGTH, XI, randomBytes, type Rng } from './common.ts';

/** Extension sender's setup (Alice; the base-OT receiver): Delta and k_i^{Delta_i}. */
export interface OtSenderSeeds {
  delta: Uint8Array;
  seeds: Uint8Array;
}
/** Extension receiver's setup (Bob; the base-OT sender): k_i^0 and k_i^1. */
export interface OtReceiverSeeds {
  seeds0: Uint8Array;
  seeds1: Uint8Array;
}

/** Bob's extension message. */
export interface OteMessage {
  nonce: Uint8Array;
  /** kappa columns of ROW_BYTES each. */
  u: Uint8Array;
  checkX: Uint8Array;
  checkT: Uint8Array;
}
export const OTE_U_LENGTH = KAPPA * ROW_BYTES;

/**
 * PRG(seed_i, sid, i) for every column i: the first ROW_BYTES of SHA-256(seed_i || sid ||
 * u16(i) || c) for c = 0, 1, 2. One input buffer for the whole batch.
 */
function prgColumns(seeds: Uint8Array, sid: Uint8Array): Uint8Array[] {
  const input = new Uint8Array(SEED_LENGTH + sid.length + 3);
  input.set(sid, SEED_LENGTH);
  const at = SEED_LENGTH + sid.length;
  const columns: Uint8Array[] = [];
  for (let i = 0; i < KAPPA; i++) {
    input.set(seeds.subarray(i * SEED_LENGTH, (i + 1) * SEED_LENGTH), 0);
    input[at] = i >>> 8;
    input[at + 1] = i & 255;
    const out = new Uint8Array(ROW_BYTES);
    for (let c = 0; c < 3; c++) {
      input[at + 2] = c;
      const h = hashBackend.sha256(input);
      out.set(32 * c + 32 <= ROW_BYTES ? h : h.subarray(0, ROW_BYTES - 32 * c), 32 * c);
    }
    columns.push(out);
  }
  input.fill(0);
  return columns;
}

// ---- GF(2^128), x^128 + x^7 + x^2 + x + 1, as four little-endian u32 words ----
function mulX(a: Uint32Array): void {
  const carry = a[3]! >>> 31;
  a[3] = (a[3]! << 1) | (a[2]! >>> 31);
  a[2] = (a[2]! << 1) | (a[1]! >>> 31);
  a[1] = (a[1]! << 1) | (a[0]! >>> 31);
  a[0] = (a[0]! << 1) ^ (carry * 0x87);
}
function xor4(a: Uint32Array, b: Uint32Array, off = 0): void {
  a[0]! ^= b[off]!;
  a[1]! ^= b[off + 1]!;
  a[2]! ^= b[off + 2]!;
  a[3]! ^= b[off + 3]!;
}
const gfBytes = (a: Uint32Array) => new Uint8Array(a.buffer.slice(0));
const gfFrom = (b: Uint8Array) => new Uint32Array(b.slice().buffer);

/** chi_j for every row, from the transcript (Fiat-Shamir). */
function challenges(sid: Uint8Array, u: Uint8Array): Uint32Array {
  const input = new Uint8Array(34);
  input.set(hash('ote/chi', sid, u), 0);
  const out = new Uint32Array(ROWS * 4);
  const bytes = new Uint8Array(out.buffer);
  for (let c = 0; c * 32 < bytes.length; c++) {
    input[32] = c >>> 8;
    input[33] = c & 255;
    bytes.set(hashBackend.sha256(input), 32 * c); // SHA-256(seed || u16(c))
  }
  return out;
}

/**
 * sum_i X^i * (sum_{j: column_i[j] = 1} chi_j): equals sum_j row_j * chi_j. The inner sums
 * go 8 rows at a time: for each byte position of the columns, a table of the XOR of chi
 * over every subset of its 8 rows (built once, read by all kappa columns).
 */
function combineColumns(columns: Uint8Array[], chi: Uint32Array): Uint32Array {
  const sums = new Uint32Array(KAPPA * 4);
  const table = new Uint32Array(256 * 4);
  for (let jb = 0; jb < ROW_BYTES; jb++) {
    for (let v = 1; v < 256; v++) {
      const low = v & -v;
      const from = 4 * (v ^ low);
      const c = 4 * (8 * jb + 31 - Math.clz32(low));
      table[4 * v] = table[from]! ^ chi[c]!;
      table[4 * v + 1] = table[from + 1]! ^ chi[c + 1]!;
      table[4 * v + 2] = table[from + 2]! ^ chi[c + 2]!;
      table[4 * v + 3] = table[from + 3]! ^ chi[c + 3]!;
    }
    for (let i = 0; i < KAPPA; i++) {
      const t = 4 * columns[i]![jb]!;
      sums[4 * i]! ^= table[t]!;
      sums[4 * i + 1]! ^= table[t + 1]!;
      sums[4 * i + 2]! ^= table[t + 2]!;
      sums[4 * i + 3]! ^= table[t + 3]!;
    }
  }
  const acc = new Uint32Array(4);
  for (let i = KAPPA - 1; i >= 0; i--) {
    mulX(acc);
    xor4(acc, sums, 4 * i);
  }
  return acc;
}

/**
 * Rows (ROWS x 16 bytes) from kappa columns: bit j of column i is bit i of row j. By
 * 8 x 8 bit blocks (Hacker's Delight, transpose8rS32): the block of columns 8c..8c+7 and
 * rows 8jb..8jb+7 becomes byte c of those rows.
 */
function transpose(columns: Uint8Array[]): Uint8Array {
  const rows = new Uint8Array(ROWS * 16);
  for (let c = 0; c < KAPPA / 8; c++) {
    const [a0, a1, a2, a3, a4, a5, a6, a7] = columns.slice(8 * c, 8 * c + 8) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array];
    for (let jb = 0; jb < ROW_BYTES; jb++) {
      // Row k of the block (most significant first) is column 8c + 7 - k, so that byte b of
      // the result, read back from the end, is row 8jb + b with bit k from column 8c + k.
      let x = ((a7[jb]! << 24) | (a6[jb]! << 16) | (a5[jb]! << 8) | a4[jb]!) >>> 0;
      let y = ((a3[jb]! << 24) | (a2[jb]! << 16) | (a1[jb]! << 8) | a0[jb]!) >>> 0;
      let t = (x ^ (x >>> 7)) & 0x00aa00aa;
      x = x ^ t ^ (t << 7);
      t = (y ^ (y >>> 7)) & 0x00aa00aa;
      y = y ^ t ^ (t << 7);
      t = (x ^ (x >>> 14)) & 0x0000cccc;
      x = x ^ t ^ (t << 14);
      t = (y ^ (y >>> 14)) & 0x0000cccc;
      y = y ^ t ^ (t << 14);
      t = (x & 0xf0f0f0f0) | ((y >>> 4) & 0x0f0f0f0f);
      y = ((x << 4) & 0xf0f0f0f0) | (y & 0x0f0f0f0f);
      x = t;
      const base = 8 * jb * 16 + c;
      rows[base + 7 * 16] = x >>> 24;
      rows[base + 6 * 16] = (x >>> 16) & 255;
      rows[base + 5 * 16] = (x >>> 8) & 255;
      rows[base + 4 * 16] = x & 255;
      rows[base + 3 * 16] = y >>> 24;
      rows[base + 2 * 16] = (y >>> 16) & 255;
      rows[base + 1 * 16] = (y >>> 8) & 255;
      rows[base] = y & 255;
    }
  }
  return rows;
}

/** Bob, step 1-2: choices holds XI bits. Returns his rows t_j (j < XI) and the message. */
export function oteReceive(setup: OtReceiverSeeds, sid: Uint8Array, choices: Uint8Array, rng?: Rng): { rows: Uint8Array; message: OteMessage } {
  const nonce = randomBytes(rng, 32);
  const s = hash('ote/sid', sid, nonce);
  const x = new Uint8Array(ROW_BYTES);
  x.set(choices.subarray(0, XI / 8));
  x.set(randomBytes(rng, ROW_BYTES - XI / 8), XI / 8);
  const t = prgColumns(setup.seeds0, s);
  const t1 = prgColumns(setup.seeds1, s);
  const u = new Uint8Array(OTE_U_LENGTH);
  for (let i = 0; i < KAPPA; i++) {
    const t0i = t[i]!;
    const t1i = t1[i]!;
    for (let b = 0; b < ROW_BYTES; b++) u[i * ROW_BYTES + b] = t0i[b]! ^ t1i[b]! ^ x[b]!;
  }
  const chi = challenges(s, u);
  const xt = new Uint32Array(4);
  for (let j = 0; j < ROWS; j++) if (getBit(x, j)) xor4(xt, chi, 4 * j);
  const tt = combineColumns(t, chi);
  return { rows: transpose(t).subarray(0, XI * 16), message: { nonce, u, checkX: gfBytes(xt), checkT: gfBytes(tt) } };
}

/** Alice, step 2: KOS15 consistency check, then her rows q_j (j < XI). Failure names `culprit`. */
export function oteSend(setup: OtSenderSeeds, sid: Uint8Array, msg: OteMessage, field: string, culprit: number): { rows: Uint8Array; sid: Uint8Array } {
  if (typeof msg !== 'object' || msg === null) throw new CryptoError('BAD_FIELD', { field, culprits: [culprit] });
  const nonce = assertBytes(msg.nonce, 32, `${field}.nonce`);
  const u = assertBytes(msg.u, OTE_U_LENGTH, `${field}.u`);
  const checkX = assertBytes(msg.checkX, 16, `${field}.checkX`);
  const checkT = assertBytes(msg.checkT, 16, `${field}.checkT`);
  const s = hash('ote/sid', sid, nonce);
  const q = prgColumns(setup.seeds, s);
  for (let i = 0; i < KAPPA; i++) {
    const qi = q[i]!;
    if (getBit(setup.delta, i)) for (let b = 0; b < ROW_BYTES; b++) qi[b]! ^= u[i * ROW_BYTES + b]!;
  }
  const chi = challenges(s, u);
  const lhs = combineColumns(q, chi);
  const xt = gfFrom(checkX);
  const rhs = new Uint32Array(4);
  for (let i = KAPPA - 1; i >= 0; i--) {
    mulX(rhs);
    if (getBit(setup.delta, i)) xor4(rhs, xt);
  }
  xor4(rhs, gfFrom(checkT));
  if (((lhs[0]! ^ rhs[0]!) | (lhs[1]! ^ rhs[1]!) | (lhs[2]! ^ rhs[2]!) | (lhs[3]! ^ rhs[3]!)) !== 0)
    throw new CryptoError('INVALID_PROOF', { field, culprits: [culprit], message: `INVALID_PROOF: participant ${culprit} fails the KOS15 OT-extension consistency check` });
  return { rows: transpose(q).subarray(0, XI * 16), sid: s };
}

export const oteSessionId = (sid: Uint8Array, nonce: Uint8Array) => hash('ote/sid', sid, nonce);

/**
 * The random oracle of step 3: W scalars from (sid, j, row), each 48 bytes of
 * SHAKE256(sid || u16(j) || row) reduced mod n. One input buffer per batch.
 */
function rowHasher(sid: Uint8Array, width: number): { at: (j: number, row: Uint8Array) => bigint[]; done: () => void } {
  const input = new Uint8Array(sid.length + 18);
  input.set(sid, 0);
  const at = sid.length;
  return {
    at: (j, row) => {
      input[at] = j >>> 8;
      input[at + 1] = j & 255;
      input.set(row, at + 2);
      const out = hashBackend.shake256(48 * width, input);
      const res: bigint[] = [];
      for (let w = 0; w < width; w++) res.push(bytesToBigInt(out.subarray(48 * w, 48 * w + 48)) % N);
      out.fill(0);
      return res;
    },
    done: () => input.fill(0),
  };
}

/** Alice, step 3: correlated OT with correlation `alpha` on every row. */
export function cotSend(sid: Uint8Array, rows: Uint8Array, delta: Uint8Array, alpha: bigint[]): { z: bigint[][]; tau: Uint8Array } {
  const W = alpha.length;
  const z: bigint[][] = [];
  const tau = new Uint8Array(XI * W * 32);
  const flipped = new Uint8Array(16);
  const H = rowHasher(sid, W);
  for (let j = 0; j < XI; j++) {
    const q = rows.subarray(j * 16, j * 16 + 16);
    for (let b = 0; b < 16; b++) flipped[b] = q[b]! ^ delta[b]!;
    const h0 = H.at(j, q);
    const h1 = H.at(j, flipped);
    z.push(h0.map((v) => Fn.neg(v)));
    for (let w = 0; w < W; w++) putScalar(tau, (j * W + w) * 32, Fn.add(alpha[w]!, Fn.sub(h0[w]!, h1[w]!)));
  }
  flipped.fill(0);
  H.done();
  return { z, tau };
}

/** Bob, step 3: his outputs; z_A[j] + z_B[j] = x_j * alpha. */
export function cotReceive(sid: Uint8Array, rows: Uint8Array, choices: Uint8Array, tau: Uint8Array, width: number): bigint[][] {
  const z: bigint[][] = [];
  const H = rowHasher(sid, width);
  for (let j = 0; j < XI; j++) {
    const h = H.at(j, rows.subarray(j * 16, j * 16 + 16));
    if (getBit(choices, j)) for (let w = 0; w < width; w++) h[w] = Fn.add(h[w]!, Fn.create(bytesToBigInt(tau.subarray((j * width + w) * 32, (j * width + w + 1) * 32))));
    z.push(h);
  }
  H.done();
  return z;
}
