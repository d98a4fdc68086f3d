/**
 * The CLI's one error: what went wrong, in a sentence that is printed as is on one line. The `reason`
 * says which kind of failure it was (and so the exit code); the message never holds a token, a
 * credential or an MFA answer.
 *
 * @since 0.1.0
 */
import { ConfigError, Predicate, Schema } from "effect"

/**
 * Why a command failed.
 *
 * - `Usage`: the arguments are valid one by one but not together (exit 2, like a parse error).
 * - `Unreachable`: no worker answered at the URL.
 * - `Unauthorized`: the worker refused the token.
 * - `NotFound`, `Conflict`, `Invalid`, `Upstream`: the control API's answers (404, 409, 400, 502).
 * - `Unavailable`: the worker cannot serve now (its database is down, too many requests, too slow):
 *   try again later.
 * - `NotConfirmed`: the user did not confirm a destructive command (exit 1).
 * - `BadResponse`: the worker answered something the client could not read.
 * - `Config`: an environment variable is missing or invalid.
 * - `Failed`: a command that runs a process (worker, sandbox, migrate) failed.
 * - `Cancelled`: the user quit a prompt (Ctrl-C); nothing was sent (exit 130, as for SIGINT).
 *
 * @since 0.1.0
 * @category models
 */
export const Reason = Schema.Literal(
  "Usage",
  "Unreachable",
  "Unauthorized",
  "NotFound",
  "Conflict",
  "Invalid",
  "Upstream",
  "Unavailable",
  "NotConfirmed",
  "BadResponse",
  "Config",
  "Failed",
  "Cancelled"
)

/**
 * @since 0.1.0
 * @category models
 */
export type Reason = typeof Reason.Type

/**
 * A command failed; `message` is what the user reads.
 *
 * @since 0.1.0
 * @category errors
 */
export class CliError extends Schema.TaggedError<CliError>()("CliError", {
  reason: Reason,
  message: Schema.String
}) {}

/**
 * The process exit code of a failure: 2 for usage errors (as for invalid arguments), 130 for a
 * cancelled prompt (as a shell reports Ctrl-C), 1 otherwise.
 *
 * @since 0.1.0
 * @category exit codes
 */
export const exitCode = (error: CliError): number =>
  error.reason === "Usage" ? 2 : error.reason === "Cancelled" ? 130 : 1

/**
 * Collapses whitespace so that a message prints on one line.
 *
 * @since 0.1.0
 * @category formatting
 */
export const oneLine = (text: string): string => text.replace(/\s+/g, " ").trim()

/**
 * A failure of any kind as one line: its message (and, when the message says little, the system
 * error code of its cause, such as `EADDRINUSE` or `ECONNREFUSED`).
 *
 * @since 0.1.0
 * @category formatting
 */
export const describe = (error: unknown): string => {
  if (ConfigError.isConfigError(error)) return oneLine(String(error))
  const message = Predicate.hasProperty(error, "message") && typeof error.message === "string" ? error.message : ""
  const code = systemCode(error)
  const text = message !== "" ? message : Predicate.hasProperty(error, "_tag") ? String(error._tag) : String(error)
  return oneLine(code !== undefined && !text.includes(code) ? `${text} (${code})` : text)
}

const systemCode = (error: unknown, depth = 0): string | undefined => {
  if (depth > 4 || !Predicate.isObject(error)) return undefined
  if (Predicate.hasProperty(error, "code") && typeof error.code === "string") return error.code
  return Predicate.hasProperty(error, "cause") ? systemCode(error.cause, depth + 1) : undefined
}
