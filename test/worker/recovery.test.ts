/**
 * Recovery's redelivery: the engine marks a stored message read when it fetches it and leaves it
 * alone for 10 minutes, so a message whose fetch was cut off (a database outage) is neither delivered
 * nor fetched again for that long, and its run stalls. Recovery finds a run whose member nobody has
 * read for 20 polling intervals and makes its workflow's messages unread.
 *
 * The test builds that state exactly: a run waits for MFA answers on a durable clock; its clock message
 * is made due and marked read in one statement (what a cut-off fetch leaves), and the member is made to
 * look unread for long. The run stays where it is until recovery runs; then the clock fires, the run
 * checks MX, and, answered, ends CONNECTED.
 */
import { SqlClient } from "@effect/sql"
import { assert, describe, it } from "@effect/vitest"
import { Member } from "@mx-aggregation/domain"
import { Sandbox } from "@mx-aggregation/mx-sandbox"
import { PendingChallenges } from "@mx-aggregation/store"
import { Aggregations, AggregationWorkflow } from "@mx-aggregation/worker"
import { Duration, Effect, Option, Redacted } from "effect"
import { ended, eventually, harness, newMember } from "./harness.js"

/** The engine's entity for workflows' durable sleeps (@effect/cluster's ClusterWorkflowEngine). */
const durableClockEntity = "Workflow/-/DurableClock"

describe("recovery", () => {
  it.live(
    "a run whose clock message was marked read and never delivered is delivered again",
    () =>
      Effect.gen(function*() {
        const aggregations = yield* Aggregations.Aggregations
        const pending = yield* PendingChallenges.PendingChallenges
        const sandbox = yield* Sandbox.Sandbox
        const sql = yield* SqlClient.SqlClient
        const { memberGuid } = yield* newMember("challenge")
        const started = yield* aggregations.start(memberGuid, "Scheduled")
        assert.strictEqual(started._tag, "Started")
        const runId = started.runId!
        const executionId = yield* AggregationWorkflow.executionIdOf(runId)
        const round = yield* eventually("the run waits for answers", pending.current(memberGuid))

        // The run's clock message (its next check of the challenge, 10 minutes of MX time away).
        const clockMessage = sql<{ readonly id: string | number }>`SELECT id FROM cluster_messages
        WHERE entity_type = ${durableClockEntity} AND entity_id = ${executionId} AND NOT processed`
        const [message] = yield* eventually(
          "the run's clock message",
          Effect.map(clockMessage, (rows) => Option.some(rows).pipe(Option.filter((r) => r.length === 1)))
        )
        // Due now, and marked read as by a fetch that never delivered it.
        yield* sql`UPDATE cluster_messages SET deliver_at = ${Date.now()}, last_read = CURRENT_TIMESTAMP
        WHERE id = ${message!.id}`
        // Nobody has read the member for long (MX time): the run looks stalled.
        yield* sql`UPDATE tracked_members SET last_read_at = 0, claimed_at = 0 WHERE member_guid = ${memberGuid}`

        const readsBefore = (yield* sandbox.stats).byOperation["readMemberStatus"] ?? 0
        // The engine polls its storage every 500 ms: a due message that was not read would go out now.
        yield* Effect.sleep(Duration.seconds(2))
        assert.strictEqual(
          (yield* sandbox.stats).byOperation["readMemberStatus"] ?? 0,
          readsBefore,
          "the message marked read is not delivered"
        )

        yield* aggregations.recover
        // The clock fires: the run checks that the member is still CHALLENGED, and waits on.
        yield* eventually(
          "the run checks the challenge",
          Effect.map(
            sandbox.stats,
            (s) => Option.some(s).pipe(Option.filter((s) => (s.byOperation["readMemberStatus"] ?? 0) > readsBefore))
          ),
          "20 seconds"
        )
        const still = yield* pending.current(memberGuid)
        assert.strictEqual(Option.getOrThrow(still).id, round.id, "the same round still waits")

        yield* aggregations.answerChallenges(
          memberGuid,
          round.challenges.map((c) => new Member.CredentialValue({ guid: c.guid, value: Redacted.make("correct") }))
        )
        const { run } = yield* ended(runId)
        assert.strictEqual(run.outcome, "connected")
      }).pipe(
        Effect.provide(harness({
          engine: { challengeWatchInterval: Duration.minutes(10), mfaTimeout: Duration.hours(1) },
          sandbox: { mfaTimeout: "2 hours" }
        }))
      ),
    60_000
  )
})
