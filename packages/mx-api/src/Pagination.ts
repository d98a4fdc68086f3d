/**
 * MX's pagination envelope and the limits of its `records_per_page` parameter.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * The `pagination` object of every MX list response.
 *
 * @since 0.1.0
 * @category schemas
 */
export class Pagination extends Schema.Class<Pagination>("Pagination")({
  current_page: Schema.Int,
  per_page: Schema.Int,
  total_entries: Schema.Int,
  total_pages: Schema.Int
}) {}

/**
 * The smallest `records_per_page` MX accepts.
 *
 * @since 0.1.0
 * @category constants
 */
export const minRecordsPerPage = 10

/**
 * The largest `records_per_page` MX accepts. MX silently uses 25 for a larger value, so the client
 * clamps instead of sending one.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxRecordsPerPage = 1000

/**
 * A `records_per_page` inside MX's range (10 to 1000), rounded down to an integer.
 *
 * @since 0.1.0
 * @category constructors
 */
export const clampRecordsPerPage = (n: number): number =>
  Math.min(maxRecordsPerPage, Math.max(minRecordsPerPage, Number.isFinite(n) ? Math.floor(n) : maxRecordsPerPage))

/**
 * The `pagination` object as MX may send it: the spec requires none of its fields, so each may be
 * absent, null, of another type or out of range (a negative count, a fraction); `fromWire` uses the
 * usable ones and fills in the rest.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PaginationWire = Schema.Struct({
  current_page: Schema.optional(Schema.Unknown),
  per_page: Schema.optional(Schema.Unknown),
  total_entries: Schema.optional(Schema.Unknown),
  total_pages: Schema.optional(Schema.Unknown)
})

/**
 * @since 0.1.0
 * @category models
 */
export type PaginationWire = typeof PaginationWire.Type

const atLeast = (min: number) => (n: unknown): n is number =>
  typeof n === "number" && Number.isSafeInteger(n) && n >= min

/**
 * The envelope of a page, with MX's values where they are usable integers and defaults elsewhere:
 * `current_page` the page requested, `per_page` the page size requested, `total_pages` from
 * `total_entries` when only that came, else as if this page were the last one, and `total_entries`
 * counted from the pages before and this page's rows (or `total_pages × per_page` when more pages
 * follow).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromWire = (
  wire: PaginationWire | null | undefined,
  request: { readonly page: number; readonly perPage: number; readonly rows: number }
): Pagination => {
  const currentPage = atLeast(1)(wire?.current_page) ? wire.current_page : request.page
  const perPage = atLeast(1)(wire?.per_page) ? wire.per_page : request.perPage
  const totalEntries = atLeast(0)(wire?.total_entries) ? wire.total_entries : undefined
  const totalPages = atLeast(0)(wire?.total_pages)
    ? wire.total_pages
    : totalEntries !== undefined
    ? Math.ceil(totalEntries / perPage)
    : request.page
  return new Pagination({
    current_page: currentPage,
    per_page: perPage,
    total_entries: totalEntries ??
      (request.page < totalPages ? totalPages * perPage : (request.page - 1) * request.perPage + request.rows),
    total_pages: totalPages
  })
}

/**
 * A list row MX sent that the client could not decode and left out of the results. It names where the
 * row was and which of its fields were wrong, never the row's values.
 *
 * @since 0.1.0
 * @category models
 */
export class SkippedRow extends Schema.Class<SkippedRow>("SkippedRow")({
  /** The client operation (`listMembers`). */
  operation: Schema.String,
  /** The page of the list (from 1). */
  page: Schema.Int,
  /** The row's index in that page (from 0). */
  index: Schema.Int,
  /** The paths of the fields that did not decode (`guid`, `connection_status`, `options.0.value`). */
  fields: Schema.Array(Schema.String)
}) {}

/**
 * One decoded page of a list: the rows that decoded, the envelope (with defaults), and the rows left
 * out.
 *
 * @since 0.1.0
 * @category models
 */
export interface Page<A> {
  readonly items: ReadonlyArray<A>
  readonly pagination: Pagination
  readonly skipped: ReadonlyArray<SkippedRow>
}
