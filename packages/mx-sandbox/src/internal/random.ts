/**
 * Seeded, allocation-light randomness: every guid, account, transaction and injected fault the
 * sandbox produces comes from here, so a run is reproducible from its seed and its clock.
 *
 * @internal
 */

/** A 32-bit hash of a string (cyrb53 folded to 32 bits): spreads nearby seeds and guids apart. */
export const hash = (input: string): number => {
  let h1 = 0xdeadbeef
  let h2 = 0x41c6ce57
  for (let i = 0; i < input.length; i++) {
    const ch = input.charCodeAt(i)
    h1 = Math.imul(h1 ^ ch, 2654435761)
    h2 = Math.imul(h2 ^ ch, 1597334677)
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909)
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909)
  return (h1 ^ h2) >>> 0
}

/** A pseudo-random generator of floats in [0, 1) (mulberry32). */
export interface Rng {
  (): number
}

/** A generator seeded from any parts; the same parts always give the same sequence. */
export const rng = (...parts: ReadonlyArray<string | number>): Rng => {
  let state = hash(parts.join("\u0000"))
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** An integer in [min, max]. */
export const int = (random: Rng, min: number, max: number): number => min + Math.floor(random() * (max - min + 1))

/** One element of a non-empty array. */
export const pick = <A>(random: Rng, items: ReadonlyArray<A>): A => items[Math.floor(random() * items.length)]!

const hexDigits = "0123456789abcdef"
const layout = [8, 4, 4, 4, 12]

/**
 * An MX-style guid (`MBR-7c6f361b-e582-15b6-60c0-358f12466b4b`) derived from its parts. Built in
 * one `String.fromCharCode` call so the string is flat: a string grown one character at a time is a
 * rope that costs about a kilobyte, and the sandbox keeps hundreds of thousands of guids.
 */
export const guid = (prefix: string, ...parts: ReadonlyArray<string | number>): string => {
  const random = rng(prefix, ...parts)
  const codes: Array<number> = []
  for (let i = 0; i < prefix.length; i++) codes.push(prefix.charCodeAt(i))
  for (const length of layout) {
    codes.push(45)
    for (let i = 0; i < length; i++) codes.push(hexDigits.charCodeAt(Math.floor(random() * 16)))
  }
  return String.fromCharCode(...codes)
}
