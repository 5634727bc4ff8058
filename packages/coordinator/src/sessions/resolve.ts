/**
 * Resolution of unresolved key sessions (docs/cluster-protocol.md "Unresolved key
 * sessions"; issue 10, finding 3). A signer that stored a key session's share pending
 * keeps it until the session is resolved, and refuses every new key session for the
 * key meanwhile (PENDING_UNRESOLVED). The coordinator resolves a session it knows of:
 * one of its own that failed once its id was derived (a signer may have stored and
 * confirmed), or one a signer names when it refuses a START (the ABORT carries that
 * signer's signed CONFIRM of it, so a replaced coordinator learns of a session its
 * predecessor left behind).
 *
 * Resolving: RESOLVE to every connected participant; each answers its CONFIRM (it holds
 * a share of the session, pending or already active) or its VETO (it holds none and
 * never will). Any VETO: ABORT carrying it to every participant (each checks it before
 * discarding its pending share). Every participant's CONFIRM, one transcript and
 * package: the session is committed through the ordinary commit point (registry write
 * and queued COMMITs); for a refresh the registry moves to the session's epoch. A
 * participant that is offline is asked again when it reconnects. Nothing here needs
 * trusting the coordinator: signers check every CONFIRM and VETO themselves.
 *
 * A DKG that failed after its session id was derived keeps its key pending (dkg() in
 * key-configs.ts) and is resolved here as below. A DKG the coordinator crashed in
 * (kill -9: its catch never ran) leaves its key pending in the registry too. At
 * start (`adoptPendingKeys`): a pending key without a session id is deleted (no
 * signer can hold a share of a session whose id was never derived: the id is recorded
 * before CONTRIBUTIONS go out); one with a session id is resolved here: every participant's CONFIRM of a package matching the key's suite,
 * threshold and indices makes it active (`key.created`, `resolved: true`); a VETO
 * deletes it (`key.create_failed`).
 *
 * A reshare is resolved among its new members only: their refs (signer -> index) come
 * from the coordinator's own session, or from a member's refusal (the refs it stored
 * with its share, beside its CONFIRM). RESOLVE names them; each member holding a share
 * refuses refs other than its own stored ones, so every CONFIRM vouches for them. A
 * leaver (an old holder outside the new set) is not asked: it holds no share of the
 * session, and its VETO would prove nothing (members refuse it, BAD_VETO). Every
 * member's CONFIRM of a package keeping the key's group key, chain code and suite, over
 * exactly the refs' indices, with the registry at the epoch before: the ordinary
 * reshare commit point (`recordReshare`: the new members recorded, `key.reshared` with
 * `resolved: true`), COMMIT to the members and to every old holder leaving (each
 * wipes its old share only on that COMMIT, key-commit.ts).
 */
import { equalBytes } from '@noble/curves/utils.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { assertPublicKeyPackage, type PublicKeyPackage } from '@keyquorum/crypto';
import { KEY_ROUND, WireError, decodeBody, encodeBody, fromWirePublicKey, openEnvelope, type AbortBody, type ConfirmBody, type Envelope, type KeySuiteId, type ParticipantRef, type ResolveBody } from '@keyquorum/protocol';
import type { CoordinatorStore, RegistryKey } from '../store/types.ts';
import { Inbox } from './inbox.ts';
import { checkDkgPackage, recordDkg, recordReshare } from './key-configs.ts';
import { toCoordinator, type SessionRuntime, type UnresolvedSession } from './runtime.ts';

const KEY_KINDS: readonly string[] = ['dkg', 'refresh', 'reshare'];

interface Resolving {
  session: UnresolvedSession;
  answers: Map<string, Envelope>;
  /** Participants that refused to answer (e.g. active at or past the session's epoch without a share of it). */
  refused: Set<string>;
  wake: () => void;
  /** A participant connected while this attempt ran: run another once it ends. */
  again: boolean;
}

export type Resolution = 'committed' | 'vetoed' | 'unresolved';

/** A confirmed session's commit point: its registry writes and COMMIT recipients. */
type Recorder = { record: (tx: CoordinatorStore) => Promise<void>; recipients: string[] };

export class Resolver {
  readonly #rt: SessionRuntime;
  /** Hex session id -> a session still to resolve. */
  readonly #known = new Map<string, UnresolvedSession>();
  /** Hex session id -> the resolution running now. */
  readonly #running = new Map<string, Resolving>();

  constructor(rt: SessionRuntime) {
    this.#rt = rt;
  }

