/**
 * The worker as one Layer: the durable workflow engine on the store's SQL database, the aggregation
 * workflow, the scheduler singleton, the control API and, when configured, the MX webhook listener. It needs a `SqlClient` (the store's
 * database), an `MxClient` and an `EngineConfig`; `main.ts` provides them from the environment and
 * tests provide them around a sandbox.
 *
 * @since 0.1.0
 */
import {
  ClusterWorkflowEngine,
  RunnerAddress,
  RunnerHealth,
  Runners,
  Sharding,
  ShardingConfig,
  SqlMessageStorage,
  SqlRunnerStorage
} from "@effect/cluster"
import type { SqlClient } from "@effect/sql"
import type { Member } from "@mx-aggregation/domain"
import { Database, Store } from "@mx-aggregation/store"
import { Cause, Data, Duration, Layer, Option, type Redacted, Schedule } from "effect"
import * as Aggregations from "./Aggregations.js"
import { AggregationWorkflowLive } from "./AggregationWorkflow.js"
import * as ControlApiLive from "./ControlApiLive.js"
import * as MemberErasure from "./MemberErasure.js"
import * as Notifications from "./Notifications.js"
import * as RunnerTransport from "./RunnerTransport.js"
import * as RunWakeups from "./RunWakeups.js"
import * as Scheduler from "./Scheduler.js"
import type * as Tls from "./Tls.js"
import * as Wakeups from "./Wakeups.js"
import * as WebhookListener from "./WebhookListener.js"

/**
 * The durable workflow engine: @effect/cluster's single runner with its state in SQL.
 *
 * @since 0.1.0
 * @category layers
 */
export const workflowEngine = (options: {
  readonly messagePollInterval?: Duration.DurationInput | undefined
  readonly runner?: RunnerOptions | undefined
} = {}) => {
  const runner = options.runner
  const shardingConfig: Partial<ShardingConfig.ShardingConfig["Type"]> = {
    // Persisted timers and signals are picked up at this interval (the default, 10 s, is too slow for
    // an MFA answer to resume a run promptly).
    entityMessagePollInterval: Duration.decode(options.messagePollInterval ?? "500 millis"),
    // Runs keep their state in the journal: on shutdown, an activity cut short runs again on the next
    // start, so there is no need to wait the default 15 s for entities to finish.
    entityTerminationTimeout: Duration.seconds(2),
    ...(runner === undefined ? {} : {
      runnerAddress: Option.some(RunnerAddress.make(runner.host, runner.port)),
      runnerListenAddress: Option.some(RunnerAddress.make(runner.listenHost ?? runner.host, runner.port))
    })
  }
  // The cluster's tables are in the store's database. Its messages and replies wait for the database
  // while it is unreachable: the engine never stores an activity's result again once it has given up.
  const storage = Layer.merge(
    SqlMessageStorage.layer.pipe(Layer.provide(Database.layerWaitingForConnection)),
    SqlRunnerStorage.layer
  )
  return ClusterWorkflowEngine.layer.pipe(
    Layer.provideMerge(
      runner === undefined
        // One runner owning every shard (what `SingleRunner.layer` builds, with the storage above).
        ? Sharding.layer.pipe(Layer.provideMerge(Runners.layerNoop), Layer.provide(RunnerHealth.layerNoop))
        : RunnerTransport.layer({ secret: runner.secret, handshakeTimeout: runner.handshakeTimeout })
    ),
    Layer.provideMerge(storage),
    Layer.provide(ShardingConfig.layerFromEnv(shardingConfig)),
    // Replicas starting together on a new PostgreSQL database race to create the cluster's tables
    // (`CREATE TABLE IF NOT EXISTS` is not safe against a concurrent creator): the loser tries again,
    // when the tables exist. The message storage's migrations fail as defects (`Effect.orDie` in
    // @effect/cluster), which `Layer.retry` would not retry: they are made failures first (an
    // interruption stays one).
    Layer.catchAllCause((cause) =>
      Layer.failCause(
        Cause.isInterruptedOnly(cause)
          ? Cause.map(cause, (error) => new EngineStartError({ cause: Cause.fail(error) }))
          : Cause.fail(new EngineStartError({ cause }))
      )
    ),
    Layer.retry(Schedule.spaced("500 millis").pipe(Schedule.intersect(Schedule.recurs(5))))
  )
}

/**
 * The durable workflow engine could not start (its storage could not be prepared), even after a few
 * tries.
 *
 * @since 0.1.0
 * @category errors
 */
export class EngineStartError extends Data.TaggedError("EngineStartError")<{ readonly cause: Cause.Cause<unknown> }> {
  override get message() {
    return `the workflow engine could not start: ${Cause.pretty(this.cause)}`
  }
}

/**
 * One replica among several on one PostgreSQL database: the address other runners reach it at.
 * Shards (and so runs) spread over the live runners; a dead runner's shards move to the others.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunnerOptions {
  readonly host: string
  readonly port: number
  /** The interface to listen on, when it differs from `host` (e.g. 0.0.0.0 in a container). */
  readonly listenHost?: string | undefined
  /**
   * Shared by every replica: runners accept only peers that prove it (see `RunnerTransport`), at least
   * `RunnerTransport.minimumSecretLength` characters.
   */
  readonly secret: Redacted.Redacted<string>
  /** How long a connection between runners may take to authenticate (default 5 seconds). */
  readonly handshakeTimeout?: Duration.DurationInput | undefined
}

/**
 * Options of the worker layer.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly users: ReadonlyArray<Member.UserGuid>
  readonly api: {
    readonly token: Redacted.Redacted<string>
    readonly port: number
    readonly host: string
    readonly limits?: ControlApiLive.Limits | undefined
    /** Serve the control API over HTTPS. */
    readonly tls?: Tls.Credentials | undefined
  }
  /** Receive MX webhooks on a listener of their own, behind HTTP Basic credentials. */
  readonly webhooks?: WebhookListener.Options | undefined
  readonly messagePollInterval?: Duration.DurationInput
  /** Run as one of several replicas (a cluster runner) instead of the single-process runner. */
  readonly runner?: RunnerOptions | undefined
  /** Deliver outbox events to the partner's URL (one replica at a time). */
  readonly notifications?: Notifications.Options | undefined
  /** Run the scheduler (default true). Tests that drive runs by hand turn it off. */
  readonly scheduler?: boolean
  /**
   * The store's services over the database (default `Store.layer`). Tests wrap a repository here to
   * hold the worker at an exact point of an interleaving.
   */
  readonly store?: Layer.Layer<Store.Services, never, SqlClient.SqlClient> | undefined
}

/**
 * The engine without the HTTP API: store services, workflow engine, the workflow, `Aggregations` and
 * `MemberErasure`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerEngine = (options: Pick<Options, "messagePollInterval" | "runner" | "store"> = {}) =>
  Layer.merge(Aggregations.layer, MemberErasure.layer).pipe(
    Layer.provideMerge(Layer.merge(AggregationWorkflowLive, RunWakeups.layer)),
    Layer.provideMerge(workflowEngine(options)),
    Layer.provideMerge(Wakeups.layer),
    Layer.provideMerge(options.store ?? Store.layer)
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
    options.scheduler === false ? Layer.empty : Scheduler.layer(options.users),
    options.notifications === undefined ? Layer.empty : Notifications.layerSingleton(options.notifications),
    options.webhooks === undefined ? Layer.empty : WebhookListener.layer(options.webhooks)
  ).pipe(Layer.provideMerge(layerEngine(options)))
