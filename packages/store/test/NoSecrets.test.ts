import { assert, describe, layer } from "@effect/vitest"
import { Member } from "@mx-aggregation/domain"
import { Context, Effect, Layer, Redacted, Schema } from "effect"
import { existsSync, readFileSync } from "node:fs"
import {
  AccountsAndTransactions,
  AggregationRuns,
  Database,
  Outbox,
  PendingChallenges,
  Store,
  TestDatabase,
  TrackedMembers
} from "../src/index.js"
import { dumpDatabase, memberGuid, runId, userGuid } from "./fixtures.js"

const password = "pw-Secret-7f3a9c"
const mfaAnswer = "mfa-Answer-51d2e8"
/** Stored on purpose, to show that the scan does find what is in the database. */
const marker = "visible-Marker-0b4c"

/** The configuration of the database under test, so that the SQLite file itself can be scanned too. */
class CurrentDatabase extends Context.Tag("test/CurrentDatabase")<CurrentDatabase, Database.DatabaseConfig>() {}

const storeWithConfig = (kind: TestDatabase.Kind) =>
  Layer.unwrapScoped(Effect.map(TestDatabase.fresh(kind), (config) =>
    Store.layer.pipe(
      Layer.provideMerge(Database.layerFrom(config)),
      Layer.merge(Layer.succeed(CurrentDatabase, config))
    )))

/** What the worker does around an MFA aggregation, with secrets within reach at every step. */
const scenario = Effect.gen(function*() {
  const members = yield* TrackedMembers.TrackedMembers
  const runs = yield* AggregationRuns.AggregationRuns
  const pending = yield* PendingChallenges.PendingChallenges
  const data = yield* AccountsAndTransactions.AccountsAndTransactions
  const outbox = yield* Outbox.Outbox
  const member = memberGuid("secret")
  const user = userGuid("secret")
  const run = runId("secret")

  // A careless caller hands over an object that also carries the credentials it just sent to MX.
  const registration = { memberGuid: member, userGuid: user, username: "mxuser", password }
  yield* members.track(registration)
  assert.isTrue(yield* members.claim(member, run))
  yield* runs.start({ runId: run, memberGuid: member, reason: "new_member" })
  yield* runs.observe(run, "CHALLENGED")

  // Challenges as MX sends them, and the same objects after a careless caller attached the answers.
  const challenges = Schema.decodeUnknownSync(Schema.Array(Member.Challenge))([
    { guid: "CRD-1", type: "TEXT", label: "Who is your favorite pet?" },
    { guid: "CRD-2", type: "OPTIONS", label: "Pick one", options: [{ label: "A", value: "a" }] }
  ])
  const withAnswers = challenges.map((challenge) =>
    Object.assign(Object.create(Object.getPrototypeOf(challenge)), {
      ...challenge,
      answer: mfaAnswer,
      value: Redacted.make(mfaAnswer)
    }) as Member.Challenge
  )
  yield* pending.add({ memberGuid: member, runId: run, challenges: withAnswers })
  yield* outbox.append({ memberGuid: member, userGuid: user, type: "mfa_required", payload: { challenges } })

  // The answers, as the control API receives them, end up in an event payload by mistake: Redacted.
  const answers = [
    Member.CredentialValue.make({ guid: "CRD-1" as Member.CredentialGuid, value: Redacted.make(mfaAnswer) })
  ]
  assert.isTrue(yield* pending.resolve({ memberGuid: member, resolution: "answered" }))
  yield* outbox.append({ memberGuid: member, type: "data_updated", payload: { answers, resumedBy: "api" } })

  yield* runs.observe(run, "CONNECTED")
  yield* data.upsertAccounts({ memberGuid: member, userGuid: user, accounts: [{ guid: "ACT-1", name: "Checking" }] })
  yield* data.upsertTransactions({
    memberGuid: member,
    userGuid: user,
    transactions: [{ guid: "TRN-1", account_guid: "ACT-1", amount: 12.5, description: marker }]
  })
  yield* data.advanceWatermark({ memberGuid: member, maxUpdatedAt: "2024-01-01T00:00:00Z" })
  yield* runs.finish({ runId: run, outcome: "connected", mxCalls: 7 })
  yield* members.recordOutcome({
    memberGuid: member,
    nextAction: "PullData",
    userAction: null,
    needsUserReason: null,
    nextDueAt: 1,
    failed: false
  })
  yield* members.release(member, run)
})

describe.each(TestDatabase.kinds)("no credentials or MFA answers in the database (%s)", (kind) => {
  layer(storeWithConfig(kind))((it) => {
    it.effect("after an MFA aggregation, no table holds the password or the MFA answer", () =>
      Effect.gen(function*() {
        yield* scenario
        const dump = JSON.stringify(yield* dumpDatabase)
        assert.include(dump, marker, "the scan sees stored data")
        assert.include(dump, "Who is your favorite pet?", "the challenge questions are stored")
        assert.notInclude(dump, password)
        assert.notInclude(dump, mfaAnswer)

        const config = yield* CurrentDatabase
        if (config._tag === "Sqlite") {
          // The file's bytes too: the main file, its write-ahead log and shared memory.
          const bytes = [config.filename, `${config.filename}-wal`, `${config.filename}-shm`]
            .filter(existsSync)
            .map((file) => readFileSync(file).toString("latin1"))
            .join("")
          assert.include(bytes, marker)
          assert.notInclude(bytes, password)
          assert.notInclude(bytes, mfaAnswer)
        }
      }))
  })
})
