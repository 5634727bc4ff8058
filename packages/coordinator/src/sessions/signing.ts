/**
 * The signing driver, the same for every scheme: chooses a quorum of t connected,
 * unbanned participants (quorum-choice.ts), runs the suite's signing attempt
 * (schemes.ts), and on a session fault judges it and retries with another quorum, up
 * to `signAttemptBudget` attempts (ARCHITECTURE.md "No accusation is taken on faith"):
 * - a share the coordinator itself failed to verify (RFC 9591 §5.4), or any message
 *   its sender signed that fails the coordinator's own checks: its sender is banned
 *   for the key (a failure naming nobody only rules out that quorum);
 * - a signer's ABORT is never evidence against another signer. FROST ('refusal'):
 *   the accuser alone is left out of the request. DKLs23 ('conflict'): the accuser and
 *   each accused quorum member become a conflicting pair, kept apart in later quorums
 *   of the key's epoch; an ABORT naming nobody in the quorum leaves the accuser out;
 * - a timeout or a dropped link leaves its signer out of the request;
 * - a signer's policy refusal (ABORT 'POLICY_DENIED (<rule>): ...') leaves that signer
 *   out of the request, audited 'policy.denied'. The coordinator's own policy check
 *   passed, so the refusal is a holder whose records differ (its clock, its own
 *   velocity count) or a liar, and one liar must not block signing: the request ends
 *   POLICY_DENIED, naming the rule, only when no quorum without a refusing signer is left.
 * Durable: the bans and the audit rows ('key.sign_attempt_failed' per failed attempt,
 * 'key.signed' for the signature). Conflicts and refusals live in memory only.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { targetExternalKey, type SigningTarget } from '@keyquorum/crypto';
import { taprootLabel, type ParticipantRef } from '@keyquorum/protocol';
import type { PolicyRule } from '@keyquorum/protocol';
import { CoordinatorError, deniedRuleOf, isSessionFault, type SessionFaultDetail } from '../errors.ts';
import { AttemptMemory, chooseQuorum, quorumKey, signAttemptBudget, type KeyAttemptMemory } from './quorum-choice.ts';
import type { SignRequest, SignResult } from './requests.ts';
import { sessionError, type SessionRuntime } from './runtime.ts';
import type { SchemeDriver } from './scheme-driver.ts';
import { schemeOf } from './schemes.ts';

/** Each runtime's attempt memory (one per coordinator process). */
const memories = new WeakMap<SessionRuntime, AttemptMemory>();

function memoryOf(rt: SessionRuntime): AttemptMemory {
  let m = memories.get(rt);
  if (m === undefined) {
    m = new AttemptMemory();
    memories.set(rt, m);
  }
  return m;
}

/** What one failed attempt means for the rest of the request and for the key. */
interface Verdict {
  /** Left out of the request's later attempts. */
  exclude: string[];
  /** Banned for the key (proven by the coordinator's own check). */
  ban: string[];
  /** Proven culprits, for the request's error. */
  proven: string[];
}

function judge(scheme: SchemeDriver, fault: SessionFaultDetail, culprits: readonly string[], quorum: readonly ParticipantRef[], memory: KeyAttemptMemory): Verdict {
  // The coordinator's own check failed a message its sender signed: proof, for every scheme.
  if (fault.reason === 'invalid-share' || fault.reason === 'invalid') return { exclude: fault.excluded, ban: [...culprits], proven: [...culprits] };
  if (fault.reason === 'timeout') for (const s of fault.signers) memory.silence(s);
  if (fault.reason !== 'abort') return { exclude: fault.excluded, ban: [], proven: [] };
  // An ABORT: fault.signers is its sender, `culprits` what it claims.
  const accusers = fault.signers;
  const accused = culprits.filter((c) => quorum.some((p) => p.signer === c) && !accusers.includes(c));
  if (scheme.accusation === 'conflict' && accused.length > 0) {
    for (const a of accusers) for (const c of accused) memory.conflict(a, c);
    return { exclude: [], ban: [], proven: [] };
  }
  for (const a of accusers) memory.refusal(a);
  return { exclude: [...accusers], ban: [], proven: [] };
}

/**
 * Signs with a quorum of t connected participants, retrying with other quorums; fails
 * with NOT_ENOUGH_SIGNERS once no untried quorum without a conflicting pair is left
 * among the usable signers, or SESSION_FAILED when the attempt budget is spent (either
 * as POLICY_DENIED when a signer's policy refused this request).
 */
