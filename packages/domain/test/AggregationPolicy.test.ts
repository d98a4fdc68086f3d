import { assert, describe, it } from "@effect/vitest"
import { Duration, FastCheck as fc, Option } from "effect"
import { AggregationPolicy, ConnectionStatus, NextAction } from "../src/index.js"
import { Arbitraries } from "../src/testing.js"

const now = Date.UTC(2026, 10, 28, 12)
const hoursAgo = (h: number) => now - h * 3_600_000
const iso = (ms: number) => new Date(ms).toISOString()

const connected = (successHoursAgo: number | null) => ({
  connection_status: "CONNECTED" as const,
  is_being_aggregated: false,
  successfully_aggregated_at: successHoursAgo === null ? null : iso(hoursAgo(successHoursAgo))
})

const context: fc.Arbitrary<AggregationPolicy.Context> = fc.record({
  observation: Arbitraries.observation,
  trigger: fc.constantFrom(...AggregationPolicy.Trigger.literals),
  userPresent: fc.boolean(),
  now: fc.integer({ min: Date.UTC(2015, 0, 1), max: Date.UTC(2035, 0, 1) }),
  lastPulledAt: fc.option(fc.integer({ min: Date.UTC(2015, 0, 1), max: Date.UTC(2035, 0, 1) }), { nil: null }),
  lastAggregateCalledAt: fc.option(fc.integer({ min: Date.UTC(2015, 0, 1), max: Date.UTC(2035, 0, 1) }), {
    nil: null
  }),
  credentialUpdateStartedAggregation: fc.option(fc.boolean(), { nil: undefined })
})

const evaluate = (c: Partial<AggregationPolicy.Context> & Pick<AggregationPolicy.Context, "observation">) =>
  AggregationPolicy.evaluate({ trigger: "Scheduled", userPresent: false, now, ...c })

