/**
 * Key sessions, dkg and refresh (docs/cluster-protocol.md "Key sessions"; round
 * numbers `KEY_ROUND`): START -> CONTRIBUTION; CONTRIBUTIONS -> derive the session id,
 * R1 broadcast; R1_DELIVER -> check every R1, R2 encrypted to each peer; R2_DELIVER
 * -> decrypt, round 3, store the new share pending, CONFIRM. COMMIT and ABORT are
 * handled from the keystore (`key-commit.ts`) so they also work after a restart.
 * The crypto rounds are @keyquorum/crypto's dkgRound1/2/3 and refreshRound1/2/3.
 */
import {
  BROADCAST,
  COORDINATOR_ID,
  ECDSA_SUITE,
  KEY_ROUND,
  WireError,
  createKeyDigest,
  deriveSessionId,
  refreshDigest,
  sessionContribution,
  toWirePublicKey,
  type ContributionBody,
  type DeliverBody,
  type DkgRound1Body,
  type DkgStartBody,
  type Envelope,
  type ParticipantRef,
  type RefreshStartBody,
  type CommitmentBody,
  type EcdsaDkgRound2Body,
  type SecretShareBody,
} from '@keyquorum/protocol';
import {
  SUITE_IDS,
  assertThreshold,
  dkgRound1,
  dkgRound2,
  dkgRound3,
  ecdsa,
  refreshRound1,
  refreshRound2,
  refreshRound3,
  type KeyShare,
  type PublicKeyPackage,
  type SuiteId,
} from '@keyquorum/crypto';
import { DKG_EPOCH } from '../constants.ts';
import { SignerError } from '../errors.ts';
import { KeystoreError } from '../keystore/index.ts';
import { encodeShareRecord, loadShare, wipeEcdsaShare } from '../share-record.ts';
import { attribute, checkRequest, hex, openRelayed, selfIndex, sendBody, sendSecret, type SessionContext } from './context.ts';
import type { CloseReason, Session } from './session.ts';

/** What round 3 yields: the secret to seal (a 32-byte share, or an encoded ecdsa share) and the public outcome. */
interface KeyOutcome {
  secret: Uint8Array;
  publicKey: PublicKeyPackage;
  transcriptHash: Uint8Array;
}

/** One protocol's three rounds, closed over its secret state. */
interface KeyRounds {
  round1(sessionId: Uint8Array): unknown;
  /** Checks the peers' round-1 bodies; returns the round-2 body (sent encrypted) for each peer index. */
  round2(r1: Map<number, unknown>): Map<number, { signingShare: Uint8Array }>;
  round3(r2: Map<number, unknown>): KeyOutcome;
}

const frostOutcome = (out: { keyShare: KeyShare; transcriptHash: Uint8Array }): KeyOutcome => ({
  secret: out.keyShare.signingShare,
  publicKey: out.keyShare.publicKey,
  transcriptHash: out.transcriptHash,
});

function dkgRounds(suite: SuiteId, self: number, participants: number[], threshold: number): (sessionId: Uint8Array) => KeyRounds {
  return () => {
    let s1: ReturnType<typeof dkgRound1>['secret'] | undefined;
    let s2: ReturnType<typeof dkgRound2>['secret'] | undefined;
    return {
      round1(sessionId) {
        const r = dkgRound1({ suite, sessionId, self, participants, threshold });
        s1 = r.secret;
        const { commitment, proofOfKnowledge, chainCodeContribution } = r.package;
        return { commitment, proofOfKnowledge, chainCodeContribution };
      },
      round2(r1) {
        const r = dkgRound2(s1!, [...r1].map(([from, b]) => ({ from, ...(b as DkgRound1Body) })));
        s1 = undefined;
        s2 = r.secret;
        return new Map(r.packages.map((p) => [p.to, { signingShare: p.signingShare }]));
      },
      round3(r2) {
        const out = dkgRound3(s2!, [...r2].map(([from, b]) => ({ from, to: self, signingShare: (b as SecretShareBody).signingShare })));
        s2 = undefined;
        return frostOutcome(out);
      },
    };
  };
}

