/**
 * The engine watchdog: @effect/cluster can lose a wake-up (Effect-TS/effect#8312). Resuming a suspended
 * workflow clears its run request's reply and marks it unprocessed; a storage read already under way
 * claims it and skips it, and nothing reads it again for ten minutes.
 *
 * The test builds that state exactly, not by timing: a run waits for MFA answers (suspended, its
 * durable clock pending); its run request is then put as the engine's skipped read leaves it (no reply,
 * unprocessed, claimed). The engine does not deliver it; the watchdog unclaims it, the workflow replays
 * and suspends again where it was, and the answers end the run CONNECTED.
 */
import { SqlClient } from "@effect/sql"
import { assert, describe, it } from "@effect/vitest"
import { Member } from "@mx-aggregation/domain"
import { PendingChallenges } from "@mx-aggregation/store"
import { Aggregations, AggregationWorkflow, EngineWatchdog } from "@mx-aggregation/worker"
import { Duration, Effect, Option, Redacted } from "effect"
import { ended, eventually, harness, newMember } from "./harness.js"

describe.each(["sqlite", "pg"] as const)("engine watchdog on %s", (kind) => {
  it.live(
    "a run request the engine claimed and skipped after a wake-up is delivered again",
    () =>
      Effect.gen(function*() {
        const aggregations = yield* Aggregations.Aggregations
        const pending = yield* PendingChallenges.PendingChallenges
        const sql = yield* SqlClient.SqlClient
        const { memberGuid } = yield* newMember("challenge")
        const started = yield* aggregations.start(memberGuid, "Scheduled")
        const runId = started.runId!
        const executionId = yield* AggregationWorkflow.executionIdOf(runId)
        const round = yield* eventually("the run waits for answers", pending.current(memberGuid))

        // The run request's reply, once its workflow has suspended.
        const suspendedReply = sql<{ readonly id: string | number }>`SELECT r.id FROM cluster_replies r
          JOIN cluster_messages m ON r.request_id = m.request_id
          WHERE m.entity_id = ${executionId} AND m.tag = 'run' AND m.kind = 0`
        const present = Effect.map(suspendedReply, (rows) => rows.length > 0 ? Option.some(rows) : Option.none())
        yield* eventually("the workflow suspends", present)

        // Nothing to do: the suspended run has its reply.
        assert.strictEqual(yield* EngineWatchdog.redeliverSkippedRuns("10 seconds"), 0)

        // What the engine's skipped read leaves: the reply cleared, the request unprocessed and claimed.
        yield* sql`DELETE FROM cluster_replies WHERE request_id IN (
          SELECT request_id FROM cluster_messages WHERE entity_id = ${executionId} AND tag = 'run' AND kind = 0)`
        const claim = (at: "now" | "a minute ago") =>
          sql.onDialectOrElse({
            pg: () =>
              sql`UPDATE cluster_messages SET processed = FALSE, last_reply_id = NULL,
                last_read = ${at === "now" ? sql`NOW()` : sql`NOW() - INTERVAL '1 minute'`}
                WHERE entity_id = ${executionId} AND tag = 'run' AND kind = 0`,
            orElse: () =>
              sql`UPDATE cluster_messages SET processed = FALSE, last_reply_id = NULL,
                last_read = ${at === "now" ? sql`CURRENT_TIMESTAMP` : sql`DATETIME('now', '-1 minute')`}
                WHERE entity_id = ${executionId} AND tag = 'run' AND kind = 0`
          })

        // Claimed just now: it could be a read in progress, left alone.
        yield* claim("now")
        assert.strictEqual(yield* EngineWatchdog.redeliverSkippedRuns("10 seconds"), 0)

        // Claimed a minute ago (the engine reads a claimed message again only after 10 minutes; it polls every
        // 500 ms and would deliver an unclaimed request at once).
        yield* claim("a minute ago")
        yield* Effect.sleep(Duration.seconds(2))
        assert.isTrue(Option.isNone(yield* present), "the engine leaves a claimed request alone")

        assert.strictEqual(yield* EngineWatchdog.redeliverSkippedRuns("10 seconds"), 1)
        yield* eventually("the workflow replays and suspends again", present, "20 seconds")

        yield* aggregations.answerChallenges(
          memberGuid,
          round.challenges.map((c) => new Member.CredentialValue({ guid: c.guid, value: Redacted.make("correct") }))
        )
        const { run } = yield* ended(runId)
        assert.strictEqual(run.outcome, "connected")
      }).pipe(
        // The run's durable clock stays pending throughout (its next check is 10 minutes of MX time away).
        Effect.provide(harness({
          kind,
          engine: { challengeWatchInterval: Duration.minutes(10), mfaTimeout: Duration.hours(1) },
          sandbox: { mfaTimeout: "2 hours" }
        }))
      ),
    60_000
  )
})
