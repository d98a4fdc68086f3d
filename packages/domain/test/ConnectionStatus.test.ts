import { assert, describe, it } from "@effect/vitest"
import { Either, Option, Schema } from "effect"
import { ConnectionStatus } from "../src/index.js"

describe("ConnectionStatus", () => {
  it("has MX's 22 statuses with their ids, CREATED 0 … PENDING 21", () => {
    assert.strictEqual(ConnectionStatus.names.length, 22)
    assert.strictEqual(ConnectionStatus.toId("CREATED"), 0)
    assert.strictEqual(ConnectionStatus.toId("CHALLENGED"), 3)
    assert.strictEqual(ConnectionStatus.toId("CONNECTED"), 6)
    assert.strictEqual(ConnectionStatus.toId("PENDING"), 21)
    assert.deepStrictEqual(ConnectionStatus.fromId(19), Option.some("EXPIRED"))
  })

  it.prop("id <-> name round-trips for every status", [ConnectionStatus.ConnectionStatus], ([status]) => {
    const id = ConnectionStatus.toId(status)
    assert.deepStrictEqual(Schema.decodeSync(ConnectionStatus.ConnectionStatusFromId)(id), status)
    assert.strictEqual(Schema.encodeSync(ConnectionStatus.ConnectionStatusFromId)(status), id)
  })

  it("an unknown id decodes to an UnknownStatus naming it, classified Unknown, and encodes back to the id", () => {
    const byId = Schema.decodeUnknownSync(ConnectionStatus.ConnectionStatusFromId)(22)
    assert.strictEqual(byId, "id:22")
    assert.isFalse(ConnectionStatus.isKnown(byId))
    assert.strictEqual(ConnectionStatus.classify(byId), "Unknown")
    assert.strictEqual(Schema.encodeSync(ConnectionStatus.ConnectionStatusFromId)(byId), 22)
    // A status named by MX's text, not by an id, has no id to encode to.
    const named = Schema.encodeEither(ConnectionStatus.ConnectionStatusFromId)(
      Schema.decodeSync(ConnectionStatus.ReportedStatus)("RECONNECTING")
    )
    assert(Either.isLeft(named))
    assert.include(named.left.message, "RECONNECTING is not a status with an MX connection_status_id")
    const byName = Schema.decodeUnknownEither(ConnectionStatus.ConnectionStatus)("HALTED")
    assert(Either.isLeft(byName))
    assert.include(byName.left.message, "HALTED")
  })

  it.prop(
    "every non-negative integer id decodes (unknown ones to \"id:<n>\") and round-trips",
    [Schema.NonNegativeInt.pipe(Schema.lessThanOrEqualTo(Number.MAX_SAFE_INTEGER))],
    ([id]) => {
      const status = Schema.decodeSync(ConnectionStatus.ConnectionStatusFromId)(id)
      assert.strictEqual(ConnectionStatus.isKnown(status), id < ConnectionStatus.names.length)
      assert.strictEqual(Schema.encodeSync(ConnectionStatus.ConnectionStatusFromId)(status), id)
    }
  )

  it("a value that is not an id fails with a ParseError naming it", () => {
    for (const value of [-1, 1.5, "6", null]) {
      const decoded = Schema.decodeUnknownEither(ConnectionStatus.ConnectionStatusFromId)(value)
      assert(Either.isLeft(decoded), String(value))
      assert.include(decoded.left.message, String(value === "6" ? "\"6\"" : value))
    }
  })
})

describe("ConnectionStatus.classify", () => {
  const byClass = (c: ConnectionStatus.StatusClass) =>
    ConnectionStatus.names.filter((s) => ConnectionStatus.classify(s) === c)

  it.prop("gives every status (and null) exactly one class", [ConnectionStatus.NullableConnectionStatus], ([s]) => {
    assert.isTrue(Schema.is(ConnectionStatus.StatusClass)(ConnectionStatus.classify(s)))
  })

  it("holds the guide's lists exactly", () => {
    assert.deepStrictEqual(
      [...ConnectionStatus.guideTransient].sort(),
      ["CREATED", "DELAYED", "RESUMED", "UPDATED"]
    )
    assert.deepStrictEqual(
      [...ConnectionStatus.guideEndStates].sort(),
      [
        "CLOSED",
        "DENIED",
        "DISABLED",
        "DISCONTINUED",
        "EXPIRED",
        "IMPAIRED",
        "IMPEDED",
        "IMPORTED",
        "LOCKED",
        "PREVENTED",
        "REJECTED"
      ]
    )
    for (const s of ConnectionStatus.guideTransient) assert.strictEqual(ConnectionStatus.classify(s), "Processing")
    for (const s of ConnectionStatus.guideEndStates) {
      assert.notInclude(["Processing", "Connected", "Challenged"], ConnectionStatus.classify(s), s)
    }
  })

  it("classifies the statuses the guide does not name from MX's reference", () => {
    assert.deepStrictEqual(byClass("Processing"), ["CREATED", "RECONNECTED", "DELAYED", "UPDATED", "RESUMED"])
    assert.deepStrictEqual(byClass("ProviderTrouble"), ["DEGRADED", "DISCONNECTED", "FAILED"])
    assert.deepStrictEqual(byClass("AwaitingOAuth"), ["PENDING"])
    assert.strictEqual(ConnectionStatus.classify(null), "NotAggregating")
    assert.deepStrictEqual(byClass("CredentialsRequired"), ["PREVENTED", "DENIED", "IMPORTED", "IMPAIRED"])
    assert.deepStrictEqual(byClass("RestartRequired"), ["REJECTED", "EXPIRED"])
    assert.deepStrictEqual(byClass("InstitutionActionRequired"), ["LOCKED", "IMPEDED"])
    assert.deepStrictEqual(byClass("Terminal"), ["DISCONTINUED", "CLOSED", "DISABLED"])
    assert.deepStrictEqual(byClass("Challenged"), ["CHALLENGED"])
    assert.deepStrictEqual(byClass("Connected"), ["CONNECTED"])
  })

  it("names the eight statuses that trigger MX's CONNECTION_STATUS webhook", () => {
    assert.deepStrictEqual(
      [...ConnectionStatus.webhookStatuses].sort(),
      ["CHALLENGED", "DENIED", "EXPIRED", "IMPAIRED", "IMPEDED", "LOCKED", "PREVENTED", "REJECTED"]
    )
  })
})
