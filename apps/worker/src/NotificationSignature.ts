/**
 * Signatures of partner notifications, as Standard Webhooks define them (https://www.standardwebhooks.com):
 * every delivery carries `webhook-id` (the event's id, the same on every retry, for deduplication),
 * `webhook-timestamp` (Unix seconds of the attempt) and `webhook-signature`
 * (`v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<raw body>">`). Signing goes through the reference
 * library (`standardwebhooks`), so partners verify with the Standard Webhooks library of their language.
 *
 * The timestamp is what stops a captured delivery from being replayed later: `verify` refuses one
 * outside its tolerance window (5 minutes by default, the libraries' default), reading the time from
 * Effect's `Clock` rather than the library's `Date.now()` so that the window is testable and
 * adjustable.
 *
 * @since 0.1.0
 */
import { Data, Duration, Effect, Either, Redacted, Schema } from "effect"
import { randomBytes, timingSafeEqual } from "node:crypto"
import { Webhook } from "standardwebhooks"

/**
 * The header carrying the message id: the outbox event's id, unchanged across retries.
 *
 * @since 0.1.0
 * @category constants
 */
export const idHeader = "webhook-id"

/**
 * The header carrying the attempt's time in Unix seconds (part of what is signed).
 *
 * @since 0.1.0
 * @category constants
 */
export const timestampHeader = "webhook-timestamp"

/**
 * The header carrying the signatures: space-separated `v1,<base64>` entries.
 *
 * @since 0.1.0
 * @category constants
 */
export const signatureHeader = "webhook-signature"

/**
 * The prefix of a Standard Webhooks secret.
 *
 * @since 0.1.0
 * @category constants
 */
export const secretPrefix = "whsec_"

/**
 * The fewest and most key bytes a secret may hold: the Standard Webhooks specification asks for
 * 24 to 64 random bytes (192 to 512 bits).
 *
 * @since 0.1.0
 * @category constants
 */
export const secretBytes = { min: 24, max: 64 } as const

/**
 * The default tolerance of `verify`: how far a timestamp may be from the receiver's clock.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultTolerance: Duration.Duration = Duration.minutes(5)

/**
 * A signing secret that passed `parseSecret`: the key is only reachable through `Redacted`, so it is
 * never logged or printed.
 *
 * @since 0.1.0
 * @category models
 */
export class SigningSecret extends Data.TaggedClass("SigningSecret")<{
  readonly webhook: Redacted.Redacted<Webhook>
}> {}

/**
 * A secret that is not a Standard Webhooks secret (`Format`) or whose key is too short or too long
 * (`Length`). The message never holds the secret.
 *
 * @since 0.1.0
 * @category errors
 */
export class NotificationSecretError extends Schema.TaggedError<NotificationSecretError>()(
  "NotificationSecretError",
  {
    reason: Schema.Literal("Format", "Length"),
    message: Schema.String
  }
) {}

const base64Pattern = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

const formatHint =
  `a Standard Webhooks secret: "${secretPrefix}" followed by the base64 of ${secretBytes.min} to ${secretBytes.max} random bytes`

/**
 * Reads a secret `whsec_<base64>` whose key is 24 to 64 bytes. The prefix is required: without it, a
 * passphrase made of base64 letters would pass as a (different, shorter) key.
 *
 * @since 0.1.0
 * @category constructors
 */
export const parseSecret = (
  secret: Redacted.Redacted<string> | string
): Either.Either<SigningSecret, NotificationSecretError> => {
  const text = (typeof secret === "string" ? secret : Redacted.value(secret)).trim()
  if (!text.startsWith(secretPrefix) || !base64Pattern.test(text.slice(secretPrefix.length))) {
    return Either.left(new NotificationSecretError({ reason: "Format", message: `expected ${formatHint}` }))
  }
  const bytes = Buffer.from(text.slice(secretPrefix.length), "base64").length
  if (bytes < secretBytes.min || bytes > secretBytes.max) {
    return Either.left(
      new NotificationSecretError({ reason: "Length", message: `the key is ${bytes} bytes; expected ${formatHint}` })
    )
  }
  return Either.right(new SigningSecret({ webhook: Redacted.make(new Webhook(text)) }))
}

/**
 * A new random secret (32 bytes) in Standard Webhooks format, to give to the partner.
 *
 * @since 0.1.0
 * @category constructors
 */
export const generateSecret: Effect.Effect<Redacted.Redacted<string>> = Effect.sync(() =>
  Redacted.make(`${secretPrefix}${randomBytes(32).toString("base64")}`)
)

/**
 * The `webhook-signature` value of a message: `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`.
 *
 * @since 0.1.0
 * @category signing
 */
export const sign = (
  secret: SigningSecret,
  id: string,
  timestampSeconds: number,
  body: string | Uint8Array
): string => Redacted.value(secret.webhook).sign(id, new Date(timestampSeconds * 1000), body)

