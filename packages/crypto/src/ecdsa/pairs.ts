/**
 * Pairwise setup run inside key generation and refresh (DKLs23 Protocol 3.6, setup
 * steps; §3 "zero-sharing" and F_RVOLE initialisation): for every pair (i, j), base OTs
 * in both directions (i as extension sender towards j and as extension receiver) and a
 * zero-sharing seed. One message from i to j (sent encrypted by the transport: it
 * carries i's half of the zero-share seed), one finishing step.
 */
import { concatBytes } from '../bytes.ts';
import { CryptoError } from '../errors.ts';
import { assertBytes } from '../frost/suite.ts';
import { baseOtReceiverFinish, baseOtReceiverStart, baseOtSenderFinish, baseOtSenderStart, type BaseOtReceiverMessage, type BaseOtReceiverSecret, type BaseOtSenderMessage, type BaseOtSenderSecret } from './baseot.ts';
import { hash, KAPPA, randomBytes, u32, type Rng } from './common.ts';
import type { OtReceiverSeeds, OtSenderSeeds } from './ote.ts';

/** What one party keeps about one counterparty. */
export interface PairState {
  /** Shared with the counterparty only: seeds the pair's zero shares. */
  zeroSeed: Uint8Array;
  /** This party as OT-extension sender (Alice) towards the counterparty. */
  sender: OtSenderSeeds;
  /** This party as OT-extension receiver (Bob) towards the counterparty. */
  receiver: OtReceiverSeeds;
}

export interface PairSetupMessage {
  /** Base-OT receiver side (we will be the extension sender towards `to`). */
  otReceiver: BaseOtReceiverMessage;
  /** Base-OT sender side (we will be the extension receiver towards `to`). */
  otSender: BaseOtSenderMessage;
  zeroSeedContribution: Uint8Array;
}

export interface PairSetupSecret {
  delta: Uint8Array;
  otReceiver: BaseOtReceiverSecret;
  otSender: BaseOtSenderSecret;
  zeroSeedContribution: Uint8Array;
}

/** Session id of the base OTs where `sender` is the base-OT sender (extension receiver). */
const baseSid = (context: Uint8Array, sender: number, receiver: number) => hash('pair/base-ot', context, u32(sender), u32(receiver));

export function pairSetupStart(context: Uint8Array, self: number, peer: number, rng?: Rng): { secret: PairSetupSecret; message: PairSetupMessage } {
  const delta = randomBytes(rng, KAPPA / 8);
  const r = baseOtReceiverStart(baseSid(context, peer, self), delta, rng);
  const s = baseOtSenderStart(baseSid(context, self, peer), rng);
  const zeroSeedContribution = randomBytes(rng, 32);
  return {
    secret: { delta, otReceiver: r.secret, otSender: s.secret, zeroSeedContribution },
    message: { otReceiver: r.message, otSender: s.message, zeroSeedContribution },
  };
}

/** Finishes the pair with `peer` from its message; a failed proof names `peer`. */
export function pairSetupFinish(context: Uint8Array, self: number, peer: number, secret: PairSetupSecret, msg: PairSetupMessage, field: string, rng?: Rng): PairState {
  if (typeof msg !== 'object' || msg === null) throw new CryptoError('BAD_FIELD', { field, culprits: [peer] });
  const theirs = assertBytes(msg.zeroSeedContribution, 32, `${field}.zeroSeedContribution`);
  // Base OTs where the peer is sender: we receive k_i^{Delta_i} (we are Alice).
  const mine = baseOtReceiverFinish(baseSid(context, peer, self), secret.otReceiver, msg.otSender, `${field}.otSender`, peer);
  // Base OTs where we are sender: we get both k_i^0, k_i^1 (we are Bob).
  const both = baseOtSenderFinish(baseSid(context, self, peer), secret.otSender, msg.otReceiver, `${field}.otReceiver`, peer, rng);
  const [lo, hi] = self < peer ? [secret.zeroSeedContribution, theirs] : [theirs, secret.zeroSeedContribution];
  return {
    zeroSeed: hash('pair/zero-seed', context, u32(Math.min(self, peer)), u32(Math.max(self, peer)), lo, hi),
    sender: { delta: secret.delta.slice(), seeds: concatBytes(...mine) },
    receiver: { seeds0: concatBytes(...both.m0), seeds1: concatBytes(...both.m1) },
  };
}
