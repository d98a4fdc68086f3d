/**
 * Erasing a member for a data-retention request: every row the store keeps about it (`Erasure`), and
 * the workflow engine's journal of its runs, whose messages carry the member and user guids. Nothing
 * at MX is touched.
 *
 * A member with an active run is refused (`MemberBusy`): its run would go on writing. The journal of
 * the member's ended runs is cleared first, then the store's rows in one transaction that checks
 * again that no run holds the member; a run that started and ended between the two (a narrow window)
 * is cleared after the rows, by the run ids the transaction removed.
 *
 * @since 0.1.0
 */
import { type ClusterError, MessageStorage, type Sharding } from "@effect/cluster"
import type { Member } from "@mx-aggregation/domain"
import { AggregationRuns, Erasure, type StoreError, TrackedMembers } from "@mx-aggregation/store"
import { Context, Effect, Layer, Option } from "effect"
import * as EngineEntities from "./EngineEntities.js"
import { executionIdOf } from "./RunWorkflow.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Erases the member's rows and its runs' journal; `MemberBusy` while a run or credential update holds it. */
  readonly erase: (
    memberGuid: Member.MemberGuid
  ) => Effect.Effect<
    Erasure.Erased,
    Erasure.MemberBusy | StoreError.StoreError | ClusterError.PersistenceError
  >
}

/**
 * @since 0.1.0
 * @category tags
 */
export class MemberErasure extends Context.Tag("@mx-aggregation/worker/MemberErasure")<MemberErasure, Service>() {}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.gen(function*() {
  const erasure = yield* Erasure.Erasure
  const runs = yield* AggregationRuns.AggregationRuns
  const tracked = yield* TrackedMembers.TrackedMembers
  const sharding = yield* Effect.context<Sharding.Sharding>()
  const messages = yield* MessageStorage.MessageStorage

  const clearJournal = (runId: string) =>
    executionIdOf(AggregationRuns.RunId.make(runId)).pipe(
      Effect.flatMap(EngineEntities.journalAddresses),
      Effect.flatMap((addresses) =>
        Effect.forEach(addresses, (address) => messages.clearAddress(address), { discard: true })
      ),
      Effect.provide(sharding)
    )

  const erase: Service["erase"] = (memberGuid) =>
    Effect.gen(function*() {
      const member = yield* tracked.get(memberGuid)
      if (Option.isSome(member) && member.value.activeRunId !== null) {
        return yield* new Erasure.MemberBusy({ memberGuid, reason: "ActiveRun", runId: member.value.activeRunId })
      }
      const ended = (yield* runs.listByMember(memberGuid, { limit: Number.MAX_SAFE_INTEGER })).map((r) => r.runId)
      yield* Effect.forEach(ended, clearJournal, { discard: true })
      const erased = yield* erasure.eraseMember(memberGuid)
      const cleared = new Set<string>(ended)
      yield* Effect.forEach(erased.runIds.filter((runId) => !cleared.has(runId)), clearJournal, { discard: true })
      return erased
    })

  return MemberErasure.of({ erase })
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = Layer.effect(MemberErasure, make)
