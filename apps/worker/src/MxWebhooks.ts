/**
 * MX webhooks about a member the worker follows, as hints: one wakes the member's polling run (on
 * whichever replica runs it, through `RunWakeups`) or starts a `Webhook` run that reads MX and pulls
 * what MX has and the worker has not, but never calls aggregate. Repeats within
 * `EngineConfig.webhookDebounce` cost nothing, across replicas (`WebhookHints`).
 *
 * @since 0.1.0
 */
import type { Member } from "@mx-aggregation/domain"
import { type StoreError, TrackedMembers, WebhookHints } from "@mx-aggregation/store"
import { Clock, Effect, Option } from "effect"
import { EngineConfig } from "./EngineConfig.js"
import type { Starter } from "./RunStart.js"
import * as RunWakeups from "./RunWakeups.js"

/**
 * The MX webhooks that say something about a member the worker follows: CONNECTION_STATUS (`type`)
 * and the aggregation webhook (`action` member_data_updated). Others are received and ignored.
 *
 * @since 0.1.0
 * @category constants
 */
export const webhookTypes: ReadonlySet<string> = new Set(["CONNECTION_STATUS", "member_data_updated"])

/**
 * What a webhook did: woke the member's polling run, started a run, nothing because one was acted on
 * within `EngineConfig.webhookDebounce`, or nothing at all (an unknown member or type, or no poll waiting).
 *
 * @since 0.1.0
 * @category models
 */
export type WebhookResult = "woken" | "started" | "debounced" | "ignored"
/**
 * Handling MX webhooks (`Aggregations.webhook`), starting runs with `runs`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (runs: Starter) =>
  Effect.gen(function*() {
    const config = yield* EngineConfig
    const tracked = yield* TrackedMembers.TrackedMembers
    const hints = yield* WebhookHints.WebhookHints
    const wakeRun = yield* RunWakeups.makeWaker

    /** See `Aggregations.Service["webhook"]`. */
    const webhook = (input: {
      readonly type: string
      readonly memberGuid: Member.MemberGuid
    }): Effect.Effect<WebhookResult, StoreError.StoreError> =>
      Effect.gen(function*() {
        const { memberGuid, type } = input
        if (!webhookTypes.has(type)) return "ignored" as const
        const member = yield* tracked.get(memberGuid)
        if (Option.isNone(member) || !member.value.tracked) return "ignored" as const
        if (!(yield* hints.accept(memberGuid, yield* Clock.currentTimeMillis, config.webhookDebounce))) {
          return "debounced" as const
        }
        if (member.value.activeRunId !== null) {
          return (yield* wakeRun(member.value.activeRunId, memberGuid)) ? "woken" as const : "ignored" as const
        }
        const started = yield* runs.start(memberGuid, "Webhook").pipe(
          Effect.catchTag("MemberNotTracked", () => Effect.succeed(null))
        )
        return started?._tag === "Started" ? "started" as const : "ignored" as const
      })
    return webhook
  })
