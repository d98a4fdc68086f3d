import { assert, describe, it } from "@effect/vitest"
import { Either, Schema } from "effect"
import { Member } from "../src/index.js"

const decodeMember = Schema.decodeUnknownEither(Member.Member)
const decodeChallenge = Schema.decodeUnknownSync(Member.Challenge)

describe("Member schemas", () => {
  it("decode what MX really sends: nulls, string job guids, unknown fields", () => {
    const member = decodeMember({
      guid: "MBR-1",
      user_guid: "USR-1",
      connection_status: null,
      is_being_aggregated: null,
      most_recent_job_guid: "JOB-1",
      most_recent_job_detail_text: null,
      aggregated_at: null,
      something_new: { nested: true }
    })
    assert(Either.isRight(member))
    assert.strictEqual(member.right.connection_status, null)
    assert.strictEqual(member.right.is_being_aggregated, false)
    assert.strictEqual(member.right.most_recent_job_guid, "JOB-1")
  })

  it("an unknown connection_status fails with a clear error", () => {
    const member = decodeMember({ guid: "MBR-1", connection_status: "HALTED" })
    assert(Either.isLeft(member))
    assert.include(member.left.message, "HALTED")
  })

  it("challenge type may be a string, a number or MX Bank's IMAGE", () => {
    assert.strictEqual(decodeChallenge({ guid: "CRD-1", type: "TEXT" }).type, "TEXT")
    assert.strictEqual(decodeChallenge({ guid: "CRD-1", type: 0 }).type, "TEXT")
    assert.strictEqual(decodeChallenge({ guid: "CRD-1", type: 2 }).type, "OPTIONS")
    assert.strictEqual(decodeChallenge({ guid: "CRD-1", type: 13 }).type, "IMAGE_DATA")
    assert.strictEqual(decodeChallenge({ guid: "CRD-1", type: "IMAGE" }).type, "IMAGE_DATA")
    assert.throws(() => decodeChallenge({ guid: "CRD-1", type: 99 }), /Unknown MX challenge type code: 99/)
    const options = decodeChallenge({
      guid: "CRD-2",
      type: "OPTIONS",
      options: [{ label: "Text me", value: "text" }],
      image_options: null
    })
    assert.strictEqual(options.options[0]!.value, "text")
    assert.deepStrictEqual(options.image_options, [])
  })

  it("credential values are Redacted: never in JSON or string form", () => {
    const value = Schema.decodeUnknownSync(Member.CredentialValue)({ guid: "CRD-1", value: "hunter2" })
    assert.notInclude(JSON.stringify(value), "hunter2")
    assert.notInclude(String(value), "hunter2")
    assert.deepStrictEqual(Schema.encodeSync(Member.CredentialValue)(value), { guid: "CRD-1", value: "hunter2" })
  })
})
