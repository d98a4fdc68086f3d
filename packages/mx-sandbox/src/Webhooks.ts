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
import { Duration, Effect, Schedule } from "effect"

/**
 * The CONNECTION_STATUS payload.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectionStatusPayload {
  readonly action: "CHANGED"
  readonly connection_status: string
  readonly connection_status_id: number
  readonly connection_status_message: string
  readonly member_guid: string
  readonly type: "CONNECTION_STATUS"
  readonly user_guid: string
}

/**
 * The aggregation (`member_data_updated`) payload.
 *
 * @since 0.1.0
 * @category models
 */
export interface MemberDataUpdatedPayload {
  readonly action: "member_data_updated"
  /** Unix seconds (MX time). */
  readonly completed_at: number
  /** `YYYY-MM-DD` (MX time). */
  readonly completed_on: string
  readonly is_background: boolean
  readonly job_guid: string
  readonly member_guid: string
  readonly transactions_created_count: number
  readonly transactions_updated_count: number
  readonly type: "AGGREGATION"
  readonly user_guid: string
  readonly user_id: string | null
}

/**
 * A webhook payload.
 *
 * @since 0.1.0
 * @category models
 */
export type Payload = ConnectionStatusPayload | MemberDataUpdatedPayload

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
    Effect.retry(
      Schedule.exponential(Duration.millis(Math.max(1, options.retryDelayMs / options.timeScale))).pipe(
        Schedule.intersect(Schedule.recurs(options.retries))
      )
    )
  )
