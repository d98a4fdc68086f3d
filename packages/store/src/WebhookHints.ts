/**
 * The debounce of MX webhooks, across replicas: a webhook about a member is a hint that may cost one
 * MX read (it wakes the member's polling run or starts a run that reads MX), and repeats within a
 * window cost nothing. One conditional `UPDATE` per webhook, so that of several replicas receiving the
 * same member's webhooks at once exactly one acts. Untracked members are never written.
 *
 * @since 0.1.0
 */
import { SqlClient } from "@effect/sql/SqlClient"
import type { Member } from "@mx-aggregation/domain"
import { Context, Duration, Effect, Layer } from "effect"
import { operation } from "./internal/operation.js"
import type { StoreError } from "./StoreError.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /**
   * Accepts a webhook hint about a tracked member at `at` (epoch ms) unless one was accepted less than
   * `window` before: `true` when this one is to be acted on. `false` for an untracked or unknown member.
   */
  readonly accept: (
    memberGuid: Member.MemberGuid,
    at: number,
    window: Duration.DurationInput
  ) => Effect.Effect<boolean, StoreError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class WebhookHints extends Context.Tag("@mx-aggregation/store/WebhookHints")<WebhookHints, Service>() {}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.gen(function*() {
  const sql = yield* SqlClient
  const accept: Service["accept"] = (memberGuid, at, window) =>
    Effect.gen(function*() {
      const since = at - Duration.toMillis(window)
      const rows = yield* sql`UPDATE tracked_members SET webhook_hint_at = ${at}
        WHERE member_guid = ${memberGuid} AND tracked = 1 AND (webhook_hint_at IS NULL OR webhook_hint_at <= ${since})
        RETURNING member_guid`
      return rows.length > 0
    }).pipe(operation("WebhookHints.accept"))
  return WebhookHints.of({ accept })
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<WebhookHints, never, SqlClient> = Layer.effect(WebhookHints, make)
