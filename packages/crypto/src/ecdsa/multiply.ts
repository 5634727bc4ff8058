/**
 * Two-party random-vector OLE (DKLs23 Functionality 3.5) by DKLs19 Protocol 1
 * (eprint 2019/523), in the two-message form of DKLs23 §5.1: Bob's random input b is
 * fixed by his first message, Alice's input vector a (length L = 2 in signing) is only
 * needed for her reply. Outputs: Alice c, Bob d with c_l + d_l = a_l * b.
 *
 *  1. Bob: beta <- {0,1}^XI, b = <g, beta> (g a public random gadget vector; with XI =
 *     256 + 2s the leftover hash lemma makes b 2^-80-close to uniform even if Alice
 *     learns s bits of beta by selective failure). OT extension as receiver on beta.
 *  2. Alice: pads a~ and check values a^ (random, L each); correlation (a~, a^).
 *  3. Correlated OT: Alice z~_A, z^_A; Bob z~_B, z^_B.
 *  4. chi~, chi^ <- H(transcript) (Fiat-Shamir; the transcript includes Alice's tau so
 *     she cannot choose her correlations knowing the challenge).
 *  5. Alice: r_{j,l} = chi~_l z~_A[j,l] + chi^_l z^_A[j,l], sends H(r) (DKLs23 §5.1) and
 *     mu_l = chi~_l a~_l + chi^_l a^_l.
 *  6. Bob recomputes r_{j,l} = beta_j mu_l - chi~_l z~_B[j,l] - chi^_l z^_B[j,l] and
 *     compares hashes: a mismatch means Alice used inconsistent correlations (named).
 *  7. Alice sends gamma_l = a_l - a~_l.
 *  8. Alice c_l = sum_j g_j z~_A[j,l]; Bob d_l = sum_j g_j z~_B[j,l] + b * gamma_l.
 */
import { equalBytes } from '../bytes.ts';
import { CryptoError } from '../errors.ts';
import { assertBytes, parseScalar } from '../frost/suite.ts';
import { hashBackend } from '../hash.ts';
import { bytesToBigInt, framed, Fn, getBit, hash, hashToScalar, N, putScalar, randomBytes, randomScalar, scalarBytes, suite, u16, XI, type Rng } from './common.ts';
import { cotReceive, cotSend, oteReceive, oteSend, oteSessionId, type OteMessage, type OtReceiverSeeds, type OtSenderSeeds } from './ote.ts';

export const MUL_L = 2;
const W = 2 * MUL_L;

/** Bob's first message. */
export type MulMessage1 = OteMessage;

/** Alice's reply. */
export interface MulMessage2 {
  nonce: Uint8Array;
  /** XI * 2L scalars. */
  tau: Uint8Array;
  checkHash: Uint8Array;
  /** L scalars mu_l, then L scalars gamma_l. */
  mu: Uint8Array[];
  gamma: Uint8Array[];
}

/** Kept by Bob between his two steps. */
export interface MulReceiverState {
  sid: Uint8Array;
  beta: Uint8Array;
  b: bigint;
  rows: Uint8Array;
  message: MulMessage1;
  /** The gadget vector of `sid` (public), kept for step 8. */
  g: bigint[];
}

/** The public gadget vector g (step 1), fixed by the pair's session id. */
export function gadget(sid: Uint8Array): bigint[] {
  // g_j = hashToScalar('mul/gadget/j', seed, u16(j)): one framed input, its last two bytes are j.
  const input = framed('mul/gadget/j', [hash('mul/gadget', sid), u16(0)]);
  const at = input.length - 2;
  const g: bigint[] = [];
  for (let j = 0; j < XI; j++) {
    input[at] = j >>> 8;
    input[at + 1] = j & 255;
    g.push(bytesToBigInt(hashBackend.sha512(input)) % N);
  }
  return g;
}

/** sum_j g_j * z_j[l] mod n, reduced once (every term is below n^2). */
function gadgetSum(g: bigint[], z: bigint[][], l: number): bigint {
  let acc = 0n;
  for (let j = 0; j < z.length; j++) acc += g[j]! * z[j]![l]!;
  return acc % N;
}

function checkChallenges(sid: Uint8Array, m1: MulMessage1, nonceA: Uint8Array, tau: Uint8Array): { tilde: bigint[]; hat: bigint[] } {
  const t = hash('mul/transcript', sid, m1.nonce, m1.u, m1.checkX, m1.checkT, nonceA, tau);
  return {
    tilde: Array.from({ length: MUL_L }, (_, l) => hashToScalar('mul/chi~', t, u16(l))),
    hat: Array.from({ length: MUL_L }, (_, l) => hashToScalar('mul/chi^', t, u16(l))),
  };
}

