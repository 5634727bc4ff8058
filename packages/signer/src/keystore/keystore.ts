/**
 * The signer daemon's keystore: one SQLite file (`keystore.db`) holding its sealed
 * threshold key shares, the single-use nonce journal, the client replay window, its
 * sealed identity key, retired keys with their attestations, its peer bans, key states,
 * policies, the velocity and spend ledgers and the audit checkpoint. This is the front: it validates
 * every argument, then runs each operation over the stores (shares.ts, nonces.ts, ...) in one
 * immediate transaction, committed with synchronous=FULL before it returns (with group
 * commit on, the nonce steps and admissions are committed in batches: group-commit.ts); after a
 * share wipe it also purges the WAL. Creation, unlocking and schema migrations are in
 * open.ts and schema.ts. No networking and no protocol logic; the clock is injected.
 */
import type { Startable } from '@keyquorum/protocol';
import { aBytes, aHex, aId, aUint } from './assert.ts';
import type { AuditChange, AuditCheckpointRecord } from './audit-checkpoint.ts';
import { PeerBans } from './bans.ts';
import { ATTESTATION_DIGEST_LENGTH, BLOB_MAX_BYTES, ED25519_KEY_LENGTH } from './constants.ts';
import { now, readWithoutKek } from './database.ts';
import { COMMITTED, GroupCommit, type CommitGate } from './group-commit.ts';
import { SignerError } from '../errors.ts';
import { IdentityStore } from './identity.ts';
import type { KeyStateChange, KeyStateRecord } from './key-states.ts';
import type { StoredPolicy } from './policies.ts';
import { type UnlockedKeystore, createKeystore, openKeystore } from './open.ts';
import type { StoredVeto } from './sessions.ts';
import { type Stores, openStores } from './stores.ts';
import type { Admission, HeldKeySummary, KeystoreCreateOptions, KeystoreOpenOptions, PeerBan, ReplayGuard, RetireResult, UnsealedShare } from './types.ts';

/** The keystore front; a lifecycle part (`Startable`) that comes up started from `create` or `open`. */
export class Keystore implements ReplayGuard, Startable {
  /** The signer this keystore belongs to (bound into every sealed blob). */
  readonly signerId: string;
  readonly dataDir: string;
  readonly #keystore: UnlockedKeystore;
  readonly #stores: Stores;
  readonly #group: GroupCommit | undefined;
  /** When what was written so far is committed (group-commit.ts; at once without group commit). */
  readonly commits: CommitGate;
  #open = true;

  private constructor(keystore: UnlockedKeystore, groupCommitMs?: number) {
    this.#keystore = keystore;
    this.#group = groupCommitMs === undefined ? undefined : new GroupCommit(keystore.db, groupCommitMs);
    this.commits = this.#group ?? COMMITTED;
    this.signerId = keystore.signerId;
    this.dataDir = keystore.dataDir;
    this.#stores = openStores(keystore);
  }

  /** Initialises a new keystore in `dataDir` (created 0700 if absent); 'EXISTS' if one is there. */
  static create(options: KeystoreCreateOptions): Keystore {
    return new Keystore(createKeystore(options));
  }

  /** Opens and unlocks an existing keystore, migrating an older schema; 'NOT_FOUND' if none, 'BAD_PASSPHRASE' if the KEK is wrong. */
  static open(options: KeystoreOpenOptions): Keystore {
    const keystore = openKeystore(options);
    try {
      return new Keystore(keystore, options.groupCommitMs);
    } catch (e) {
      keystore.kek.destroy();
      keystore.db.close();
      throw e;
    }
  }

