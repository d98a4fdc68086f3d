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
