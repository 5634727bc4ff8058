/**
 * The chaos run's only source of random choices: a seeded, non-cryptographic PRNG
 * (mulberry32, 32-bit state). Trial i draws from its own stream, seeded by mixing
 * (seed, i) with a SplitMix32-style finaliser, so trial i's draws are the same for a
 * given seed however the earlier trials went (how many draws they made, what failed).
 * Nothing secret comes from here: messages and keys use the real CSPRNGs.
 */

/** A stream of draws in [0, 1), with helpers for the choices a trial makes. */
export class Prng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** Trial `trial`'s own stream for run seed `seed`. */
  static forTrial(seed: number, trial: number): Prng {
    return new Prng(mix32((seed >>> 0) ^ mix32(trial + 0x9e3779b9)));
  }

  /** mulberry32: the next draw in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max] (both included). */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Prng.pick: no items');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** One element, with probability proportional to its weight. */
  weighted<T>(items: ReadonlyArray<{ item: T; weight: number }>): T {
    const total = items.reduce((sum, i) => sum + i.weight, 0);
    if (!(total > 0)) throw new Error('Prng.weighted: no positive weight');
    let x = this.next() * total;
    for (const i of items) {
      x -= i.weight;
      if (x < 0) return i.item;
    }
    return items.at(-1)!.item;
  }

  /** A shuffled copy (Fisher-Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }
}

/** SplitMix32-style finaliser: spreads nearby inputs (seed, trial numbers) over the state space. */
function mix32(x: number): number {
  let z = x >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/** A fresh seed when none is given (printed, so the run can be replayed). */
export function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 31);
}