/**
 * ecdsa-secp256k1 (DKLs23) key generation: the FROST Feldman DKG on secp256k1 plus, in
 * round 2, the pairwise base-OT setup and zero-seed halves (sent with the share, encrypted).
 * The sealed secret is the encoded DKLs23 share (signing share, OT seeds, zero seeds).
 */
function ecdsaDkgRounds(self: number, participants: number[], threshold: number): (sessionId: Uint8Array) => KeyRounds {
  return () => {
    let s1: ReturnType<typeof ecdsa.ecdsaDkgRound1>['secret'] | undefined;
    let s2: ReturnType<typeof ecdsa.ecdsaDkgRound2>['secret'] | undefined;
    return {
      round1(sessionId) {
        const r = ecdsa.ecdsaDkgRound1({ sessionId, self, participants, threshold });
        s1 = r.secret;
        const { commitment, proofOfKnowledge, chainCodeContribution } = r.package;
        return { commitment, proofOfKnowledge, chainCodeContribution };
      },
      round2(r1) {
        const r = ecdsa.ecdsaDkgRound2(s1!, [...r1].map(([from, b]) => ({ from, ...(b as DkgRound1Body) })));
        s1 = undefined;
        s2 = r.secret;
        return new Map(r.packages.map((p): [number, EcdsaDkgRound2Body] => [p.to, { signingShare: p.signingShare, pairSetup: p.pairSetup }]));
      },
      round3(r2) {
        const out = ecdsa.ecdsaDkgRound3(s2!, [...r2].map(([from, b]) => ({ from, to: self, ...(b as EcdsaDkgRound2Body) })));
        s2 = undefined;
        const secret = ecdsa.encodeEcdsaKeyShare(out.keyShare);
        out.keyShare.frost.signingShare.fill(0);
        return { secret, publicKey: out.keyShare.frost.publicKey, transcriptHash: out.transcriptHash };
      },
    };
  };
}

function refreshRounds(keyShare: KeyShare): (sessionId: Uint8Array) => KeyRounds {
  return () => {
    let s1: ReturnType<typeof refreshRound1>['secret'] | undefined;
    let s2: ReturnType<typeof refreshRound2>['secret'] | undefined;
    return {
      round1(sessionId) {
        const r = refreshRound1({ sessionId, keyShare });
        s1 = r.secret;
        return { commitment: r.package.commitment };
      },
      round2(r1) {
        const r = refreshRound2(s1!, [...r1].map(([from, b]) => ({ from, commitment: (b as CommitmentBody).commitment })));
        s1 = undefined;
        s2 = r.secret;
        return new Map(r.packages.map((p) => [p.to, { signingShare: p.signingShare }]));
      },
      round3(r2) {
        const out = refreshRound3(s2!, [...r2].map(([from, b]) => ({ from, to: keyShare.id, signingShare: (b as SecretShareBody).signingShare })));
        s2 = undefined;
        return frostOutcome(out);
      },
    };
  };
}

/** ecdsa-secp256k1 refresh: new shares under the same Y and fresh pairwise OT state and zero seeds. */
function ecdsaRefreshRounds(keyShare: ecdsa.EcdsaKeyShare): (sessionId: Uint8Array) => KeyRounds {
  return () => {
    let s1: ReturnType<typeof ecdsa.ecdsaRefreshRound1>['secret'] | undefined;
    let s2: ReturnType<typeof ecdsa.ecdsaRefreshRound2>['secret'] | undefined;
    const self = keyShare.frost.id;
    return {
      round1(sessionId) {
        const r = ecdsa.ecdsaRefreshRound1({ sessionId, keyShare });
        s1 = r.secret;
        return { commitment: r.package.commitment };
      },
      round2(r1) {
        const r = ecdsa.ecdsaRefreshRound2(s1!, [...r1].map(([from, b]) => ({ from, commitment: (b as CommitmentBody).commitment })));
        s1 = undefined;
        s2 = r.secret;
        return new Map(r.packages.map((p): [number, EcdsaDkgRound2Body] => [p.to, { signingShare: p.signingShare, pairSetup: p.pairSetup }]));
      },
      round3(r2) {
        try {
          const out = ecdsa.ecdsaRefreshRound3(s2!, [...r2].map(([from, b]) => ({ from, to: self, ...(b as EcdsaDkgRound2Body) })));
          const secret = ecdsa.encodeEcdsaKeyShare(out.keyShare);
          wipeEcdsaShare(out.keyShare);
          return { secret, publicKey: out.keyShare.frost.publicKey, transcriptHash: out.transcriptHash };
        } finally {
          s2 = undefined;
          wipeEcdsaShare(keyShare);
        }
      },
    };
  };
}

