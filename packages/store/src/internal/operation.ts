/** The error mapping every store operation goes through. */
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, type ParseResult } from "effect"
import { StoreError } from "../StoreError.js"

const describe = (error: SqlError): string =>
  error.cause instanceof Error && error.cause.message !== error.message
    ? `${error.message}: ${error.cause.message}`
    : error.message

/** Maps the SQL and Schema failures of one store operation to `StoreError` and names its span. */
export const operation = (name: string) =>
<A, R>(
  self: Effect.Effect<A, SqlError | ParseResult.ParseError, R>
): Effect.Effect<A, StoreError, R> =>
  self.pipe(
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
