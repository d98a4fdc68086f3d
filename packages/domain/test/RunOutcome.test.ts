import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Duration, FastCheck as fc, Option, Schema } from "effect"
import { AggregationPolicy, NextAction, RunOutcome } from "../src/index.js"
import { Arbitraries } from "../src/testing.js"

const trigger = fc.constantFrom(...AggregationPolicy.Trigger.literals)
const reason = fc.constantFrom(...RunOutcome.RunReason.literals)
const decision = Arbitrary.make(AggregationPolicy.Decision)

/** The events that ask the end user to do something. */
const userEvents: ReadonlySet<RunOutcome.EventType> = new Set([
  "credentials_required",
  "institution_action_required",
  "user_presence_required",
  "oauth_required"
])

const wellFormed = (ending: RunOutcome.Ending) => {
  assert.isTrue(Schema.is(RunOutcome.RunOutcome)(ending.outcome))
  if (ending.event !== null) assert.isTrue(Schema.is(RunOutcome.EventType)(ending.event))
  // The run's own steps tell of challenges and pulled data; an ending never does.
  assert.notInclude(["mfa_required", "data_updated", "status_unknown"], ending.event)
  if (ending.event !== null && userEvents.has(ending.event)) {
    assert.isTrue(ending.action !== null && NextAction.needsUser(ending.action), "asks the user for a non-user action")
    assert.isNotNull(ending.needsUserReason)
  }
  if (ending.failed) assert.include(["retry_later", "failed"], ending.outcome)
}

describe("RunOutcome: triggers and reasons", () => {
  it.prop(
    "trigger -> reason -> trigger gives the trigger back (DataUpdated, the old name, as Webhook)",
    [trigger],
    ([t]) => {
      assert.strictEqual(RunOutcome.triggerOf(RunOutcome.reasonOf(t)), t === "DataUpdated" ? "Webhook" : t)
    }
  )

  it.prop(
    "reason -> trigger -> reason gives the reason back (a new member's run as a scheduled one)",
    [reason],
    ([r]) => {
      assert.strictEqual(RunOutcome.reasonOf(RunOutcome.triggerOf(r)), r === "new_member" ? "scheduled" : r)
    }
  )

  it("every stored reason but new_member is the reason of some trigger", () => {
    const reasons = new Set(AggregationPolicy.Trigger.literals.map(RunOutcome.reasonOf))
    assert.deepStrictEqual(RunOutcome.RunReason.literals.filter((r) => !reasons.has(r)), ["new_member"])
  })

  it.prop("a user trigger is exactly one that makes the user present for the policy", [trigger], ([t]) => {
    assert.strictEqual(RunOutcome.isUserTrigger(t), AggregationPolicy.isUserPresent({ trigger: t, userPresent: false }))
  })
})

describe("RunOutcome: endings", () => {
  it.prop(
    "every settled action gets a well-formed ending",
    [Arbitraries.observation, Arbitraries.nextAction],
    ([o, a]) => {
      const ending = RunOutcome.endingFor(o, a)
      wellFormed(ending)
      assert.strictEqual(ending.action, a)
      assert.strictEqual(ending.status, o.connection_status)
      // The user is needed exactly for the actions that need the user.
      assert.strictEqual(ending.needsUserReason !== null, NextAction.needsUser(a))
    }
  )

  it.prop("every decision gets a well-formed ending", [Arbitraries.observation, decision], ([o, d]) => {
    const ending = RunOutcome.decisionEnding(o, d)
    wellFormed(ending)
    assert.deepStrictEqual(ending.action, NextAction.decide(o))
    switch (d._tag) {
      case "NotNow":
        assert.strictEqual(ending.outcome, "skipped")
        // `Object.is`: the generated time may be NaN.
        assert.isTrue(Object.is(ending.nextDueAt, d.until))
        break
      case "NeedsUser":
        assert.strictEqual(ending.needsUserReason, d.need)
        assert.strictEqual(ending.nextDueAt, d.need === "institution" ? "policy" : null)
        break
      case "Stop":
        assert.isNull(ending.nextDueAt)
        break
      default:
        assert.strictEqual(ending.outcome, "skipped")
    }
  })

  it.prop("the run's other endings are well-formed", [Arbitraries.observation, fc.boolean()], ([o, ownDatabase]) => {
    wellFormed(RunOutcome.pulledOnlyEnding(o))
    wellFormed(RunOutcome.unansweredChallengeEnding)
    const failed = RunOutcome.failedEnding("MxApiError: boom", { ownDatabase })
    wellFormed(failed)
    // The worker's own database failing is no sign of trouble at MX.
    assert.strictEqual(failed.failed, !ownDatabase)
    assert.strictEqual(failed.nextDueAt, ownDatabase ? "now" : "policy")
  })

  it("an unanswered challenge waits for the user, never for a schedule", () => {
    const ending = RunOutcome.unansweredChallengeEnding
    assert.strictEqual(ending.outcome, "needs_user_present")
    assert.isNull(ending.nextDueAt)
    assert.isTrue(ending.action !== null && NextAction.needsUser(ending.action))
  })
})

describe("RunOutcome.nextDueAt", () => {
  const now = Date.UTC(2026, 0, 1)
  const jitter = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })

  it.prop(
    "by the policy: the policy's delay within ±10 %, or never when the policy has none",
    [Arbitraries.observation, Arbitraries.nextAction, fc.nat({ max: 20 }), jitter],
    ([o, a, failures, j]) => {
      const ending = RunOutcome.endingFor(o, a)
      const due = RunOutcome.nextDueAt(ending, { now, consecutiveFailures: failures, jitter: j })
      const delay = AggregationPolicy.nextCheckAfter(a, failures)
      if (Option.isNone(delay)) return assert.isNull(due)
      const ms = Duration.toMillis(delay.value)
      assert.isNotNull(due)
      assert.isAtLeast(due! - now, Math.floor(ms * 0.9))
      assert.isAtMost(due! - now, Math.ceil(ms * 1.1))
    }
  )

  it.prop("a failed run is retried like provider trouble", [fc.nat({ max: 20 }), jitter], ([failures, j]) => {
    const ending = RunOutcome.failedEnding("boom", { ownDatabase: false })
    const retry = AggregationPolicy.nextCheckAfter(new NextAction.RetryLater({ status: "FAILED" }), failures)
    const due = RunOutcome.nextDueAt(ending, { now, consecutiveFailures: failures, jitter: j })
    assert.isTrue(Option.isSome(retry))
    assert.isAbove(due!, now)
  })

  it.prop("a time, never and now are kept as they are", [fc.option(fc.nat(), { nil: null })], ([at]) => {
    const ending = { ...RunOutcome.unansweredChallengeEnding, nextDueAt: at }
    assert.strictEqual(RunOutcome.nextDueAt(ending, { now, consecutiveFailures: 0, jitter: 0.5 }), at)
    const atOnce = RunOutcome.failedEnding("db", { ownDatabase: true })
    assert.strictEqual(RunOutcome.nextDueAt(atOnce, { now, consecutiveFailures: 3, jitter: 0.5 }), now)
  })
})