type Phase = 'contributed' | 'round1' | 'round2' | 'confirmed';

interface KeySessionInit {
  kind: 'dkg' | 'refresh';
  suite: string;
  keyId: string;
  /** The epoch the new share is stored at. */
  epoch: number;
  proposalId: Uint8Array;
  participants: ParticipantRef[];
  self: number;
  requestDigest: Uint8Array;
  rounds: (sessionId: Uint8Array) => KeyRounds;
}

export function assertSuite(suite: string): SuiteId {
  if (!(SUITE_IDS as readonly string[]).includes(suite)) throw new SignerError('WRONG_SUITE', { field: 'header.suite', message: `unsupported suite ${suite}` });
  return suite as SuiteId;
}

/**
 * Drops a pending epoch left by a session that is no longer live (a crash or a lost
 * ABORT; the router refuses a START while a key session for the key is live), so it
 * cannot block the next session for the key: such a session never reached the
 * coordinator's commit point, or its COMMIT would have been re-sent first.
 */
export function dropStalePending(ctx: SessionContext, keyId: string): void {
  const summary = ctx.keystore.listKeys().find((k) => k.keyId === keyId);
  const pending = summary?.state === 'pending' ? summary.epoch : summary?.state === 'active' ? summary.pendingEpoch : null;
  if (pending === null || pending === undefined) return;
  ctx.keystore.discardPending(keyId, pending);
  ctx.log.warn('discarded stale pending share', { keyId, epoch: pending });
}

export class KeySession implements Session {
  readonly kind: 'dkg' | 'refresh';
  readonly suite: string;
  readonly keyId: string;
  readonly #ctx: SessionContext;
  readonly #init: KeySessionInit;
  readonly #ownContribution: Uint8Array;
  #phase: Phase = 'contributed';
  #sessionId: Uint8Array | undefined;
  #rounds: KeyRounds | undefined;
  #ownR1: Uint8Array | undefined;

  private constructor(ctx: SessionContext, init: KeySessionInit) {
    this.#ctx = ctx;
    this.#init = init;
    this.kind = init.kind;
    this.suite = init.suite;
    this.keyId = init.keyId;
    this.#ownContribution = sendBody(ctx, { kind: init.kind, suite: init.suite, sessionId: init.proposalId, round: KEY_ROUND.CONTRIBUTION }, { contribution: sessionContribution(ctx.rng) }).payload;
  }

  /** dkg START: a fresh key of pinned participants, authorised by a createKey request. */
  static startDkg(ctx: SessionContext, env: Envelope, body: DkgStartBody): KeySession {
    const suite = env.header.suite === ECDSA_SUITE ? ECDSA_SUITE : assertSuite(env.header.suite);
    const self = selfIndex(ctx, body.participants);
    assertThreshold(body.threshold, body.participants.length, 'threshold');
    const signers = body.participants.map((p) => p.signer);
    const digest = createKeyDigest({ keyId: body.keyId, suite, threshold: body.threshold, signers });
    if (ctx.keystore.listKeys().some((k) => k.keyId === body.keyId && k.state !== 'pending')) {
      throw new SignerError('WRONG_KEY_STATE', { field: 'keyId', message: `${body.keyId} already exists` });
    }
    checkRequest(ctx, body.request, 'createKey', body.keyId, digest);
    dropStalePending(ctx, body.keyId);
    const indices = body.participants.map((p) => p.index);
    return new KeySession(ctx, {
      kind: 'dkg',
      suite,
      keyId: body.keyId,
      epoch: DKG_EPOCH,
      proposalId: env.header.sessionId,
      participants: body.participants,
      self,
      requestDigest: body.request.digest,
      rounds: suite === ECDSA_SUITE ? ecdsaDkgRounds(self, indices, body.threshold) : dkgRounds(suite, self, indices, body.threshold),
    });
  }

