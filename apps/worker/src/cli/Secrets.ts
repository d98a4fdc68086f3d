/**
 * Secrets the CLI hands to the worker (credential values, MFA answers) never come from the command
 * line, where the process list and the shell history keep them. A person at a terminal is prompted
 * for each value with nothing echoed; a program pipes them as JSON on standard input with `--stdin`.
 * They become `Redacted` at once and are never repeated in output or error messages: a bad entry is
 * named by its position or its guid. `mask` covers what the parser quotes back when someone passes a
 * secret as an argument anyway.
 *
 * @since 0.1.0
 */
import { Options, Prompt } from "@effect/cli"
import type { Terminal } from "@effect/platform"
import { Member } from "@mx-aggregation/domain"
import { Array as Arr, Effect, Predicate, Redacted, Schema } from "effect"
import { CliError } from "./CliError.js"
import { StandardInput } from "./StandardInput.js"

/**
 * The options whose values are secrets (masked in error messages). `--answer` and `--credential` are
 * no longer options, but a habit or an old script may still pass them.
 *
 * @since 0.1.0
 * @category constants
 */
export const secretOptions: ReadonlyArray<string> = ["--answer", "--credential", "--token", "--api-key"]

/**
 * The list a command reads: `answers` (MFA) or `credentials`.
 *
 * @since 0.1.0
 * @category models
 */
export type Key = "answers" | "credentials"

/**
 * Secret values for one member: at least one, guids unique.
 *
 * @since 0.1.0
 * @category models
 */
export type Values = Arr.NonEmptyReadonlyArray<Member.CredentialValue>

/**
 * The JSON `--stdin` expects for `key`.
 *
 * @since 0.1.0
 * @category constants
 */
export const shape = (key: Key): string =>
  `{"${key}": [{"guid": "<${key === "answers" ? "challenge" : "credential"} guid>", "value": "<value>"}, …]}`

/**
 * `--stdin`: read the values as JSON from standard input instead of prompting.
 *
 * @since 0.1.0
 * @category options
 */
export const stdinOption = (key: Key): Options.Options<boolean> =>
  Options.boolean("stdin").pipe(
    Options.withDescription(
      `Read the ${key} as JSON from standard input: ${shape(key)}. Without it, each value is prompted for ` +
        "(nothing echoed) when standard input is a terminal. Values are never taken as arguments, which " +
        "the process list and the shell history would keep."
    )
  )

const usage = (message: string) => new CliError({ reason: "Usage", message: `--stdin: ${message}` })

const isGuid = Schema.is(Member.CredentialGuid)

/**
 * Reads `{ "<key>": [{ "guid", "value" }, …] }`: at least one entry, guids non-empty and unique,
 * values non-empty strings, nothing else. Failures say where (position, guid), never what the value was.
 *
 * @since 0.1.0
 * @category parsing
 */
export const fromJson = (key: Key, text: string): Effect.Effect<Values, CliError> =>
  Effect.gen(function*() {
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      // JSON.parse's message quotes the text, which holds the secrets.
      return yield* usage(`standard input is not JSON; expected ${shape(key)}`)
    }
    if (!Predicate.isRecord(json) || !Array.isArray(json[key]) || Object.keys(json).some((k) => k !== key)) {
      return yield* usage(`expected ${shape(key)}`)
    }
    const entries: ReadonlyArray<unknown> = json[key]
    if (entries.length === 0) {
      return yield* usage(`"${key}" is empty; give one entry per ${key === "answers" ? "challenge" : "credential"}`)
    }
    const seen = new Set<string>()
    const values: Array<Member.CredentialValue> = []
    for (const [index, entry] of entries.entries()) {
      const at = `${key}[${index}]`
      if (!Predicate.isRecord(entry) || Object.keys(entry).some((k) => k !== "guid" && k !== "value")) {
        return yield* usage(`${at}: expected {"guid": "…", "value": "…"}`)
      }
      const guid = entry.guid
      if (!isGuid(guid) || /\s/.test(guid)) {
        return yield* usage(`${at}: "guid" must be a non-empty string without spaces`)
      }
      if (typeof entry.value !== "string" || entry.value.length === 0) {
        return yield* usage(`${at} (${guid}): "value" must be a non-empty string (value not shown)`)
      }
      if (seen.has(guid)) return yield* usage(`${at}: ${guid} given twice`)
      seen.add(guid)
      values.push(new Member.CredentialValue({ guid, value: Redacted.make(entry.value) }))
    }
    return values as unknown as Values
  })

