/**
 * The one error of the sandbox: what the HTTP API answers with a 4xx/5xx, and what the
 * programmatic `Sandbox` methods fail with. The `reason` names the MX status code's meaning.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * Why a request was refused, one per MX status code the sandbox sends.
 *
 * @since 0.1.0
 * @category models
 */
export const Reason = Schema.Literal(
  "BadRequest",
  "Unauthorized",
  "NotFound",
  "NotAllowed",
  "NotAcceptable",
  "Conflict",
  "PayloadTooLarge",
  "RateLimited",
  "ServerError",
  "Unavailable"
)

/**
 * @since 0.1.0
 * @category models
 */
export type Reason = typeof Reason.Type

/**
 * A refused request: its reason, the HTTP status MX sends for it, and the message put in the error
 * body `{"error": {"message": "…"}}`.
 *
 * @since 0.1.0
 * @category errors
 */
export class SandboxError extends Schema.TaggedError<SandboxError>()("SandboxError", {
  reason: Reason,
  status: Schema.Number,
  message: Schema.String
}) {}

const statuses: { readonly [R in Reason]: number } = {
  BadRequest: 400,
  Unauthorized: 401,
  NotFound: 404,
  NotAllowed: 405,
  NotAcceptable: 406,
  Conflict: 409,
  PayloadTooLarge: 413,
  RateLimited: 429,
  ServerError: 500,
  Unavailable: 503
}

/**
 * An error with its reason's usual status.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (reason: Reason, message: string, status: number = statuses[reason]): SandboxError =>
  new SandboxError({ reason, status, message })
