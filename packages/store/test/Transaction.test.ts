/**
 * `Transaction.run` and every store operation: a transaction whose connection is lost before it ends
 * (PostgreSQL restarted, or the backend terminated) fails with a `StoreError`. @effect/sql ends a
 * transaction with `Effect.orDie`, so its failed ROLLBACK or COMMIT used to be a defect that escaped
 * the callers' handling of failures (a run's workflow died, leaving its member claimed).
 */
import { SqlClient } from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Option } from "effect"
import { StoreError, TestDatabase, Transaction } from "../src/index.js"

/** The statement that ends this transaction's backend: the ROLLBACK that follows has no connection. */
const terminateOwnBackend = Effect.flatMap(SqlClient, (sql) => sql`SELECT pg_terminate_backend(pg_backend_pid())`)

describe("Transaction.run on PostgreSQL", () => {
  it.effect(
    "a transaction whose connection is terminated fails with a StoreError, not a defect",
    () =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(
          Transaction.run(
            "Test.terminated",
            terminateOwnBackend.pipe(
              Effect.mapError((cause) =>
                new StoreError.StoreError({ reason: "QueryFailed", operation: "Test.statement", message: "x", cause })
              )
            )
          )
        )
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) {
          assert.isFalse(Cause.isDie(exit.cause), `a defect: ${Cause.pretty(exit.cause)}`)
          const failure = Cause.failureOption(exit.cause)
          assert.isTrue(Option.isSome(failure))
          assert.strictEqual(Option.getOrThrow(failure)._tag, "StoreError")
        }
        // The pool goes on with a new connection.
        const sql = yield* SqlClient
        const rows = yield* sql<{ readonly one: number }>`SELECT 1 AS one`
        assert.strictEqual(rows[0]!.one, 1)
      }).pipe(Effect.provide(TestDatabase.layer("pg"))),
    60_000
  )

  it.effect(
    "a transaction that fails at COMMIT (a deferred constraint) fails with a StoreError",
    () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient
        yield* sql`CREATE TABLE deferred_parent (id INT PRIMARY KEY)`
        yield* sql`CREATE TABLE deferred_child (parent INT REFERENCES deferred_parent (id) DEFERRABLE INITIALLY DEFERRED)`
        const exit = yield* Effect.exit(
          Transaction.run(
            "Test.commit",
            sql`INSERT INTO deferred_child (parent) VALUES (42)`.pipe(
              Effect.mapError((cause) =>
                new StoreError.StoreError({ reason: "QueryFailed", operation: "Test.insert", message: "x", cause })
              )
            )
          )
        )
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) {
          assert.isFalse(Cause.isDie(exit.cause), `a defect: ${Cause.pretty(exit.cause)}`)
          assert.strictEqual(Option.getOrThrow(Cause.failureOption(exit.cause)).operation, "Test.commit")
        }
        const rows = yield* sql<{ readonly n: number }>`SELECT COUNT(*)::int AS n FROM deferred_child`
        assert.strictEqual(rows[0]!.n, 0)
      }).pipe(Effect.provide(TestDatabase.layer("pg"))),
    60_000
  )
})
