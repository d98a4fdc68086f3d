/**
 * The `mx-aggregation` command line (@effect/cli): run the worker or the sandbox, migrate the
 * database, and operate a running worker through its control API (members, MFA challenges, new
 * credentials, user presence, aggregation triggers, erasure of a member's data).
 *
 * `main` is what the bin runs: it prints every failure, a bad argument included, as one line on
 * standard error (`mx-aggregation: <what went wrong>`) and gives the exit code: 0, 1 for a failed
 * command, 2 for invalid arguments.
 *
 * @since 0.1.0
 */
import { Command, ValidationError } from "@effect/cli"
import * as HelpDoc from "@effect/cli/HelpDoc"
import { Cause, Console, Effect, Exit, Option } from "effect"
import * as AggregateCommand from "./AggregateCommand.js"
import * as ChallengesCommand from "./ChallengesCommand.js"
import { CliError, exitCode, oneLine } from "./CliError.js"
import * as CredentialsCommand from "./CredentialsCommand.js"
import * as MembersCommand from "./MembersCommand.js"
import * as MigrateCommand from "./MigrateCommand.js"
import * as PresentCommand from "./PresentCommand.js"
import * as PurgeCommand from "./PurgeCommand.js"
import * as SandboxCommand from "./SandboxCommand.js"
import * as Secrets from "./Secrets.js"
import * as WorkerCommand from "./WorkerCommand.js"

/**
 * The program's name, as typed and as shown in messages.
 *
 * @since 0.1.0
 * @category constants
 */
export const name = "mx-aggregation"

/**
 * The program's version.
 *
 * @since 0.1.0
 * @category constants
 */
export const version = "0.1.0"

/**
 * The root command with every subcommand.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(name).pipe(
  Command.withDescription("MX aggregation worker: run it, migrate its database, operate it through its control API"),
  Command.withSubcommands([
    WorkerCommand.command,
    SandboxCommand.command,
    MigrateCommand.command,
    MembersCommand.command,
    ChallengesCommand.command,
    CredentialsCommand.command,
    PresentCommand.command,
    AggregateCommand.command,
    PurgeCommand.command
  ])
)

/**
 * Runs the command line as @effect/cli does (`args` as in `process.argv`: the runtime and the script
 * first). Invalid arguments fail with a `ValidationError`, after @effect/cli printed its message.
 *
 * @since 0.1.0
 * @category running
 */
export const run = Command.run(command, { name, version })

/**
 * The one line printed for a failure: the parser's message (its quoted values masked when the command
 * line holds a secret), or the command's own.
 *
 * @since 0.1.0
 * @category errors
 */
export const errorLine = (error: CliError | ValidationError.ValidationError, args: ReadonlyArray<string>): string =>
  `${name}: ${
    ValidationError.isValidationError(error)
      ? Secrets.mask(oneLine(HelpDoc.toAnsiText(error.error).replace(/\u001b\[[0-9;]*m/g, "")), args)
      : error.message
  }`

/**
 * Runs the command line and returns the exit code; prints each failure as one line on standard
 * error. @effect/cli's own error printing is silenced (it would print the same message, with a blank
 * line, before the failure reaches here), which is why no command writes to `Console.error`: every
 * command reports failures by failing with a `CliError`.
 *
 * @since 0.1.0
 * @category running
 */
export const main = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const console = yield* Console.consoleWith(Effect.succeed)
    const exit = yield* run(args).pipe(
      Console.withConsole({ ...console, error: () => Effect.void }),
      Effect.exit
    )
    if (Exit.isSuccess(exit)) return 0
    if (Cause.isInterruptedOnly(exit.cause)) return 130
    const failure = Cause.failureOption(exit.cause)
    if (Option.isNone(failure)) {
      yield* console.error(`${name}: unexpected failure: ${oneLine(Cause.pretty(exit.cause)).slice(0, 500)}`)
      return 1
    }
    const error = failure.value
    yield* console.error(errorLine(error, args))
    if (ValidationError.isValidationError(error)) return 2
    return error instanceof CliError ? exitCode(error) : 1
  })
