/**
 * Store operations: a statement PostgreSQL cancelled on behalf of another fiber (57014, the pooled
 * `pg_cancel_backend` of @effect/sql-pg landing on the connection's next statement) is tried again;
 * other SQL failures are not. A transaction's failed end (a SqlError defect from @effect/sql's
 * `withTransaction`) is a StoreError too; other defects stay defects.
 */
import { SqlError } from "@effect/sql/SqlError"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Option } from "effect"
import { operation } from "../src/internal/operation.js"

const failing = (failures: number, code: string) => {
  let calls = 0
  const effect = Effect.suspend(() => {
    calls++
    return calls <= failures
      ? Effect.fail(
        new SqlError({ message: "Failed to execute statement", cause: Object.assign(new Error("x"), { code }) })
      )
      : Effect.succeed("row")
  })
  return { effect, calls: () => calls }
}

describe("store operation", () => {
  it.effect("a statement cancelled by another fiber's cancel (57014) is tried again", () =>
    Effect.gen(function*() {
      const query = failing(1, "57014")
      assert.strictEqual(yield* operation("Test.read")(query.effect), "row")
      assert.strictEqual(query.calls(), 2)
    }))

  it.effect("at most twice more, then a StoreError", () =>
    Effect.gen(function*() {
      const query = failing(5, "57014")
      const exit = yield* Effect.exit(operation("Test.read")(query.effect))
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(query.calls(), 3)
    }))

  it.effect("other SQL failures are not tried again", () =>
    Effect.gen(function*() {
      const query = failing(1, "23505")
      const exit = yield* Effect.exit(operation("Test.write")(query.effect))
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(query.calls(), 1)
    }))

  it.effect("a SqlError defect (a transaction's COMMIT or ROLLBACK that failed) is a StoreError", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        operation("Test.transaction")(Effect.die(new SqlError({ message: "Failed to execute statement" })))
      )
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        assert.isFalse(Cause.isDie(exit.cause))
        const failure = Option.getOrThrow(Cause.failureOption(exit.cause))
        assert.strictEqual(failure.reason, "QueryFailed")
        assert.strictEqual(failure.operation, "Test.transaction")
      }
    }))

  it.effect("other defects stay defects", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(operation("Test.bug")(Effect.die(new Error("a bug"))))
      assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause))
    }))
})
