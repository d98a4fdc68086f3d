/**
 * How commands print: aligned plain-text tables for people, JSON (`--json`) for programs. Everything
 * goes to standard output through `Console.log`; errors are printed once, by `Cli.main`.
 *
 * @since 0.1.0
 */
import { Options } from "@effect/cli"
import { Console, type Effect, Schema } from "effect"

/**
 * Lays rows out under headers, each column as wide as its widest cell, two spaces apart.
 *
 * @since 0.1.0
 * @category formatting
 */
export const table = (headers: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ").trimEnd()
  return [line(headers), ...rows.map(line)].join("\n")
}

/**
 * `key: value` lines with the values aligned.
 *
 * @since 0.1.0
 * @category formatting
 */
export const fields = (entries: ReadonlyArray<readonly [string, string]>): string => {
  const width = Math.max(...entries.map(([key]) => key.length)) + 1
  return entries.map(([key, value]) => `${`${key}:`.padEnd(width)} ${value}`).join("\n")
}

/**
 * A nullable cell: `-` for nothing.
 *
 * @since 0.1.0
 * @category formatting
 */
export const cell = (value: string | number | boolean | null | undefined): string =>
  value === null || value === undefined || value === "" ? "-" : String(value)

/**
 * Prints a value as JSON, encoded with its Schema (so that it reads back with the same Schema).
 *
 * @since 0.1.0
 * @category printing
 */
export const json = <A, I>(schema: Schema.Schema<A, I>, value: A): Effect.Effect<void> =>
  Console.log(JSON.stringify(Schema.encodeSync(schema)(value), null, 2))

/**
 * Prints JSON with `--json`, the human rendering otherwise.
 *
 * @since 0.1.0
 * @category printing
 */
export const print = <A, I>(
  options: { readonly json: boolean },
  schema: Schema.Schema<A, I>,
  value: A,
  human: (value: A) => string
): Effect.Effect<void> => (options.json ? json(schema, value) : Console.log(human(value)))

/**
 * `--json`: print JSON instead of tables.
 *
 * @since 0.1.0
 * @category options
 */
export const jsonOption: Options.Options<boolean> = Options.boolean("json").pipe(
  Options.withDescription("Print JSON instead of a table")
)
