/**
 * The FROST driver (RFC 9591; suites frost-secp256k1-tr, frost-ed25519,
 * frost-secp256k1): the sealed secret is the 32-byte signing share s_i; key sessions
 * are @keyquorum/crypto's Feldman DKG (dkgRound1/2/3), refresh (refreshRound1/2/3)
 * and reshare (reshareDeal / reshareReceive); signing is `frost-sign.ts`.
 */
import {
  SIGN_ROUND,
  fromWirePublicKey,
  type CommitmentBody,
  type DkgRound1Body,
  type ParticipantRef,
  type ReshareStartBody,
  type SecretShareBody,
  type SignStartBody,
} from '@keyquorum/protocol';
import {
  assertKeyShare,
  dkgRound1,
  dkgRound2,
  dkgRound3,
  makeKeyShare,
  refreshRound1,
  refreshRound2,
  refreshRound3,
  reshareDeal,
  reshareReceive,
  targetPublicKey,
  type KeyShare,
  type ReshareCommitment,
  type ReshareParams,
  type ReshareSharePackage,
  type SigningTarget,
  type SuiteId,
} from '@keyquorum/crypto';
import { byIndex, bySigner, type KeyOutcome, type KeyRounds, type ReshareRoundsParams, type SchemeDriver } from './driver.ts';
import { FrostSignSession, poolCommit, signPooled } from './frost-sign.ts';

const outcome = (out: { keyShare: KeyShare; transcriptHash: Uint8Array }): KeyOutcome => ({
  secret: out.keyShare.signingShare,
  publicKey: out.keyShare.publicKey,
  transcriptHash: out.transcriptHash,
});

const others = (participants: readonly ParticipantRef[], self: number) => participants.filter((p) => p.index !== self);

/** The derivation target a sign START names (BIP32-style path, BIP341 taproot tweak), if any. */
function signingTarget(body: SignStartBody): SigningTarget | undefined {
  if (body.path === undefined && body.taproot === undefined) return undefined;
  return { ...(body.path === undefined ? {} : { path: body.path }), ...(body.taproot === undefined ? {} : { taproot: body.taproot }) };
}

/** RFC 9591 Appendix C / Pedersen-Feldman DKG with proofs of knowledge. */
function dkgRounds(suite: SuiteId, participants: ParticipantRef[], self: number, threshold: number): KeyRounds {
  const peers = others(participants, self);
  let s1: ReturnType<typeof dkgRound1>['secret'] | undefined;
  let s2: ReturnType<typeof dkgRound2>['secret'] | undefined;
  return {
    round1(sessionId) {
      const r = dkgRound1({ suite, sessionId, self, participants: participants.map((p) => p.index), threshold });
      s1 = r.secret;
      const { commitment, proofOfKnowledge, chainCodeContribution } = r.package;
      return { commitment, proofOfKnowledge, chainCodeContribution } satisfies DkgRound1Body;
    },
    round2(r1) {
      const r = dkgRound2(s1!, byIndex<DkgRound1Body>(peers, r1).map(([from, b]) => ({ from, ...b })));
      s1 = undefined;
      s2 = r.secret;
      return bySigner(peers, new Map(r.packages.map((p) => [p.to, { signingShare: p.signingShare }])));
    },
    round3(r2) {
      const out = dkgRound3(s2!, byIndex<SecretShareBody>(peers, r2).map(([from, b]) => ({ from, to: self, signingShare: b.signingShare })));
      s2 = undefined;
      return outcome(out);
    },
    wipe() {
      s1 = undefined;
      s2 = undefined;
    },
  };
}

/** Proactive refresh: zero-constant sharings added to every share; Y stays. */
function refreshRounds(keyShare: KeyShare, participants: ParticipantRef[]): KeyRounds {
  const peers = others(participants, keyShare.id);
  let s1: ReturnType<typeof refreshRound1>['secret'] | undefined;
  let s2: ReturnType<typeof refreshRound2>['secret'] | undefined;
  return {
    round1(sessionId) {
      const r = refreshRound1({ sessionId, keyShare });
      s1 = r.secret;
      return { commitment: r.package.commitment } satisfies CommitmentBody;
    },
    round2(r1) {
      const r = refreshRound2(s1!, byIndex<CommitmentBody>(peers, r1).map(([from, b]) => ({ from, commitment: b.commitment })));
      s1 = undefined;
      s2 = r.secret;
      return bySigner(peers, new Map(r.packages.map((p) => [p.to, { signingShare: p.signingShare }])));
    },
    round3(r2) {
      const out = refreshRound3(s2!, byIndex<SecretShareBody>(peers, r2).map(([from, b]) => ({ from, to: keyShare.id, signingShare: b.signingShare })));
      s2 = undefined;
      return outcome(out);
    },
    wipe() {
      s1 = undefined;
      s2 = undefined;
      keyShare.signingShare.fill(0);
    },
  };
}

