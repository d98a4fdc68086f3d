import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import type { Sandbox } from "../src/index.js"
import { createMember, createUser, get, makeRecorder, post, sandboxLayer, userWithMember } from "./harness.js"

const recorder = makeRecorder()
afterAll(() => recorder.assertConformant())

/** Every transaction of a listing path, through every page. */
const allTransactions = (path: string) =>
  Effect.gen(function*() {
    const out: Array<any> = []
    const sep = path.includes("?") ? "&" : "?"
    for (let page = 1;; page++) {
      const answer = yield* get(`${path}${sep}records_per_page=10&page=${page}`)
      assert.strictEqual(answer.status, 200)
      out.push(...answer.body.transactions)
      if (page >= answer.body.pagination.total_pages) return out
    }
  })

/** A member aggregated once, and what it revealed. */
const aggregatedMember = Effect.gen(function*() {
  const { memberGuid, userGuid } = yield* userWithMember("password")
  yield* TestClock.adjust("1 minute")
  const accounts = (yield* get(`/users/${userGuid}/members/${memberGuid}/accounts`)).body.accounts
  const transactions = yield* allTransactions(`/users/${userGuid}/members/${memberGuid}/transactions`)
  return { userGuid, memberGuid, accounts, transactions }
})

const run = <A, E>(effect: Effect.Effect<A, E, Sandbox.Sandbox>, seed: number) =>
  Effect.provide(effect, sandboxLayer(recorder, { seed }))

