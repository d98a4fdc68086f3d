/** The error mapping every store operation goes through. */
import { SqlError } from "@effect/sql/SqlError"
import { Effect, Option, type ParseResult } from "effect"
import { StoreError } from "../StoreError.js"

const describe = (error: SqlError): string =>
  error.cause instanceof Error && error.cause.message !== error.message
    ? `${error.message}: ${error.cause.message}`
    : error.message

/**
 * PostgreSQL cancelled the statement (`57014`, "canceling statement due to user request") although this
 * fiber was not interrupted: @effect/sql-pg cancels an interrupted fiber's statement with
 * `pg_cancel_backend(pid)` on another connection, and when that statement finished first the cancel hits
 * whatever the connection runs next, back in the pool (Effect-TS/effect#8068). The cancelled statement
 * did nothing; it is tried again.
 */
export const cancelledByAnother = (error: SqlError | ParseResult.ParseError): boolean =>
  error._tag === "SqlError" && typeof error.cause === "object" && error.cause !== null &&
  (error.cause as { readonly code?: unknown }).code === "57014"

/**
 * @effect/sql ends a transaction with `Effect.orDie`: a COMMIT or ROLLBACK that fails (the connection
 * was lost, e.g. PostgreSQL restarted mid-transaction) is a defect, which would escape every handler of
 * typed failures and kill the fiber (a run's workflow, with its member left claimed). It is the store's
 * failure like any other statement's: a ROLLBACK that fails left nothing committed; a COMMIT that fails
 * has an unknown outcome, which every caller already faces when a statement's answer is lost.
 */
export const transactionEndFailed = <A, E, R>(
  self: Effect.Effect<A, E, R>
): Effect.Effect<A, E | SqlError, R> =>
  Effect.catchSomeDefect(
    self,
    (defect) => defect instanceof SqlError ? Option.some(Effect.fail(defect)) : Option.none()
  )

/**
 * Maps the SQL and Schema failures of one store operation to `StoreError` and names its span. A
 * statement cancelled by another fiber's cancel (see `cancelledByAnother`) is tried again, twice at most.
 */
export const operation = (name: string) =>
<A, R>(
  self: Effect.Effect<A, SqlError | ParseResult.ParseError, R>
): Effect.Effect<A, StoreError, R> =>
  self.pipe(
    transactionEndFailed,
    Effect.retry({ times: 2, while: cancelledByAnother }),
    Effect.catchTags({
      SqlError: (error) =>
        Effect.fail(
          new StoreError({
            reason: "QueryFailed",
            operation: name,
            message: `${name}: ${describe(error)}`,
            cause: error
          })
        ),
      ParseError: (error) =>
        Effect.fail(
          new StoreError({ reason: "InvalidRow", operation: name, message: `${name}: ${error.message}`, cause: error })
        )
    }),
    Effect.withSpan(`store.${name}`)
  )
