import { assert, describe, it } from "@effect/vitest"
import { FastCheck as fc, Schema } from "effect"
import { ConnectionStatus, NextAction } from "../src/index.js"
import { Arbitraries } from "../src/testing.js"

const decide = (status: ConnectionStatus.NullableReportedStatus, aggregating: boolean | null) =>
  NextAction.decide({ connection_status: status, is_being_aggregated: aggregating })

const tags = Object.fromEntries(NextAction.NextAction.members.map((m) => [m._tag, true]))

describe("NextAction.decide", () => {
  it.prop("is total: every observation yields one well-formed action", [Arbitraries.observation], ([observation]) => {
    const action = NextAction.decide(observation)
    assert.isTrue(Schema.is(NextAction.NextAction)(action))
    assert.isTrue(action._tag in tags)
  })

  it("has no action that deletes a member", () => {
    const names = Object.keys(tags)
    assert.deepStrictEqual(names.filter((n) => /delete|recreate|remove/i.test(n)), [])
  })

  it.prop("CHALLENGED -> answer challenges, whatever else is observed", [Arbitraries.observation], ([o]) => {
    assert.strictEqual(NextAction.decide({ ...o, connection_status: "CHALLENGED" })._tag, "AnswerChallenges")
  })

  it("CONNECTED: pull data once MX stops aggregating, keep polling while it aggregates", () => {
    assert.strictEqual(decide("CONNECTED", false)._tag, "PullData")
    assert.strictEqual(decide("CONNECTED", true)._tag, "KeepPolling")
    const pull = NextAction.decide({
      connection_status: "CONNECTED",
      is_being_aggregated: false,
      successfully_aggregated_at: "2026-01-01T00:00:00Z"
    })
    assert.deepStrictEqual(pull, new NextAction.PullData({ successfullyAggregatedAt: "2026-01-01T00:00:00Z" }))
  })

  it.prop("the guide's transient statuses -> keep polling", [Arbitraries.observation], ([o]) => {
    for (const status of ConnectionStatus.guideTransient) {
      assert.strictEqual(NextAction.decide({ ...o, connection_status: status })._tag, "KeepPolling")
    }
  })

  it.prop("no guide end state keeps polling once MX has stopped aggregating", [Arbitraries.observation], ([o]) => {
    for (const status of ConnectionStatus.guideEndStates) {
      const settled = { ...o, connection_status: status, is_being_aggregated: false }
      assert.notStrictEqual(NextAction.decide(settled)._tag, "KeepPolling", status)
    }
  })

  it.prop("while MX may be aggregating (true or unknown), only CHALLENGED stops the polling", [
    Arbitraries.observation,
    fc.constantFrom(true, null)
  ], ([o, aggregating]) => {
    const action = NextAction.decide({ ...o, is_being_aggregated: aggregating })
    assert.strictEqual(action._tag, o.connection_status === "CHALLENGED" ? "AnswerChallenges" : "KeepPolling")
  })

  it.prop("REJECTED and EXPIRED -> a new aggregation with the user present, never a credential prompt", [
    Arbitraries.observation
  ], ([o]) => {
    for (const status of ["REJECTED", "EXPIRED"] as const) {
      const action = NextAction.decide({ ...o, connection_status: status, is_being_aggregated: false })
      assert.deepStrictEqual(action, new NextAction.StartNewAggregation({ status, userPresenceRequired: true }))
    }
  })

  it.prop("EXPIRED never prompts for credentials", [Arbitraries.observation], ([o]) => {
    assert.notStrictEqual(NextAction.decide({ ...o, connection_status: "EXPIRED" })._tag, "UpdateCredentials")
  })

  it("DENIED, PREVENTED, IMPAIRED, IMPORTED -> update credentials from the member's own list", () => {
    for (const status of ["DENIED", "PREVENTED", "IMPAIRED", "IMPORTED"] as const) {
      for (const aggregating of [true, false]) {
        assert.deepStrictEqual(
          decide(status, aggregating),
          aggregating
            ? new NextAction.KeepPolling({ status })
            : new NextAction.UpdateCredentials({ status, credentialsSource: "member" })
        )
      }
    }
  })

  it("LOCKED, IMPEDED -> the user must act at the institution", () => {
    assert.deepStrictEqual(decide("LOCKED", false), new NextAction.ActAtInstitution({ status: "LOCKED" }))
    assert.deepStrictEqual(decide("IMPEDED", false), new NextAction.ActAtInstitution({ status: "IMPEDED" }))
    assert.deepStrictEqual(decide("IMPEDED", true), new NextAction.KeepPolling({ status: "IMPEDED" }))
  })

  it("DISCONTINUED, CLOSED, DISABLED -> stop aggregating", () => {
    for (const status of ["DISCONTINUED", "CLOSED", "DISABLED"] as const) {
      assert.deepStrictEqual(decide(status, false), new NextAction.StopAggregating({ status }))
    }
  })

  it("statuses outside the guide: provider trouble retries later, PENDING waits for OAuth, null does not aggregate", () => {
    for (const status of ["DEGRADED", "DISCONNECTED", "FAILED"] as const) {
      assert.deepStrictEqual(decide(status, false), new NextAction.RetryLater({ status }))
      assert.strictEqual(decide(status, true)._tag, "KeepPolling")
    }
    assert.strictEqual(decide("RECONNECTED", false)._tag, "KeepPolling")
    assert.strictEqual(decide("PENDING", false)._tag, "CompleteOAuth")
    assert.strictEqual(decide(null, false)._tag, "NotAggregatable")
    assert.strictEqual(decide(null, true)._tag, "KeepPolling")
  })

  it.prop("actions round-trip through their Schema (they are stored and sent over the API)", [
    Arbitraries.observation
  ], ([o]) => {
    const action = NextAction.decide(o)
    const json = Schema.encodeSync(NextAction.NextAction)(action)
    assert.deepStrictEqual(Schema.decodeUnknownSync(NextAction.NextAction)(JSON.parse(JSON.stringify(json))), action)
    assert.isString(NextAction.describe(action))
  })
})

