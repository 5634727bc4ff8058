/**
 * The ecdsa-secp256k1 driver (DKLs23): the sealed secret is the encoded DKLs23 share
 * (signing share, pairwise OT seeds, zero seeds). Key generation is the Feldman DKG on
 * secp256k1 plus, in round 2, the pairwise base-OT setup and zero-seed halves (sent
 * with the share, encrypted); refresh makes new shares under the same Y with fresh
 * pairwise OT state and zero seeds. No reshare yet. Signing is `ecdsa-sign.ts`.
 */
import { equalBytes } from '@noble/curves/utils.js';
import {
  ECDSA_SIGN_ROUND,
  WireError,
  encodeBody,
  toWirePublicKey,
  type CommitmentBody,
  type DkgRound1Body,
  type EcdsaDkgRound2Body,
  type ParticipantRef,
} from '@keyquorum/protocol';
import { ecdsa, targetPublicKey } from '@keyquorum/crypto';
import { SignerError } from '../errors.ts';
import type { ShareSecret } from '../held-share.ts';
import { byIndex, bySigner, type KeyOutcome, type KeyRounds, type SchemeDriver } from './driver.ts';
import { startPresign, signPooledEcdsa } from './ecdsa-pooled.ts';
import { EcdsaSignSession } from './ecdsa-sign.ts';

/** Zeroes an ECDSA share's secrets (signing share, OT and zero seeds); best effort as everywhere in JS. */
function wipeEcdsaShare(share: ecdsa.EcdsaKeyShare): void {
  share.frost.signingShare.fill(0);
  for (const p of Object.values(share.pairs)) {
    p.zeroSeed.fill(0);
    p.sender.delta.fill(0);
    p.sender.seeds.fill(0);
    p.receiver.seeds0.fill(0);
    p.receiver.seeds1.fill(0);
  }
}

/** Seals the new share as its encoded form; the decoded one is wiped. */
function outcome(out: { keyShare: ecdsa.EcdsaKeyShare; transcriptHash: Uint8Array }): KeyOutcome {
  const secret = ecdsa.encodeEcdsaKeyShare(out.keyShare);
  wipeEcdsaShare(out.keyShare);
  return { secret, publicKey: out.keyShare.frost.publicKey, transcriptHash: out.transcriptHash };
}

const round2Bodies = (peers: ParticipantRef[], packages: readonly Pick<ecdsa.EcdsaDkgRound2Package, 'to' | 'signingShare' | 'pairSetup'>[]) =>
  bySigner(peers, new Map(packages.map((p): [number, EcdsaDkgRound2Body] => [p.to, { signingShare: p.signingShare, pairSetup: p.pairSetup }])));

function dkgRounds(participants: ParticipantRef[], self: number, threshold: number): KeyRounds {
  const peers = participants.filter((p) => p.index !== self);
  let s1: ReturnType<typeof ecdsa.ecdsaDkgRound1>['secret'] | undefined;
  let s2: ReturnType<typeof ecdsa.ecdsaDkgRound2>['secret'] | undefined;
  return {
    round1(sessionId) {
      const r = ecdsa.ecdsaDkgRound1({ sessionId, self, participants: participants.map((p) => p.index), threshold });
      s1 = r.secret;
      const { commitment, proofOfKnowledge, chainCodeContribution } = r.package;
      return { commitment, proofOfKnowledge, chainCodeContribution } satisfies DkgRound1Body;
    },
    round2(r1) {
      const r = ecdsa.ecdsaDkgRound2(s1!, byIndex<DkgRound1Body>(peers, r1).map(([from, b]) => ({ from, ...b })));
      s1 = undefined;
      s2 = r.secret;
      return round2Bodies(peers, r.packages);
    },
    round3(r2) {
      const out = ecdsa.ecdsaDkgRound3(s2!, byIndex<EcdsaDkgRound2Body>(peers, r2).map(([from, b]) => ({ from, to: self, ...b })));
      s2 = undefined;
      return outcome(out);
    },
    wipe() {
      s1 = undefined;
      s2 = undefined;
    },
  };
}

