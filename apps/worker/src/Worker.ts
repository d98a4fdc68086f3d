/**
 * The worker as one Layer: the durable workflow engine on the store's SQL database, the aggregation
 * workflow, the scheduler singleton and the control API. It needs a `SqlClient` (the store's
 * database), an `MxClient` and an `EngineConfig`; `main.ts` provides them from the environment and
 * tests provide them around a sandbox.
 *
 * @since 0.1.0
 */
import { ClusterWorkflowEngine, SingleRunner } from "@effect/cluster"
import type { Member } from "@mx-aggregation/domain"
import { Store } from "@mx-aggregation/store"
import { type Duration, Layer, type Redacted } from "effect"
import * as Aggregations from "./Aggregations.js"
import { AggregationWorkflowLive } from "./AggregationWorkflow.js"
import * as ControlApiLive from "./ControlApiLive.js"
import * as Scheduler from "./Scheduler.js"
import * as Wakeups from "./Wakeups.js"

/**
 * The durable workflow engine: @effect/cluster's single runner with its state in SQL.
 *
 * @since 0.1.0
 * @category layers
 */
export const workflowEngine = (options: { readonly messagePollInterval?: Duration.DurationInput } = {}) =>
  ClusterWorkflowEngine.layer.pipe(
    Layer.provideMerge(
      SingleRunner.layer({
        runnerStorage: "sql",
        // Persisted timers and signals are picked up at this interval (the default, 10 s, is too slow
        // for an MFA answer to resume a run promptly).
        shardingConfig: {
          entityMessagePollInterval: options.messagePollInterval ?? "500 millis",
          // Runs keep their state in the journal: on shutdown, an activity cut short runs again on the
          // next start, so there is no need to wait the default 15 s for entities to finish.
          entityTerminationTimeout: "2 seconds"
        }
      })
    )
  )

/**
 * Options of the worker layer.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly users: ReadonlyArray<Member.UserGuid>
  readonly api: { readonly token: Redacted.Redacted<string>; readonly port: number; readonly host: string }
  readonly messagePollInterval?: Duration.DurationInput
  /** Run the scheduler (default true). Tests that drive runs by hand turn it off. */
  readonly scheduler?: boolean
}

/**
 * The engine without the HTTP API: store services, workflow engine, the workflow and `Aggregations`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerEngine = (options: Pick<Options, "messagePollInterval"> = {}) =>
  Aggregations.layer.pipe(
    Layer.provideMerge(AggregationWorkflowLive),
    Layer.provideMerge(workflowEngine(options)),
    Layer.provideMerge(Wakeups.layer),
    Layer.provideMerge(Store.layer)
  )

/**
 * The whole worker.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options) =>
  Layer.mergeAll(
    ControlApiLive.serverLayer(options.api),
    options.scheduler === false ? Layer.empty : Scheduler.layer(options.users)
  ).pipe(Layer.provideMerge(layerEngine(options)))