describe("NextAction.decide with a status MX may add", () => {
  it.prop("an unknown status is read again later: never aggregated, never the user asked", [
    Arbitraries.unknownStatus,
    fc.constantFrom(true, false, null)
  ], ([status, aggregating]) => {
    const action = decide(status, aggregating)
    assert.deepStrictEqual(action, new NextAction.KeepPolling({ status }))
    assert.isFalse(NextAction.isSettled({ connection_status: status, is_being_aggregated: aggregating }))
    assert.isFalse(NextAction.needsUser(action))
    assert.include(NextAction.describe(action), status)
    assert.strictEqual(ConnectionStatus.classify(status), "Unknown")
    assert.isFalse(ConnectionStatus.isEndState(status))
  })
})

describe("ConnectionStatus.isEndState", () => {
  it.prop("looks at the class only: everything but Processing and Unknown", [
    Arbitraries.nullableReportedStatus
  ], ([status]) => {
    const statusClass = ConnectionStatus.classify(status)
    assert.strictEqual(ConnectionStatus.isEndState(status), statusClass !== "Processing" && statusClass !== "Unknown")
  })
})

describe("NextAction.isSettled", () => {
  it.prop(
    "CHALLENGED settles at once; nothing else settles while MX may be aggregating; otherwise decide says",
    [Arbitraries.observation],
    ([o]) => {
      const settled = NextAction.isSettled(o)
      assert.strictEqual(settled, NextAction.decide(o)._tag !== "KeepPolling")
      if (o.connection_status === "CHALLENGED") assert.isTrue(settled)
      else if (o.is_being_aggregated !== false) assert.isFalse(settled)
    }
  )

  it("a status left over from the previous aggregation is not an outcome while MX aggregates", () => {
    const leftOver = { connection_status: "DENIED", is_being_aggregated: true } as const
    assert.isFalse(NextAction.isSettled(leftOver))
    assert.deepStrictEqual(NextAction.decide(leftOver), new NextAction.KeepPolling({ status: "DENIED" }))
    assert.isTrue(NextAction.isSettled({ connection_status: "DENIED", is_being_aggregated: false }))
    assert.isFalse(NextAction.isSettled({ connection_status: "CONNECTED", is_being_aggregated: true }))
    assert.isTrue(NextAction.isSettled({ connection_status: "CONNECTED", is_being_aggregated: false }))
  })
})
