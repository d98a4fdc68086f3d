/**
 * The sandbox's mutable counters, updated synchronously on every request; `snapshot` copies them.
 *
 * @internal
 */
import type { Stats } from "../Stats.js"

const bump = <K>(map: Map<K, number>, key: K, by = 1): number => {
  const next = (map.get(key) ?? 0) + by
  map.set(key, next)
  return next
}

const record = <K extends string | number>(map: Map<K, number>): Record<string, number> => {
  const out: Record<string, number> = {}
  for (const [key, value] of map) out[String(key)] = value
  return out
}

/** Counters and the per-member bookkeeping behind them. */
export class Counters {
  requests = 0
  byOperation = new Map<string, number>()
  byMember = new Map<string, number>()
  byStatus = new Map<number, number>()
  memberDeletes = 0
  userDeletes = 0
  rateLimited = 0
  injectedErrors = 0
  malformedBodies = 0
  inFlight = 0
  peakConcurrency = 0
  inFlightByMember = new Map<string, number>()
  peakByMember = new Map<string, number>()
  aggregationsStarted = 0
  aggregationsByOrigin = new Map<string, number>()
  otherJobsStarted = 0
  aggregatesWhileRunning = 0
  aggregatesAfterAutomatic = 0
  aggregatesThrottled = 0
  jobConflicts = 0
  resumesOutsideChallenged = 0
  minPollIntervalMs: number | null = null
  webhooksDelivered = 0
  webhookFailedAttempts = 0
  webhooksDropped = 0

  /** A request arrives; returns the in-flight count including it. */
  begin(operationId: string, memberGuid: string | undefined): void {
    this.requests++
    bump(this.byOperation, operationId)
    this.inFlight++
    if (this.inFlight > this.peakConcurrency) this.peakConcurrency = this.inFlight
    if (memberGuid !== undefined) {
      bump(this.byMember, memberGuid)
      const now = bump(this.inFlightByMember, memberGuid)
      if (now > (this.peakByMember.get(memberGuid) ?? 0)) this.peakByMember.set(memberGuid, now)
    }
  }

  /** A request has been answered. */
  end(memberGuid: string | undefined, status: number): void {
    this.inFlight--
    bump(this.byStatus, status)
    if (memberGuid !== undefined) {
      const left = bump(this.inFlightByMember, memberGuid, -1)
      if (left <= 0) this.inFlightByMember.delete(memberGuid)
    }
  }

  aggregationStarted(origin: string): void {
    this.aggregationsStarted++
    bump(this.aggregationsByOrigin, origin)
  }

  poll(intervalMs: number): void {
    if (this.minPollIntervalMs === null || intervalMs < this.minPollIntervalMs) this.minPollIntervalMs = intervalMs
  }

  /** Zeroes every counter; requests in flight stay counted as in flight. */
  reset(): void {
    const inFlight = this.inFlight
    const inFlightByMember = this.inFlightByMember
    Object.assign(this, new Counters())
    this.inFlight = inFlight
    this.peakConcurrency = inFlight
    this.inFlightByMember = inFlightByMember
  }

  snapshot(): Stats {
    return {
      requests: this.requests,
      byOperation: record(this.byOperation),
      byMember: record(this.byMember),
      byStatus: record(this.byStatus),
      deletes: { members: this.memberDeletes, users: this.userDeletes },
      rateLimited: this.rateLimited,
      injectedErrors: this.injectedErrors,
      malformedBodies: this.malformedBodies,
      peakConcurrency: this.peakConcurrency,
      peakConcurrencyByMember: record(this.peakByMember),
      aggregationsStarted: this.aggregationsStarted,
      aggregationsByOrigin: record(this.aggregationsByOrigin),
      otherJobsStarted: this.otherJobsStarted,
      aggregatesWhileRunning: this.aggregatesWhileRunning,
      aggregatesAfterAutomatic: this.aggregatesAfterAutomatic,
      aggregatesThrottled: this.aggregatesThrottled,
      jobConflicts: this.jobConflicts,
      resumesOutsideChallenged: this.resumesOutsideChallenged,
      minPollIntervalMs: this.minPollIntervalMs,
      webhooks: {
        delivered: this.webhooksDelivered,
        failedAttempts: this.webhookFailedAttempts,
        dropped: this.webhooksDropped
      }
    }
  }
}
