/**
 * Liberal in what the client accepts: a list row that does not decode is left out and reported (log,
 * metric, `onSkipped`), not a failure of the page; a missing or partial pagination envelope gets
 * defaults. Strict in what it does: a single object without a usable guid stays a Decode error.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Logger, Metric, Stream } from "effect"
import * as MxClient from "../src/MxClient.js"
import { fromWire, type SkippedRow } from "../src/Pagination.js"
import * as Fake from "./support/FakeMx.js"

const { memberGuid, userGuid } = Fake

const member = (overrides: Record<string, unknown>) => Fake.memberBody(overrides).member

/** Runs `self` with a logger that keeps every message and its annotations. */
const withLogs = <A, E>(self: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const logs: Array<{ readonly message: string; readonly annotations: Record<string, unknown> }> = []
    const logger = Logger.make(({ annotations, message }) => {
      logs.push({
        message: Array.isArray(message) ? message.map(String).join(" ") : String(message),
        annotations: Object.fromEntries(annotations)
      })
    })
    const result = yield* self.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    return [result, logs] as const
  })

const skippedCount = (operation: string) =>
  Metric.value(Metric.tagged(MxClient.rowsSkipped, "operation", operation)).pipe(Effect.map((state) => state.count))

describe("MxClient list rows that do not decode", () => {
  it.effect("rows with an empty, null or missing guid are left out, logged without values, counted and reported", () =>
    Effect.gen(function*() {
      const fake = Fake.make(() => ({
        status: 200,
        body: {
          members: [
            member({ guid: "MBR-1" }),
            member({ guid: "", name: "SECRET-NAME-1" }),
            member({ guid: null, name: "SECRET-NAME-2" }),
            { user_guid: userGuid, name: "SECRET-NAME-3" },
            member({ guid: "MBR-5" })
          ],
          pagination: { current_page: 1, per_page: 25, total_entries: 5, total_pages: 1 }
        }
      }))
      const mx = yield* Fake.client(fake)
      const before = yield* skippedCount("listMembers")
      const reported: Array<SkippedRow> = []
      const [members, logs] = yield* withLogs(
        Stream.runCollect(
          mx.listMembers({ userGuid, onSkipped: (row) => Effect.sync(() => reported.push(row)) })
        )
      )
      assert.deepStrictEqual(Chunk.toReadonlyArray(members).map((m) => m.guid), ["MBR-1", "MBR-5"])
      assert.deepStrictEqual(reported.map((r) => [r.operation, r.page, r.index, r.fields]), [
        ["listMembers", 1, 1, ["guid"]],
        ["listMembers", 1, 2, ["guid"]],
        ["listMembers", 1, 3, ["guid"]]
      ])
      assert.strictEqual((yield* skippedCount("listMembers")) - before, 3)
      const warnings = logs.filter((log) => log.annotations.operation === "listMembers")
      assert.deepStrictEqual(warnings.map((log) => log.annotations.index), [1, 2, 3])
      for (const log of warnings) {
        assert.strictEqual(log.annotations.page, 1)
        assert.strictEqual(log.annotations.fields, "guid")
      }
      assert.notInclude(JSON.stringify(logs), "SECRET-NAME")
    }))

  it.effect("an account or transaction with a field of the wrong type is left out, naming the field only", () =>
    Effect.gen(function*() {
      const fake = Fake.make((request) =>
        request.url.pathname.endsWith("/accounts")
          ? {
            status: 200,
            body: { accounts: [{ guid: "ACT-1", balance: "12345.67" }, { guid: "ACT-2", balance: 1 }] }
          }
          : {
            status: 200,
            body: { transactions: [{ guid: "TRN-1", is_fee: "nope" }, { guid: "TRN-2" }, { guid: "" }, 7] }
          }
      )
      const mx = yield* Fake.client(fake)
      const reported: Array<SkippedRow> = []
      const onSkipped = (row: SkippedRow) => Effect.sync(() => reported.push(row))
      const [accounts, logs] = yield* withLogs(
        Stream.runCollect(mx.listMemberAccounts({ userGuid, memberGuid, onSkipped }))
      )
      const transactions = yield* Stream.runCollect(mx.listTransactionsByMember({ userGuid, memberGuid, onSkipped }))
      assert.deepStrictEqual(Chunk.toReadonlyArray(accounts).map((a) => a.guid), ["ACT-2"])
      assert.deepStrictEqual(Chunk.toReadonlyArray(transactions).map((t) => t.guid), ["TRN-2"])
      assert.deepStrictEqual(reported.map((r) => [r.operation, r.index, r.fields]), [
        ["listMemberAccounts", 0, ["balance"]],
        ["listTransactionsByMember", 0, ["is_fee"]],
        ["listTransactionsByMember", 2, ["guid"]],
        ["listTransactionsByMember", 3, ["(row)"]]
      ])
      assert.notInclude(JSON.stringify(logs), "12345.67")
    }))

  it.effect("a page whose rows are all left out does not end the stream", () =>
    Effect.gen(function*() {
      const fake = Fake.make((request) => {
        const page = Number(request.url.searchParams.get("page"))
        const rows = page === 1 ? [{ guid: null }, { guid: "" }] : [{ guid: `USR-${page}` }]
        return { status: 200, body: Fake.pageBody("users", rows, page, 3, 10) }
      })
      const mx = yield* Fake.client(fake)
      const users = yield* Stream.runCollect(mx.listUsers({ recordsPerPage: 10 }))
      assert.deepStrictEqual(Chunk.toReadonlyArray(users).map((u) => u.guid), ["USR-2", "USR-3"])
      assert.strictEqual(fake.requests.length, 3)
    }))

  it.effect("listMemberChallenges leaves out a challenge without a guid and keeps the others", () =>
    Effect.gen(function*() {
      const fake = Fake.make(() => ({
        status: 200,
        body: { challenges: [{ guid: null, type: "TEXT" }, { guid: "CRD-2", type: "TEXT", label: "Q" }] }
      }))
      const mx = yield* Fake.client(fake)
      const reported: Array<SkippedRow> = []
      const challenges = yield* mx.listMemberChallenges({
        userGuid,
        memberGuid,
        onSkipped: (row) => Effect.sync(() => reported.push(row))
      })
      assert.deepStrictEqual(challenges.map((c) => c.guid), ["CRD-2"])
      assert.deepStrictEqual(reported.map((r) => r.index), [0])
    }))

  it.effect("a body without the root key or with it null is an empty page", () =>
    Effect.gen(function*() {
      const fake = Fake.make((request) => ({
        status: 200,
        body: request.url.pathname.endsWith("/accounts") ? {} : { transactions: null, pagination: null }
      }))
      const mx = yield* Fake.client(fake)
      assert.strictEqual((yield* Stream.runCollect(mx.listMemberAccounts({ userGuid, memberGuid }))).length, 0)
      assert.strictEqual((yield* Stream.runCollect(mx.listTransactionsByMember({ userGuid, memberGuid }))).length, 0)
      assert.strictEqual(fake.requests.length, 2)
    }))

  it.effect("a root key that is not an array is still a Decode error", () =>
    Effect.gen(function*() {
      const fake = Fake.make(() => ({ status: 200, body: { accounts: { guid: "ACT-1" } } }))
      const mx = yield* Fake.client(fake)
      const error = yield* Effect.flip(Stream.runCollect(mx.listMemberAccounts({ userGuid, memberGuid })))
      assert.strictEqual(error.reason, "Decode")
      assert.strictEqual(error.operation, "listMemberAccounts")
    }))
})