/**
 * The values for a command: from standard input's JSON with `--stdin`, else from `prompt` when
 * standard input is a terminal, else a usage error that points at `--stdin`.
 *
 * @since 0.1.0
 * @category reading
 */
export const read = <R>(options: {
  readonly stdin: boolean
  readonly key: Key
  readonly prompt: Effect.Effect<Values, CliError, R>
}): Effect.Effect<Values, CliError, StandardInput | R> =>
  Effect.gen(function*() {
    const input = yield* StandardInput
    if (options.stdin) return yield* Effect.flatMap(input.readAll, (text) => fromJson(options.key, text))
    if (yield* input.isTerminal) return yield* options.prompt
    return yield* new CliError({
      reason: "Usage",
      message:
        `standard input is not a terminal, so nothing can be prompted: pipe the ${options.key} as JSON with --stdin, ${
          shape(options.key)
        }`
    })
  })

const cancelled = () => new CliError({ reason: "Cancelled", message: "cancelled: nothing was sent" })

const required = (value: string) => value.length === 0 ? Effect.fail("a value is required") : Effect.succeed(value)

/**
 * Asks for one secret with nothing echoed (not even its length).
 *
 * @since 0.1.0
 * @category prompting
 */
export const promptHidden = (message: string): Effect.Effect<Redacted.Redacted<string>, CliError, Terminal.Terminal> =>
  Prompt.hidden({ message: `${message} (hidden)`, validate: required }).pipe(Effect.mapError(cancelled))

const sequence = <A>(
  items: ReadonlyArray<A>,
  ask: (item: A) => Effect.Effect<Member.CredentialValue, CliError, Terminal.Terminal>,
  nothing: string
): Effect.Effect<Values, CliError, Terminal.Terminal> =>
  Arr.isNonEmptyReadonlyArray(items)
    ? Effect.forEach(items, ask) as unknown as Effect.Effect<Values, CliError, Terminal.Terminal>
    : Effect.fail(new CliError({ reason: "Failed", message: nothing }))

/**
 * Asks for each of a member's credential fields, in MX's display order, with nothing echoed.
 *
 * @since 0.1.0
 * @category prompting
 */
export const promptCredentials = (
  fields: ReadonlyArray<Member.Credential>
): Effect.Effect<Values, CliError, Terminal.Terminal> =>
  sequence(
    [...fields].sort((a, b) => (a.display_order ?? 0) - (b.display_order ?? 0)),
    (field) =>
      Effect.map(
        promptHidden(field.label ?? field.field_name ?? field.guid),
        (value) => new Member.CredentialValue({ guid: field.guid, value })
      ),
    "the member has no credential fields to fill in"
  )

/**
 * Asks for each challenge's answer: typed with nothing echoed, or, for a challenge with options,
 * chosen from the options (their labels show, as `challenges list` shows them).
 *
 * @since 0.1.0
 * @category prompting
 */
export const promptAnswers = (
  challenges: ReadonlyArray<Member.Challenge>
): Effect.Effect<Values, CliError, Terminal.Terminal> =>
  sequence(
    challenges,
    (challenge) => {
      const message = challenge.label ?? challenge.field_name ?? challenge.guid
      const options = [...challenge.options, ...challenge.image_options]
      const answer: Effect.Effect<Redacted.Redacted<string>, CliError, Terminal.Terminal> =
        Arr.isNonEmptyReadonlyArray(options)
          ? Prompt.select({
            message,
            choices: options.map((o) => ({ title: o.label ?? o.value, value: o.value }))
          }).pipe(Effect.map(Redacted.make), Effect.mapError(cancelled))
          : promptHidden(challenge.type === "IMAGE_DATA" ? `${message} (the image: challenges list --json)` : message)
      return Effect.map(answer, (value) => new Member.CredentialValue({ guid: challenge.guid, value }))
    },
    "the member is waiting for no MFA answer"
  )

/**
 * Masks, in a message about the command line, every quoted argument when the command line holds a
 * secret: the parser's messages quote what they could not place (`Received unknown argument: 'x'`),
 * and that may be a secret typed as an argument.
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
