/**
 * Secrets on the command line: MFA answers and credential values given as repeated
 * `--answer <guid>=<value>` / `--credential <guid>=<value>` options, read into `Redacted` values at
 * once, and never repeated in output or error messages (a malformed pair is reported by its guid or
 * its position only).
 *
 * @since 0.1.0
 */
import { Options, ValidationError } from "@effect/cli"
import * as HelpDoc from "@effect/cli/HelpDoc"
import { Member } from "@mx-aggregation/domain"
import { Effect, Redacted } from "effect"

/**
 * The options whose values are secrets (masked in error messages).
 *
 * @since 0.1.0
 * @category constants
 */
export const secretOptions: ReadonlyArray<string> = ["--answer", "--credential", "--token", "--api-key"]

const invalid = (message: string) => ValidationError.invalidValue(HelpDoc.p(message))

/**
 * Parses `guid=value` pairs (the value may contain `=`; the guid may not be empty, the value may not
 * be empty, a guid may not repeat).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parsePairs = (
  option: string,
  raw: ReadonlyArray<string>
): Effect.Effect<Array<Member.CredentialValue>, ValidationError.ValidationError> =>
  Effect.gen(function*() {
    if (raw.length === 0) {
      return yield* Effect.fail(invalid(`--${option}: give at least one --${option} <guid>=<value>`))
    }
    const seen = new Set<string>()
    const values: Array<Member.CredentialValue> = []
    for (const [index, pair] of raw.entries()) {
      const at = pair.indexOf("=")
      const guid = at < 0 ? "" : pair.slice(0, at).trim()
      if (at <= 0 || guid === "") {
        return yield* Effect.fail(invalid(`--${option} #${index + 1}: expected <guid>=<value> (value not shown)`))
      }
      const value = pair.slice(at + 1)
      if (value.length === 0) return yield* Effect.fail(invalid(`--${option} ${guid}: the value is empty`))
      if (seen.has(guid)) return yield* Effect.fail(invalid(`--${option} ${guid}: given twice`))
      seen.add(guid)
      values.push(
        new Member.CredentialValue({ guid: Member.CredentialGuid.make(guid), value: Redacted.make(value) })
      )
    }
    return values
  })

/**
 * A repeated `--<name> <guid>=<value>` option, at least once, read into `CredentialValue`s.
 *
 * @since 0.1.0
 * @category options
 */
export const pairs = (name: string, description: string): Options.Options<Array<Member.CredentialValue>> =>
  Options.text(name).pipe(
    Options.repeated,
    Options.withDescription(description),
    Options.mapEffect((raw) => parsePairs(name, raw))
  )

/**
 * Masks, in a message about the command line, every quoted argument when the command line holds a
 * secret: the parser's messages quote what they could not place (`Received unknown argument: 'x'`),
 * and that may be an answer given without its `guid=`.
 *
 * @since 0.1.0
 * @category redaction
 */
export const mask = (message: string, args: ReadonlyArray<string>): string => {
  const holdsSecret = args.some((arg) => secretOptions.some((name) => arg === name || arg.startsWith(`${name}=`)))
  if (!holdsSecret) return message
  let masked = message
  for (const arg of args) {
    if (arg.length === 0) continue
    for (const quoted of [`'${arg}'`, `"${arg}"`]) masked = masked.split(quoted).join("'***'")
    const inline = arg.indexOf("=")
    if (arg.startsWith("--") && inline > 0) {
      const value = arg.slice(inline + 1)
      if (value.length > 0) masked = masked.split(value).join("***")
    }
  }
  return masked
}
