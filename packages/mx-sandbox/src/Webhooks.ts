/**
 * MX's webhooks as the sandbox sends them: CONNECTION_STATUS when a member enters one of the
 * eight end-user-actionable statuses (docs.mx.com/resources/webhooks/connection-status) and
 * `member_data_updated` after every completed aggregation, background ones included
 * (docs.mx.com/resources/webhooks/aggregation). They are POSTed as JSON to the configured URL with
 * the HttpClient of the environment, in order, and retried with a doubling delay on a transport
 * error or a non-2xx answer. Credentials in the URL (`https://user:password@host/path`, as MX's
 * webhook configuration takes them) are sent as HTTP Basic authentication.
 *
 * @since 0.1.0
 */
import { type HttpClient, HttpClientRequest } from "@effect/platform"
import { Schedules, type Webhook } from "@mx-aggregation/domain"
import { Duration, Effect } from "effect"

/**
 * The CONNECTION_STATUS payload (the domain's `Webhook.ConnectionStatusPayload`).
 *
 * @since 0.1.0
 * @category models
 */
export type ConnectionStatusPayload = Webhook.ConnectionStatusPayload

/**
 * The aggregation (`member_data_updated`) payload (the domain's `Webhook.MemberDataUpdatedPayload`).
 *
 * @since 0.1.0
 * @category models
 */
export type MemberDataUpdatedPayload = Webhook.MemberDataUpdatedPayload

/**
 * A webhook payload (the domain's `Webhook.Payload`).
 *
 * @since 0.1.0
 * @category models
 */
export type Payload = Webhook.Payload

/**
 * The request of a delivery: a POST of the payload as JSON to `url`, whose credentials, if any, become
 * an `Authorization: Basic` header (HTTP clients drop them from the URL).
 *
 * @since 0.1.0
 * @category delivery
 */
export const request = (url: string, payload: Payload): HttpClientRequest.HttpClientRequest => {
  const target = new URL(url)
  const username = decodeURIComponent(target.username)
  const password = decodeURIComponent(target.password)
  target.username = ""
  target.password = ""
  const post = HttpClientRequest.post(target.toString()).pipe(HttpClientRequest.bodyUnsafeJson(payload))
  return username === "" && password === "" ? post : HttpClientRequest.basicAuth(post, username, password)
}

/**
 * Delivers one payload: POST as JSON, retried `retries` times after a failure with a delay that
 * starts at `retryDelayMs` (MX time, divided by the time scale) and doubles. Fails when every
 * attempt failed; `onFailedAttempt` is told of each failure.
 *
 * @since 0.1.0
 * @category delivery
 */
export const deliver = (options: {
  readonly client: HttpClient.HttpClient
  readonly url: string
  readonly payload: Payload
  readonly retries: number
  readonly retryDelayMs: number
  readonly timeScale: number
  readonly onFailedAttempt: () => void
}): Effect.Effect<void, unknown> =>
  Effect.try({
    try: () => request(options.url, options.payload),
    catch: () => new Error("the webhook URL is not a valid URL")
  }).pipe(
    Effect.flatMap(options.client.execute),
    Effect.flatMap((response) =>
      response.status >= 200 && response.status < 300
        ? Effect.void
        : Effect.fail(new Error(`webhook answered ${response.status}`))
    ),
    Effect.scoped,
    Effect.tapError(() => Effect.sync(options.onFailedAttempt)),
    Effect.retry(Schedules.mxRetry({
      base: Duration.millis(Math.max(1, options.retryDelayMs / options.timeScale)),
      cap: Duration.infinity,
      times: options.retries,
      // Not jittered: MX documents no jitter, and the sandbox's deliveries are timed exactly in tests.
      jittered: false
    }))
  )
