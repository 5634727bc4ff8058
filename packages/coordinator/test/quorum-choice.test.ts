/**
 * The quorum search of signing (sessions/quorum-choice.ts) against every strategy of
 * lying signers, exhaustively: at each attempt that includes a liar, a liar may accuse
 * any non-empty set of the quorum (DKLs23: a conflicting pair per accused; an honest
 * signer catching a liar is the same pair), refuse (left out of the request), or fail
 * the attempt naming nobody; FROST liars can only refuse. The search must reach an
 * all-honest quorum within `signAttemptBudget` attempts, asking no honest signer more
 * often than a signer accepts one request (the signer's MAX_ATTEMPTS_PER_REQUEST, equal
 * to MAX_SIGN_ATTEMPTS).
 */
import { describe, expect, it } from 'vitest';
import { MAX_SIGN_ATTEMPTS } from '../src/constants.ts';
import { chooseQuorum, KeyAttemptMemory, quorumKey, signAttemptBudget } from '../src/sessions/quorum-choice.ts';

type Ref = { signer: string; index: number };
interface State { conflicts: [string, string][]; refusals: string[]; tried: string[]; excluded: string[]; starts: Record<string, number>; attempt: number }

function worstCase(n: number, t: number, liars: ReadonlySet<string>, accusations: boolean, onlyAccuse = false) {
  const parts: Ref[] = Array.from({ length: n }, (_, i) => ({ signer: `s${i + 1}`, index: i + 1 }));
  const budget = signAttemptBudget(n, t);
  const worst = { attempts: 0, honestStarts: 0, blocked: 0 };
  const play = (s: State): void => {
    const memory = new KeyAttemptMemory(0);
    for (const [a, b] of s.conflicts) memory.conflict(a, b);
    for (const r of s.refusals) memory.refusal(r);
    const quorum = s.attempt > budget ? undefined : chooseQuorum(parts.filter((p) => !s.excluded.includes(p.signer)), t, memory, new Set(s.tried));
    if (quorum === undefined) return void worst.blocked++;
    const starts = { ...s.starts };
    for (const p of quorum) starts[p.signer] = (starts[p.signer] ?? 0) + 1;
    const inQuorum = quorum.map((p) => p.signer);
    const lying = inQuorum.filter((id) => liars.has(id));
    if (lying.length === 0) {
      worst.attempts = Math.max(worst.attempts, s.attempt);
      worst.honestStarts = Math.max(worst.honestStarts, ...Object.entries(starts).filter(([id]) => !liars.has(id)).map(([, k]) => k));
      return;
    }
    const next = (o: Partial<State>) => play({ ...s, tried: [...s.tried, quorumKey(quorum)], starts, attempt: s.attempt + 1, ...o });
    for (const x of lying) {
      if (!onlyAccuse) next({ excluded: [...s.excluded, x], refusals: [...s.refusals, x] });
      if (!accusations) continue;
      const others = inQuorum.filter((y) => y !== x);
      for (let mask = 1; mask < 1 << others.length; mask++) next({ conflicts: [...s.conflicts, ...others.filter((_, i) => mask & (1 << i)).map((y): [string, string] => [x, y])] });
    }
    if (accusations && !onlyAccuse) next({});
  };
  play({ conflicts: [], refusals: [], tried: [], excluded: [], starts: {}, attempt: 1 });
  return worst;
}

function liarSets(n: number, f: number): Set<string>[] {
  const out: Set<string>[] = [];
  const rec = (from: number, acc: string[]) => {
    if (acc.length === f) return void out.push(new Set(acc));
    for (let i = from; i <= n; i++) rec(i + 1, [...acc, `s${i}`]);
  };
  rec(1, []);
  return out;
}

describe.each([
  { n: 3, t: 2, f: 1 },
  { n: 5, t: 3, f: 2 },
  { n: 4, t: 2, f: 1 },
  { n: 5, t: 2, f: 1 },
])('$t-of-$n with $f liar(s), every placement and strategy', ({ n, t, f }) => {
  it.each([
    { scheme: 'DKLs23 (accusations keep pairs apart)', accusations: true },
    { scheme: 'FROST (an ABORT leaves its sender out)', accusations: false },
  ])('lying signers cannot block signing: $scheme', ({ accusations }) => {
    for (const liars of liarSets(n, f)) {
      const worst = worstCase(n, t, liars, accusations);
      expect(worst.blocked).toBe(0);
      expect(worst.attempts).toBeLessThanOrEqual(signAttemptBudget(n, t));
      expect(worst.honestStarts).toBeLessThanOrEqual(MAX_SIGN_ATTEMPTS);
    }
  });
});

describe.each([
  { n: 3, t: 2, f: 1 },
  { n: 5, t: 3, f: 2 },
  { n: 4, t: 2, f: 1 },
  { n: 5, t: 2, f: 1 },
])('$t-of-$n with $f liar(s) that only accuse', ({ n, t, f }) => {
  it('every failed attempt adds a new conflicting pair: at most one attempt more than the pairs a liar is in', () => {
    const pairsWithALiar = f * (n - f) + (f * (f - 1)) / 2;
    for (const liars of liarSets(n, f)) expect(worstCase(n, t, liars, true, true).attempts).toBeLessThanOrEqual(pairsWithALiar + 1);
  });
});

it('the attempt budget is every t-subset, capped: 2-of-3 3, 3-of-5 10, 5-of-9 10', () => {
  expect([signAttemptBudget(3, 2), signAttemptBudget(5, 3), signAttemptBudget(9, 5)]).toEqual([3, 10, 10]);
});