describe("MxClient single objects stay strict", () => {
  for (const guid of ["", null, undefined]) {
    it.effect(`readMember with guid ${JSON.stringify(guid) ?? "absent"} is a Decode error`, () =>
      Effect.gen(function*() {
        const body = Fake.memberBody({ guid })
        const fake = Fake.make(() => ({ status: 200, body }))
        const mx = yield* Fake.client(fake)
        const error = yield* Effect.flip(mx.readMember({ userGuid, memberGuid }))
        assert.strictEqual(error._tag, "MxApiError")
        assert.strictEqual(error.reason, "Decode")
        assert.strictEqual(error.status, 200)
      }))
  }

  it.effect("readUser with a null guid and createUser without the user object are Decode errors", () =>
    Effect.gen(function*() {
      const fake = Fake.make((request) => ({
        status: 200,
        body: request.method === "GET" ? { user: { guid: null, email: "a@b.test" } } : {}
      }))
      const mx = yield* Fake.client(fake)
      assert.strictEqual((yield* Effect.flip(mx.readUser({ userGuid }))).reason, "Decode")
      assert.strictEqual((yield* Effect.flip(mx.createUser())).reason, "Decode")
    }))
})

describe("MxClient pagination defaults", () => {
  const request = { page: 1, perPage: 25, rows: 7 }

  it("no envelope: this page is the only one", () => {
    for (const wire of [undefined, null, {}]) {
      assert.deepStrictEqual(
        { ...fromWire(wire, request) },
        { current_page: 1, per_page: 25, total_entries: 7, total_pages: 1 }
      )
    }
  })

  it("total_entries alone gives total_pages; unusable values are replaced", () => {
    assert.deepStrictEqual({ ...fromWire({ total_entries: 60 }, request) }, {
      current_page: 1,
      per_page: 25,
      total_entries: 60,
      total_pages: 3
    })
    assert.deepStrictEqual(
      { ...fromWire({ current_page: -3, per_page: 0, total_entries: -1, total_pages: 2.5 }, { ...request, page: 2 }) },
      { current_page: 2, per_page: 25, total_entries: 32, total_pages: 2 }
    )
    assert.deepStrictEqual(
      { ...fromWire({ current_page: "1", total_pages: 4 }, request) },
      { current_page: 1, per_page: 25, total_entries: 100, total_pages: 4 }
    )
  })

  it.effect("a stream whose envelope has only total_entries fetches every page", () =>
    Effect.gen(function*() {
      const fake = Fake.make((request) => {
        const page = Number(request.url.searchParams.get("page"))
        const rows = Array.from({ length: page < 4 ? 10 : 5 }, (_, i) => ({ guid: `TRN-${page}-${i}` }))
        return { status: 200, body: { transactions: rows, pagination: { total_entries: 35 } } }
      })
      const mx = yield* Fake.client(fake)
      const all = yield* Stream.runCollect(mx.listTransactionsByMember({ userGuid, memberGuid, recordsPerPage: 10 }))
      assert.strictEqual(all.length, 35)
      assert.deepStrictEqual(fake.requests.map((r) => r.url.searchParams.get("page")), ["1", "2", "3", "4"])
    }))
})
