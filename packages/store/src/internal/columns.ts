/**
 * Column codecs shared by the store's row Schemas. The same logical schema runs on SQLite and
 * PostgreSQL, whose drivers hand back different JavaScript types for the same column: `pg` returns
 * `BIGINT` (timestamps, identities, counts) as strings, better-sqlite3 returns numbers. These codecs
 * accept both and decode to plain numbers and booleans.
 */
import { Schema } from "effect"

/** An integer column: a number from better-sqlite3, a string or bigint from `pg` for `BIGINT`/`COUNT`. */
export const DbInt: Schema.Schema<number, number | string | bigint> = Schema.transform(
  Schema.Union(Schema.Number, Schema.String, Schema.BigIntFromSelf),
  Schema.Int,
  { strict: true, decode: (value) => Number(value), encode: (value) => value }
).annotations({ identifier: "DbInt" })

/** A point in time as epoch milliseconds (the store's one time representation, on both dialects). */
export const Millis = DbInt.annotations({ identifier: "EpochMillis" })

/** A boolean stored as the integer 0 or 1 (portable: SQLite has no boolean type). */
export const DbBoolean: Schema.Schema<boolean, number | string | boolean> = Schema.transform(
  Schema.Union(Schema.Number, Schema.String, Schema.Boolean),
  Schema.Boolean,
  {
    strict: true,
    decode: (value) => value === true || value === 1 || value === "1",
    encode: (value) => value
  }
).annotations({ identifier: "DbBoolean" })

/** A field decoded from the column `key` (rows are snake_case, models camelCase). */
export const column = <S extends Schema.Schema.Any, const Key extends string>(schema: S, key: Key) =>
  Schema.propertySignature(schema).pipe(Schema.fromKey(key))

/** A nullable field decoded from the column `key`. */
export const nullableColumn = <S extends Schema.Schema.Any, const Key extends string>(schema: S, key: Key) =>
  Schema.propertySignature(Schema.NullOr(schema)).pipe(Schema.fromKey(key))

/** `true`/`false` as the integer the database stores. */
export const bit = (value: boolean): 0 | 1 => (value ? 1 : 0)

/** Splits `items` into chunks of at most `size`, for multi-row statements under the drivers' parameter limits. */
export const chunksOf = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const chunks: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size))
  return chunks
}

/** Keeps the last item for every key: one multi-row upsert may not touch the same row twice on PostgreSQL. */
export const lastByKey = <A>(items: ReadonlyArray<A>, key: (a: A) => string): ReadonlyArray<A> => {
  const byKey = new Map<string, A>()
  for (const item of items) {
    const k = key(item)
    byKey.delete(k)
    byKey.set(k, item)
  }
  return byKey.size === items.length ? items : Array.from(byKey.values())
}