describe("generated accounts and transactions", () => {
  it.effect("are deterministic for a seed and differ between seeds", () =>
    Effect.gen(function*() {
      const a = yield* run(aggregatedMember, 7)
      const b = yield* run(aggregatedMember, 7)
      const c = yield* run(aggregatedMember, 8)
      assert.deepStrictEqual(b, a)
      assert.isAtLeast(a.accounts.length, 2)
      assert.isAbove(a.transactions.length, 10)
      assert.notDeepEqual(c.transactions.map((t: any) => t.guid), a.transactions.map((t: any) => t.guid))
    }))

  it.effect("accounts and transactions carry MX's fields and belong to the member", () =>
    run(
      Effect.gen(function*() {
        const { accounts, memberGuid, transactions, userGuid } = yield* aggregatedMember
        for (const account of accounts) {
          assert.deepInclude(account, { member_guid: memberGuid, user_guid: userGuid, institution_code: "mxbank" })
          assert.match(account.guid, /^ACT-/)
          assert.match(account.account_number, /^\d{4}$/)
        }
        const accountGuids = new Set(accounts.map((a: any) => a.guid))
        for (const tx of transactions) {
          assert.isTrue(accountGuids.has(tx.account_guid))
          assert.match(tx.guid, /^TRN-/)
          assert.match(tx.date, /^\d{4}-\d{2}-\d{2}$/)
          assert.include(["DEBIT", "CREDIT"], tx.type)
          assert.include(["POSTED", "PENDING"], tx.status)
          assert.isAbove(tx.amount, 0)
        }
        // Newest first, and the history covers about the 30 default days before the aggregation.
        const dates = transactions.map((t: any) => t.transacted_at)
        assert.deepStrictEqual([...dates].sort().reverse(), dates)
        assert.isTrue(transactions.every((t: any) => t.date >= "2025-01-30" && t.date <= "2025-03-01"))
      }),
      1
    ))

  it.effect("a later aggregation reveals new transactions, found with from_created_at / from_updated_at", () =>
    run(
      Effect.gen(function*() {
        const { memberGuid, transactions, userGuid } = yield* aggregatedMember
        const base = `/users/${userGuid}/members/${memberGuid}/transactions`
        const pendingBefore = transactions.filter((t: any) => t.status === "PENDING").map((t: any) => t.guid)
        yield* TestClock.adjust("3 days")
        assert.strictEqual((yield* post(`/users/${userGuid}/members/${memberGuid}/aggregate`)).status, 202)
        yield* TestClock.adjust("1 minute")
        const after = yield* allTransactions(base)
        assert.isAbove(after.length, transactions.length)
        const created = yield* allTransactions(`${base}?from_created_at=2025-03-04`)
        assert.strictEqual(created.length, after.length - transactions.length)
        assert.isTrue(created.every((t: any) => !transactions.some((old: any) => old.guid === t.guid)))
        // Transactions pending at the first aggregation are posted now: updated, not created.
        const updated = yield* allTransactions(`${base}?from_updated_at=2025-03-04`)
        assert.strictEqual(updated.length, created.length + pendingBefore.length)
        for (const guid of pendingBefore) {
          const tx = updated.find((t: any) => t.guid === guid)
          assert.strictEqual(tx?.status, "POSTED")
        }
        // A timestamp bound works too: the second aggregation completed at 12:01:30, nothing changed after.
        const atCompletion = yield* allTransactions(`${base}?from_updated_at=2025-03-04T12:01:30Z`)
        assert.strictEqual(atCompletion.length, updated.length)
        assert.strictEqual((yield* allTransactions(`${base}?from_updated_at=2025-03-04T12:01:31Z`)).length, 0)
        assert.strictEqual((yield* allTransactions(`${base}?to_created_at=2025-03-01`)).length, transactions.length)
      }),
      1
    ))

  it.effect("from_date / to_date filter on the transaction date; the default window is 120 days back", () =>
    Effect.gen(function*() {
      const { memberGuid, userGuid } = yield* userWithMember("password")
      yield* TestClock.adjust("1 minute")
      const base = `/users/${userGuid}/members/${memberGuid}/transactions`
      const everything = yield* allTransactions(`${base}?from_date=2024-01-01`)
      const byDefault = yield* allTransactions(base)
      assert.isTrue(everything.some((t: any) => t.date < "2024-11-01"))
      assert.isTrue(byDefault.every((t: any) => t.date >= "2024-11-01"))
      assert.isBelow(byDefault.length, everything.length)
      const window = yield* allTransactions(`${base}?from_date=2025-02-01&to_date=2025-02-10`)
      assert.isAbove(window.length, 0)
      assert.isTrue(window.every((t: any) => t.date >= "2025-02-01" && t.date <= "2025-02-10"))
      assert.strictEqual(
        window.length,
        everything.filter((t: any) => t.date >= "2025-02-01" && t.date <= "2025-02-10").length
      )
    }).pipe(Effect.provide(sandboxLayer(recorder, { data: { historyDays: 200 } }))))

  it.effect("transactions by user span its members; by account only that account; accounts by user too", () =>
    run(
      Effect.gen(function*() {
        const userGuid = yield* createUser()
        const first = (yield* createMember(userGuid, "one")).body.member.guid
        const second = (yield* createMember(userGuid, "two")).body.member.guid
        yield* TestClock.adjust("1 minute")
        const byUser = yield* allTransactions(`/users/${userGuid}/transactions`)
        const byFirst = yield* allTransactions(`/users/${userGuid}/members/${first}/transactions`)
        const bySecond = yield* allTransactions(`/users/${userGuid}/members/${second}/transactions`)
        assert.strictEqual(byUser.length, byFirst.length + bySecond.length)
        assert.strictEqual(new Set(byUser.map((t: any) => t.guid)).size, byUser.length)
        const times = byUser.map((t: any) => t.transacted_at)
        assert.deepStrictEqual([...times].sort().reverse(), times)
        const accounts = (yield* get(`/users/${userGuid}/accounts`)).body.accounts
        const account = accounts.find((a: any) => a.member_guid === first)
        const byAccount = yield* allTransactions(`/users/${userGuid}/accounts/${account.guid}/transactions`)
        assert.isTrue(byAccount.length > 0 && byAccount.every((t: any) => t.account_guid === account.guid))
        assert.strictEqual(byAccount.length, byFirst.filter((t: any) => t.account_guid === account.guid).length)
      }),
      1
    ))

  it.effect("a member that never connected has no accounts or transactions", () =>
    run(
      Effect.gen(function*() {
        const { memberGuid, userGuid } = yield* userWithMember("UNAUTHORIZED")
        yield* TestClock.adjust("1 minute")
        assert.deepStrictEqual((yield* get(`/users/${userGuid}/members/${memberGuid}/accounts`)).body.accounts, [])
        const listed = yield* get(`/users/${userGuid}/members/${memberGuid}/transactions`)
        assert.deepStrictEqual(listed.body, {
          transactions: [],
          pagination: { current_page: 1, per_page: 25, total_entries: 0, total_pages: 0 }
        })
      }),
      1
    ))
})
