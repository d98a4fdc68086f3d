/**
 * Recording a member's `connection_status` as the worker reads it from MX, and reporting a status the
 * domain does not know (MX adds statuses over time): a warning in the log, the
 * `mx_aggregation_unknown_statuses_total` metric and a `status_unknown` partner event, once each time
 * the member takes the status on (not at every poll or recheck while it keeps it). The rules already
 * make such a member safe: read again later, never aggregated, the user never asked.
 *
 * @since 0.1.0
 */
import { ConnectionStatus, type Member } from "@mx-aggregation/domain"
import { type AggregationRuns, Outbox, type StoreError, TrackedMembers } from "@mx-aggregation/store"
import { Effect, Option } from "effect"
import * as Metrics from "./Metrics.js"

/**
 * The longest status text logged or put in an event (longer texts are cut): MX's names are short, and
 * nothing MX sends may grow the log or the outbox without bound.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxStatusLength = 64

/**
 * A status read from MX.
 *
 * @since 0.1.0
 * @category models
 */
export interface Observation extends TrackedMembers.ObservationInput {
  readonly userGuid: Member.UserGuid
  /** The run that read it, if any (a credential update reads the member before its run starts). */
  readonly runId: AggregationRuns.RunId | null
}

const shown = (status: string): string =>
  status.length > maxStatusLength ? `${status.slice(0, maxStatusLength)}…` : status

/**
 * Records the status on the tracked member (`TrackedMembers.recordObservation`). When the status is one
 * the domain does not know and the member did not already have it, first reports it: after a crash
 * between the two it is reported again rather than never.
 *
 * @since 0.1.0
 * @category recording
 */
export const record = (
  observation: Observation
): Effect.Effect<boolean, StoreError.StoreError, TrackedMembers.TrackedMembers | Outbox.Outbox> =>
  Effect.gen(function*() {
    const tracked = yield* TrackedMembers.TrackedMembers
    const { runId, userGuid, ...input } = observation
    const status = input.status
    if (status !== null && !ConnectionStatus.isKnown(status)) {
      const previous = yield* tracked.get(input.memberGuid)
      if (Option.isSome(previous) && previous.value.status !== status) {
        yield* Effect.logWarning(
          "MX reported a connection_status the worker does not know: the member is only read again later"
        ).pipe(Effect.annotateLogs({ memberGuid: input.memberGuid, connectionStatus: shown(status) }))
        yield* Metrics.unknownStatusObserved(status)
        const outbox = yield* Outbox.Outbox
        yield* outbox.append({
          memberGuid: input.memberGuid,
          userGuid,
          type: "status_unknown",
          payload: { run_id: runId, connection_status: shown(status) }
        })
      }
    }
    return yield* tracked.recordObservation(input)
  })