/** hash('mul/r', sid, ...every r_{j,l} as 32 bytes), framed into one buffer directly. */
function rHash(sid: Uint8Array, r: bigint[][]): Uint8Array {
  const scalars = new Uint8Array(32);
  const input = framed('mul/r', [sid, ...r.flatMap((rj) => rj.map(() => scalars))]);
  let off = input.length - r.length * MUL_L * 36;
  for (const rj of r)
    for (const x of rj) {
      putScalar(input, off + 4, x);
      off += 36;
    }
  return hashBackend.sha256(input);
}

/** Bob, step 1. Returns his random input b (DKLs23's chi) and the message for Alice. */
export function mulReceiverStart(setup: OtReceiverSeeds, sid: Uint8Array, g: bigint[], rng?: Rng): { state: MulReceiverState; message: MulMessage1 } {
  const beta = randomBytes(rng, XI / 8);
  let b = 0n;
  for (let j = 0; j < XI; j++) if (getBit(beta, j)) b = Fn.add(b, g[j]!);
  const { rows, message } = oteReceive(setup, sid, beta, rng);
  return { state: { sid, beta, b, rows, message, g }, message };
}

/** Alice, steps 2-8, on input a (L scalars). Returns her shares c and the reply. Bob failing the KOS check is named. */
export function mulSenderRespond(setup: OtSenderSeeds, sid: Uint8Array, g: bigint[], a: bigint[], m1: MulMessage1, field: string, culprit: number, rng?: Rng): { c: bigint[]; message: MulMessage2 } {
  const { rows, sid: oteSid } = oteSend(setup, sid, m1, field, culprit);
  const aTilde = a.map(() => randomScalar(rng)); // step 2
  const aHat = a.map(() => randomScalar(rng));
  const nonce = randomBytes(rng, 32);
  const cotSid = hash('mul/cot', oteSid, nonce);
  const { z, tau } = cotSend(cotSid, rows, setup.delta, [...aTilde, ...aHat]); // step 3
  const chi = checkChallenges(sid, m1, nonce, tau); // step 4
  const r = z.map((zj) => [0, 1].map((l) => (chi.tilde[l]! * zj[l]! + chi.hat[l]! * zj[MUL_L + l]!) % N)); // step 5 (MUL_L = 2)
  const mu = aTilde.map((at, l) => Fn.add(Fn.mul(chi.tilde[l]!, at), Fn.mul(chi.hat[l]!, aHat[l]!)));
  const gamma = a.map((al, l) => Fn.sub(al, aTilde[l]!)); // step 7
  const c = Array.from({ length: MUL_L }, (_, l) => gadgetSum(g, z, l)); // step 8
  return { c, message: { nonce, tau, checkHash: rHash(sid, r), mu: mu.map(scalarBytes), gamma: gamma.map(scalarBytes) } };
}

/** Bob, steps 6 and 8. Alice failing the check is named. */
export function mulReceiverFinish(state: MulReceiverState, g: bigint[], m2: MulMessage2, field: string, culprit: number): bigint[] {
  if (typeof m2 !== 'object' || m2 === null) throw new CryptoError('BAD_FIELD', { field, culprits: [culprit] });
  const nonce = assertBytes(m2.nonce, 32, `${field}.nonce`);
  const tau = assertBytes(m2.tau, XI * W * 32, `${field}.tau`);
  const checkHash = assertBytes(m2.checkHash, 32, `${field}.checkHash`);
  const scalars = (v: unknown, name: string) => {
    if (!Array.isArray(v) || v.length !== MUL_L) throw new CryptoError('BAD_FIELD', { field: `${field}.${name}`, culprits: [culprit] });
    return v.map((s, l) => parseScalar(suite, s, `${field}.${name}[${l}]`, { allowZero: true }));
  };
  const mu = scalars(m2.mu, 'mu');
  const gamma = scalars(m2.gamma, 'gamma');
  const cotSid = hash('mul/cot', oteSessionId(state.sid, state.message.nonce), nonce);
  const z = cotReceive(cotSid, state.rows, state.beta, tau, W);
  const chi = checkChallenges(state.sid, state.message, nonce, tau);
  const r = z.map((zj, j) => [0, 1].map((l) => {
    const bm = getBit(state.beta, j) ? mu[l]! : 0n;
    return Fn.sub(bm, (chi.tilde[l]! * zj[l]! + chi.hat[l]! * zj[MUL_L + l]!) % N);
  }));
  if (!equalBytes(rHash(state.sid, r), checkHash))
    throw new CryptoError('INVALID_PROOF', { field: `${field}.checkHash`, culprits: [culprit], message: `INVALID_PROOF: participant ${culprit} fails the DKLs19 multiplication check` });
  return Array.from({ length: MUL_L }, (_, l) => Fn.add(gadgetSum(g, z, l), Fn.mul(state.b, gamma[l]!)));
}

