/**
 * The ECDSA key share (DKLs23 Protocol 3.6 output of key generation): the Feldman
 * share s_i with the public package (group key Y, verifying shares, party list,
 * threshold, chain code) in the FROST `frost-secp256k1` types, plus per counterparty the
 * OT-extension seeds in both roles and the zero-sharing seed. Compact binary encoding
 * with a header (magic, version); the decoder rejects anything else and re-validates
 * s_i*G == Y_i.
 */
import { concatBytes, equalBytes, utf8ToBytes } from '../bytes.ts';
import { CryptoError } from '../errors.ts';
import { assertKeyShare, makeKeyShare, type KeyShare } from '../frost/keys.ts';
import { assertBytes, type ParticipantId } from '../frost/suite.ts';
import { redacted } from '../redact.ts';
import { FROST_SUITE, KAPPA, SCHEME, SEED_LENGTH, suite, u16 } from './common.ts';
import type { PairState } from './pairs.ts';

export interface EcdsaKeyShare {
  scheme: typeof SCHEME;
  /** s_i, Y, verifying shares, participants, threshold, chain code (shared with the FROST engine). */
  frost: KeyShare;
  /** Per counterparty: OT seeds (both roles) and the zero-share seed. */
  pairs: Record<ParticipantId, PairState>;
}

export function makeEcdsaKeyShare(frost: KeyShare, pairs: Record<ParticipantId, PairState>): EcdsaKeyShare {
  return redacted({ scheme: SCHEME, frost, pairs }, `EcdsaKeyShare #${frost.id}`);
}

/** Validates a key share completely: FROST part, one well-formed pair state per counterparty. */
export function assertEcdsaKeyShare(share: unknown, field = 'keyShare'): EcdsaKeyShare {
  if (typeof share !== 'object' || share === null) throw new CryptoError('BAD_FIELD', { field });
  const s = share as EcdsaKeyShare;
  if (s.scheme !== SCHEME) throw new CryptoError('UNKNOWN_SUITE', { field: `${field}.scheme` });
  const frostSuite = assertKeyShare(s.frost, `${field}.frost`);
  if (frostSuite.id !== FROST_SUITE) throw new CryptoError('UNKNOWN_SUITE', { field: `${field}.frost.suite` });
  if (typeof s.pairs !== 'object' || s.pairs === null) throw new CryptoError('BAD_FIELD', { field: `${field}.pairs` });
  const peers = s.frost.publicKey.participants.filter((j) => j !== s.frost.id);
  if (Object.keys(s.pairs).length !== peers.length) throw new CryptoError('BAD_PARTICIPANT', { field: `${field}.pairs` });
  for (const j of peers) {
    const p = s.pairs[j];
    const f = `${field}.pairs[${j}]`;
    if (typeof p !== 'object' || p === null || typeof p.sender !== 'object' || typeof p.receiver !== 'object' || p.sender === null || p.receiver === null)
      throw new CryptoError('BAD_FIELD', { field: f });
    assertBytes(p.zeroSeed, 32, `${f}.zeroSeed`);
    assertBytes(p.sender.delta, KAPPA / 8, `${f}.sender.delta`);
    assertBytes(p.sender.seeds, KAPPA * SEED_LENGTH, `${f}.sender.seeds`);
    assertBytes(p.receiver.seeds0, KAPPA * SEED_LENGTH, `${f}.receiver.seeds0`);
    assertBytes(p.receiver.seeds1, KAPPA * SEED_LENGTH, `${f}.receiver.seeds1`);
  }
  return s;
}

const MAGIC = utf8ToBytes('KQE1');
const PAIR_LENGTH = 32 + KAPPA / 8 + 3 * KAPPA * SEED_LENGTH;

/**
 * Encoding: 'KQE1' | u16 t | u16 n | n x u16 id | u16 self | s_i (32) | Y (33) | chain code (32)
 * | n x Y_j (33) | per counterparty ascending: zero seed (32) | Delta (16) | 3 x kappa seeds (16 each).
 */
export function encodeEcdsaKeyShare(share: EcdsaKeyShare): Uint8Array {
  const s = assertEcdsaKeyShare(share);
  const pk = s.frost.publicKey;
  const peers = pk.participants.filter((j) => j !== s.frost.id);
  return concatBytes(
    MAGIC,
    u16(pk.threshold),
    u16(pk.participants.length),
    ...pk.participants.map(u16),
    u16(s.frost.id),
    s.frost.signingShare,
    pk.groupKey,
    pk.chainCode,
    ...pk.participants.map((j) => pk.verifyingShares[j]!),
    ...peers.flatMap((j) => {
      const p = s.pairs[j]!;
      return [p.zeroSeed, p.sender.delta, p.sender.seeds, p.receiver.seeds0, p.receiver.seeds1];
    }),
  );
}

export function decodeEcdsaKeyShare(bytes: unknown): EcdsaKeyShare {
  const b = assertBytes(bytes, undefined, 'keyShareBytes');
  let off = 0;
  const take = (n: number) => {
    if (off + n > b.length) throw new CryptoError('BAD_FIELD', { field: 'keyShareBytes', message: 'BAD_FIELD: key share encoding is truncated' });
    const out = b.slice(off, off + n);
    off += n;
    return out;
  };
  const num = () => {
    const x = take(2);
    return (x[0]! << 8) | x[1]!;
  };
  if (!equalBytes(take(4), MAGIC)) throw new CryptoError('BAD_FIELD', { field: 'keyShareBytes', message: 'BAD_FIELD: not a keyquorum ECDSA key share (v1)' });
  const threshold = num();
  const n = num();
  const participants = Array.from({ length: n }, num);
  const id = num();
  const signingShare = take(32);
  const groupKey = take(33);
  const chainCode = take(32);
  const verifyingShares: Record<number, Uint8Array> = {};
  for (const j of participants) verifyingShares[j] = take(33);
  const pairs: Record<number, PairState> = {};
  for (const j of participants) {
    if (j === id) continue;
    const zeroSeed = take(32);
    const delta = take(KAPPA / 8);
    const seeds = take(KAPPA * SEED_LENGTH);
    pairs[j] = { zeroSeed, sender: { delta, seeds }, receiver: { seeds0: take(KAPPA * SEED_LENGTH), seeds1: take(KAPPA * SEED_LENGTH) } };
  }
  if (off !== b.length) throw new CryptoError('BAD_FIELD', { field: 'keyShareBytes', message: 'BAD_FIELD: trailing bytes after the key share' });
  const frost = makeKeyShare({ suite: suite.id, id, signingShare, publicKey: { suite: suite.id, threshold, participants, groupKey, verifyingShares, chainCode } });
  return assertEcdsaKeyShare(makeEcdsaKeyShare(frost, pairs));
}

export const ENCODED_PAIR_LENGTH = PAIR_LENGTH;