  /** refresh START: same participants, the key active at `epoch` here; the new share is epoch + 1. */
  static startRefresh(ctx: SessionContext, env: Envelope, body: RefreshStartBody): KeySession {
    const share = loadShare(ctx.keystore.getActive(body.keyId));
    try {
      if (share.epoch !== body.epoch) throw new SignerError('WRONG_KEY_STATE', { field: 'epoch', message: `${body.keyId} is active at epoch ${share.epoch}` });
      if (share.suite !== env.header.suite) throw new SignerError('WRONG_SUITE', { field: 'header.suite', message: `${body.keyId} is ${share.suite}` });
      const same = body.participants.length === share.record.participants.length &&
        share.record.participants.every((p) => body.participants.some((q) => q.signer === p.signer && q.index === p.index));
      if (!same) throw new SignerError('BAD_PARTICIPANTS', { field: 'participants', message: `refresh needs exactly the key's participants` });
      selfIndex(ctx, body.participants);
      checkRequest(ctx, body.request, 'refresh', body.keyId, refreshDigest({ keyId: body.keyId }));
      dropStalePending(ctx, body.keyId);
    } catch (e) {
      share.keyShare.signingShare.fill(0);
      if (share.ecdsa) wipeEcdsaShare(share.ecdsa);
      throw e;
    }
    return new KeySession(ctx, {
      kind: 'refresh',
      suite: share.suite,
      keyId: body.keyId,
      epoch: body.epoch + 1,
      proposalId: env.header.sessionId,
      participants: share.record.participants,
      self: share.record.self,
      requestDigest: body.request.digest,
      rounds: share.ecdsa ? ecdsaRefreshRounds(share.ecdsa) : refreshRounds(share.keyShare),
    });
  }

  get currentId(): Uint8Array {
    return this.#sessionId ?? this.#init.proposalId;
  }

  get confirmed(): boolean {
    return this.#phase === 'confirmed';
  }

  ids(): string[] {
    return [hex(this.#init.proposalId), ...(this.#sessionId ? [hex(this.#sessionId)] : [])];
  }

  handle(env: Envelope, body: unknown): boolean {
    const envelopes = (body as DeliverBody).envelopes;
    switch (env.header.round) {
      case KEY_ROUND.CONTRIBUTIONS:
        this.#expect('contributed', env, this.#init.proposalId);
        this.#onContributions(envelopes);
        break;
      case KEY_ROUND.R1_DELIVER:
        this.#expect('round1', env, this.#sessionId);
        this.#onRound1(envelopes);
        break;
      case KEY_ROUND.R2_DELIVER:
        this.#expect('round2', env, this.#sessionId);
        this.#onRound2(envelopes);
        break;
      default:
        throw new SignerError('WRONG_ROUND', { field: 'header.round', message: `${this.kind} does not accept round ${env.header.round} here` });
    }
    return false;
  }

  close(reason: CloseReason): void {
    this.#rounds = undefined;
    if (reason !== 'aborted' || this.#phase !== 'confirmed') return;
    try {
      this.#ctx.keystore.discardPending(this.keyId, this.#init.epoch);
    } catch (e) {
      if (!(e instanceof KeystoreError)) throw e;
    }
  }

  #expect(phase: Phase, env: Envelope, id: Uint8Array | undefined): void {
    if (this.#phase !== phase || id === undefined || hex(env.header.sessionId) !== hex(id)) {
      throw new SignerError('WRONG_ROUND', { field: 'header.round', message: `round ${env.header.round} is not expected in phase ${this.#phase} under this session id` });
    }
  }

  #header(round: number, to?: string) {
    return { kind: this.kind, suite: this.suite, sessionId: this.#sessionId!, round, ...(to === undefined ? {} : { to }) };
  }

  #signers(): string[] {
    return this.#init.participants.map((p) => p.signer);
  }

  #others(): ParticipantRef[] {
    return this.#init.participants.filter((p) => p.signer !== this.#ctx.signerId);
  }