  /** Sessions still unresolved (hex ids). */
  get pending(): string[] {
    return [...this.#known.keys()];
  }

  /**
   * At start: the keys a DKG left pending (the coordinator died in it). Without a
   * session id: deleted, `key.create_failed`. With one: resolved (`note`).
   */
  async adoptPendingKeys(): Promise<void> {
    const rt = this.#rt;
    for (const key of (await rt.registry.listKeys()).filter((k) => k.state === 'pending')) {
      const participants = key.participants.map((p) => p.signer);
      if (key.sessionId === undefined) {
        await rt.registry.transaction(async (tx) => {
          await tx.deleteKey(key.id);
          await tx.append('key.create_failed', key.id, {
            code: 'SESSION_FAILED',
            reason: 'the coordinator restarted before the DKG derived its session id (no signer can hold a share of it)',
            culprits: [],
          });
        });
        rt.log.warn('pending key of an interrupted DKG deleted', { keyId: key.id });
      } else {
        this.note({ kind: 'dkg', suite: key.suite, keyId: key.id, epoch: 0, sessionId: hexToBytes(key.sessionId), participants });
      }
    }
  }

  /** Remembers a session to resolve and starts resolving it (in the background). */
  note(session: UnresolvedSession): void {
    const hex = bytesToHex(session.sessionId);
    if (!this.#known.has(hex)) this.#rt.log.warn('key session unresolved', { kind: session.kind, keyId: session.keyId, epoch: session.epoch, session: hex, signers: session.participants });
    this.#known.set(hex, session);
    void this.run(session);
  }

  /**
   * A signer's ABORT of a key session: when it refused a START for a key with an
   * unresolved session, it carries its CONFIRM of that session. Both checked (signed by
   * that signer; a key session's CONFIRM). The participants of a DKG or refresh are the
   * key's in the registry; a reshare's are the new members the ABORT names beside the
   * CONFIRM (the refs the signer stored with its share; they must name it and only
   * signers configured here). A later claim replaces an earlier one: a member lying
   * about them can only block the resolution, as it can by not answering.
   */
  async noteAbort(signer: string, abort: Envelope): Promise<void> {
    const pinned = this.#rt.opts.signers.get(signer)!;
    let confirm: Envelope | undefined;
    let members: ParticipantRef[] | undefined;
    let body: ConfirmBody;
    try {
      openEnvelope(abort, pinned);
      const refusal = decodeBody<AbortBody>(abort.header.kind, abort.header.round, abort.header.suite, abort.payload);
      confirm = refusal.envelopes?.[0];
      members = refusal.participants;
      if (confirm === undefined) return;
      const h = confirm.header;
      if (h.from !== signer || !KEY_KINDS.includes(h.kind) || h.round !== KEY_ROUND.CONFIRM) return;
      openEnvelope(confirm, pinned);
      toCoordinator(confirm);
      body = decodeBody<ConfirmBody>(h.kind, h.round, h.suite, confirm.payload);
    } catch (e) {
      if (e instanceof WireError) return;
      throw e;
    }
    const h = confirm.header;
    const { keyId } = body;
    const key = await this.#rt.registry.getKey(keyId);
    if (key === undefined) return;
    const base = { kind: h.kind as UnresolvedSession['kind'], suite: h.suite as KeySuiteId, keyId, epoch: body.epoch, sessionId: h.sessionId };
    if (h.kind === 'reshare') {
      if (members === undefined || !members.some((p) => p.signer === signer) || !members.every((p) => this.#rt.opts.signers.has(p.signer))) {
        this.#rt.log.warn('unresolved reshare named without usable member refs: not resolvable', { signer, keyId, session: bytesToHex(h.sessionId) });
        return;
      }
      this.note({ ...base, participants: members.map((p) => p.signer), members });
      return;
    }
    const participants = key.participants.map((p) => p.signer);
    if (!participants.includes(signer)) return;
    this.note({ ...base, participants });
  }

  /** A participant of unresolved sessions reconnected: ask again. */
  onSignerAuthenticated(signer: string): void {
    for (const s of this.#known.values()) if (s.participants.includes(signer)) void this.run(s);
  }

  /** A CONFIRM, VETO or refusal (ABORT) answering a RESOLVE; false if no resolution waits for it. */
  offer(signer: string, envelope: Envelope): boolean {
    const h = envelope.header;
    if (h.round !== KEY_ROUND.CONFIRM && h.round !== KEY_ROUND.VETO && h.round !== KEY_ROUND.ABORT) return false;
    const r = this.#running.get(bytesToHex(h.sessionId));
    if (r === undefined || !r.session.participants.includes(signer) || h.kind !== r.session.kind || h.suite !== r.session.suite) return false;
    openEnvelope(envelope, this.#rt.opts.signers.get(signer)!, { expect: { sessionId: r.session.sessionId } });
    toCoordinator(envelope);
    if (h.round === KEY_ROUND.ABORT) {
      const { reason } = decodeBody<AbortBody>(h.kind, h.round, h.suite, envelope.payload);
      this.#rt.log.warn('resolve refused', { signer, session: bytesToHex(h.sessionId), reason });
      r.refused.add(signer);
      r.wake();
      return true;
    }
    const body = decodeBody<ResolveBody | ConfirmBody>(h.kind, h.round, h.suite, envelope.payload);
    if (body.keyId !== r.session.keyId || body.epoch !== r.session.epoch) throw new WireError('BAD_FIELD', { field: 'epoch', message: 'BAD_FIELD: answers another key or epoch' });
    r.answers.set(signer, envelope);
    r.wake();
    return true;
  }

  /** One resolution attempt over the connected participants. */
  async run(session: UnresolvedSession): Promise<Resolution> {
    const hex = bytesToHex(session.sessionId);
    const current = this.#running.get(hex);
    if (current !== undefined) {
      current.again = true;
      return 'unresolved';
    }
    const rt = this.#rt;
    const online = session.participants.filter((id) => rt.link.isConnected(id));
    const inbox = new Inbox(session.kind, session.suite, KEY_ROUND, session.participants, session.sessionId);
    const r: Resolving = { session, answers: new Map(), refused: new Set(), wake: () => undefined, again: false };
    this.#running.set(hex, r);
    try {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, rt.opts.roundTimeoutMs);
        r.wake = () => {
          if (online.some((id) => !r.answers.has(id) && !r.refused.has(id))) return;
          clearTimeout(timer);
          resolve();
        };
        const ask: ResolveBody = { keyId: session.keyId, epoch: session.epoch, ...(session.members ? { participants: session.members } : {}) };
        for (const id of online) rt.send(inbox, id, session.sessionId, KEY_ROUND.RESOLVE, ask);
        r.wake();
      });
      return await this.#conclude(inbox, r);
    } catch (e) {
      rt.log.warn('key session resolution failed', { session: hex, reason: (e as Error).message });
      return 'unresolved';
    } finally {
      this.#running.delete(hex);
      const latest = this.#known.get(hex);
      if (r.again && latest !== undefined) void this.run(latest);
    }
  }

  /** The pending key `session` (a DKG) would create, if the registry still holds it for that session. */
  async #pendingKeyOf(session: UnresolvedSession): Promise<RegistryKey | undefined> {
    const key = await this.#rt.registry.getKey(session.keyId);
    const ours = session.kind === 'dkg' && key?.state === 'pending' && key.sessionId === bytesToHex(session.sessionId);
    return ours ? key : undefined;
  }

  async #conclude(inbox: Inbox, r: Resolving): Promise<Resolution> {
    const rt = this.#rt;
    const { session, answers } = r;
    const hex = bytesToHex(session.sessionId);
    const veto = [...answers.values()].find((e) => e.header.round === KEY_ROUND.VETO);
    if (veto !== undefined) {
      for (const id of session.participants) rt.send(inbox, id, session.sessionId, KEY_ROUND.ABORT, { reason: `vetoed by ${veto.header.from}`, envelopes: [veto] });
      // A DKG that can never commit: its pending key goes.
      const pending = await this.#pendingKeyOf(session);
      if (pending !== undefined) {
        await rt.registry.transaction(async (tx) => {
          await tx.deleteKey(pending.id);
          await tx.append('key.create_failed', pending.id, { code: 'SESSION_FAILED', reason: `DKG interrupted, then vetoed by ${veto.header.from}`, culprits: [] });
        });
      }
      // Offline participants get the VETO when they are next asked (they answer CONFIRM, the VETO stands).
      if (session.participants.every((id) => answers.has(id))) this.#known.delete(hex);
      rt.log.info('unresolved key session vetoed', { keyId: session.keyId, session: hex, by: veto.header.from });
      return 'vetoed';
    }
    if (!session.participants.every((id) => answers.has(id))) return 'unresolved';
    const confirms = session.participants.map((id) => answers.get(id)!);
    const bodies = confirms.map((e) => decodeBody<ConfirmBody>(session.kind, KEY_ROUND.CONFIRM, session.suite, e.payload));
    const first = bodies[0]!;
    if (bodies.some((b) => !equalBytes(b.transcriptHash, first.transcriptHash) || !equalBytes(encodeBody(b.publicKey), encodeBody(first.publicKey)))) {
      rt.log.warn('unresolved key session: participants confirmed different transcripts', { session: hex });
      return 'unresolved';
    }
    const pkg = fromWirePublicKey(first.publicKey);
    const commit = await this.#recorder(session, pkg, first.transcriptHash);
    if (commit === undefined) {
      rt.log.warn('unresolved key session confirmed by all, but the registry cannot record it', { kind: session.kind, keyId: session.keyId, epoch: session.epoch, session: hex });
      return 'unresolved';
    }
    const frames = await rt.commit(inbox, session.sessionId, {
      keyId: session.keyId,
      epoch: session.epoch,
      recipients: commit.recipients,
      round: KEY_ROUND.COMMIT,
      envelopes: confirms,
      record: commit.record,
    });
    this.#known.delete(hex);
    rt.log.info('unresolved key session committed', { kind: session.kind, keyId: session.keyId, epoch: session.epoch, session: hex });
    await rt.awaitCommitted(session.sessionId, frames, commit.recipients.filter((id) => rt.link.isConnected(id)));
    return 'committed';
  }