describe("AggregationPolicy.evaluate", () => {
  it("a scheduled run pulls only when MX aggregated successfully within 24 h", () => {
    assert.strictEqual(evaluate({ observation: connected(2), lastPulledAt: hoursAgo(30) })._tag, "PullOnly")
    assert.strictEqual(evaluate({ observation: connected(23), lastPulledAt: null })._tag, "PullOnly")
    assert.strictEqual(evaluate({ observation: connected(25) })._tag, "Aggregate")
    assert.strictEqual(evaluate({ observation: connected(null) })._tag, "Aggregate")
  })

  it("a scheduled run does nothing when the fresh data was already pulled, until it goes stale", () => {
    const decision = evaluate({ observation: connected(2), lastPulledAt: hoursAgo(1) })
    assert.deepStrictEqual(decision._tag, "NotNow")
    if (decision._tag === "NotNow") assert.strictEqual(decision.until, hoursAgo(2) + 24 * 3_600_000)
  })

  it("respects the 20-hour background suppression after an aggregate of ours", () => {
    const decision = evaluate({ observation: connected(30), lastAggregateCalledAt: hoursAgo(5) })
    assert.strictEqual(decision._tag, "NotNow")
    if (decision._tag === "NotNow") assert.strictEqual(decision.until, hoursAgo(5) + 20 * 3_600_000)
    assert.strictEqual(evaluate({ observation: connected(30), lastAggregateCalledAt: hoursAgo(21) })._tag, "Aggregate")
  })

  it("a present user gets a fresh aggregation unless data is minutes old; an operator's trigger aggregates", () => {
    assert.strictEqual(evaluate({ observation: connected(2), userPresent: true })._tag, "Aggregate")
    assert.strictEqual(evaluate({ observation: connected(0.1), userPresent: true })._tag, "PullOnly")
    assert.strictEqual(evaluate({ observation: connected(0.1), trigger: "Manual" })._tag, "Aggregate")
  })

  it("a webhook pulls data MX has and the worker has not, and otherwise keeps the member's next check", () => {
    for (const trigger of ["Webhook", "DataUpdated"] as const) {
      assert.strictEqual(evaluate({ observation: connected(0.1), trigger, lastPulledAt: hoursAgo(1) })._tag, "PullOnly")
      assert.strictEqual(evaluate({ observation: connected(30), trigger, lastPulledAt: null })._tag, "PullOnly")
      const pulled = evaluate({
        observation: connected(0.1),
        trigger,
        lastPulledAt: hoursAgo(0.05),
        nextCheckAt: now + 7
      })
      assert.deepStrictEqual(pulled._tag === "NotNow" ? pulled.until : pulled._tag, now + 7)
      // Stale and pulled: the scheduled check (or the user) aggregates, not the webhook.
      const stale = evaluate({ observation: connected(30), trigger, lastPulledAt: hoursAgo(29), nextCheckAt: now + 9 })
      assert.deepStrictEqual(stale._tag === "NotNow" ? stale.until : stale._tag, now + 9)
      const never = evaluate({ observation: connected(null), trigger, nextCheckAt: null })
      assert.deepStrictEqual(never._tag === "NotNow" ? never.until : never._tag, now + 6 * 3_600_000)
    }
  })

  it.prop("a webhook never leads to an aggregate call, whatever MX says and whoever claims to be present", [
    context,
    fc.constantFrom("Webhook" as const, "DataUpdated" as const),
    fc.option(fc.integer({ min: Date.UTC(2015, 0, 1), max: Date.UTC(2035, 0, 1) }), { nil: null })
  ], ([c, trigger, nextCheckAt]) => {
    const decision = AggregationPolicy.evaluate({ ...c, trigger, nextCheckAt })
    assert.notStrictEqual(decision._tag, "Aggregate")
  })

  it.prop("never aggregates a CHALLENGED member: resume instead", [context], ([c]) => {
    const decision = AggregationPolicy.evaluate({
      ...c,
      observation: { ...c.observation, connection_status: "CHALLENGED" }
    })
    assert.notStrictEqual(decision._tag, "Aggregate")
    if (!AggregationPolicy.credentialUpdateStartedAggregation(c)) {
      assert.strictEqual(decision._tag, "AnswerChallenges")
    }
  })

  it.prop("never aggregates right after a credential update that started one, whatever the trigger", [
    context
  ], ([c]) => {
    const decision = AggregationPolicy.evaluate({ ...c, credentialUpdateStartedAggregation: true })
    assert.strictEqual(decision._tag, "FollowAggregation")
  })

  it.prop("a credential update that does not say follows MX's rule: it started an aggregation", [context], ([c]) => {
    const { credentialUpdateStartedAggregation: _, ...rest } = c
    const decision = AggregationPolicy.evaluate({ ...rest, trigger: "CredentialsUpdated" })
    assert.strictEqual(decision._tag, "FollowAggregation")
    // skip_aggregation: the caller says false, and the usual rules apply.
    const skipped = AggregationPolicy.evaluate({
      ...rest,
      trigger: "CredentialsUpdated",
      credentialUpdateStartedAggregation: false
    })
    assert.strictEqual(
      skipped._tag === "FollowAggregation",
      c.observation.is_being_aggregated !== false && c.observation.connection_status !== "CHALLENGED"
    )
  })

  it.prop("never aggregates while MX is aggregating, nor a terminal or non-aggregating member", [context], ([c]) => {
    const decision = AggregationPolicy.evaluate(c)
    if (decision._tag !== "Aggregate") return
    assert.strictEqual(c.observation.is_being_aggregated, false)
    assert.notStrictEqual(ConnectionStatus.classify(c.observation.connection_status), "Unknown")
    assert.notInclude(
      ["DISCONTINUED", "CLOSED", "DISABLED", "CHALLENGED", "PENDING", null],
      c.observation.connection_status
    )
    assert.notInclude(["DENIED", "PREVENTED", "IMPAIRED", "IMPORTED"], c.observation.connection_status)
  })

  it.prop("EXPIRED and REJECTED aggregate only when the user is present, and never ask for credentials", [
    context,
    fc.constantFrom("EXPIRED" as const, "REJECTED" as const)
  ], ([c, status]) => {
    const observation = { ...c.observation, connection_status: status, is_being_aggregated: false }
    const decision = AggregationPolicy.evaluate({ ...c, observation, credentialUpdateStartedAggregation: false })
    // A webhook's run never counts as the user's presence; the UserPresent trigger always does.
    const present = c.trigger !== "Webhook" && c.trigger !== "DataUpdated" &&
      (c.userPresent || c.trigger === "UserPresent" || c.trigger === "UserActedAtInstitution")
    assert.strictEqual(AggregationPolicy.isUserPresent(c), present)
    assert.strictEqual(decision._tag, present ? "Aggregate" : "NeedsUser")
    if (decision._tag === "NeedsUser") assert.strictEqual(decision.need, "presence")
  })

  it("credential, institution and OAuth problems need the user", () => {
    const needs = (status: any, userPresent = false) =>
      evaluate({ observation: { connection_status: status, is_being_aggregated: false }, userPresent })
    assert.deepStrictEqual(needs("DENIED"), new AggregationPolicy.NeedsUser({ need: "credentials" }))
    assert.deepStrictEqual(needs("DENIED", true), new AggregationPolicy.NeedsUser({ need: "credentials" }))
    assert.deepStrictEqual(needs("LOCKED"), new AggregationPolicy.NeedsUser({ need: "institution" }))
    // Presence alone does not say the user acted at the institution.
    assert.deepStrictEqual(needs("LOCKED", true), new AggregationPolicy.NeedsUser({ need: "institution" }))
    assert.deepStrictEqual(needs("PENDING"), new AggregationPolicy.NeedsUser({ need: "oauth" }))
    assert.strictEqual(needs("CLOSED")._tag, "Stop")
    assert.strictEqual(needs(null)._tag, "Stop")
  })

  it.prop("LOCKED and IMPEDED aggregate again only when the user acted, or after a long back-off", [
    context,
    fc.constantFrom("LOCKED" as const, "IMPEDED" as const)
  ], ([c, status]) => {
    const observation = { ...c.observation, connection_status: status, is_being_aggregated: false }
    const decision = AggregationPolicy.evaluate({ ...c, observation, credentialUpdateStartedAggregation: false })
    const lastAttempt = Math.max(
      c.observation.aggregated_at ? Date.parse(c.observation.aggregated_at) : -Infinity,
      c.lastAggregateCalledAt ?? -Infinity
    )
    const backedOff = Number.isFinite(lastAttempt) && c.now - lastAttempt >= 7 * 24 * 3_600_000 &&
      c.trigger !== "Webhook" && c.trigger !== "DataUpdated"
    assert.strictEqual(
      decision._tag,
      c.trigger === "UserActedAtInstitution" || backedOff ? "Aggregate" : "NeedsUser"
    )
  })

  it("LOCKED: the user's word aggregates; a week after the last attempt the scheduler tries again", () => {
    const locked = (hoursAgoAttempt: number) => ({
      connection_status: "LOCKED" as const,
      is_being_aggregated: false,
      aggregated_at: iso(hoursAgo(hoursAgoAttempt))
    })
    assert.strictEqual(evaluate({ observation: locked(1), trigger: "UserActedAtInstitution" })._tag, "Aggregate")
    assert.strictEqual(evaluate({ observation: locked(1), trigger: "Manual" })._tag, "NeedsUser")
    assert.strictEqual(evaluate({ observation: locked(24 * 6) })._tag, "NeedsUser")
    assert.strictEqual(evaluate({ observation: locked(24 * 7) })._tag, "Aggregate")
    assert.strictEqual(evaluate({ observation: locked(24 * 8), lastAggregateCalledAt: hoursAgo(2) })._tag, "NeedsUser")
    assert.deepStrictEqual(
      AggregationPolicy.nextCheckAfter(new NextAction.ActAtInstitution({ status: "LOCKED" }), 0),
      Option.some(Duration.days(7))
    )
  })

  it("one notion of presence: the UserPresent trigger counts for CONNECTED and EXPIRED alike", () => {
    const expired = { connection_status: "EXPIRED" as const, is_being_aggregated: false }
    assert.strictEqual(evaluate({ observation: expired, trigger: "UserPresent" })._tag, "Aggregate")
    assert.strictEqual(evaluate({ observation: connected(2), trigger: "UserPresent" })._tag, "Aggregate")
    assert.strictEqual(evaluate({ observation: expired, trigger: "Webhook", userPresent: true })._tag, "NeedsUser")
  })

  it.prop("a status this worker does not know is read again later: never aggregated, never the user asked", [
    context,
    Arbitraries.unknownStatus
  ], ([c, status]) => {
    const observation = { ...c.observation, connection_status: status, is_being_aggregated: false }
    const decision = AggregationPolicy.evaluate({ ...c, observation, credentialUpdateStartedAggregation: false })
    assert.deepStrictEqual(
      decision,
      new AggregationPolicy.NotNow({
        until: c.now + 3_600_000,
        reason: `MX reports a status this worker does not know (${status}): not aggregating; reading it again later`
      })
    )
  })

  it.prop("MX not saying whether it aggregates is followed, not aggregated", [context], ([c]) => {
    const observation = { ...c.observation, is_being_aggregated: null }
    const decision = AggregationPolicy.evaluate({ ...c, observation })
    assert.include(["FollowAggregation", "AnswerChallenges"], decision._tag)
  })

  it("the minimum poll interval is MX's 3 seconds", () => {
    assert.strictEqual(Duration.toMillis(AggregationPolicy.minimumPollInterval), 3000)
    assert.strictEqual(Duration.toHours(AggregationPolicy.backgroundSuppression), 20)
  })
})

