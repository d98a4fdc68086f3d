/**
 * Field helpers of MX's objects, shared by every Schema of an MX payload in the project.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * A field MX documents as nullable and may leave out: decodes a value, `null` or nothing.
 *
 * @since 0.1.0
 * @category fields
 */
export const nullable = <S extends Schema.Schema.Any>(schema: S) => Schema.optional(Schema.NullOr(schema))
