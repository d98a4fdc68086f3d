import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { ConnectionStatus, NextAction } from "../src/index.js"
import { Arbitraries } from "../src/testing.js"

const decide = (status: ConnectionStatus.NullableConnectionStatus, aggregating: boolean) =>
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

  it.prop("no guide end state -> keep polling", [Arbitraries.observation], ([o]) => {
    for (const status of ConnectionStatus.guideEndStates) {
      assert.notStrictEqual(NextAction.decide({ ...o, connection_status: status })._tag, "KeepPolling", status)
    }
  })

  it.prop("REJECTED and EXPIRED -> a new aggregation with the user present, never a credential prompt", [
    Arbitraries.observation
  ], ([o]) => {
    for (const status of ["REJECTED", "EXPIRED"] as const) {
      const action = NextAction.decide({ ...o, connection_status: status })
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
          new NextAction.UpdateCredentials({ status, credentialsSource: "member" })
        )
      }
    }
  })

  it("LOCKED, IMPEDED -> the user must act at the institution", () => {
    assert.deepStrictEqual(decide("LOCKED", false), new NextAction.ActAtInstitution({ status: "LOCKED" }))
    assert.deepStrictEqual(decide("IMPEDED", true), new NextAction.ActAtInstitution({ status: "IMPEDED" }))
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

describe("NextAction.isSettled", () => {
  it.prop(
    "CHALLENGED settles at once; nothing else settles while MX is aggregating",
    [Arbitraries.observation],
    ([o]) => {
      const settled = NextAction.isSettled(o)
      if (o.connection_status === "CHALLENGED") assert.isTrue(settled)
      else if (o.is_being_aggregated) assert.isFalse(settled)
      else assert.strictEqual(settled, NextAction.decide(o)._tag !== "KeepPolling")
    }
  )

  it("a status left over from the previous aggregation is not an outcome while MX aggregates", () => {
    assert.isFalse(NextAction.isSettled({ connection_status: "DENIED", is_being_aggregated: true }))
    assert.isTrue(NextAction.isSettled({ connection_status: "DENIED", is_being_aggregated: false }))
    assert.isFalse(NextAction.isSettled({ connection_status: "CONNECTED", is_being_aggregated: true }))
    assert.isTrue(NextAction.isSettled({ connection_status: "CONNECTED", is_being_aggregated: false }))
  })
})
