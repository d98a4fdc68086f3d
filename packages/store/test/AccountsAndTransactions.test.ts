import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Option } from "effect"
import { AccountsAndTransactions, TestDatabase } from "../src/index.js"
import { memberGuid, storeLayer, userGuid } from "./fixtures.js"

const transaction = (member: string, i: number, overrides: Partial<AccountsAndTransactions.TransactionInput> = {}) => ({
  guid: `TRN-${member}-${String(i).padStart(5, "0")}`,
  account_guid: `ACT-${member}-${i % 3}`,
  amount: Math.round(i * 137.31) / 100,
  date: `2024-${String((i % 12) + 1).padStart(2, "0")}-${String((i % 28) + 1).padStart(2, "0")}`,
  description: `Purchase ${i}`,
  status: "POSTED",
  category: "Groceries",
  type: i % 2 === 0 ? "DEBIT" : "CREDIT",
  currency_code: "USD",
  created_at: "2024-01-01T00:00:00Z",
  updated_at: "2024-01-02T00:00:00Z",
  ...overrides
})

describe("AccountsAndTransactions.maxUpdatedAt", () => {
  it("compares instants, not text, and ignores missing or unparsable values", () => {
    assert.strictEqual(
      AccountsAndTransactions.maxUpdatedAt([
        { updated_at: "2024-03-01T12:00:00Z" },
        { updated_at: "2024-03-01T13:00:00+02:00" }, // 11:00Z: earlier although it sorts later as text
        { updated_at: null },
        {},
        { updated_at: "yesterday" }
      ]),
      "2024-03-01T12:00:00Z"
    )
    assert.strictEqual(AccountsAndTransactions.maxUpdatedAt([]), null)
  })
})

