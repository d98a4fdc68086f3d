/**
 * Accounts and transactions a member's aggregations reveal. Everything is derived from the seed,
 * the member's guid and the aggregation's ordinal and time, so the same run gives the same data.
 *
 * @internal
 */
import * as Random from "./random.js"

/** An account as the sandbox keeps it; rendered to MX's `AccountResponse` on the way out. */
export interface AccountRec {
  readonly guid: string
  readonly id: string
  readonly name: string
  readonly type: "CHECKING" | "SAVINGS" | "CREDIT_CARD"
  readonly accountNumber: string
  balance: number
  readonly creditLimit: number | null
  readonly createdAt: number
  updatedAt: number
}

/**
 * A transaction as the sandbox keeps it; rendered to MX's `TransactionResponse`. Kept small (strings
 * shared, `date` and `id` derived when rendered) because a benchmark holds hundreds of thousands.
 */
export interface TxRec {
  readonly guid: string
  readonly accountGuid: string
  readonly accountId: string
  readonly amount: number
  readonly type: "DEBIT" | "CREDIT"
  readonly transactedAt: number
  postedAt: number | null
  status: "POSTED" | "PENDING"
  readonly description: string
  readonly originalDescription: string
  readonly category: string
  readonly categoryGuid: string
  readonly topLevelCategory: string
  readonly createdAt: number
  updatedAt: number
}

const dayMs = 86_400_000

/** `YYYY-MM-DD` of an epoch-millis time (UTC). */
export const isoDate = (ms: number): string => new Date(ms).toISOString().slice(0, 10)

/** MX's timestamp format (`2020-05-07T22:01:25Z`, UTC, whole seconds). */
export const isoTime = (ms: number): string =>
  new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z")

interface Kind {
  readonly category: string
  readonly topLevel: string
  readonly type: "DEBIT" | "CREDIT"
  readonly merchants: ReadonlyArray<string>
  readonly min: number
  readonly max: number
}

const kinds: ReadonlyArray<Kind> = [
  {
    category: "Groceries",
    topLevel: "Food & Dining",
    type: "DEBIT",
    merchants: ["WHOLE FOODS MARKET", "TRADER JOE'S", "SAFEWAY"],
    min: 8,
    max: 180
  },
  {
    category: "Restaurants",
    topLevel: "Food & Dining",
    type: "DEBIT",
    merchants: ["CHIPOTLE", "STARBUCKS", "IN-N-OUT"],
    min: 4,
    max: 90
  },
  {
    category: "Gas",
    topLevel: "Auto & Transport",
    type: "DEBIT",
    merchants: ["SHELL OIL", "CHEVRON"],
    min: 20,
    max: 80
  },
  {
    category: "Utilities",
    topLevel: "Bills & Utilities",
    type: "DEBIT",
    merchants: ["PACIFIC GAS & ELECTRIC", "COMCAST"],
    min: 40,
    max: 220
  },
  { category: "Shopping", topLevel: "Shopping", type: "DEBIT", merchants: ["AMAZON.COM", "TARGET"], min: 5, max: 300 },
  {
    category: "Paycheck",
    topLevel: "Income",
    type: "CREDIT",
    merchants: ["MX TECHNOLOGIES PAYROLL"],
    min: 900,
    max: 3200
  },
  { category: "Transfer", topLevel: "Transfer", type: "CREDIT", merchants: ["ONLINE TRANSFER"], min: 25, max: 500 }
]

const categoryGuids = new Map(kinds.map((kind) => [kind.category, Random.guid("CAT", kind.category)]))

const titleCase = (text: string): string =>
  text.toLowerCase().replace(/(^|[\s-])([a-z])/g, (_, space: string, letter: string) => space + letter.toUpperCase())

/** Cleaned-up merchant names, computed once and shared by every transaction. */
const descriptions = new Map(kinds.flatMap((kind) => kind.merchants).map((merchant) => [merchant, titleCase(merchant)]))