export async function sign(rt: SessionRuntime, r: SignRequest): Promise<SignResult> {
  const { key } = r;
  const scheme = schemeOf(key.suite);
  const target: SigningTarget = {};
  if (r.path !== undefined) target.path = r.path;
  if (r.taproot !== undefined) target.taproot = r.taproot;
  const memory = memoryOf(rt).forKey(key.id, key.epoch);
  const excluded = new Set(await rt.registry.bannedSigners(key.id));
  const tried = new Set<string>();
  const culprits = new Set<string>();
  const budget = signAttemptBudget(key.participants.length, key.threshold);
  let lastFault: CoordinatorError | undefined;
  /** Signers whose policy refused this request, with the rule each named. */
  const denied = new Map<string, PolicyRule>();
  const fail = (code: 'NOT_ENOUGH_SIGNERS' | 'SESSION_FAILED', why: string): CoordinatorError => {
    const last = lastFault === undefined ? '' : ` (last failure: ${lastFault.message})`;
    if (denied.size === 0) return new CoordinatorError(code, { culprits: [...culprits], message: `${why}${last}` });
    const rule = denied.values().next().value!;
    const who = [...denied].map(([s, r]) => `${s} (${r})`).join(', ');
    return new CoordinatorError('POLICY_DENIED', { rule, culprits: [...culprits], message: `(${rule}) the policy of signer ${who} refused, and ${why}${last}` });
  };
  for (let attempt = 1; attempt <= budget; attempt++) {
    const usable = key.participants.filter((p) => !excluded.has(p.signer) && rt.link.isConnected(p.signer));
    const quorum = usable.length < key.threshold ? undefined : chooseQuorum(usable, key.threshold, memory, tried);
    if (quorum === undefined) {
      const why = usable.length < key.threshold ? `${usable.length} usable signers, ${key.threshold} needed` : `no untried quorum of ${key.threshold} without a conflicting pair among ${usable.length} usable signers`;
      throw fail('NOT_ENOUGH_SIGNERS', why);
    }
    tried.add(quorumKey(quorum));
    try {
      const { signature, recoveryId } = await scheme.signAttempt(rt, r, quorum, target);
      const publicKey = targetExternalKey(r.publicKey, target);
      const ids = quorum.map((p) => p.signer);
      await rt.registry.append('key.signed', key.id, {
        epoch: key.epoch,
        quorum: ids,
        attempts: attempt,
        messageSha256: bytesToHex(sha256(r.message)),
        path: r.path ?? '',
        taproot: taprootLabel(r.taproot),
        publicKey: bytesToHex(publicKey),
        signature: bytesToHex(signature),
        clientKey: bytesToHex(r.request.clientKey),
        ...(r.tx === undefined ? {} : { tx: { chain: r.tx.chain, id: r.tx.id, input: r.tx.input } }),
        ...(r.request.approvals === undefined ? {} : { approvers: r.request.approvals.map((a) => a.approver).sort() }),
      });
      return { signature, publicKey, quorum: ids, attempts: attempt, ...(recoveryId === undefined ? {} : { recoveryId }) };
    } catch (e) {
      if (!isSessionFault(e)) throw sessionError(e, 'signing failed');
      const { fault } = e;
      lastFault = e;
      // A signer's policy refused: that signer is left out (see the header), the others may still sign.
      const rule = fault.reason === 'abort' ? deniedRuleOf(e.message) : undefined;
      if (rule !== undefined) {
        await rt.registry.append('policy.denied', key.id, { rule, where: fault.signers.join(','), op: 'sign', reason: e.message, clientKey: bytesToHex(r.request.clientKey) });
        for (const s of fault.signers) {
          denied.set(s, rule);
          excluded.add(s);
          memory.refusal(s);
        }
        rt.log.warn("a signer's policy refused; retrying without it", { keyId: key.id, epoch: key.epoch, attempt, rule, signers: fault.signers });
        continue;
      }
      const verdict = judge(scheme, fault, e.culprits, quorum, memory);
      for (const id of verdict.exclude) excluded.add(id);
      for (const id of verdict.proven) culprits.add(id);
      await rt.registry.transaction(async (tx) => {
        for (const id of verdict.ban) await tx.ban(key.id, id, e.message);
        await tx.append('key.sign_attempt_failed', key.id, {
          epoch: key.epoch,
          attempt,
          quorum: quorum.map((p) => p.signer),
          reason: fault.reason,
          excluded: verdict.exclude,
          culprits: e.culprits,
          banned: verdict.ban.length > 0,
          ...(fault.reason === 'abort' ? { reportedBy: fault.signers } : {}),
        });
      });
      rt.log.warn('sign attempt failed; retrying with another quorum', { keyId: key.id, epoch: key.epoch, attempt, reason: e.message, excluded: verdict.exclude, conflicts: memory.pairs().map(([a, b]) => `${a}|${b}`) });
    }
  }
  throw fail('SESSION_FAILED', `no quorum produced a signature in ${budget} attempts`);
}
