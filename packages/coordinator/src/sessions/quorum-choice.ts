/**
 * Which t signers the next signing attempt asks, and what the coordinator remembers of
 * the attempts that failed (ARCHITECTURE.md "No accusation is taken on faith").
 *
 * A quorum is a t-subset of the key's usable participants (connected, not banned, not
 * left out of this request) that this request has not tried yet and that holds no
 * conflicting pair. Candidates are searched systematically, least suspected signers
 * first: each signer's suspicion is how many conflicts and refusals of the key it took
 * part in, and how many of its rounds it left unanswered until the round timeout (a
 * signer cut off without a close stays listed as connected until the heartbeat drops
 * it; without this, every request meanwhile would ask it first and wait a round
 * timeout again). Because no quorum is asked twice in one request, the search ends after at
 * most C(n, t) attempts, and a quorum of honest signers (which never conflict with each
 * other and never refuse) is always among the candidates; `signAttemptBudget` is the
 * bound the driver uses.
 *
 * Memory: in the coordinator's process, per key, for the key's current epoch only. A
 * conflict is not evidence, only scheduling advice: losing it on a restart costs at
 * most a retry per liar, while persisting it would let one liar's word outlive the
 * epoch (a refresh renews every pair's OT state) and need an operator to clear it.
 * A key's memory holds at most n(n-1)/2 pairs and n counters.
 */
import type { ParticipantRef } from '@keyquorum/protocol';
import { MAX_SIGN_ATTEMPTS } from '../constants.ts';

/** What failed attempts taught the coordinator about one key at one epoch. */
export class KeyAttemptMemory {
  readonly epoch: number;
  /** Conflicting pairs, as `pairKey(a, b)`: kept apart in every quorum. */
  readonly #conflicts = new Set<string>();
  /** Signer -> how many conflicts and refusals it took part in. */
  readonly #suspicion = new Map<string, number>();

  constructor(epoch: number) {
    this.epoch = epoch;
  }

  /** Records that `a` accused `b` (or the reverse): one of them lies, the pair is kept apart. */
  conflict(a: string, b: string): void {
    const k = pairKey(a, b);
    if (this.#conflicts.has(k)) return;
    this.#conflicts.add(k);
    this.#suspect(a);
    this.#suspect(b);
  }

  /** Records that `signer` refused an attempt (an ABORT that is not a checkable accusation). */
  refusal(signer: string): void {
    this.#suspect(signer);
  }

  /** Records that `signer` left a round unanswered until the round timeout. */
  silence(signer: string): void {
    this.#suspect(signer);
  }

  conflicts(a: string, b: string): boolean {
    return this.#conflicts.has(pairKey(a, b));
  }

  suspicion(signer: string): number {
    return this.#suspicion.get(signer) ?? 0;
  }

  /** The conflicting pairs, sorted (for logs and tests). */
  pairs(): [string, string][] {
    return [...this.#conflicts].sort().map((k) => JSON.parse(k) as [string, string]);
  }

  #suspect(signer: string): void {
    this.#suspicion.set(signer, this.suspicion(signer) + 1);
  }
}

/** Every key's attempt memory, replaced when the key's epoch changes. */
export class AttemptMemory {
  readonly #keys = new Map<string, KeyAttemptMemory>();

  forKey(keyId: string, epoch: number): KeyAttemptMemory {
    let m = this.#keys.get(keyId);
    if (m === undefined || m.epoch !== epoch) {
      m = new KeyAttemptMemory(epoch);
      this.#keys.set(keyId, m);
    }
    return m;
  }
}

function pairKey(a: string, b: string): string {
  return JSON.stringify(a < b ? [a, b] : [b, a]);
}

/** A quorum's identity in a request's tried set. */
export function quorumKey(quorum: readonly ParticipantRef[]): string {
  return JSON.stringify(quorum.map((p) => p.signer).sort());
}

/**
 * The next quorum: t of `usable`, no conflicting pair, not in `tried`, least suspected
 * signers first (then by participant index); undefined when none is left. A
 * depth-first search over the signers in that order, pruned at the first conflict.
 */
export function chooseQuorum(usable: readonly ParticipantRef[], threshold: number, memory: KeyAttemptMemory, tried: ReadonlySet<string>): ParticipantRef[] | undefined {
  const order = [...usable].sort((a, b) => memory.suspicion(a.signer) - memory.suspicion(b.signer) || a.index - b.index);
  const picked: ParticipantRef[] = [];
  const search = (from: number): ParticipantRef[] | undefined => {
    if (picked.length === threshold) {
      const quorum = [...picked].sort((a, b) => a.index - b.index);
      return tried.has(quorumKey(quorum)) ? undefined : quorum;
    }
    for (let i = from; i <= order.length - (threshold - picked.length); i++) {
      const p = order[i]!;
      if (picked.some((q) => memory.conflicts(q.signer, p.signer))) continue;
      picked.push(p);
      const found = search(i + 1);
      picked.pop();
      if (found !== undefined) return found;
    }
    return undefined;
  };
  return search(0);
}

/** C(n, k), saturating at `cap`. */
function binomial(n: number, k: number, cap: number): number {
  let c = 1;
  for (let i = 1; i <= k; i++) {
    c = (c * (n - k + i)) / i;
    if (c >= cap) return cap;
  }
  return Math.round(c);
}

/**
 * Attempts one request may make: every t-subset of the n participants once, capped at
 * MAX_SIGN_ATTEMPTS (2-of-3: 3, 3-of-5: 10, larger keys the cap).
 */
export function signAttemptBudget(n: number, threshold: number): number {
  return binomial(n, threshold, MAX_SIGN_ATTEMPTS);
}