  /**
   * Stores the share of a new epoch (DKG, refresh or reshare) as 'pending'; the active epoch
   * stays in use. With `session`: 'VETOED' if this signer vetoed that session, else the
   * CONFIRM envelope it signed for the share is kept with it (`confirmOf`).
   */
  putPending(keyId: string, epoch: number, suite: string, secret: Uint8Array, publicBytes: Uint8Array, session?: { sessionId: Uint8Array; confirm: Uint8Array }): void {
    aId(keyId, 'keyId');
    aUint(epoch, 'epoch');
    aId(suite, 'suite');
    aBytes(secret, 'secret', { min: 1, max: BLOB_MAX_BYTES });
    aBytes(publicBytes, 'public', { min: 1, max: BLOB_MAX_BYTES });
    if (session !== undefined) {
      aBytes(session.sessionId, 'sessionId', { min: 1, max: BLOB_MAX_BYTES });
      aBytes(session.confirm, 'confirm', { min: 1, max: BLOB_MAX_BYTES });
    }
    this.#write(({ retired, shares, sessions }) => {
      retired.refuseRetired(keyId);
      if (session === undefined) return shares.putPending(keyId, epoch, suite, secret, publicBytes);
      if (sessions.veto(session.sessionId) !== undefined) throw new SignerError('VETOED', { field: 'sessionId', message: `this signer vetoed the session of ${keyId} epoch ${epoch}` });
      shares.putPending(keyId, epoch, suite, secret, publicBytes);
      sessions.putConfirm(keyId, epoch, session.sessionId, session.confirm);
    });
  }

  /** The CONFIRM envelope kept with the share at `epoch` (undefined if none was kept). */
  confirmOf(keyId: string, epoch: number): { sessionId: Uint8Array; envelope: Uint8Array } | undefined {
    aId(keyId, 'keyId');
    aUint(epoch, 'epoch');
    return this.#read().sessions.confirm(keyId, epoch);
  }

  /**
   * Durably records this signer's veto of a key session (`envelope`: the signed VETO);
   * from then on `putPending` of that session is refused 'VETOED'. The caller checks
   * that it holds no share of the session. A second veto keeps the first record.
   */
  recordVeto(sessionId: Uint8Array, keyId: string, epoch: number, envelope: Uint8Array): void {
    aBytes(sessionId, 'sessionId', { min: 1, max: BLOB_MAX_BYTES });
    aId(keyId, 'keyId');
    aUint(epoch, 'epoch');
    aBytes(envelope, 'envelope', { min: 1, max: BLOB_MAX_BYTES });
    this.#write(({ sessions }) => sessions.putVeto(sessionId, keyId, epoch, envelope));
  }

  /** This signer's veto of the session, if it vetoed it. */
  vetoOf(sessionId: Uint8Array): StoredVeto | undefined {
    aBytes(sessionId, 'sessionId', { min: 1, max: BLOB_MAX_BYTES });
    return this.#read().sessions.veto(sessionId);
  }

  /**
   * Commits a pending epoch: in one transaction it becomes 'active', every other epoch of
   * the key is zeroed and deleted, and their fresh nonces are discarded; then the WAL is
   * purged of the old epochs' pages. `handover` (a new holder): the key's policy records
   * are replaced by its `policy` (none: the default) in the same transaction.
   */
  activate(keyId: string, epoch: number, handover?: { policy: StoredPolicy | undefined }): void {
    aId(keyId, 'keyId');
    aUint(epoch, 'epoch');
    if (handover?.policy !== undefined && handover.policy.keyId !== keyId) throw new SignerError('BAD_FIELD', { field: 'policy.keyId' });
    this.#write(({ retired, shares, nonces, sessions, policies }) => {
      retired.refuseRetired(keyId);
      shares.activate(keyId, epoch);
      if (handover !== undefined) policies.replace(keyId, handover.policy);
      nonces.discardOfOtherEpochs(keyId, epoch);
      sessions.dropOtherConfirms(keyId, epoch);
    });
    this.#purgeWal();
  }

  /** Rolls back an interrupted refresh: zeroes and deletes the pending share; the active one is untouched. */
  discardPending(keyId: string, epoch: number): void {
    aId(keyId, 'keyId');
    aUint(epoch, 'epoch');
    this.#write(({ shares, sessions }) => {
      shares.discardPending(keyId, epoch);
      sessions.dropConfirm(keyId, epoch);
    });
    this.#purgeWal();
  }

  /** The active share, unsealed: 'NOT_FOUND' for an unknown key, 'WRONG_STATE' if retired or only pending. */
  getActive(keyId: string): UnsealedShare {
    aId(keyId, 'keyId');
    const { retired, shares } = this.#read();
    retired.refuseRetired(keyId);
    return shares.active(keyId);
  }

  /** One epoch's share (pending or active), unsealed. */
  getShare(keyId: string, epoch: number): UnsealedShare {
    aId(keyId, 'keyId');
    aUint(epoch, 'epoch');
    const { retired, shares } = this.#read();
    retired.refuseRetired(keyId);
    return shares.get(keyId, epoch);
  }

  /** Every key this signer knows, with its state and epochs; no secret and no public package. */
  listKeys(): HeldKeySummary[] {
    const { retired, shares } = this.#read();
    const byKey = new Map<string, HeldKeySummary>(shares.summaries().map((summary) => [summary.keyId, summary]));
    for (const key of retired.all()) byKey.set(key.keyId, { state: 'retired', ...key });
    return [...byKey.values()].sort((a, b) => (a.keyId < b.keyId ? -1 : a.keyId > b.keyId ? 1 : 0));
  }

  /**
   * Retires a key: every share row is zeroed, marked 'retired' and deleted, its fresh
   * nonces are discarded, and a `retired_keys` row keeps the attestation digest; then the
   * WAL is purged of pre-wipe pages. Later use of the key is refused with 'WRONG_STATE'.
   * `attestation` (public bytes, e.g. the signed attestation) is kept for `getAttestation`.
   */
  retire(keyId: string, attestationDigest: Uint8Array, attestation?: Uint8Array): RetireResult {
    aId(keyId, 'keyId');
    aBytes(attestationDigest, 'attestationDigest', { len: ATTESTATION_DIGEST_LENGTH });
    if (attestation !== undefined) aBytes(attestation, 'attestation', { min: 1, max: BLOB_MAX_BYTES });
    const result = this.#write(({ retired, shares, nonces, sessions }) => {
      retired.refuseRetired(keyId);
      const retiredAt = now(this.#keystore);
      const wipedEpochs = shares.wipeAll(keyId, retiredAt);
      sessions.dropKeyConfirms(keyId);
      nonces.discardOfKey(keyId);
      retired.record({ keyId, retiredAt, attestationDigest }, attestation);
      return { keyId, retiredAt, wipedEpochs };
    });
    this.#purgeWal();
    return result;
  }

  /** This signer's record of the key's state; undefined for a key that never left 'active'. */
  keyState(keyId: string): KeyStateRecord | undefined {
    return this.#read().states.get(aId(keyId, 'keyId'));
  }

  /** Whether a transition carried by this request (its `clientRequestId`) was applied to the key. */
  transitionApplied(keyId: string, requestId: Uint8Array): boolean {
    aBytes(requestId, 'requestId', { len: ATTESTATION_DIGEST_LENGTH });
    return this.#read().states.applied(aId(keyId, 'keyId'), requestId);
  }

  /** The key's state changes, oldest first. */
  keyStateHistory(keyId: string): KeyStateChange[] {
    return this.#read().states.history(aId(keyId, 'keyId'));
  }

  /**
   * Durably records a state transition of a key this signer holds ('WRONG_STATE' if
   * retired, 'NOT_FOUND' without an active share). With `destroy`, the key's shares
   * are wiped and the attestation kept in the same transaction, as `retire` does.
   */
  recordKeyState(next: KeyStateRecord, change: KeyStateChange, destroy?: { attestationDigest: Uint8Array; attestation: Uint8Array }): void {
    aId(next.keyId, 'keyId');
    aBytes(next.requestId, 'requestId', { len: ATTESTATION_DIGEST_LENGTH });
    aUint(next.requestTimestamp, 'requestTimestamp');
    if (destroy !== undefined) aBytes(destroy.attestationDigest, 'attestationDigest', { len: ATTESTATION_DIGEST_LENGTH });
    this.#write(({ retired, shares, nonces, sessions, states }) => {
      retired.refuseRetired(next.keyId);
      shares.active(next.keyId).secret.fill(0);
      if (destroy !== undefined) {
        const at = now(this.#keystore);
        shares.wipeAll(next.keyId, at);
        sessions.dropKeyConfirms(next.keyId);
        nonces.discardOfKey(next.keyId);
        retired.record({ keyId: next.keyId, retiredAt: at, attestationDigest: destroy.attestationDigest }, destroy.attestation);
      }
      states.record(next, change);
    });
    if (destroy !== undefined) this.#purgeWal();
  }

  /** The policy in force for the key here (its highest version; undefined if none was set), and every version it had. */
  keyPolicy(keyId: string): StoredPolicy | undefined {
    return this.#read().policies.current(aId(keyId, 'keyId'));
  }
  keyPolicyHistory(keyId: string): StoredPolicy[] {
    return this.#read().policies.history(aId(keyId, 'keyId'));
  }

  /** Sign requests of the key admitted here after `sinceMs` (on `path` only, if given), `exclude` not counted. */
  velocityUsed(keyId: string, sinceMs: number, exclude: Uint8Array, path?: string): number {
    return this.#read().velocity.count(aId(keyId, 'keyId'), sinceMs, aBytes(exclude, 'exclude', { len: ATTESTATION_DIGEST_LENGTH }), path);
  }
  /** What transactions of the key admitted here after `sinceMs` spent of `asset`, `exclude` not counted (spend.ts checks the arguments). */
  spentSince(keyId: string, asset: string, sinceMs: number, exclude: Uint8Array): bigint {
    return this.#read().spend.spentSince(keyId, asset, sinceMs, exclude);
  }

  /**
   * Admits a client request in one transaction: remembers the first of `nonces` unseen under the client
   * key (stamped `stamp`), with its velocity and spend entries and the policy it sets, if any. False, writing nothing, if every nonce was seen.
   */
  admitRequest(a: Admission): boolean {
    const clientKey = aHex(a.clientKeyHex, 'clientKeyHex');
    const nonces = a.nonces.map((n) => aHex(n, 'nonces'));
    aUint(a.stamp, 'stamp');
    return this.#step(({ replay, velocity, spend, policies, shares }) => {
      if (!nonces.some((n) => replay.remember(clientKey, n, a.stamp))) return false;
      if (a.velocity !== undefined) velocity.record(a.velocity);
      for (const entry of a.spend ?? []) spend.record(entry);
      // A policy is kept only beside an active share of its key.
      if (a.policy !== undefined) shares.active(a.policy.keyId).secret.fill(0);
      if (a.policy !== undefined) policies.put(a.policy);
      return true;
    });
  }

  /** The attestation bytes stored when `keyId` was retired; 'NOT_FOUND' if none. */
  getAttestation(keyId: string): Uint8Array {
    aId(keyId, 'keyId');
    return this.#read().retired.attestation(keyId);
  }

  /** This signer's record of the coordinator's audit log (audit-checkpoint.ts). */
  auditCheckpoint(): AuditCheckpointRecord {
    return this.#read().audit.get();
  }

  /** Durably records a checkpoint cosigned (clearing an inconsistency and the count), an inconsistency found, or a raised reservation of operation STARTs. */
  recordAudit(change: AuditChange): void {
    this.#write(({ audit }) => audit.apply(change, now(this.#keystore)));
  }

  /** Bans `peer` from sessions of `keyId` here (durably) until `clearPeerBan`; false if it already was. */
  banPeer(keyId: string, peer: string, reason: string): boolean {
    aId(keyId, 'keyId');
    aId(peer, 'peer');
    if (typeof reason !== 'string') throw new SignerError('BAD_FIELD', { field: 'reason', message: 'expected a string' });
    return this.#write(({ bans }) => bans.ban(keyId, peer, reason, now(this.#keystore)));
  }

  /** The peers banned from sessions of `keyId` here, sorted. */
  bannedPeers(keyId: string): string[] {
    aId(keyId, 'keyId');
    return this.#read().bans.peers(keyId);
  }

  /** Lifts a ban (an operator's decision); false if there was none. */
  clearPeerBan(keyId: string, peer: string): boolean {
    aId(keyId, 'keyId');
    aId(peer, 'peer');
    return this.#write(({ bans }) => bans.clear(keyId, peer));
  }

  /** Every peer ban (all keys), read without the KEK (bans hold no secret; a daemon may hold the database); 'NOT_FOUND' without a keystore. */
  static readPeerBans(dataDir: string): PeerBan[] {
    return readWithoutKek(dataDir, PeerBans.readAll);
  }

  /** Seals this signer's 32-byte Ed25519 identity seed with its public key; 'EXISTS' if one is stored. */
  putIdentity(seed: Uint8Array, publicKey: Uint8Array): void {
    aBytes(seed, 'seed', { len: ED25519_KEY_LENGTH });
    aBytes(publicKey, 'publicKey', { len: ED25519_KEY_LENGTH });
    this.#write(({ identity }) => identity.put(seed, publicKey));
  }

  /** The identity seed, unsealed, and its public key; 'NOT_FOUND' if none was stored. */
  getIdentity(): { seed: Uint8Array; publicKey: Uint8Array } {
    return this.#read().identity.get();
  }

  /** The stored identity public key, read without the KEK; 'NOT_FOUND' without a keystore or identity. */
  static readIdentityPublicKey(dataDir: string): Uint8Array {
    return readWithoutKek(dataDir, IdentityStore.readPublicKey);
  }

  /** Journals a fresh single-use signing nonce for the active epoch of a key, sealed. */
  storeNonce(nonceId: string, keyId: string, epoch: number, secretNonce: Uint8Array): void {
    aId(nonceId, 'nonceId');
    aId(keyId, 'keyId');
    aUint(epoch, 'epoch');
    aBytes(secretNonce, 'secretNonce', { min: 1, max: BLOB_MAX_BYTES });
    this.#step(({ retired, shares, nonces }) => {
      retired.refuseRetired(keyId);
      shares.requireActiveAt(keyId, epoch);
      nonces.store(nonceId, keyId, epoch, secretNonce);
    });
  }

  /**
   * Marks a nonce consumed, zeroes its sealed copy and returns its secret bytes; the mark is on disk once the step
   * commits (at once without group commit). 'NONCE_CONSUMED', 'NONCE_DISCARDED', 'NONCE_UNKNOWN' otherwise.
   */
  consumeNonce(nonceId: string): Uint8Array {
    aId(nonceId, 'nonceId');
    return this.#step(({ nonces }) => nonces.consume(nonceId));
  }

  /** `consumeNonce` (its refusals thrown at once), the bytes once the mark is committed; a failed commit rejects, bytes zeroed. */
  consumeNonceDurably(nonceId: string): Promise<Uint8Array> {
    const secret = this.consumeNonce(nonceId);
    return this.commits.whenDurable().then(() => secret, (e: unknown) => {
      secret.fill(0);
      throw e;
    });
  }

  /** Discards (and zeroes) one fresh nonce (an aborted signing attempt); false if it was not fresh. */
  discardNonce(nonceId: string): boolean {
    aId(nonceId, 'nonceId');
    return this.#step(({ nonces }) => nonces.discard(nonceId));
  }

  /** Discards (and zeroes) every fresh nonce; run at startup so none outstanding before a crash is reused. */
  discardOutstandingNonces(): number {
    return this.#write(({ nonces }) => nonces.discardAll());
  }

  countFreshNonces(keyId?: string): number {
    const nonces = this.#read().nonces;
    return keyId === undefined ? nonces.countFresh() : nonces.countFresh(aId(keyId, 'keyId'));
  }

  /** Records a client request (key and nonce hex, any case); false if the pair was seen before. */
  rememberRequest(clientKeyHex: string, nonceHex: string, timestampMs: number): boolean {
    const clientKey = aHex(clientKeyHex, 'clientKeyHex');
    const nonce = aHex(nonceHex, 'nonceHex');
    aUint(timestampMs, 'timestampMs');
    return this.#write(({ replay }) => replay.remember(clientKey, nonce, timestampMs));
  }

  checkAndRemember(clientKeyHex: string, nonceHex: string, timestamp: number): boolean {
    return this.rememberRequest(clientKeyHex, nonceHex, timestamp);
  }

  /** Forgets requests stamped over `olderThanMs` ago (the caller rejects those by their timestamp); returns how many. */
  pruneRequests(olderThanMs: number): number {
    aUint(olderThanMs, 'olderThanMs');
    return this.#write(({ replay }) => replay.prune(now(this.#keystore) - olderThanMs));
  }

  /** Deletes the nonce journal's consumed and discarded rows created over `olderThanMs` ago (the replay window); fresh ones stay. Returns how many. */
  pruneNonces(olderThanMs: number): number {
    aUint(olderThanMs, 'olderThanMs');
    return this.#write(({ nonces }) => nonces.prune(now(this.#keystore) - olderThanMs));
  }

  /** A leader token from the coordinator key `coordinatorKey` (ha.md §2): false (nothing written) below the highest accepted from that key; else recorded. */
  acceptLeaderToken(token: number, coordinatorKey: Uint8Array): boolean {
    aUint(token, 'leaderToken');
    return this.#write(({ leader }) => leader.accept(token, coordinatorKey));
  }

  /** Opened by `create` or `open`, so already started; 'LOCKED' once stopped (open it again instead). */
  start(): void {
    this.#read();
  }

  /** Commits any open batch, closes the database and zeroes the KEK; later calls throw 'LOCKED'. Idempotent. */
  stop(): void {
    if (!this.#open) return;
    this.#group?.flush();
    this.#open = false;
    this.#keystore.kek.destroy();
    this.#keystore.db.close();
  }

  /** `stop()`, by the name callers that open a keystore outside a service use. */
  close(): void { this.stop(); }

  /** The stores, for a read; 'LOCKED' once closed. */
  #read(): Stores {
    if (!this.#open) throw new SignerError('LOCKED', { message: 'the keystore is closed' });
    return this.#stores;
  }

  /** Runs `fn` over the stores in one immediate transaction, committed before it returns (an open batch first). */
  #write<T>(fn: (stores: Stores) => T): T {
    const stores = this.#read();
    this.#group?.flush();
    return this.#keystore.db.transaction(() => fn(stores)).immediate();
  }

  /** A hot step: in the open batch with group commit (committed later), else as `#write`. */
  #step<T>(fn: (stores: Stores) => T): T {
    const stores = this.#read();
    return this.#group === undefined ? this.#write(fn) : this.#group.run(() => fn(stores));
  }

  /** Copies the committed (wiped) pages into keystore.db and truncates the WAL: no frame from before a wipe survives. Run after every wipe. */
  #purgeWal(): void {
    this.#keystore.db.pragma('wal_checkpoint(TRUNCATE)');
  }
}