describe("AggregationPolicy.nextCheckAfter", () => {
  it("backs off provider trouble exponentially to a cap; waits for the user otherwise", () => {
    const retry = new NextAction.RetryLater({ status: "FAILED" })
    const hours = [0, 1, 2, 3, 4, 5, 10].map((n) =>
      Option.map(AggregationPolicy.nextCheckAfter(retry, n), Duration.toHours).pipe(Option.getOrThrow)
    )
    assert.deepStrictEqual(hours, [1, 2, 4, 8, 16, 24, 24])
    // A count that is not a count: never 0 ms. Negative is none; NaN and infinity are many (the cap).
    const after = (n: number) =>
      Option.map(AggregationPolicy.nextCheckAfter(retry, n), Duration.toHours).pipe(Option.getOrThrow)
    assert.deepStrictEqual([NaN, Infinity, -1, -Infinity, 1.5].map(after), [24, 24, 1, 1, 2])
    assert.deepStrictEqual(
      AggregationPolicy.nextCheckAfter(new NextAction.PullData({ successfullyAggregatedAt: null }), 0),
      Option.some(Duration.hours(6))
    )
    assert.isTrue(Option.isNone(AggregationPolicy.nextCheckAfter(new NextAction.AnswerChallenges(), 0)))
    assert.deepStrictEqual(
      AggregationPolicy.nextCheckAfter(new NextAction.KeepPolling({ status: null }), NaN),
      Option.some(Duration.minutes(15))
    )
    assert.isTrue(
      Option.isNone(
        AggregationPolicy.nextCheckAfter(
          new NextAction.StartNewAggregation({ status: "EXPIRED", userPresenceRequired: true }),
          0
        )
      )
    )
  })
})
