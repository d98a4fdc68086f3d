import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import * as Fake from "./support/FakeMx.js"

const { memberGuid, userGuid } = Fake

/** A fake MX holding `total` transactions, served `perPage` at a time as MX pages them. */
const transactionsMx = (total: number, options: { readonly claimedPages?: number } = {}) =>
  Fake.make((request) => {
    const page = Number(request.url.searchParams.get("page"))
    const perPage = Number(request.url.searchParams.get("records_per_page"))
    const totalPages = options.claimedPages ?? Math.max(1, Math.ceil(total / perPage))
    const items = Array.from(
      { length: Math.max(0, Math.min(perPage, total - (page - 1) * perPage)) },
      (_, i) => ({ guid: `TRN-${(page - 1) * perPage + i + 1}` })
    )
    return {
      status: 200,
      body: {
        transactions: items,
        pagination: { current_page: page, per_page: perPage, total_entries: total, total_pages: totalPages }
      }
    }
  })

const pagesRequested = (fake: Fake.FakeMx) => fake.requests.map((r) => Number(r.url.searchParams.get("page")))

describe("MxClient pagination", () => {
  it.effect("a stream over 4 pages yields every record once, in order, and stops at total_pages", () =>
    Effect.gen(function*() {
      const fake = transactionsMx(35)
      const mx = yield* Fake.client(fake)
      const all = yield* Stream.runCollect(mx.listTransactionsByMember({ userGuid, memberGuid, recordsPerPage: 10 }))
      assert.deepStrictEqual(
        Chunk.toReadonlyArray(all).map((t) => t.guid),
        Array.from({ length: 35 }, (_, i) => `TRN-${i + 1}`)
      )
      assert.deepStrictEqual(pagesRequested(fake), [1, 2, 3, 4])
      for (const request of fake.requests) assert.strictEqual(request.url.searchParams.get("records_per_page"), "10")
    }))

  it.effect("fetching stops early when the consumer takes fewer records", () =>
    Effect.gen(function*() {
      const fake = transactionsMx(100)
      const mx = yield* Fake.client(fake)
      const some = yield* Stream.runCollect(
        mx.listTransactionsByMember({ userGuid, memberGuid, recordsPerPage: 10 }).pipe(Stream.take(15))
      )
      assert.strictEqual(some.length, 15)
      assert.deepStrictEqual(pagesRequested(fake), [1, 2])
    }))

  it.effect("taking exactly one page fetches one page", () =>
    Effect.gen(function*() {
      const fake = transactionsMx(100)
      const mx = yield* Fake.client(fake)
      yield* Stream.runCollect(
        mx.listTransactionsByMember({ userGuid, memberGuid, recordsPerPage: 10 }).pipe(Stream.take(10))
      )
      assert.deepStrictEqual(pagesRequested(fake), [1])
    }))

  it.effect("nothing is fetched until the stream runs", () =>
    Effect.gen(function*() {
      const fake = transactionsMx(100)
      const mx = yield* Fake.client(fake)
      const stream = mx.listTransactionsByMember({ userGuid, memberGuid })
      assert.strictEqual(fake.requests.length, 0)
      yield* Stream.runDrain(stream.pipe(Stream.take(1)))
      assert.strictEqual(fake.requests.length, 1)
    }))

  it.effect("an empty list is one request and no records", () =>
    Effect.gen(function*() {
      const fake = transactionsMx(0)
      const mx = yield* Fake.client(fake)
      const all = yield* Stream.runCollect(mx.listTransactionsByMember({ userGuid, memberGuid }))
      assert.strictEqual(all.length, 0)
      assert.deepStrictEqual(pagesRequested(fake), [1])
    }))

  it.effect("an empty page before total_pages ends the stream (no endless paging)", () =>
    Effect.gen(function*() {
      const fake = transactionsMx(15, { claimedPages: 50 })
      const mx = yield* Fake.client(fake)
      const all = yield* Stream.runCollect(mx.listTransactionsByMember({ userGuid, memberGuid, recordsPerPage: 10 }))
      assert.strictEqual(all.length, 15)
      assert.deepStrictEqual(pagesRequested(fake), [1, 2, 3])
    }))

  it.effect("a page without the pagination envelope is the only page", () =>
    Effect.gen(function*() {
      const fake = Fake.make(() => ({ status: 200, body: { members: [Fake.memberBody().member] } }))
      const mx = yield* Fake.client(fake)
      const all = yield* Stream.runCollect(mx.listMembers({ userGuid }))
      assert.strictEqual(all.length, 1)
      assert.strictEqual(fake.requests.length, 1)
    }))

  it.effect("listMemberChallenges collects every page", () =>
    Effect.gen(function*() {
      const fake = Fake.make((request) => {
        const page = Number(request.url.searchParams.get("page"))
        return {
          status: 200,
          body: Fake.pageBody("challenges", [{ guid: `CRD-${page}`, type: "TEXT", label: `Q${page}` }], page, 3, 10)
        }
      })
      const mx = yield* Fake.client(fake)
      const challenges = yield* mx.listMemberChallenges({ userGuid, memberGuid, recordsPerPage: 10 })
      assert.deepStrictEqual(challenges.map((c) => c.guid), ["CRD-1", "CRD-2", "CRD-3"])
    }))
})