describe.each(TestDatabase.kinds)("AccountsAndTransactions on %s", (kind) => {
  layer(storeLayer(kind))((it) => {
    it.effect("upserts accounts by guid: new ones inserted, known ones updated, MX's object kept as JSON", () =>
      Effect.gen(function*() {
        const data = yield* AccountsAndTransactions.AccountsAndTransactions
        const member = memberGuid("accounts")
        const user = userGuid("accounts")
        const checking = {
          guid: "ACT-checking",
          name: "Checking",
          type: "CHECKING",
          balance: 1000.5,
          available_balance: 900.25,
          currency_code: "USD",
          updated_at: "2024-01-01T00:00:00Z",
          institution_code: "mxbank" // a field without a column: kept in raw
        }
        const savings = { guid: "ACT-savings", name: "Savings", type: "SAVINGS", balance: null }
        assert.strictEqual(
          yield* data.upsertAccounts({ memberGuid: member, userGuid: user, accounts: [checking, savings] }),
          2
        )
        assert.strictEqual(
          yield* data.upsertAccounts({
            memberGuid: member,
            userGuid: user,
            accounts: [{ ...checking, balance: 42, updated_at: "2024-02-01T00:00:00Z" }]
          }),
          1
        )
        const accounts = yield* data.listAccounts(member)
        assert.deepStrictEqual(accounts.map((a) => a.guid), ["ACT-checking", "ACT-savings"])
        const [stored, other] = accounts
        assert.strictEqual(stored!.balance, 42)
        assert.strictEqual(stored!.available_balance, 900.25)
        assert.strictEqual(stored!.member_guid, member)
        assert.strictEqual(stored!.user_guid, user)
        assert.strictEqual(stored!.updated_at, "2024-02-01T00:00:00Z")
        assert.strictEqual(JSON.parse(stored!.raw).institution_code, "mxbank")
        assert.strictEqual(other!.balance, null)
        assert.strictEqual(other!.currency_code, null)
        assert.deepStrictEqual(yield* data.counts(member), { accounts: 2, transactions: 0 })
        assert.strictEqual(yield* data.upsertAccounts({ memberGuid: member, userGuid: user, accounts: [] }), 0)
      }))

    it.effect(
      "upserts thousands of transactions in batches; re-pulling updates rows instead of duplicating them",
      () =>
        Effect.gen(function*() {
          const data = yield* AccountsAndTransactions.AccountsAndTransactions
          const member = memberGuid("transactions")
          const user = userGuid("transactions")
          const n = 2_600 // several batches of AccountsAndTransactions.batchSize
          const first = Array.from({ length: n }, (_, i) => transaction("t", i))
          // The same guid twice in one pull: the last one wins.
          const written = yield* data.upsertTransactions({
            memberGuid: member,
            userGuid: user,
            transactions: [...first, { ...first[7]!, description: "Corrected" }]
          })
          assert.strictEqual(written, n)
          assert.deepStrictEqual(yield* data.counts(member), { accounts: 0, transactions: n })

          const changed = first.slice(100, 700).map((t) => ({
            ...t,
            status: "PENDING",
            amount: -1,
            updated_at: "2024-05-01T00:00:00Z"
          }))
          yield* data.upsertTransactions({ memberGuid: member, userGuid: user, transactions: changed })
          assert.deepStrictEqual(yield* data.counts(member), { accounts: 0, transactions: n })

          const all = yield* data.listTransactions(member, { limit: n })
          assert.strictEqual(all.length, n)
          const byGuid = new Map(all.map((t) => [t.guid, t]))
          assert.strictEqual(byGuid.get(first[7]!.guid)!.description, "Corrected")
          assert.strictEqual(byGuid.get(first[100]!.guid)!.status, "PENDING")
          assert.strictEqual(byGuid.get(first[100]!.guid)!.amount, -1)
          assert.strictEqual(byGuid.get(first[699]!.guid)!.updated_at, "2024-05-01T00:00:00Z")
          assert.strictEqual(byGuid.get(first[0]!.guid)!.status, "POSTED")
          assert.strictEqual(byGuid.get(first[n - 1]!.guid)!.status, "POSTED")
          assert.strictEqual(byGuid.get(first[n - 1]!.guid)!.amount, first[n - 1]!.amount)
          assert.strictEqual(byGuid.get(first[5]!.guid)!.member_guid, member)

          // Newest date first.
          const dates = all.map((t) => t.date!)
          assert.deepStrictEqual(dates, [...dates].sort().reverse())
          const page = yield* data.listTransactions(member, { limit: 10, offset: 5 })
          assert.deepStrictEqual(page.map((t) => t.guid), all.slice(5, 15).map((t) => t.guid))
          const ofAccount = yield* data.listTransactions(member, { accountGuid: "ACT-t-1", limit: n })
          assert.isTrue(ofAccount.length > 0 && ofAccount.every((t) => t.account_guid === "ACT-t-1"))

          const totals = yield* data.totals
          assert.isAtLeast(totals.transactions, n)
        }),
      60_000
    )

    it.effect("the watermark only moves forward and records when the last pull finished", () =>
      Effect.gen(function*() {
        const data = yield* AccountsAndTransactions.AccountsAndTransactions
        const member = memberGuid("watermark")
        assert.deepStrictEqual(yield* data.watermark(member), Option.none())

        const first = yield* data.advanceWatermark({
          memberGuid: member,
          maxUpdatedAt: "2024-03-01T12:00:00Z",
          pulledAt: 100
        })
        assert.strictEqual(first.maxUpdatedAt, "2024-03-01T12:00:00Z")
        assert.strictEqual(first.lastPulledAt, 100)
        // Earlier as an instant (11:00Z) though later as text: the watermark stays.
        const older = yield* data.advanceWatermark({
          memberGuid: member,
          maxUpdatedAt: "2024-03-01T13:00:00+02:00",
          pulledAt: 200
        })
        assert.strictEqual(older.maxUpdatedAt, "2024-03-01T12:00:00Z")
        assert.strictEqual(older.lastPulledAt, 200)
        const none = yield* data.advanceWatermark({ memberGuid: member, maxUpdatedAt: null, pulledAt: 300 })
        assert.strictEqual(none.maxUpdatedAt, "2024-03-01T12:00:00Z")
        assert.strictEqual(none.lastPulledAt, 300)
        const newer = yield* data.advanceWatermark({
          memberGuid: member,
          maxUpdatedAt: "2024-04-01T00:00:00Z",
          pulledAt: 400
        })
        assert.strictEqual(newer.maxUpdatedAt, "2024-04-01T00:00:00Z")
        assert.deepStrictEqual(yield* data.watermark(member), Option.some(newer))

        const fresh = yield* data.advanceWatermark({ memberGuid: memberGuid("watermark-empty"), maxUpdatedAt: null })
        assert.strictEqual(fresh.maxUpdatedAt, null)
        const later = yield* data.advanceWatermark({
          memberGuid: memberGuid("watermark-empty"),
          maxUpdatedAt: "2024-01-01"
        })
        assert.strictEqual(later.maxUpdatedAt, "2024-01-01")
      }))
  })
})