  /**
   * The commit point's registry writes and COMMIT recipients for a session every
   * participant confirmed, or undefined if the registry cannot record it. A refresh:
   * the key is at the epoch before, and the package keeps what refresh's own check
   * demands (key-configs.ts). A DKG: its key is still pending for this session, and the
   * package is the one the DKG must produce (`checkDkgPackage`). A reshare: `#reshare`.
   */
  async #recorder(session: UnresolvedSession, pkg: PublicKeyPackage, transcriptHash: Uint8Array): Promise<Recorder | undefined> {
    const rt = this.#rt;
    if (session.kind === 'reshare') return this.#reshare(session, pkg, transcriptHash);
    const recipients = session.participants;
    if (session.kind === 'dkg') {
      const pending = await this.#pendingKeyOf(session);
      if (pending === undefined) return undefined;
      try {
        assertPublicKeyPackage(pkg);
        checkDkgPackage(pending, pkg);
      } catch (e) {
        rt.log.warn('unresolved DKG: the confirmed package does not fit the pending key', { keyId: session.keyId, reason: (e as Error).message });
        return undefined;
      }
      return { recipients, record: (tx) => recordDkg(tx, pending, pkg, transcriptHash, { resolved: true }) };
    }
    const key = await rt.registry.getKey(session.keyId);
    const old = key?.publicKey;
    const sameKey = old !== undefined && equalBytes(old.groupKey, pkg.groupKey) && equalBytes(old.chainCode, pkg.chainCode) && old.threshold === pkg.threshold && old.participants.join() === pkg.participants.join();
    if (!(session.kind === 'refresh' && key !== undefined && key.epoch + 1 === session.epoch && sameKey)) return undefined;
    return {
      recipients,
      record: async (tx) => {
        await tx.setKeyMaterial(session.keyId, pkg, session.epoch);
        await tx.append('key.refreshed', session.keyId, { fromEpoch: session.epoch - 1, epoch: session.epoch, transcriptHash: bytesToHex(transcriptHash) });
      },
    };
  }

  /**
   * A reshare every new member confirmed: the key is active at the epoch before, the
   * package is well formed, keeps its group key, chain code and suite, and its indices
   * are exactly the members' (each member checked the refs against its own, answering
   * RESOLVE). COMMIT goes to the members and to every old holder outside the new set.
   */
  async #reshare(session: UnresolvedSession, pkg: PublicKeyPackage, transcriptHash: Uint8Array): Promise<Recorder | undefined> {
    const rt = this.#rt;
    const { members } = session;
    const key = await rt.registry.getKey(session.keyId);
    const old = key?.publicKey;
    if (members === undefined || key === undefined || old === undefined || key.state !== 'active' || key.epoch + 1 !== session.epoch) return undefined;
    try {
      assertPublicKeyPackage(pkg);
    } catch (e) {
      rt.log.warn('unresolved reshare: the confirmed package is malformed', { keyId: session.keyId, reason: (e as Error).message });
      return undefined;
    }
    const sorted = (l: readonly number[]) => [...l].sort((a, b) => a - b).join();
    const sameKey = pkg.suite === old.suite && equalBytes(old.groupKey, pkg.groupKey) && equalBytes(old.chainCode, pkg.chainCode);
    if (!sameKey || sorted(members.map((p) => p.index)) !== sorted(pkg.participants)) {
      rt.log.warn('unresolved reshare: the confirmed package changes the group key, chain code or suite, or its indices are not the members\'', { keyId: session.keyId });
      return undefined;
    }
    const leavers = key.participants.map((p) => p.signer).filter((id) => !members.some((m) => m.signer === id));
    return { recipients: [...members.map((p) => p.signer), ...leavers], record: (tx) => recordReshare(tx, key, pkg, members, transcriptHash, { leavers, resolved: true }) };
  }
}
