import { assert, describe, it } from "@effect/vitest"
import type { Options } from "../src/index.js"
import { validator } from "./harness.js"

const exchange = (operationId: string, status: number, body: unknown, contentType = "application/vnd.mx.api.v1+json") =>
  ({
    operationId,
    method: "GET",
    url: "/x",
    status,
    contentType: body === undefined ? undefined : contentType,
    body: body === undefined ? "" : JSON.stringify(body)
  }) satisfies Options.Exchange

const member = {
  guid: "MBR-1",
  connection_status: "CONNECTED",
  is_being_aggregated: false,
  institution_guid: "INS-1",
  most_recent_job_guid: "JOB-1"
}

describe("the spec checker", () => {
  it("accepts a member as MX sends it, most_recent_job_guid a string (a known spec error, corrected)", () => {
    assert.deepStrictEqual(validator.check(exchange("readMember", 200, { member })), [])
  })

  it("refuses an extra field, a wrong type, a null where the spec forbids it", () => {
    assert.lengthOf(validator.check(exchange("readMember", 200, { member: { ...member, connection_status_id: 6 } })), 1)
    assert.lengthOf(
      validator.check(exchange("readMember", 200, { member: { ...member, is_being_aggregated: "no" } })),
      1
    )
    assert.lengthOf(validator.check(exchange("readMember", 200, { member: { ...member, institution_guid: null } })), 1)
    assert.lengthOf(validator.check(exchange("readMember", 200, { members: [member] })), 1)
  })

  it("refuses a status the operation does not declare, and the wrong media type", () => {
    assert.lengthOf(validator.check(exchange("readMember", 202, { member })), 1)
    assert.lengthOf(validator.check(exchange("readMember", 200, { member }, "application/json")), 1)
    assert.lengthOf(validator.check(exchange("readMember", 204, undefined)), 1)
    assert.deepStrictEqual(validator.check(exchange("listMemberChallenges", 204, undefined)), [])
    assert.deepStrictEqual(validator.check(exchange("deleteMember", 204, undefined)), [])
  })

  it("checks error bodies against the documented shape", () => {
    assert.deepStrictEqual(validator.check(exchange("readMember", 404, { error: { message: "not found" } })), [])
    assert.lengthOf(validator.check(exchange("readMember", 404, { error: "not found" })), 1)
    assert.lengthOf(validator.check(exchange("readMember", 500, { message: "boom" })), 1)
  })

  it("checks nested schemas: pagination, transactions with allOf", () => {
    const pagination = { current_page: 1, per_page: 25, total_entries: 1, total_pages: 1 }
    const tx = { guid: "TRN-1", amount: 1.5, date: "2025-01-01", status: "POSTED", classification: null }
    assert.deepStrictEqual(validator.check(exchange("listTransactions", 200, { transactions: [tx], pagination })), [])
    assert.lengthOf(
      validator.check(exchange("listTransactions", 200, { transactions: [{ ...tx, amount: "1.5" }], pagination })),
      1
    )
    assert.lengthOf(
      validator.check(
        exchange("listTransactions", 200, { transactions: [tx], pagination: { ...pagination, page: 1 } })
      ),
      1
    )
  })
})
