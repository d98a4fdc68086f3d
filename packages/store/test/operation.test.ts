/**
 * Store operations: a statement PostgreSQL cancelled on behalf of another fiber (57014, the pooled
 * `pg_cancel_backend` of @effect/sql-pg landing on the connection's next statement) is tried again;
 * other SQL failures are not.
 */
import { SqlError } from "@effect/sql/SqlError"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
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
})
