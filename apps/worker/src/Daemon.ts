/**
 * The worker daemon as a Layer (`main.ts` launches it; the CLI's `worker` command too). With nothing
 * configured (or `WORKER_DEMO=true`) it runs the embedded demo: SQLite under ./data and the MX sandbox
 * in-process with demo members. With `MX_CLIENT_ID` / `MX_API_KEY` it talks to MX; with `DATABASE_URL`
 * it keeps its state in PostgreSQL; anything in between is a start-up error (`WorkerConfig`). With
 * `WORKER_TLS_CERT_FILE` / `WORKER_TLS_KEY_FILE` its listeners serve HTTPS. SIGINT/SIGTERM close every
 * scope and exit 0.
 *
 * @since 0.1.0
 */
import { NodeHttpClient } from "@effect/platform-node"
import { MxClient } from "@mx-aggregation/mx-api"
import { Database } from "@mx-aggregation/store"
import { Effect, Layer, Option } from "effect"
import * as EngineConfig from "./EngineConfig.js"
import * as Logging from "./Logging.js"
import * as MetricsEndpoint from "./MetricsEndpoint.js"
import * as Observability from "./Observability.js"
import * as OperatorConsole from "./OperatorConsole.js"
import * as ProcessLock from "./ProcessLock.js"
import * as StoreGauges from "./StoreGauges.js"
import * as Tls from "./Tls.js"
import * as Worker from "./Worker.js"
import * as WorkerConfig from "./WorkerConfig.js"

/** What the listeners serve with: the TLS credentials, read at start-up, if configured. */
interface Listeners {
  readonly tls: Tls.Credentials | undefined
}

const webhookOptions = (config: WorkerConfig.WorkerConfig, listeners: Listeners) =>
  Option.getOrUndefined(Option.map(config.webhooks, (settings) => ({ ...settings, tls: listeners.tls })))

const engineConfig = (config: WorkerConfig.WorkerConfig) =>
  EngineConfig.layer({
    timeScale: config.timeScale,
    mxOrigin: Option.getOrUndefined(config.timeOrigin),
    mfaTimeout: config.mfaTimeout,
    challengeWatchInterval: config.challengeCheckInterval,
    maxConcurrentRuns: config.maxConcurrentRuns,
    ...(Option.isSome(config.webhooks) ? { polling: EngineConfig.webhookPolling } : {}),
    policy: { ...EngineConfig.defaults.policy, cadence: config.cadence, freshness: config.freshness }
  })

/**
 * The embedded demo, loaded only on this path: production (MX credentials) never loads the MX
 * simulator (`@mx-aggregation/mx-sandbox`), which `Demo` brings along.
 */
const embedded = (config: WorkerConfig.WorkerConfig, listeners: Listeners) =>
  Layer.unwrapEffect(
    Effect.promise(() => import("./Demo.js")).pipe(
      Effect.map((Demo) => Demo.layer({ config, tls: listeners.tls, webhooks: webhookOptions(config, listeners) }))
    )
  )

const real = (config: WorkerConfig.WorkerConfig, listeners: Listeners) =>
  Layer.unwrapEffect(Effect.gen(function*() {
    if (Option.isNone(config.apiToken)) {
      return yield* Effect.fail(new Error("WORKER_API_TOKEN must be set when the worker talks to MX"))
    }
    yield* Effect.logInfo("operator console").pipe(
      Effect.annotateLogs({
        url: `${listeners.tls === undefined ? "http" : "https"}://${config.host}:${config.port}${OperatorConsole.path}/`
      })
    )
    return Worker.layer({
      users: config.users,
      api: {
        token: config.apiToken.value,
        port: config.port,
        host: config.host,
        limits: config.apiLimits,
        tls: listeners.tls
      },
      webhooks: webhookOptions(config, listeners),
      runner: Option.getOrUndefined(config.runner),
      notifications: Option.getOrUndefined(config.notifications)
    }).pipe(Layer.provide(MxClient.layerConfig()))
  }))

/**
 * The daemon's layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const MainLive = Layer.unwrapEffect(Effect.gen(function*() {
  const config = yield* WorkerConfig.config
  const database = yield* Database.config
  const listeners: Listeners = {
    tls: yield* Option.match(config.tls, { onNone: () => Effect.succeed(undefined), onSome: Tls.load })
  }
  const app = Option.isSome(config.mx) ? real(config, listeners) : embedded(config, listeners)
  const metrics = Layer.mergeAll(
    StoreGauges.layer,
    Option.match(config.metricsPort, {
      onNone: () => Layer.empty,
      onSome: (port) =>
        Layer.discard(MetricsEndpoint.layerMetricsServer({
          port,
          host: config.metricsHost,
          token: Option.getOrUndefined(config.metricsToken)
        }))
    })
  )
  return metrics.pipe(
    Layer.provideMerge(app),
    Layer.provide(engineConfig(config)),
    Layer.provide(Database.layerFrom(database)),
    // Before the database opens: one worker process per SQLite file.
    Layer.provide(database._tag === "Sqlite" ? ProcessLock.layerSqlite(database.filename) : Layer.empty),
    Layer.provide(NodeHttpClient.layerUndici),
    // Beneath everything: the tracer and the logger are in place before any fiber of the worker starts.
    Layer.provide(Observability.layerConfig()),
    Layer.provide(Logging.loggerLayerConfig)
  )
}))