/**
 * Reshare: each dealer (an old holder) shares its Lagrange-weighted share to the new
 * set (R1 its commitment, R2 a share per new member); a new member checks every
 * dealer's commitment and share and sums them. A dealer's share to itself stays here.
 */
function reshareRounds({ body, signer, share }: ReshareRoundsParams): KeyRounds {
  const { dealers, newParticipants } = body;
  const member = newParticipants.find((p) => p.signer === signer)?.index;
  const otherDealers = dealers.filter((p) => p.signer !== signer);
  let keyShare = share?.keyShare;
  let params: ReshareParams | undefined;
  let commitments: ReshareCommitment[] = [];
  /** Shares this dealer has still to send, one per new member. */
  let pending: ReshareSharePackage[] = [];
  let own: ReshareSharePackage | undefined;
  return {
    round1(sessionId) {
      params = reshareParams(body, sessionId);
      if (keyShare === undefined) return undefined;
      const dealt = reshareDeal(params, keyShare);
      keyShare.signingShare.fill(0);
      keyShare = undefined;
      pending = dealt.packages;
      return { commitment: dealt.commitment.commitment } satisfies CommitmentBody;
    },
    round2(r1) {
      commitments = byIndex<CommitmentBody>(dealers, r1).map(([from, b]) => ({ from, commitment: b.commitment }));
      const out = new Map<string, SecretShareBody>();
      for (const pkg of pending) {
        const to = newParticipants.find((p) => p.index === pkg.to)!.signer;
        if (to === signer) own = pkg;
        else out.set(to, { signingShare: pkg.signingShare });
      }
      pending = [];
      return out;
    },
    round3(r2) {
      const packages: ReshareSharePackage[] = byIndex<SecretShareBody>(otherDealers, r2).map(([from, b]) => ({ from, to: member!, signingShare: b.signingShare }));
      if (own) packages.push(own);
      try {
        return outcome(reshareReceive(params!, member!, commitments, packages));
      } finally {
        own?.signingShare.fill(0);
        own = undefined;
      }
    },
    wipe() {
      keyShare?.signingShare.fill(0);
      keyShare = undefined;
      own?.signingShare.fill(0);
      own = undefined;
      for (const p of pending) p.signingShare.fill(0);
      pending = [];
    },
  };
}

function reshareParams(body: ReshareStartBody, sessionId: Uint8Array): ReshareParams {
  return {
    sessionId,
    oldPublicKey: fromWirePublicKey(body.oldPublicKey),
    dealers: body.dealers.map((p) => p.index),
    newParticipants: body.newParticipants.map((p) => p.index),
    newThreshold: body.newThreshold,
  };
}

export const frost: SchemeDriver = {
  decodeSecret(secret, publicPart) {
    const publicKey = fromWirePublicKey(publicPart.publicKey);
    const keyShare = makeKeyShare({ suite: publicKey.suite, id: publicPart.self, signingShare: secret, publicKey });
    assertKeyShare(keyShare, 'keystore.share');
    return { keyShare };
  },
  wipe(share) {
    share.keyShare.signingShare.fill(0);
  },
  signRounds: [SIGN_ROUND.START, SIGN_ROUND.SIGN, SIGN_ROUND.POOL, SIGN_ROUND.POOLED, SIGN_ROUND.ABORT],
  dkg: ({ suite, participants, self, threshold }) => dkgRounds(suite as SuiteId, participants, self, threshold),
  refresh: (share) => refreshRounds(share.keyShare, share.publicPart.participants),
  reshare: reshareRounds,
  repairSecret: (keyShare) => keyShare.signingShare.slice(),
  checkSign(share, body) {
    targetPublicKey(share.keyShare.publicKey, signingTarget(body));
  },
  startSign: (ctx, proposalId, body, share) => new FrostSignSession(ctx, proposalId, share, body, signingTarget(body), frost),
  pool: {
    commit: poolCommit,
    sign: (ctx, proposalId, body, share, envelopes, own) => signPooled(ctx, proposalId, body, share, envelopes, own, signingTarget(body)),
  },
};
