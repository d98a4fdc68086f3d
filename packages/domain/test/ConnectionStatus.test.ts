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

  it("an unknown id or name fails to decode with a ParseError naming it", () => {
    const byId = Schema.decodeUnknownEither(ConnectionStatus.ConnectionStatusFromId)(22)
    assert(Either.isLeft(byId))
    assert.include(byId.left.message, "Unknown MX connection_status_id: 22")
    const byName = Schema.decodeUnknownEither(ConnectionStatus.ConnectionStatus)("HALTED")
    assert(Either.isLeft(byName))
    assert.include(byName.left.message, "HALTED")
  })
})
