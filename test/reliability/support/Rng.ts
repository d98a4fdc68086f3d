/**
 * A small seeded pseudo-random generator (mulberry32 over a hash of the seed text), so that a trial's
 * choices (kill points, delays, webhook order, fault windows) repeat for the same seed.
 */

/** A seeded generator. */
export interface Rng {
  /** A float in [0, 1). */
  readonly next: () => number
  /** An integer in [min, max] (both included). */
  readonly int: (min: number, max: number) => number
  /** One element of a non-empty array. */
  readonly pick: <A>(items: ReadonlyArray<A>) => A
  /** `true` with probability `p`. */
  readonly chance: (p: number) => boolean
  /** A shuffled copy. */
  readonly shuffle: <A>(items: ReadonlyArray<A>) => Array<A>
  /** A generator derived from this seed and a label (independent streams per trial or per actor). */
  readonly fork: (label: string) => Rng
}

const hash = (text: string): number => {
  // FNV-1a, 32 bits.
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** A generator for `seed`. */
export const make = (seed: string): Rng => {
  let state = hash(seed)
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1))
  return {
    next,
    int,
    pick: (items) => {
      if (items.length === 0) throw new Error("Rng.pick: empty array")
      return items[int(0, items.length - 1)]!
    },
    chance: (p) => next() < p,
    shuffle: (items) => {
      const copy = [...items]
      for (let i = copy.length - 1; i > 0; i--) {
        const j = int(0, i)
        const tmp = copy[i]!
        copy[i] = copy[j]!
        copy[j] = tmp
      }
      return copy
    },
    fork: (label) => make(`${seed}/${label}`)
  }
}