/**
 * The three Standard Webhooks headers of a delivery sent at `timestampSeconds`.
 *
 * @since 0.1.0
 * @category signing
 */
export const headers = (
  secret: SigningSecret,
  id: string,
  timestampSeconds: number,
  body: string | Uint8Array
): Record<string, string> => ({
  [idHeader]: id,
  [timestampHeader]: String(timestampSeconds),
  [signatureHeader]: sign(secret, id, timestampSeconds, body)
})

/**
 * A delivery `verify` refused:
 *
 * - `MissingHeaders`: `webhook-id`, `webhook-timestamp` or `webhook-signature` is absent or repeated;
 * - `InvalidTimestamp`: the timestamp is not a number of seconds;
 * - `TimestampTooOld` / `TimestampTooNew`: outside the tolerance window (a replay, or a clock far off);
 * - `InvalidSignature`: no `v1` signature matches the body with this secret (tampered, or another secret).
 *
 * @since 0.1.0
 * @category errors
 */
export class NotificationVerificationError extends Schema.TaggedError<NotificationVerificationError>()(
  "NotificationVerificationError",
  {
    reason: Schema.Literal(
      "MissingHeaders",
      "InvalidTimestamp",
      "TimestampTooOld",
      "TimestampTooNew",
      "InvalidSignature"
    ),
    message: Schema.String
  }
) {}

/**
 * Request headers as Node (`IncomingHttpHeaders`), `@effect/platform` (`Headers`) or fetch (`Headers`)
 * give them; names are matched without regard to case.
 *
 * @since 0.1.0
 * @category models
 */
export type HeadersInput =
  | Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
  | { readonly get: (name: string) => string | null }

const header = (input: HeadersInput, name: string): string | undefined => {
  if (typeof input.get === "function") return (input as { get: (name: string) => string | null }).get(name) ?? undefined
  const record = input as Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
  for (const key of Object.keys(record)) {
    if (key.toLowerCase() !== name) continue
    const value = record[key]
    // A repeated header is ambiguous (which id, which time?): refused rather than guessed.
    return typeof value === "string" ? value : value?.length === 1 ? value[0] : undefined
  }
  return undefined
}

/**
 * What a verified delivery said about itself: its id (deduplicate on it) and when it was sent.
 *
 * @since 0.1.0
 * @category models
 */
export interface Verified {
  readonly id: string
  readonly timestampSeconds: number
}

const refuse = (reason: NotificationVerificationError["reason"], message: string) =>
  Effect.fail(new NotificationVerificationError({ reason, message }))

/**
 * For receivers: checks a delivery's Standard Webhooks headers against `body` (the raw request body,
 * exactly as received, before any JSON parsing). Fails unless the timestamp is within `tolerance`
 * (default 5 minutes) of `Clock`'s time and one `v1` signature matches; the comparison takes the same
 * time wherever the signatures differ.
 *
 * @since 0.1.0
 * @category verifying
 */
export const verify = (
  secret: SigningSecret,
  headers: HeadersInput,
  body: string | Uint8Array,
  options: { readonly tolerance?: Duration.DurationInput | undefined } = {}
): Effect.Effect<Verified, NotificationVerificationError> =>
  Effect.gen(function*() {
    const id = header(headers, idHeader)
    const timestamp = header(headers, timestampHeader)
    const signatures = header(headers, signatureHeader)
    if (id === undefined || id === "" || timestamp === undefined || signatures === undefined) {
      return yield* refuse(
        "MissingHeaders",
        `expected one each of ${idHeader}, ${timestampHeader} and ${signatureHeader}`
      )
    }
    if (!/^\d{1,15}$/.test(timestamp.trim())) {
      return yield* refuse("InvalidTimestamp", `${timestampHeader} is not a number of seconds`)
    }
    const timestampSeconds = Number(timestamp.trim())
    const nowSeconds = Math.floor((yield* Effect.clockWith((clock) => clock.currentTimeMillis)) / 1000)
    const toleranceSeconds = Math.floor(Duration.toSeconds(options.tolerance ?? defaultTolerance))
    if (nowSeconds - timestampSeconds > toleranceSeconds) {
      return yield* refuse("TimestampTooOld", `the message was sent ${nowSeconds - timestampSeconds} s ago`)
    }
    if (timestampSeconds - nowSeconds > toleranceSeconds) {
      return yield* refuse("TimestampTooNew", `the message is dated ${timestampSeconds - nowSeconds} s ahead`)
    }
    const expected = Buffer.from(sign(secret, id, timestampSeconds, body))
    const matches = signatures.split(" ").filter((s) => s.length > 0).some((given) => {
      const bytes = Buffer.from(given)
      return bytes.length === expected.length && timingSafeEqual(bytes, expected)
    })
    if (!matches) return yield* refuse("InvalidSignature", "no v1 signature matches the body")
    return { id, timestampSeconds }
  })
