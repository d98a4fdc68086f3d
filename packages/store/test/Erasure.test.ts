import { assert, describe, layer } from "@effect/vitest"
import { Member } from "@mx-aggregation/domain"
import { Clock, Effect, Exit, Schema, TestClock } from "effect"
import {
  AccountsAndTransactions,
  AggregationRuns,
  Erasure,
  Outbox,
  PendingChallenges,
  TestDatabase,
  TrackedMembers
} from "../src/index.js"
import { dumpDatabase, memberGuid, runId, storeLayer, userGuid } from "./fixtures.js"

const challenges = Schema.decodeUnknownSync(Schema.Array(Member.Challenge))([
  { guid: "CRD-ERASE", type: "TEXT", label: "What city were you born in?" }
])

/** Everything the store can hold for a member: tracked row, runs, observations, challenges, data, events. */
const populate = (member: Member.MemberGuid, user: Member.UserGuid, runs: ReadonlyArray<AggregationRuns.RunId>) =>
  Effect.gen(function*() {
    const tracked = yield* TrackedMembers.TrackedMembers
    const journal = yield* AggregationRuns.AggregationRuns
    const pending = yield* PendingChallenges.PendingChallenges
    const data = yield* AccountsAndTransactions.AccountsAndTransactions
    const outbox = yield* Outbox.Outbox
    yield* tracked.track({ memberGuid: member, userGuid: user, institutionCode: Member.InstitutionCode.make("mxbank") })
    for (const run of runs) {
      yield* journal.start({ runId: run, memberGuid: member, reason: "scheduled" })
      yield* journal.observe(run, "CHALLENGED")
      yield* journal.observe(run, "CONNECTED")
      yield* journal.finish({ runId: run, outcome: "connected" })
    }
    yield* pending.add({ memberGuid: member, runId: runs[0]!, challenges })
    yield* data.upsertAccounts({
      memberGuid: member,
      userGuid: user,
      accounts: [{ guid: `ACT-${member}`, name: "Cheq" }]
    })
    yield* data.upsertTransactions({
      memberGuid: member,
      userGuid: user,
      transactions: [1, 2, 3].map((i) => ({ guid: `TRN-${member}-${i}`, account_guid: `ACT-${member}`, amount: i }))
    })
    yield* data.advanceWatermark({ memberGuid: member, maxUpdatedAt: "2024-01-02T00:00:00Z" })
    yield* outbox.append({ memberGuid: member, userGuid: user, type: "data_updated", payload: { accounts: 1 } })
    yield* outbox.append({ memberGuid: member, userGuid: user, type: "mfa_required", payload: null })
  })

/** The rows of every table that mention any of `needles`, as table -> JSON rows. */
const mentioning = (dump: Record<string, ReadonlyArray<unknown>>, needles: ReadonlyArray<string>) =>
  Object.fromEntries(
    Object.entries(dump)
      .map(([table, rows]) => [table, rows.filter((row) => needles.some((n) => JSON.stringify(row).includes(n)))])
      .filter(([, rows]) => rows.length > 0)
  )

const without = (dump: Record<string, ReadonlyArray<unknown>>, needles: ReadonlyArray<string>) =>
  Object.fromEntries(
    Object.entries(dump).map((
      [table, rows]
    ) => [table, rows.filter((row) => !needles.some((n) => JSON.stringify(row).includes(n)))])
  )

describe.each(TestDatabase.kinds)("Erasure on %s", (kind) => {
  layer(storeLayer(kind))((it) => {
    it.effect("erases every row of the member in every table and leaves other members' rows as they were", () =>
      Effect.gen(function*() {
        const erasure = yield* Erasure.Erasure
        const user = userGuid("erase")
        const target = memberGuid("erase-target")
        const other = memberGuid("erase-other")
        // Run ids that do not contain the member guid: observations are found through them only.
        const targetRuns = [runId("e-1"), runId("e-2")]
        yield* populate(target, user, targetRuns)
        yield* populate(other, user, [runId("o-1")])
        const needles = [target, ...targetRuns]
        const before = yield* dumpDatabase
        assert.includeMembers(
          Object.keys(mentioning(before, needles)),
          [
            "tracked_members",
            "aggregation_runs",
            "run_observations",
            "pending_challenges",
            "accounts",
            "transactions",
            "pull_watermarks",
            "outbox_events"
          ],
          "the fixture fills every table of the store"
        )

        const erased = yield* erasure.eraseMember(target)
        assert.deepStrictEqual({ ...erased }, {
          trackedMembers: 1,
          runs: 2,
          runObservations: 4,
          pendingChallenges: 1,
          accounts: 1,
          transactions: 3,
          pullWatermarks: 1,
          outboxEvents: 2,
          runIds: ["RUN-e-1", "RUN-e-2"]
        })
        const after = yield* dumpDatabase
        assert.deepStrictEqual(mentioning(after, needles), {}, "nothing of the member remains")
        assert.deepStrictEqual(after, without(before, needles), "every other row is untouched")

        const again = yield* erasure.eraseMember(target)
        assert.strictEqual(again.total, 0, "erasing again finds nothing")
      }))

    it.effect("refuses a member with an active run or a live credential update, and erases nothing", () =>
      Effect.gen(function*() {
        const erasure = yield* Erasure.Erasure
        const tracked = yield* TrackedMembers.TrackedMembers
        const member = memberGuid("erase-busy")
        yield* populate(member, userGuid("erase-busy"), [runId("b-1")])
        assert.isTrue(yield* tracked.claim(member, runId("b-2")))
        const before = yield* dumpDatabase
        const refused = yield* Effect.exit(erasure.eraseMember(member))
        assert.deepStrictEqual(
          refused,
          Exit.fail(new Erasure.MemberBusy({ memberGuid: member, reason: "ActiveRun", runId: "RUN-b-2" }))
        )
        assert.deepStrictEqual(yield* dumpDatabase, before)

        assert.isTrue(yield* tracked.release(member, runId("b-2")))
        const now = yield* Clock.currentTimeMillis
        assert.isTrue(yield* tracked.claimCredentialUpdate(member, "replica-1", now + 10_000))
        const held = yield* Effect.flip(erasure.eraseMember(member))
        assert.strictEqual(held.reason, "CredentialUpdate")
        // A claim that lapsed (its replica died) holds nothing.
        yield* TestClock.adjust("11 seconds")
        const erased = yield* erasure.eraseMember(member)
        assert.strictEqual(erased.trackedMembers, 1)
        assert.deepStrictEqual(mentioning(yield* dumpDatabase, [member, "RUN-b-1"]), {})
      }))
  })
})