function refreshRounds(keyShare: ecdsa.EcdsaKeyShare, participants: ParticipantRef[]): KeyRounds {
  const self = keyShare.frost.id;
  const peers = participants.filter((p) => p.index !== self);
  let s1: ReturnType<typeof ecdsa.ecdsaRefreshRound1>['secret'] | undefined;
  let s2: ReturnType<typeof ecdsa.ecdsaRefreshRound2>['secret'] | undefined;
  return {
    round1(sessionId) {
      const r = ecdsa.ecdsaRefreshRound1({ sessionId, keyShare });
      s1 = r.secret;
      return { commitment: r.package.commitment } satisfies CommitmentBody;
    },
    round2(r1) {
      const r = ecdsa.ecdsaRefreshRound2(s1!, byIndex<CommitmentBody>(peers, r1).map(([from, b]) => ({ from, commitment: b.commitment })));
      s1 = undefined;
      s2 = r.secret;
      return round2Bodies(peers, r.packages);
    },
    round3(r2) {
      try {
        return outcome(ecdsa.ecdsaRefreshRound3(s2!, byIndex<EcdsaDkgRound2Body>(peers, r2).map(([from, b]) => ({ from, to: self, ...b }))));
      } finally {
        s2 = undefined;
        wipeEcdsaShare(keyShare);
      }
    },
    wipe() {
      s1 = undefined;
      s2 = undefined;
      wipeEcdsaShare(keyShare);
    },
  };
}

export const ecdsaScheme: SchemeDriver = {
  decodeSecret(secret, publicPart): ShareSecret {
    // The sealed secret is the encoded DKLs23 share (decodeEcdsaKeyShare re-checks s_i*G == Y_i).
    const share = ecdsa.decodeEcdsaKeyShare(secret);
    secret.fill(0);
    if (share.frost.id !== publicPart.self || !equalBytes(encodeBody(toWirePublicKey(share.frost.publicKey)), encodeBody(publicPart.publicKey))) {
      wipeEcdsaShare(share);
      throw new SignerError('CORRUPT', { field: 'keystore.share', message: 'the sealed ecdsa share does not match its public record' });
    }
    return { keyShare: share.frost, ecdsa: share };
  },
  wipe(share) {
    share.keyShare.signingShare.fill(0);
    if (share.ecdsa) wipeEcdsaShare(share.ecdsa);
  },
  signRounds: [ECDSA_SIGN_ROUND.START, ECDSA_SIGN_ROUND.CONTRIBUTIONS, ECDSA_SIGN_ROUND.R1_DELIVER, ECDSA_SIGN_ROUND.R2_DELIVER, ECDSA_SIGN_ROUND.PRESIGN, ECDSA_SIGN_ROUND.POOLED, ECDSA_SIGN_ROUND.ABORT],
  dkg: ({ participants, self, threshold }) => dkgRounds(participants, self, threshold),
  refresh: (share) => refreshRounds(share.ecdsa!, share.publicPart.participants),
  checkSign(share, body) {
    if (body.taproot !== undefined) throw new WireError('BAD_FIELD', { field: 'taproot', message: 'BAD_FIELD: taproot does not apply to ecdsa-secp256k1' });
    if (body.message.length !== 32) throw new WireError('BAD_FIELD', { field: 'message', message: 'BAD_FIELD: ecdsa-secp256k1 signs a 32-byte digest' });
    targetPublicKey(share.keyShare.publicKey, body.path === undefined ? undefined : { path: body.path });
  },
  startSign: (ctx, proposalId, body, share) => new EcdsaSignSession(ctx, proposalId, share, body, ecdsaScheme),
  presign: {
    rounds: { start: ECDSA_SIGN_ROUND.PRESIGN, pooled: ECDSA_SIGN_ROUND.POOLED },
    start: (ctx, proposalId, body, suite) => startPresign(ctx, proposalId, body, suite, ecdsaScheme),
    sign: signPooledEcdsa,
  },
};