  #byIndex<T>(bodies: Map<string, T>): Map<number, T> {
    return new Map(this.#others().map((p) => [p.index, bodies.get(p.signer)!]));
  }

  /** CONTRIBUTIONS: every participant's fresh 32 bytes -> the session id; then R1. */
  #onContributions(envelopes: Envelope[]): void {
    const { kind, suite, keyId } = this;
    const bodies = openRelayed<ContributionBody>(this.#ctx, envelopes, {
      kind, suite, round: KEY_ROUND.CONTRIBUTION, sessionId: this.#init.proposalId, to: COORDINATOR_ID,
      required: this.#signers(), own: this.#ownContribution,
    });
    try {
      this.#sessionId = deriveSessionId({
        kind, suite, keyId,
        participants: this.#signers(),
        contributions: Object.fromEntries([...bodies].map(([s, b]) => [s, b.contribution])),
        requestDigest: this.#init.requestDigest,
      });
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      throw new SignerError('BAD_TRANSCRIPT', { field: 'contributions', message: e.message, cause: e });
    }
    this.#rounds = this.#init.rounds(this.#sessionId);
    const r1 = this.#rounds.round1(this.#sessionId);
    this.#ownR1 = sendBody(this.#ctx, this.#header(KEY_ROUND.R1, BROADCAST), r1).payload;
    this.#phase = 'round1';
  }

  /** R1_DELIVER: check every peer's round-1 package, then send each peer its encrypted R2. */
  #onRound1(envelopes: Envelope[]): void {
    const bodies = openRelayed<unknown>(this.#ctx, envelopes, {
      kind: this.kind, suite: this.suite, round: KEY_ROUND.R1, sessionId: this.#sessionId!, to: BROADCAST,
      required: this.#others().map((p) => p.signer), optional: [this.#ctx.signerId], own: this.#ownR1,
    });
    let shares: Map<number, { signingShare: Uint8Array }>;
    try {
      shares = this.#rounds!.round2(this.#byIndex(bodies));
    } catch (e) {
      throw attribute(e, this.#init.participants);
    }
    for (const p of this.#others()) {
      const r2 = shares.get(p.index)!;
      sendSecret(this.#ctx, { ...this.#header(KEY_ROUND.R2), to: p.signer }, r2);
      r2.signingShare.fill(0);
    }
    this.#phase = 'round2';
  }

  /** R2_DELIVER: decrypt and check the shares, store the new share pending, CONFIRM. */
  #onRound2(envelopes: Envelope[]): void {
    const bodies = openRelayed<SecretShareBody>(this.#ctx, envelopes, {
      kind: this.kind, suite: this.suite, round: KEY_ROUND.R2, sessionId: this.#sessionId!, to: this.#ctx.signerId,
      required: this.#others().map((p) => p.signer), encrypted: true,
    });
    let out: KeyOutcome;
    try {
      out = this.#rounds!.round3(this.#byIndex(bodies));
    } catch (e) {
      throw attribute(e, this.#init.participants);
    } finally {
      for (const b of bodies.values()) b.signingShare.fill(0);
      this.#rounds = undefined;
    }
    const publicKey = toWirePublicKey(out.publicKey);
    const record = encodeShareRecord({
      publicKey,
      participants: this.#init.participants,
      self: this.#init.self,
      sessionId: this.#sessionId!,
      transcriptHash: out.transcriptHash,
    });
    try {
      this.#ctx.keystore.putPending(this.keyId, this.#init.epoch, this.suite, out.secret, record);
    } finally {
      out.secret.fill(0);
    }
    this.#phase = 'confirmed';
    sendBody(this.#ctx, this.#header(KEY_ROUND.CONFIRM), { keyId: this.keyId, epoch: this.#init.epoch, transcriptHash: out.transcriptHash, publicKey });
    this.#ctx.log.info('share stored pending', { kind: this.kind, keyId: this.keyId, epoch: this.#init.epoch, sessionId: hex(this.#sessionId!) });
  }
}
