/**
 * Several store operations in one SQL transaction.
 *
 * @since 0.1.0
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { transactionEndFailed } from "./internal/operation.js"
import { StoreError } from "./StoreError.js"

/**
 * Runs `effect` in one SQL transaction (or a savepoint inside one). A failure of the transaction itself
 * (its BEGIN, COMMIT or ROLLBACK, e.g. the connection lost while PostgreSQL restarts) is a
 * `StoreError` named `operation`, never a defect.
 *
 * @since 0.1.0
 * @category combinators
 */
export const run = <A, R>(
  operation: string,
  effect: Effect.Effect<A, StoreError, R>
): Effect.Effect<A, StoreError, R | SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.withTransaction(effect).pipe(
      transactionEndFailed,
      Effect.catchTag("SqlError", (cause) =>
        Effect.fail(
          new StoreError({ reason: "QueryFailed", operation, message: `${operation}: ${cause.message}`, cause })
        ))
    ))
