/**
 * A small seeded pseudo-random generator for the metering fuzzer: the same seed gives the same
 * sequence on Bun, Deno and Node, so a failing case is reproduced from its seed alone. Not for
 * anything secret.
 */

/**
 * A 32-bit generator (a Weyl sequence scrambled by two multiply-xorshift rounds): cheap, with no
 * short cycles for the few million draws a fuzzing run makes.
 */
export class Random {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** The next 32 random bits, as an unsigned integer. */
  next(): number {
    this.#state = (this.#state + 0x9e3779b9) >>> 0;
    let z = this.#state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** An integer in [0, n), for n ≥ 1. */
  below(n: number): number {
    return Math.floor((this.next() / 0x1_0000_0000) * n);
  }

  /** An integer in [low, high]. */
  between(low: number, high: number): number {
    return low + this.below(high - low + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() / 0x1_0000_0000 < p;
  }

  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }

  /**
   * One of the keys of `weights`, drawn in proportion to its weight (keys of weight 0 are never
   * drawn; at least one weight must be positive).
   */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as [K, number][];
    let total = 0;
    for (const [, w] of entries) total += w;
    let x = (this.next() / 0x1_0000_0000) * total;
    for (const [key, w] of entries) {
      if (x < w) return key;
      x -= w;
    }
    return entries.findLast(([, w]) => w > 0)![0];
  }

  /** A 32-bit value biased towards edge cases (0, ±1, small, sign boundaries) half of the time. */
  int32(): number {
    if (this.chance(0.5)) return this.pick([0, 1, -1, 2, 7, 8, 255, 256, 0x7fffffff, -0x80000000, 0x10000, -2]);
    return this.next() | 0;
  }

  /** A 64-bit value biased like `int32`. */
  int64(): bigint {
    if (this.chance(0.5)) return this.pick([0n, 1n, -1n, 2n, 63n, 64n, 0x7fffffffffffffffn, -0x8000000000000000n, 0xffffffffn, 0x100000000n]);
    return BigInt.asIntN(64, (BigInt(this.next()) << 32n) | BigInt(this.next()));
  }

  /** The items in a random order (a new array). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }
}
