/**
 * A binary min-heap of (time, member guid): the one timer queue behind every member's pending
 * transitions, so the sandbox needs no fiber per member.
 *
 * @internal
 */
export class TimerHeap {
  private readonly times: Array<number> = []
  private readonly keys: Array<string> = []

  get size(): number {
    return this.times.length
  }

  peek(): number | undefined {
    return this.times[0]
  }

  push(time: number, key: string): void {
    this.times.push(time)
    this.keys.push(key)
    let i = this.times.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (this.times[parent]! <= time) break
      this.swap(i, parent)
      i = parent
    }
  }

  pop(): [number, string] | undefined {
    const n = this.times.length
    if (n === 0) return undefined
    const top: [number, string] = [this.times[0]!, this.keys[0]!]
    this.swap(0, n - 1)
    this.times.pop()
    this.keys.pop()
    let i = 0
    const size = n - 1
    for (;;) {
      const left = 2 * i + 1
      const right = left + 1
      let smallest = i
      if (left < size && this.times[left]! < this.times[smallest]!) smallest = left
      if (right < size && this.times[right]! < this.times[smallest]!) smallest = right
      if (smallest === i) break
      this.swap(i, smallest)
      i = smallest
    }
    return top
  }

  private swap(a: number, b: number): void {
    const t = this.times[a]!
    this.times[a] = this.times[b]!
    this.times[b] = t
    const k = this.keys[a]!
    this.keys[a] = this.keys[b]!
    this.keys[b] = k
  }
}