const byAccountType = {
  CHECKING: kinds,
  SAVINGS: kinds.filter((kind) => kind.category === "Transfer"),
  CREDIT_CARD: kinds.filter((kind) => kind.type === "DEBIT")
} as const

/** The transaction's `date`: the UTC day it was transacted. */
export const txDate = (tx: TxRec): string => isoDate(tx.transactedAt)

/** The transaction's partner-facing `id`, derived from its time and guid. */
export const txId = (tx: TxRec): string => `${tx.transactedAt}-${tx.guid.slice(4, 12)}`

/** The accounts a member's first successful aggregation finds: a checking account, a savings account, maybe a card. */
export const generateAccounts = (seed: string, memberGuid: string, now: number): Array<AccountRec> => {
  const random = Random.rng(seed, memberGuid, "accounts")
  const specs: Array<{ type: AccountRec["type"]; name: string }> = [
    { type: "CHECKING", name: "Checking" },
    { type: "SAVINGS", name: "Savings" }
  ]
  if (random() < 0.6) specs.push({ type: "CREDIT_CARD", name: "Credit Card" })
  return specs.map((spec, index) => ({
    guid: Random.guid("ACT", seed, memberGuid, index),
    id: `${Random.int(random, 100_000_000, 999_999_999)}`,
    name: `MX Bank ${spec.name}`,
    type: spec.type,
    accountNumber: `${Random.int(random, 1000, 9999)}`,
    balance: spec.type === "CREDIT_CARD" ? Random.int(random, 0, 2_000) : Random.int(random, 500, 20_000),
    creditLimit: spec.type === "CREDIT_CARD" ? 5_000 : null,
    createdAt: now,
    updatedAt: now
  }))
}

const round2 = (value: number): number => Math.round(value * 100) / 100

/**
 * The transactions an aggregation reveals: for the first one (`ordinal` 0), `historyDays` of
 * history; for later ones, the time since the previous success, and at least one new transaction,
 * so an incremental pull always has something new. Transactions of the last two days are PENDING.
 */
export const generateTransactions = (options: {
  readonly seed: string
  readonly memberGuid: string
  readonly ordinal: number
  readonly accounts: ReadonlyArray<AccountRec>
  readonly from: number
  readonly now: number
  readonly perDay: number
}): Array<TxRec> => {
  const { accounts, from, memberGuid, now, ordinal, perDay, seed } = options
  const random = Random.rng(seed, memberGuid, "transactions", ordinal)
  const days = Math.max(0, (now - from) / dayMs)
  const out: Array<TxRec> = []
  accounts.forEach((account, accountIndex) => {
    const expected = days * perDay
    let count = Math.floor(expected) + (random() < expected - Math.floor(expected) ? 1 : 0)
    if (ordinal > 0 && accountIndex === 0) count = Math.max(1, count)
    for (let i = 0; i < count; i++) {
      const kind = Random.pick(random, byAccountType[account.type])
      const merchant = Random.pick(random, kind.merchants)
      const transactedAt = Math.floor(from + random() * (now - from))
      const pending = now - transactedAt < 2 * dayMs
      const n = out.length
      out.push({
        guid: Random.guid("TRN", seed, memberGuid, ordinal, n),
        accountGuid: account.guid,
        accountId: account.id,
        amount: round2(kind.min + random() * (kind.max - kind.min)),
        type: kind.type,
        transactedAt,
        postedAt: pending ? null : transactedAt,
        status: pending ? "PENDING" : "POSTED",
        description: descriptions.get(merchant)!,
        originalDescription: merchant,
        category: kind.category,
        categoryGuid: categoryGuids.get(kind.category)!,
        topLevelCategory: kind.topLevel,
        createdAt: now,
        updatedAt: now
      })
    }
  })
  return out
}

/** The effect of a transaction on its account's balance (a card's balance is what is owed). */
export const balanceDelta = (account: AccountRec, tx: TxRec): number => {
  const sign = tx.type === "CREDIT" ? 1 : -1
  return round2(account.type === "CREDIT_CARD" ? -sign * tx.amount : sign * tx.amount)
}
